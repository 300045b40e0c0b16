"""Shared plumbing of the generators that run a diffusers pipeline's own ``__call__``.

Kandinsky 2.2 and SDXL + IP-Adapter take decoded image embeddings as documented
pipeline inputs (``image_embeds``, ``ip_adapter_image_embeds``), so these generators
call the pipeline itself, batch by batch, with

- one ``torch.Generator`` per image seeded with ``seed + image_id`` (on the CPU),
  passed as a list so that the initial noise and any sampler noise of image *i*
  come from its own generator: results do not depend on batch size or order;
- memory options applied once after loading
  (:mod:`perceptogram.reconstruct.memory`);
- local weights only, with a download hint naming the files needed.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from perceptogram._progress import track
from perceptogram.errors import require
from perceptogram.latents.unclip import default_device, resolve_torch_dtype
from perceptogram.reconstruct.base import (
    GeneratorOptions,
    ReconstructionMethod,
    check_image_ids,
    check_latents,
)
from perceptogram.reconstruct.memory import apply_memory_options, resolve_memory_options

__all__ = ["PipelineCallGenerator", "to_uint8"]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1], shape (n, H, W, 3) (diffusers' ``output_type="np"``) to uint8."""
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)


class PipelineCallGenerator(ReconstructionMethod, abc.ABC):
    """A generator that drives a diffusers pipeline's ``__call__`` (see module docstring).

    Subclasses set ``name``, ``spaces``, ``Options``, the memory estimates and
    implement :meth:`_load` and :meth:`_call`.

    Parameters
    ----------
    pipeline : diffusers.DiffusionPipeline or None
        An already loaded pipeline; None loads it (local files only) on first use.
    device : str or None
        Default CUDA when available.
    memory : "auto", mapping or MemoryOptions
        GPU memory options.
    **options
        Fields of the subclass's ``Options``.
    """

    name: ClassVar[str]
    spaces: ClassVar[tuple[str, ...]]
    optional_spaces: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[GeneratorOptions]]
    shared_options: ClassVar[dict[str, dict[str, str]]] = {}
    weights_gib: ClassVar[float]
    """Weights in float16, GiB."""
    per_image_gib: ClassVar[float]
    """Activation memory of one image in a guided batch, float16, GiB (estimate)."""
    memory_options: ClassVar[tuple[str, ...]] = ("attention_slicing", "vae_slicing",
                                                  "vae_tiling")
    """Slicing/tiling memory options the pipeline supports."""

    def __init__(self, pipeline: Any = None, *, device: Any = None, memory: Any = "auto",
                 **options: Any) -> None:
        self.options = self.Options(**options)
        self._pipeline = pipeline
        self._device = device
        self._memory = memory
        self._prepared = False
        self.applied_memory_options: list[str] = []

    @property
    def device(self):
        """The device generation runs on."""
        return default_device() if self._device is None else self._device

    def torch_dtype(self):
        """Weight precision: the ``dtype`` option, else float16 on CUDA, float32 on CPU."""
        return resolve_torch_dtype(getattr(self.options, "dtype", None), self.device)

    @property
    def memory(self):
        """The resolved :class:`~perceptogram.reconstruct.memory.MemoryOptions`."""
        scale = 2.0 if str(self.torch_dtype()).endswith("float32") else 1.0
        return resolve_memory_options(self._memory, self.device, self.weights_gib * scale,
                                      self.per_image_gib * scale, self.memory_options)

    @property
    def pipeline(self):
        """The diffusers pipeline (given or loaded), memory options applied on first use."""
        if not self._prepared:
            if self._pipeline is None:
                self._pipeline = self._load()
            self.applied_memory_options = apply_memory_options(self._pipeline, self.memory,
                                                               self.device)
            self._prepared = True
        return self._pipeline

    @abc.abstractmethod
    def _load(self):
        """Load the pipeline on the CPU from local files (raise MissingWeightsError)."""

    @abc.abstractmethod
    def _embedding_dim(self) -> int:
        """Dimension of the decoded embedding the pipeline takes."""

    @abc.abstractmethod
    def _call(self, embeds, generators: list) -> np.ndarray:
        """Run the pipeline on one batch of embeddings (torch, shape (n, dim)).

        Returns images in [0, 1], shape (n, H, W, 3).
        """

    def generate(self, latents: Mapping[str, np.ndarray],
                 image_ids: np.ndarray | None = None) -> np.ndarray:
        """Generate one image per decoded embedding of ``spaces[0]``.

        Parameters
        ----------
        latents : mapping of str to ndarray, shape (n_images, dim)
        image_ids : ndarray of int, shape (n_images,) or None
            Image *i* uses ``torch.Generator().manual_seed(seed + image_ids[i])``.

        Returns
        -------
        images : ndarray of uint8, shape (n_images, size, size, 3)
        """
        torch = require("torch", extra="diffusion", purpose=f"the {self.name} generator")

        pipe = self.pipeline
        pipe.set_progress_bar_config(disable=True)  # ours is the per-batch bar
        embeds = check_latents(latents, self.spaces[0], self._embedding_dim())
        ids = check_image_ids(image_ids, len(embeds))
        batch_size = self.memory.batch_size
        parts = []
        starts = range(0, len(embeds), batch_size)
        for start in track(starts, f"{self.name} generation", total=len(starts)):
            batch = slice(start, min(start + batch_size, len(embeds)))
            generators = [torch.Generator("cpu").manual_seed(self.options.seed + int(i))
                          for i in ids[batch]]
            with torch.inference_mode():
                parts.append(to_uint8(self._call(torch.from_numpy(embeds[batch]), generators)))
        size = self.options.size
        return np.concatenate(parts) if parts else np.empty((0, size, size, 3), np.uint8)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"
