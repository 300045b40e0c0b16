"""Latent spaces: images to vectors (and back), a name registry and a feature cache.

Implementations (``effnet``, ``pca``, ``ica``, ``attributes``, ``unclip``) register
themselves by name; build one with :func:`get_latent_space`.
"""

from perceptogram.latents.base import (
    DecodableLatentSpace,
    LatentSpace,
    available_latent_spaces,
    capabilities,
    get_latent_space,
    register,
)
from perceptogram.latents.cache import encode_cached

__all__ = [
    "DecodableLatentSpace",
    "LatentSpace",
    "available_latent_spaces",
    "capabilities",
    "encode_cached",
    "get_latent_space",
    "register",
]
