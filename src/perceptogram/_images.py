"""The one image-batch validator, shared by latent spaces, networks and metrics.

It lives below every layer that handles images (``nets/``, ``latents/``,
``evaluate/``) so that none of them has to import another to validate a batch.
Images are always ``(n_images, height, width, 3)`` RGB arrays: ``uint8``
(0-255), or, where a caller allows it, floating point in ``[0, 1]``.
"""

from __future__ import annotations

import numpy as np

from perceptogram.errors import DataFormatError

__all__ = ["check_images"]


def check_images(images: np.ndarray, name: str = "images", *,
                 allow_float: bool = False) -> np.ndarray:
    """Validate an image batch and return it as an ndarray.

    Parameters
    ----------
    images : array-like, shape (n_images, height, width, 3)
        ``uint8`` RGB (or, with ``allow_float``, floating point RGB in ``[0, 1]``).
    name : str
        How the array is called in error messages.
    allow_float : bool
        Accept finite floating point values in ``[0, 1]`` as well as ``uint8``.

    Returns
    -------
    images : ndarray, shape (n_images, height, width, 3)
        The same data (not copied when already an ndarray).

    Raises
    ------
    perceptogram.errors.DataFormatError
        If the array is not such a batch (one sentence saying what is wrong).
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise DataFormatError(
            f"{name} must have shape (n_images, height, width, 3) (RGB, channels last); "
            f"got shape {images.shape}"
        )
    if images.dtype == np.uint8:
        return images
    if not allow_float:
        raise DataFormatError(f"{name} must be uint8 RGB; got dtype {images.dtype}")
    if not np.issubdtype(images.dtype, np.floating):
        raise DataFormatError(
            f"{name} must be uint8 (0-255) or floating point in [0, 1]; got dtype {images.dtype}"
        )
    if images.size and (not np.isfinite(images).all() or images.min() < 0 or images.max() > 1):
        raise DataFormatError(
            f"{name} are floating point but not all finite values in [0, 1] "
            f"(min {np.nanmin(images):.3g}, max {np.nanmax(images):.3g}); "
            "pass uint8 images or divide by 255"
        )
    return images
