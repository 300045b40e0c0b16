"""Reconstruction: decoded latents to images (unCLIP, linear pixel decoding, retrieval)."""

from perceptogram.reconstruct.linear import decode_to_images
from perceptogram.reconstruct.retrieval import retrieve, retrieve_images

__all__ = ["decode_to_images", "retrieve", "retrieve_images"]
