"""``pca`` and ``ica``: pixel latent spaces with an exact linear decoder back to pixels.

Both are fitted on a reference image set at a fixed side (e.g. 64 px), with pixels
scaled to [0, 1] and flattened row-major as ``(row, column, RGB)``.

``pca`` streams the images once. Once there are more images than pixel values it
accumulates the pixel mean and the cross-product matrix in float64 (shifted by the
first batch's mean to avoid cancellation) and takes the leading eigenvectors of the
covariance; for smaller sets it keeps the pixels and eigendecomposes their Gram
matrix (:mod:`perceptogram.latents.streaming_pca`). Either way this is the exact PCA of the whole set (the same as :class:`sklearn.decomposition.PCA` up
to rounding), in at most ``n_pixels² × 8`` bytes of memory (1.2 GB at 64 px, 75 MB at
32 px) whatever the number of images.

``ica`` runs :class:`sklearn.decomposition.FastICA` on the whitened PCA scores (a
second pass over the images) and decodes through the mixing matrix and the PCA basis.

Fitted spaces save to ``.safetensors`` (arrays) with a ``.json`` sidecar (parameters,
fingerprint, package version).
"""

from __future__ import annotations

import abc
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError

import perceptogram
from perceptogram._hashing import array_digest, short
from perceptogram._io import atomic_path, check_memory, write_json_atomic
from perceptogram._progress import track
from perceptogram.data.core.image_files import iter_image_batches, resize_images
from perceptogram.errors import DataFormatError, PerceptogramError
from perceptogram.latents.base import check_images, make_fingerprint, register
from perceptogram.latents.streaming_pca import StreamingMoments, flip_signs

ImageSource = Sequence[str | os.PathLike] | np.ndarray | Iterable[np.ndarray]


def _is_path_list(images: ImageSource) -> bool:
    return (
        isinstance(images, Sequence)
        and bool(images)
        and isinstance(images[0], (str, os.PathLike))
    )


def iter_pixel_batches(
    images: ImageSource, image_size: int, batch_size: int
) -> Iterator[np.ndarray]:
    """Stream an image source as uint8 batches of a fixed size.

    Parameters
    ----------
    images : sequence of path-like, ndarray or iterable of ndarray
        Image files; one uint8 array of shape (n_images, height, width, 3); or an
        iterable of such arrays (batches).
    image_size : int
        Side of the yielded images (shorter side + centre crop).
    batch_size : int
        Images per batch when reading files or slicing one array.

    Yields
    ------
    batch : ndarray of uint8, shape (n_batch, image_size, image_size, 3)
    """
    if isinstance(images, np.ndarray):
        images = check_images(images)
        for start in range(0, len(images), batch_size):
            yield resize_images(images[start : start + batch_size], image_size)
        return
    if _is_path_list(images):
        yield from iter_image_batches(images, image_size, batch_size)
        return
    for batch in images:
        yield resize_images(check_images(batch), image_size)


#: Largest side of the pixel spaces' images (3 x 1024^2 pixel features already need
#: tens of GB for the cross-products).
MAX_PIXEL_IMAGE_SIZE = 1024


def _n_batches(images: ImageSource, batch_size: int) -> int | None:
    """Number of batches :func:`iter_pixel_batches` yields, when known in advance."""
    if isinstance(images, np.ndarray) or _is_path_list(images):
        return -(-len(images) // batch_size)
    return len(images) if isinstance(images, Sequence) else None


def _to_pixels(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """uint8 (n, s, s, 3) → pixels in [0, 1], shape (n, s * s * 3)."""
    return images.reshape(len(images), -1).astype(dtype) / 255.0


def _to_images(pixels: np.ndarray, image_size: int) -> np.ndarray:
    """Pixels in [0, 1], shape (n, s * s * 3) → uint8 (n, s, s, 3), clipped."""
    out = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
    return out.reshape(len(pixels), image_size, image_size, 3)


class _PixelSpace(abc.ABC):
    """Shared plumbing of the fitted pixel spaces: size checks, saving and loading."""

    name: str

    def __init__(self, n_components: int, image_size: int, batch_size: int) -> None:
        if not 1 <= image_size <= MAX_PIXEL_IMAGE_SIZE:
            raise ValueError(f"latents.options.{self.name}.image_size must be 1 to "
                             f"{MAX_PIXEL_IMAGE_SIZE} px, got {image_size}")
        self.n_components = n_components
        self.image_size = image_size
        self.batch_size = batch_size

    def _check_memory(self, images: ImageSource) -> None:
        """Refuse a fit whose moments (n x p rows, or p x p cross-products) do not fit."""
        n_batches = _n_batches(images, self.batch_size)
        n_images = n_batches * self.batch_size if n_batches is not None else None
        p = 3 * self.image_size**2
        if n_images is not None:
            check_memory(3 * 8 * min(n_images, p) * p,
                         f"fitting {self.name} at image_size {self.image_size}",
                         f"lower latents.options.{self.name}.image_size")

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_components_,)`` once fitted."""
        return (self.n_components_,)

    @property
    def dim(self) -> int:
        """Number of latent dimensions (after capping to the fitted data)."""
        return self.n_components_

    @property
    def n_components_(self) -> int:
        """Number of components actually fitted."""
        self._check_fitted()
        return len(self.components_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise NotFittedError(
                f"this {self.name!r} latent space is not fitted yet; call fit(images) or load(path)"
            )

    def _validate_latents(self, latents: np.ndarray) -> np.ndarray:
        latents = np.asarray(latents, dtype=np.float32)
        if latents.ndim != 2 or latents.shape[1] != self.dim:
            raise DataFormatError(
                f"{self.name} latents must have shape (n_images, {self.dim}); got {latents.shape}"
            )
        return latents

    def _params(self) -> dict[str, Any]:
        return {
            "n_components": self.n_components,
            "image_size": self.image_size,
            "batch_size": self.batch_size,
        }

    @abc.abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The fitted arrays, by name (what :meth:`save` writes)."""

    @abc.abstractmethod
    def _restore(self, arrays: dict[str, np.ndarray], n_samples_seen: int) -> None:
        """Set the fitted state from :meth:`_arrays`' output (what :meth:`load` reads)."""

    def fingerprint(self) -> str:
        """Space name, image size, component count, hash of the fitted arrays, version."""
        self._check_fitted()
        arrays = self._arrays()
        return make_fingerprint(self.name, image_size=self.image_size, n_components=self.dim,
                                fit=short(array_digest(*(arrays[key] for key in sorted(arrays)))))

    def save(self, path: str | os.PathLike) -> Path:
        """Save the fitted state: arrays to ``path`` (.safetensors), metadata beside it (.json).

        Parameters
        ----------
        path : path-like
            Destination; the suffix ``.safetensors`` is added when missing.

        Returns
        -------
        path : Path
            The ``.safetensors`` file written.
        """
        from safetensors.numpy import save_file

        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        arrays = {key: np.ascontiguousarray(value) for key, value in self._arrays().items()}
        with atomic_path(path) as tmp:
            save_file(arrays, str(tmp))
        write_json_atomic(
            path.with_suffix(".json"),
            {
                "latent_space": self.name,
                "params": self._params(),
                "n_samples_seen": int(self.n_samples_seen_),
                "fingerprint": self.fingerprint(),
                "perceptogram_version": perceptogram.__version__,
            },
        )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Load a space written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            The ``.safetensors`` file (its ``.json`` sidecar must sit beside it).
        """
        from safetensors.numpy import load_file

        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_name(path.name + ".safetensors")
        meta_path = path.with_suffix(".json")
        for required in (path, meta_path):
            if not required.is_file():
                raise PerceptogramError(
                    f"cannot load the {cls.name} latent space: {required} is missing"
                )
        meta = json.loads(meta_path.read_text())
        if meta.get("latent_space") != cls.name:
            raise DataFormatError(
                f"{path} holds a {meta.get('latent_space')!r} latent space, not {cls.name!r}"
            )
        space = cls(**meta["params"])
        space._restore(load_file(str(path)), int(meta["n_samples_seen"]))
        return space


@register("pca")
class PixelPCA(_PixelSpace):
    """Principal components of pixels, fitted by streaming, with an exact linear decoder.

    Parameters
    ----------
    n_components : int
        Number of components (the paper uses 1,000); capped to the number of images
        and of pixel values seen in :meth:`fit`.
    image_size : int
        Side (px) images are resized to before flattening.
    batch_size : int
        Images read per step while fitting.

    Attributes
    ----------
    mean_ : ndarray of float32, shape (n_pixels,)
        Mean image, pixels in [0, 1], ``n_pixels = image_size² × 3``.
    components_ : ndarray of float32, shape (n_components_, n_pixels)
        Orthonormal principal axes, by decreasing variance; the largest-magnitude
        entry of each axis is positive.
    explained_variance_ : ndarray of float32, shape (n_components_,)
        Variance of the scores (denominator ``n_samples - 1``).
    explained_variance_ratio_ : ndarray of float32, shape (n_components_,)
        Fraction of the total pixel variance per component.
    n_samples_seen_ : int
        Number of images the fit used.
    """

    name = "pca"

    def __init__(
        self, n_components: int = 1000, image_size: int = 64, batch_size: int = 256
    ) -> None:
        super().__init__(n_components, image_size, batch_size)

    def fit(self, images: ImageSource) -> PixelPCA:
        """Fit on a reference image set, streaming it once.

        Parameters
        ----------
        images : sequence of path-like, ndarray or iterable of ndarray
            Image files; a uint8 array of shape (n_images, height, width, 3); or an
            iterable of uint8 batches. Images are resized to ``image_size``.

        Returns
        -------
        self : PixelPCA
        """
        if self.n_components < 1:
            raise ValueError(f"n_components must be at least 1; got {self.n_components}")
        self._check_memory(images)
        moments = StreamingMoments()
        batches = iter_pixel_batches(images, self.image_size, self.batch_size)
        n_batches = _n_batches(images, self.batch_size)
        for batch in track(batches, f"fitting {self.name}", total=n_batches):
            moments.update(_to_pixels(batch, np.float64))
        if moments.n_samples < 2:
            raise DataFormatError(
                f"fitting {self.name} needs at least 2 images; got {moments.n_samples}"
            )
        k = min(self.n_components, moments.n_samples, moments.n_features)
        mean, components, variance, total_variance = moments.pca(k)
        self.mean_ = mean.astype(np.float32)
        self.components_ = flip_signs(components).astype(np.float32)
        self.explained_variance_ = np.maximum(variance, 0.0).astype(np.float32)
        self.explained_variance_ratio_ = (
            self.explained_variance_ / total_variance
        ).astype(np.float32)
        self.n_samples_seen_ = moments.n_samples
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Project images on the principal axes.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)
            Resized to ``image_size`` when needed.

        Returns
        -------
        latents : ndarray of float32, shape (n_images, n_components_)
        """
        self._check_fitted()
        pixels = _to_pixels(resize_images(check_images(images), self.image_size))
        return (pixels - self.mean_) @ self.components_.T

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Render latents as images through the linear inverse (clipped to [0, 255]).

        Parameters
        ----------
        latents : ndarray, shape (n_images, n_components_)

        Returns
        -------
        images : ndarray of uint8, shape (n_images, image_size, image_size, 3)
        """
        self._check_fitted()
        latents = self._validate_latents(latents)
        return _to_images(latents @ self.components_ + self.mean_, self.image_size)

    def _arrays(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        return {
            "mean": self.mean_,
            "components": self.components_,
            "explained_variance": self.explained_variance_,
            "explained_variance_ratio": self.explained_variance_ratio_,
        }

    def _truncate(self, k: int) -> None:
        """Keep only the first ``k`` components."""
        self.components_ = self.components_[:k]
        self.explained_variance_ = self.explained_variance_[:k]
        self.explained_variance_ratio_ = self.explained_variance_ratio_[:k]

    def _restore(self, arrays: dict[str, np.ndarray], n_samples_seen: int) -> None:
        self.mean_ = arrays["mean"]
        self.components_ = arrays["components"]
        self.explained_variance_ = arrays["explained_variance"]
        self.explained_variance_ratio_ = arrays["explained_variance_ratio"]
        self.n_samples_seen_ = n_samples_seen


@register("ica")
class PixelICA(_PixelSpace):
    """Independent components of pixels: FastICA on whitened PCA scores, decodable.

    Parameters
    ----------
    n_components : int
        Number of PCA components kept and unmixed (capped as in :class:`PixelPCA`, and
        to the rank of the centred images, at most ``n_images - 1``).
    image_size : int
        Side (px) images are resized to before flattening.
    batch_size : int
        Images read per step while fitting.
    max_iter, tol : int, float
        Passed to :class:`sklearn.decomposition.FastICA`.
    random_state : int
        Seed of FastICA's initial unmixing matrix.

    Attributes
    ----------
    pca_ : PixelPCA
        The PCA basis the sources live in.
    components_ : ndarray of float32, shape (n_components_, n_components_)
        Unmixing matrix: ``sources = whitened_scores @ components_.T``.
    mixing_ : ndarray of float32, shape (n_components_, n_components_)
        Its inverse: ``whitened_scores = sources @ mixing_.T``.
    n_samples_seen_ : int
    """

    name = "ica"

    def __init__(
        self,
        n_components: int = 100,
        image_size: int = 64,
        batch_size: int = 256,
        max_iter: int = 500,
        tol: float = 1e-4,
        random_state: int = 0,
    ) -> None:
        super().__init__(n_components, image_size, batch_size)
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, images: ImageSource) -> PixelICA:
        """Fit PCA (first pass), then FastICA on the whitened scores (second pass).

        Parameters
        ----------
        images : sequence of path-like or ndarray
            Image files or a uint8 array (n_images, height, width, 3); the source is
            read twice, so a one-shot iterator is refused.

        Returns
        -------
        self : PixelICA
        """
        from sklearn.decomposition import FastICA

        if iter(images) is images:
            raise PerceptogramError(
                "fitting ica reads the images twice; pass a list of image files or an array, "
                "not a one-shot iterator"
            )
        pca = PixelPCA(self.n_components, self.image_size, self.batch_size).fit(images)
        # Whitening needs full rank: drop directions without variance (n_images <= k).
        rank = int(np.sum(pca.explained_variance_ > 1e-10 * pca.explained_variance_[0]))
        pca._truncate(rank)
        self.pca_ = pca
        scale = self._scale()
        batches = iter_pixel_batches(images, self.image_size, self.batch_size)
        whitened = np.concatenate([pca.encode(batch) / scale for batch in batches])
        ica = FastICA(
            whiten=False, max_iter=self.max_iter, tol=self.tol, random_state=self.random_state
        ).fit(whitened.astype(np.float64))
        self.components_ = ica.components_.astype(np.float32)
        self.mixing_ = ica.mixing_.astype(np.float32)
        self.n_samples_seen_ = pca.n_samples_seen_
        return self

    def _scale(self) -> np.ndarray:
        return np.sqrt(self.pca_.explained_variance_)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Independent-component activations of images.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)

        Returns
        -------
        latents : ndarray of float32, shape (n_images, n_components_)
        """
        self._check_fitted()
        return (self.pca_.encode(images) / self._scale()) @ self.components_.T

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Render source activations as images (mixing, then the PCA inverse).

        Parameters
        ----------
        latents : ndarray, shape (n_images, n_components_)

        Returns
        -------
        images : ndarray of uint8, shape (n_images, image_size, image_size, 3)
        """
        self._check_fitted()
        latents = self._validate_latents(latents)
        return self.pca_.decode((latents @ self.mixing_.T) * self._scale())

    def _params(self) -> dict[str, Any]:
        return {
            **super()._params(),
            "max_iter": self.max_iter,
            "tol": self.tol,
            "random_state": self.random_state,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        self._check_fitted()
        pca_arrays = {f"pca.{key}": value for key, value in self.pca_._arrays().items()}
        return {**pca_arrays, "unmixing": self.components_, "mixing": self.mixing_}

    def _restore(self, arrays: dict[str, np.ndarray], n_samples_seen: int) -> None:
        pca = PixelPCA(self.n_components, self.image_size, self.batch_size)
        pca_arrays = {key[4:]: value for key, value in arrays.items() if key.startswith("pca.")}
        pca._restore(pca_arrays, n_samples_seen)
        self.pca_ = pca
        self.components_ = arrays["unmixing"]
        self.mixing_ = arrays["mixing"]
        self.n_samples_seen_ = n_samples_seen
