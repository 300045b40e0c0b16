"""The latent-space protocol and the registry that maps names to implementations.

A latent space turns images into vectors (``encode``) and, where a generator or an
exact linear inverse exists, vectors back into images (``decode``). Token-sequence
latents (e.g. CLIP tokens, ``shape = (257, 768)``) are flattened to ``dim`` columns so
that every latent space gives the linear decoder a 2-D target matrix.

Optional capabilities are declared here too, and the pipeline asks
:func:`capabilities` rather than probing a space: :class:`Fittable` (fitted on the
training images, e.g. pixel PCA), :class:`Persistable` (saved with the run and
loaded back), an ``image_size`` attribute (the side images are loaded at), a class
attribute ``accepts_device = True`` (the factory takes ``device=``; the run passes
``config.device``) and :class:`HasRequirements` (says before a run what this
machine lacks, e.g. weights, for given options).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from perceptogram import __version__
from perceptogram._images import check_images
from perceptogram._registry import Registry

__all__ = [
    "LATENT_SPACES",
    "Capabilities",
    "DecodableLatentSpace",
    "Fittable",
    "HasRequirements",
    "LatentSpace",
    "Persistable",
    "available_latent_spaces",
    "capabilities",
    "check_images",  # re-exported: latent spaces validate their input with it
    "get_latent_space",
    "make_fingerprint",
    "missing_requirements",
    "register",
]


@runtime_checkable
class LatentSpace(Protocol):
    """What every latent space provides.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"effnet"``.
    shape : tuple of int
        Shape of one latent: ``(d,)`` for a vector, ``(n_tokens, d)`` for tokens,
        ``(4, 96, 96)`` for a VAE latent.
    """

    name: str
    shape: tuple[int, ...]

    @property
    def dim(self) -> int:
        """Number of columns of :meth:`encode`'s output (``prod(shape)``)."""
        ...

    def fingerprint(self) -> str:
        """Identify model, weights revision and preprocessing, for the feature cache."""
        ...

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Embed images.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)
            RGB images.

        Returns
        -------
        latents : ndarray of float32, shape (n_images, dim)
        """
        ...


@runtime_checkable
class DecodableLatentSpace(LatentSpace, Protocol):
    """A latent space that can turn latents back into images."""

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Render latents as images.

        Parameters
        ----------
        latents : ndarray, shape (n_images, dim)

        Returns
        -------
        images : ndarray of uint8, shape (n_images, height, width, 3)
        """
        ...


@runtime_checkable
class Fittable(Protocol):
    """A latent space fitted on the training images before it encodes (pixel PCA/ICA)."""

    def fit(self, images: Any) -> Any:
        """Fit on training images (paths or uint8 batches); returns the space."""
        ...


@runtime_checkable
class Persistable(Protocol):
    """A latent space saved with the run (``space.safetensors``) and loaded back."""

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted state; returns the path written."""
        ...

    @classmethod
    def load(cls, path: str | os.PathLike) -> Any:
        """The space saved at ``path``."""
        ...


@runtime_checkable
class HasRequirements(Protocol):
    """A latent space that can say, before a run, what this machine lacks for it."""

    @classmethod
    def missing(cls, options: Mapping[str, Any]) -> str | None:
        """None when the space can be built and run here with ``options``, else what
        is missing (weights, an extra) and how to get it, in one sentence."""
        ...


@dataclass(frozen=True)
class Capabilities:
    """The optional capabilities of a latent space (see the module docstring).

    Attributes
    ----------
    fittable : bool
        Has ``fit(train_images)``.
    persistable : bool
        Has ``save(path)`` and the classmethod ``load(path)``.
    accepts_device : bool
        Its factory takes ``device=``.
    image_size : int or None
        Side (px) images are loaded at before ``encode`` (None: their own size).
    """

    fittable: bool
    persistable: bool
    accepts_device: bool
    image_size: int | None


def capabilities(space: Any) -> Capabilities:
    """The capabilities of a latent space or of its class.

    Parameters
    ----------
    space : LatentSpace or type
        An instance (``image_size`` is read from it) or a registered class.

    Returns
    -------
    Capabilities
    """
    cls = space if isinstance(space, type) else type(space)
    size = getattr(space, "image_size", None)
    return Capabilities(
        fittable=issubclass(cls, Fittable),
        persistable=issubclass(cls, Persistable),
        accepts_device=bool(getattr(cls, "accepts_device", False)),
        image_size=int(size) if isinstance(size, (int, np.integer)) else None,
    )


def missing_requirements(name: str, options: Mapping[str, Any]) -> str | None:
    """What this machine lacks to build latent space ``name`` with ``options``, or None.

    Raises
    ------
    perceptogram._registry.UnknownNameError
    """
    factory = LATENT_SPACES.get(name)
    if isinstance(factory, type) and issubclass(factory, HasRequirements):
        return factory.missing(options)
    return None


LATENT_SPACES: Registry[Callable[..., LatentSpace]] = Registry(
    "latent space",
    "perceptogram.latent_spaces",
    # Importing the modules runs their @register decorators; heavy dependencies
    # (torch, diffusers) are imported lazily inside them, not here.
    builtin_modules=[f"perceptogram.latents.{m}" for m in ("attributes", "effnet", "pca", "unclip",
                                                           "kandinsky22", "sdxl_ip_adapter")],
)


def register(name: str, *, summary: str = "",
             availability: Callable[[], str | None] | None = None
             ) -> Callable[[Callable[..., LatentSpace]], Callable[..., LatentSpace]]:
    """Class or factory decorator that makes a latent space available by ``name``.

    Parameters
    ----------
    name : str
    summary : str
        One line for ``perceptogram list`` (default: the first docstring line).
    availability : callable or None
        ``availability() -> None`` when usable here, else what is missing.
    """
    return LATENT_SPACES.register(name, summary=summary, availability=availability)


def available_latent_spaces() -> list[str]:
    """Names of all registered latent spaces, sorted."""
    return LATENT_SPACES.names()


def get_latent_space(name: str, **kwargs: Any) -> LatentSpace:
    """Build the latent space registered as ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`available_latent_spaces`.
    **kwargs
        Passed to the implementation (e.g. ``device``, ``model_path``).

    Raises
    ------
    perceptogram._registry.UnknownNameError
        If no latent space is registered as ``name``.
    """
    return LATENT_SPACES.build(name, **kwargs)


def make_fingerprint(*fields: Any, **settings: Any) -> str:
    """Join identity fields and settings into a ``|``-separated fingerprint.

    Parameters
    ----------
    *fields
        Values written as they are (space name, weights revision, ...).
    **settings
        Values written as ``key=value``, in the order given.

    Returns
    -------
    fingerprint : str
        ``"field|...|key=value|...|perceptogram=<package version>"``.
    """
    parts = [str(field) for field in fields]
    parts += [f"{key}={value}" for key, value in settings.items()]
    parts.append(f"perceptogram={__version__}")
    return "|".join(parts)
