"""Offline reconstruction by retrieval: the gallery images nearest to decoded latents."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from perceptogram.data.core.image_files import load_images
from perceptogram.errors import DataFormatError

METRICS = ("cosine", "correlation")


def _normalise(vectors: np.ndarray, metric: str) -> np.ndarray:
    """Rows scaled (and, for correlation, centred) so that dot products are similarities."""
    vectors = vectors.astype(np.float32, copy=True)
    if metric == "correlation":
        vectors -= vectors.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def retrieve(
    decoded: np.ndarray,
    gallery: np.ndarray,
    k: int = 1,
    metric: str = "cosine",
    chunk_size: int = 4096,
) -> np.ndarray:
    """Indices of the ``k`` gallery items most similar to each decoded latent.

    The gallery is scanned in chunks of ``chunk_size`` rows, so the similarity matrix
    never exceeds ``(n_queries, k + chunk_size)``. Ties go to the lower gallery index.

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
