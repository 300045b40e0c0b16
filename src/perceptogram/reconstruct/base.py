"""The generator protocol and the registry that maps names to implementations.

A generator turns decoded latents into images with a frozen pretrained model
(Stable unCLIP, Kandinsky 2.2, SDXL + IP-Adapter). It declares the latent spaces it
consumes (the first one drives it; others, such as a VAE start, are used when the
run also decodes them) and a pydantic model of its options, so that a
configuration is checked when it is loaded. Adding a generator is one module with a
class registered by :func:`register` (or an entry point in the group
``perceptogram.generators``); the configuration and the pipeline need no edit::

    reconstruction:
      methods: [kandinsky22]
      options:
        kandinsky22: {steps: 50, guidance: 4.0}
      memory: auto
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from perceptogram._registry import Registry
from perceptogram.errors import DataFormatError

__all__ = ["GENERATORS", "Generator", "GeneratorOptions", "check_image_ids", "check_latents",
           "get_generator", "register"]


class GeneratorOptions(BaseModel):
    """Base of every generator's options model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


@runtime_checkable
class Generator(Protocol):
    """What every generator provides.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"unclip"``.
    spaces : tuple of str
        Latent spaces it needs; ``spaces[0]`` drives it (one reconstruction per
        subject and decoded ``spaces[0]``).
    optional_spaces : tuple of str
        Latent spaces it uses when the run decodes them too (e.g. ``unclip-vae``).
    Options : type of GeneratorOptions
        Its configuration model (``reconstruction.options.<name>``).
    shared_options : dict
        ``{space: {latent-space option: generator option}}`` that must agree (the
        decoded latents must come from the encoder the generator expects); checked
        when a configuration is loaded.
    """

    name: str
    spaces: ClassVar[tuple[str, ...]]
    optional_spaces: ClassVar[tuple[str, ...]]
    Options: ClassVar[type[GeneratorOptions]]
    shared_options: ClassVar[dict[str, dict[str, str]]]

    def generate(self, latents: Mapping[str, np.ndarray],
                 image_ids: np.ndarray | None = None) -> np.ndarray:
        """Generate one image per decoded latent.

        Parameters
        ----------
        latents : mapping of str to ndarray, shape (n_images, dim)
            Decoded latents of ``spaces`` (required) and ``optional_spaces`` (if any).
        image_ids : ndarray of int, shape (n_images,) or None
            Identity of each image for seeding (default ``arange(n_images)``).

        Returns
        -------
        images : ndarray of uint8, shape (n_images, height, width, 3)
        """
        ...


GENERATORS: Registry[Callable[..., Generator]] = Registry(
    "generator",
    "perceptogram.generators",
    builtin_modules=[f"perceptogram.reconstruct.{m}"
                     for m in ("unclip", "kandinsky22", "sdxl_ip_adapter")],
)


def register(name: str, *, summary: str = "",
             availability: Callable[[], str | None] | None = None
             ) -> Callable[[Callable[..., Generator]], Callable[..., Generator]]:
    """Class decorator that makes a generator available by ``name``.

    Parameters
    ----------
    name : str
    summary : str
        One line for ``perceptogram list`` (default: the first docstring line).
    availability : callable or None
        ``availability() -> None`` when usable here, else what is missing.
    """
    return GENERATORS.register(name, summary=summary, availability=availability)


def get_generator(name: str, **kwargs: Any) -> Generator:
    """Build the generator registered as ``name`` with ``kwargs``.

    Raises
    ------
    perceptogram._registry.UnknownNameError
        If no generator is registered as ``name``.
    """
    return GENERATORS.build(name, **kwargs)


def check_image_ids(image_ids: np.ndarray | None, n_images: int) -> np.ndarray:
    """``arange(n_images)`` for None, else validated integer ids of shape (n_images,)."""
    image_ids = np.arange(n_images) if image_ids is None else np.asarray(image_ids)
    if image_ids.shape != (n_images,) or not np.issubdtype(image_ids.dtype, np.integer):
        raise DataFormatError(f"image_ids must be {n_images} integers; got {image_ids!r}")
    return image_ids


def check_latents(latents: Mapping[str, np.ndarray], name: str, dim: int,
                  n_images: int | None = None) -> np.ndarray:
    """Decoded latents of space ``name`` as float32, shape (n_images, dim).

    Raises
    ------
    perceptogram.errors.DataFormatError
        If the space is absent or the array has the wrong shape.
    """
    if name not in latents:
        raise DataFormatError(f"the decoded {name!r} latents are missing; got {sorted(latents)}")
    array = np.ascontiguousarray(latents[name], dtype=np.float32)
    expected = (n_images if n_images is not None else len(array), dim)
    if array.ndim != 2 or array.shape != expected:
        raise DataFormatError(
            f"decoded {name!r} latents must have shape (n_images, {dim})"
            f"{'' if n_images is None else f' with n_images={n_images}'}; got {array.shape}"
        )
    return array
