"""Offline reconstruction: decoded latents back to pixels through a linear pixel space."""

from __future__ import annotations

import numpy as np

from perceptogram._progress import track
from perceptogram.errors import DataFormatError, PerceptogramError
from perceptogram.latents.base import DecodableLatentSpace


def decode_to_images(
    space: DecodableLatentSpace, latents: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Render latents predicted from EEG as images, e.g. through ``pca`` or ``ica``.

    Parameters
    ----------
    space : DecodableLatentSpace
        A fitted latent space with a ``decode`` method (``pca``, ``ica``).
    latents : ndarray, shape (n_images, dim)
        Latents, typically a ridge decoder's predictions.
    batch_size : int
        Latents decoded per step.

    Returns
    -------
    images : ndarray of uint8, shape (n_images, height, width, 3)

    Raises
    ------
    perceptogram.errors.PerceptogramError
        If the space cannot decode.
    perceptogram.errors.DataFormatError
        If ``latents`` does not have ``space.dim`` columns or holds NaN/inf.
    """
    if not callable(getattr(space, "decode", None)):
        raise PerceptogramError(
            f"latent space {space.name!r} cannot turn latents back into images; "
            "use a decodable space (pca, ica) or gallery retrieval"
        )
    latents = np.asarray(latents, dtype=np.float32)
    if latents.ndim != 2 or latents.shape[1] != space.dim:
        raise DataFormatError(
            f"latents must have shape (n_images, {space.dim}) for {space.name!r}; "
            f"got {latents.shape}"
        )
    if not np.isfinite(latents).all():
        raise DataFormatError("latents contain NaN or infinite values")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    # An empty input still makes one (empty) call, so the output has the right shape.
    starts = range(0, max(len(latents), 1), batch_size)
    batches = [
        space.decode(latents[start : start + batch_size])
        for start in track(starts, f"decoding {space.name}")
    ]
    return np.concatenate(batches)
