"""Reconstruction: decoded latents to images (generators, linear pixel decoding, retrieval)."""

from perceptogram.reconstruct.base import GENERATORS, Generator, get_generator
from perceptogram.reconstruct.linear import decode_to_images
from perceptogram.reconstruct.retrieval import retrieve, retrieve_images

__all__ = ["GENERATORS", "Generator", "decode_to_images", "get_generator", "retrieve",
           "retrieve_images"]
