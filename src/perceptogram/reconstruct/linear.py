"""Offline reconstruction: decoded latents back to pixels through a linear pixel space.

Registered as the reconstruction method ``pca``: the fitted pixel PCA of the run
decodes the decoded latents exactly (no generator, no weights, deterministic).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import Field

from perceptogram._progress import track
from perceptogram.errors import DataFormatError, PerceptogramError
from perceptogram.latents.base import DecodableLatentSpace
from perceptogram.reconstruct.base import (
    GeneratorOptions,
    ReconstructionMethod,
    RunInputs,
    register,
)


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


class LinearDecodingOptions(GeneratorOptions):
    """Options of the ``pca`` method (``reconstruction.options.pca``)."""

    batch_size: int = Field(256, ge=1, le=65536, description="Latents decoded per step.")


@register("pca")
class LinearDecoding(ReconstructionMethod):
    """Exact linear decoding of the decoded latents through the run's fitted pixel PCA.

    Parameters
    ----------
    space : DecodableLatentSpace
        The fitted space (from the run's features stage).
    batch_size : int
        Latents decoded per step.
    """

    name = "pca"
    label = "pca decoding"
    spaces = ("pca",)
    Options = LinearDecodingOptions
    deterministic = True

    def __init__(self, space: DecodableLatentSpace, *, batch_size: int = 256) -> None:
        self.space = space
        self.batch_size = batch_size

    @classmethod
    def from_run(cls, run: RunInputs, **options: Any) -> LinearDecoding:
        """The method on the space the run fitted."""
        return cls(run.fitted_space(run.space), **options)

    def generate(self, latents: Mapping[str, np.ndarray],
                 image_ids: np.ndarray | None = None) -> np.ndarray:
        """Images of the decoded latents of the space (``image_ids`` unused: deterministic).

        Returns
        -------
        images : ndarray of uint8, shape (n_images, height, width, 3)
        """
        return decode_to_images(self.space, latents[self.space.name], self.batch_size)
