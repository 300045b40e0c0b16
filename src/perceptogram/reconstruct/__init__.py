"""Reconstruction: decoded latents to images, every method behind one registry.

Offline methods (``pca``: linear pixel decoding; ``retrieval``: the nearest training
image) and generators (``unclip``, ``kandinsky22``, ``sdxl-ip-adapter``) are entries of
:data:`METHODS` (:mod:`perceptogram.reconstruct.base`).
"""

from perceptogram.reconstruct.base import (
    GENERATORS,
    METHODS,
    Generator,
    ReconstructionMethod,
    RunInputs,
    get_generator,
    method_spec,
)
from perceptogram.reconstruct.linear import decode_to_images
from perceptogram.reconstruct.retrieval import retrieve, retrieve_images

__all__ = ["GENERATORS", "METHODS", "Generator", "ReconstructionMethod", "RunInputs",
           "decode_to_images", "get_generator", "method_spec", "retrieve", "retrieve_images"]
