"""Offline reconstruction by retrieval: the gallery images nearest to decoded latents.

Registered as the reconstruction method ``retrieval``: the training image whose
latent (in the run's ``reconstruction.retrieval_space``) is nearest to each decoded
latent. Similarities follow the one NaN policy of :mod:`perceptogram._stats`: a
gallery latent without spread is never retrieved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from perceptogram._stats import unit_rows
from perceptogram.data.core.image_files import load_images
from perceptogram.errors import DataFormatError
from perceptogram.reconstruct.base import (
    GeneratorOptions,
    ReconstructionMethod,
    RunInputs,
    register,
)

METRICS = ("cosine", "correlation")


def _normalise(vectors: np.ndarray, metric: str) -> np.ndarray:
    """Unit rows (centred for correlation) in float32, so that dot products are similarities."""
    return unit_rows(vectors, centre=metric == "correlation", dtype=np.float32)


def retrieve(
    decoded: np.ndarray,
    gallery: np.ndarray,
    k: int = 1,
    metric: str = "cosine",
    chunk_size: int = 4096,
) -> np.ndarray:
    """Indices of the ``k`` gallery items most similar to each decoded latent.

    The gallery is scanned in chunks of ``chunk_size`` rows, so the similarity matrix
    never exceeds ``(n_queries, k + chunk_size)``. Ties go to the lower gallery index;
    a row without spread (all zeros; constant for correlation) has no similarity: as a
    gallery item it is never retrieved, as a query it gets the first items.

    Parameters
    ----------
    decoded : ndarray, shape (n_queries, dim)
        Decoded (predicted) latents.
    gallery : ndarray, shape (n_gallery, dim)
        Latents of the candidate images, e.g. from the feature cache.
    k : int
        Number of neighbours, ``1 <= k <= n_gallery``.
    metric : {"cosine", "correlation"}
        Cosine similarity, or Pearson correlation across latent dimensions.
    chunk_size : int
        Gallery rows compared at once.

    Returns
    -------
    indices : ndarray of int64, shape (n_queries, k)
        Gallery rows, most similar first.
    """
    decoded = np.asarray(decoded)
    gallery = np.asarray(gallery)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}")
    if decoded.ndim != 2 or gallery.ndim != 2 or decoded.shape[1] != gallery.shape[1]:
        raise DataFormatError(
            "decoded and gallery must be 2-D with the same number of columns; "
            f"got {decoded.shape} and {gallery.shape}"
        )
    if not 1 <= k <= len(gallery):
        raise ValueError(f"k must be between 1 and the gallery size {len(gallery)}; got {k}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1; got {chunk_size}")
    queries = _normalise(decoded, metric)
    n_queries = len(queries)
    best_scores = np.full((n_queries, 0), -np.inf, dtype=np.float32)
    best_indices = np.empty((n_queries, 0), dtype=np.int64)
    for start in range(0, len(gallery), chunk_size):
        chunk = _normalise(gallery[start : start + chunk_size], metric)
        scores = queries @ chunk.T
        scores[np.isnan(scores)] = -np.inf  # no direction: never the nearest
        indices = np.broadcast_to(np.arange(start, start + len(chunk)), scores.shape)
        # Earlier candidates come first and a stable sort keeps them first among ties.
        scores = np.concatenate([best_scores, scores], axis=1)
        indices = np.concatenate([best_indices, indices], axis=1)
        if k == 1:
            order = np.argmax(scores, axis=1)[:, None]
        else:
            order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(scores, order, axis=1)
        best_indices = np.take_along_axis(indices, order, axis=1)
    return best_indices


def retrieve_images(
    decoded: np.ndarray,
    gallery: np.ndarray,
    gallery_images: np.ndarray | Sequence[str | os.PathLike],
    metric: str = "cosine",
    image_size: int | None = None,
) -> np.ndarray:
    """The gallery image nearest to each decoded latent.

    Parameters
    ----------
    decoded : ndarray, shape (n_queries, dim)
    gallery : ndarray, shape (n_gallery, dim)
    gallery_images : ndarray of uint8, shape (n_gallery, height, width, 3), or sequence of path-like
        The gallery's images (or files, of which only the retrieved ones are read).
    metric : {"cosine", "correlation"}
    image_size : int or None
        Side (px) retrieved files are loaded at; ignored for an image array.

    Returns
    -------
    images : ndarray of uint8, shape (n_queries, height, width, 3)
    """
    if len(gallery_images) != len(gallery):
        raise DataFormatError(
            f"gallery has {len(gallery)} latents but {len(gallery_images)} images"
        )
    nearest = retrieve(decoded, gallery, k=1, metric=metric)[:, 0]
    if isinstance(gallery_images, np.ndarray):
        return gallery_images[nearest]
    return load_images([gallery_images[i] for i in nearest], image_size)


class RetrievalOptions(GeneratorOptions):
    """Options of the ``retrieval`` method (``reconstruction.options.retrieval``)."""

    metric: Literal["cosine", "correlation"] = Field(
        "cosine", description="Similarity between decoded and training latents.")


@register("retrieval")
class NearestTrainingImage(ReconstructionMethod):
    """The training image whose latent is nearest to each decoded latent (offline).

    Parameters
    ----------
    gallery : ndarray, shape (n_train, dim)
        Training latents of ``space``.
    gallery_images : sequence of path-like
        The training images, in the order of ``gallery``.
    space : str
        The latent space searched (``reconstruction.retrieval_space``).
    offset : ndarray, shape (dim,), or None
        Vector subtracted from decoded and training latents before comparing them
        (the training mean with ``metrics.center_latents``).
    metric : {"cosine", "correlation"}

    Attributes
    ----------
    nearest_ : ndarray of int64, shape (n_images,)
        Training row retrieved for each decoded latent (after :meth:`generate`).
    """

    name = "retrieval"
    label = "retrieval"
    spaces = ("effnet",)  # the default reconstruction.retrieval_space
    Options = RetrievalOptions
    deterministic = True

    def __init__(self, gallery: np.ndarray, gallery_images: Sequence[str | os.PathLike], *,
                 space: str, offset: np.ndarray | None = None, metric: str = "cosine") -> None:
        self.gallery = gallery
        self.gallery_images = gallery_images
        self.space = space
        self.offset = offset
        self.metric = metric

    @classmethod
    def driving_space(cls, options: GeneratorOptions, gallery_space: str) -> str:
        """The run's ``reconstruction.retrieval_space``."""
        return gallery_space

    @classmethod
    def from_run(cls, run: RunInputs, **options: Any) -> NearestTrainingImage:
        """The method on the run's training latents and images."""
        return cls(run.train_latents(run.space), run.train_images(), space=run.space,
                   offset=run.latent_offset(run.space), **options)

    def generate(self, latents: Mapping[str, np.ndarray],
                 image_ids: np.ndarray | None = None) -> np.ndarray:
        """The nearest training image of every decoded latent of ``space``.

        Returns
        -------
        images : ndarray of uint8, shape (n_images, height, width, 3)
        """
        centre = 0.0 if self.offset is None else self.offset
        self.nearest_ = retrieve(latents[self.space] - centre, self.gallery - centre, k=1,
                                 metric=self.metric)[:, 0]
        return load_images([self.gallery_images[i] for i in self.nearest_])

    def artifacts(self) -> dict[str, np.ndarray]:
        """``nearest_train.npy``: the training row retrieved for each image."""
        return {"nearest_train.npy": self.nearest_}
