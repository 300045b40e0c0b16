"""The reconstruction-method protocol and the one registry of methods.

A reconstruction method turns decoded latents into images. The built-in ones are
offline methods (``pca``: exact linear decoding through the fitted pixel space;
``retrieval``: the nearest training image) and generators, frozen pretrained
models (Stable unCLIP, Kandinsky 2.2, SDXL + IP-Adapter). Every method declares
the latent spaces it consumes (the first one drives it; others, such as a VAE
start, are used when the run also decodes them) and a pydantic model of its
options, so that a configuration is checked when it is loaded. Adding one is one
module with a class registered by :func:`register` (or an entry point in the group
``perceptogram.generators``); the configuration and the pipeline need no edit::

    reconstruction:
      methods: [kandinsky22]
      options:
        kandinsky22: {steps: 50, guidance: 4.0}
      memory: auto

A method class may inherit :class:`ReconstructionMethod`, which holds the
protocol's optional members with their defaults (table label, deterministic,
how it is built from a run, what it needs on this machine, extra arrays to keep);
a class that only follows :class:`Generator` gets those defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from perceptogram._registry import Registry
from perceptogram.errors import DataFormatError
from perceptogram.latents.base import LatentSpace

__all__ = ["DEFAULT_METHODS", "GENERATORS", "MAX_SEED", "METHODS", "Generator",
           "GeneratorOptions", "MethodSpec", "ReconstructionMethod", "RunInputs", "SeedField",
           "check_image_ids", "check_latents", "get_generator", "method_artifacts",
           "method_spec", "register"]

#: Methods a configuration runs when it names none (both offline).
DEFAULT_METHODS = ("pca", "retrieval")

#: Largest seed of any random step (``numpy`` and ``torch`` generators take 32 bits).
MAX_SEED = 2**32 - 1


class GeneratorOptions(BaseModel):
    """Base of every reconstruction method's options model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


#: The ``seed`` option of a seeded method: one generator per image, ``seed + image id``.
SeedField = Field(0, ge=0, le=MAX_SEED, description="Seed; one generator per image.")


@runtime_checkable
class Generator(Protocol):
    """What every reconstruction method provides.

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
        ``{space: {latent-space option: method option}}`` that must agree (the
        decoded latents must come from the encoder the method expects): checked
        when a configuration is loaded, and the method's value is the default of
        the latent space's option in a run.

    Optional members (:class:`ReconstructionMethod` holds their defaults): ``label``
    (name in the tables), ``deterministic`` (True: no generation seeds and no
    model on ``config.device``), classmethods ``driving_space(options,
    gallery_space)``, ``from_run(run, **options)`` and ``missing(options)``
    (what this machine lacks, before anything runs), and ``artifacts()`` (extra
    arrays to keep beside the images).
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


@dataclass(frozen=True)
class RunInputs:
    """What a run offers a reconstruction method besides its decoded latents.

    Everything is read lazily, only by the methods that use it.

    Attributes
    ----------
    space : str
        The latent space that drives the method in this run.
    device : str
        Where models run (``config.device``).
    memory : "auto" or mapping
        GPU memory options (``reconstruction.memory``).
    train_latents : callable or None
        ``train_latents(space) -> (n_train, dim)`` training latents.
    train_images : callable or None
        ``train_images() -> [path, ...]`` training image files, in latent order.
    fitted_space : callable or None
        ``fitted_space(space) -> LatentSpace`` as fitted in the run's features stage.
    latent_offset : callable or None
        ``latent_offset(space) -> (dim,) or None``: the vector similarity searches
        are centred on (the training-latent mean when ``metrics.center_latents``).
    """

    space: str
    device: str = "cpu"
    memory: Any = "auto"
    train_latents: Callable[[str], np.ndarray] | None = None
    train_images: Callable[[], Sequence[Path]] | None = None
    fitted_space: Callable[[str], LatentSpace] | None = None
    latent_offset: Callable[[str], np.ndarray | None] | None = None


class ReconstructionMethod:
    """Optional base class of reconstruction methods: the protocol's defaults.

    Subclasses set ``name``, ``spaces``, ``Options`` and implement ``generate``.
    """

    name: ClassVar[str]
    spaces: ClassVar[tuple[str, ...]]
    Options: ClassVar[type[GeneratorOptions]]
    optional_spaces: ClassVar[tuple[str, ...]] = ()
    shared_options: ClassVar[dict[str, dict[str, str]]] = {}
    label: ClassVar[str] = ""
    """Name in the result tables (default: ``name``)."""
    deterministic: ClassVar[bool] = False
    """True for offline methods: one result, no generation seeds, no model on a device."""

    @classmethod
    def driving_space(cls, options: GeneratorOptions, gallery_space: str) -> str:
        """The latent space that drives the method (default ``spaces[0]``).

        ``gallery_space`` is the run's ``reconstruction.retrieval_space``.
        """
        return cls.spaces[0]

    @classmethod
    def from_run(cls, run: RunInputs, **options: Any) -> ReconstructionMethod:
        """Build the method for a run (default: ``cls(device=, memory=, **options)``)."""
        return cls(device=run.device, memory=run.memory, **options)

    @classmethod
    def missing(cls, options: GeneratorOptions) -> str | None:
        """What this machine lacks to run with ``options`` (weights, extras), or None."""
        return None

    def artifacts(self) -> dict[str, np.ndarray]:
        """Arrays to keep beside the last images, ``{file name: array}`` (default none)."""
        return {}


GENERATORS: Registry[Callable[..., Generator]] = Registry(
    "reconstruction method",
    "perceptogram.generators",
    builtin_modules=[f"perceptogram.reconstruct.{m}"
                     for m in ("linear", "retrieval", "unclip", "kandinsky22", "sdxl_ip_adapter")],
)
#: The same registry under the name of what it holds.
METHODS = GENERATORS


def register(name: str, *, summary: str = "",
             availability: Callable[[], str | None] | None = None
             ) -> Callable[[Callable[..., Generator]], Callable[..., Generator]]:
    """Class decorator that makes a reconstruction method available by ``name``.

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
    """Build the reconstruction method registered as ``name`` with ``kwargs``.

    Raises
    ------
    perceptogram._registry.UnknownNameError
        If no method is registered as ``name``.
    """
    return GENERATORS.build(name, **kwargs)


@dataclass(frozen=True)
class MethodSpec:
    """What the configuration and the pipeline know of one registered method.

    Built by :func:`method_spec` from the class's attributes, with
    :class:`ReconstructionMethod`'s defaults for the optional ones.
    """

    name: str
    factory: Callable[..., Generator]
    label: str
    Options: type[GeneratorOptions]
    optional_spaces: tuple[str, ...]
    shared_options: Mapping[str, Mapping[str, str]]
    deterministic: bool

    @property
    def _base(self) -> bool:
        return isinstance(self.factory, type) and issubclass(self.factory, ReconstructionMethod)

    def options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` validated by ``Options``, every default filled in.

        Raises
        ------
        pydantic.ValidationError
        """
        return self.Options(**given).model_dump()

    def space(self, options: Mapping[str, Any], gallery_space: str) -> str:
        """The latent space that drives the method under ``options``."""
        if self._base:
            return self.factory.driving_space(self.Options(**options), gallery_space)
        return self.factory.spaces[0]

    def build(self, run: RunInputs, options: Mapping[str, Any]) -> Generator:
        """The method, ready to ``generate``, for one run."""
        if self._base:
            return self.factory.from_run(run, **options)
        return self.factory(device=run.device, memory=run.memory, **options)

    def missing(self, options: Mapping[str, Any]) -> str | None:
        """What this machine lacks to run the method with ``options``, or None."""
        return self.factory.missing(self.Options(**options)) if self._base else None


def method_spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of the method registered as ``name``.

    Raises
    ------
    perceptogram._registry.UnknownNameError
    """
    factory = GENERATORS.get(name)

    def optional(attribute: str) -> Any:
        return getattr(factory, attribute, getattr(ReconstructionMethod, attribute))

    return MethodSpec(name=name, factory=factory, label=optional("label") or name,
                      Options=factory.Options, optional_spaces=tuple(optional("optional_spaces")),
                      shared_options=optional("shared_options"),
                      deterministic=bool(optional("deterministic")))


def method_artifacts(method: Generator) -> dict[str, np.ndarray]:
    """The extra arrays a method keeps after ``generate`` (see ``artifacts``)."""
    return method.artifacts() if isinstance(method, ReconstructionMethod) else {}


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
