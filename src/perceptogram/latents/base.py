"""The latent-space protocol and the registry that maps names to implementations.

A latent space turns images into vectors (``encode``) and, where a generator or an
exact linear inverse exists, vectors back into images (``decode``). Token-sequence
latents (e.g. CLIP tokens, ``shape = (257, 768)``) are flattened to ``dim`` columns so
that every latent space gives the linear decoder a 2-D target matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from perceptogram._images import check_images
from perceptogram._registry import Registry

__all__ = [
    "LATENT_SPACES",
    "DecodableLatentSpace",
    "LatentSpace",
    "available_latent_spaces",
    "check_images",  # re-exported: latent spaces validate their input with it
    "get_latent_space",
    "make_fingerprint",
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
    from perceptogram import __version__

    parts = [str(field) for field in fields]
    parts += [f"{key}={value}" for key, value in settings.items()]
    parts.append(f"perceptogram={__version__}")
    return "|".join(parts)
