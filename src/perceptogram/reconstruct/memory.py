"""GPU memory options of the generators, and the ``auto`` choice from free memory.

Stable unCLIP at 768 px runs out of memory on 16-24 GB GPUs without help
(diffusers' own tests enable attention slicing and CPU offload for it). Every
generator takes the same options, applied to its diffusers pipeline by
:func:`apply_memory_options`:

- ``attention_slicing``: attention computed in slices (less peak memory, slower);
- ``vae_slicing`` / ``vae_tiling``: decode images one at a time / in tiles;
- ``offload``: ``"model"`` keeps each model on the CPU until it runs
  (``enable_model_cpu_offload``); ``"sequential"`` moves submodules one by one
  (``enable_sequential_cpu_offload``: least memory, slowest);
- ``batch_size``: images per denoising batch (the UNet sees twice as many with
  classifier-free guidance).

``"auto"`` (:func:`auto_memory_options`) reads the free memory of the CUDA device
(``torch.cuda.mem_get_info``) and picks the lightest set that fits; on a CPU it
applies nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from perceptogram.errors import PerceptogramError

__all__ = ["OFFLOAD_MODES", "SLICING_OPTIONS", "MemoryOptions", "apply_memory_options",
           "auto_memory_options",
           "resolve_memory_options"]

OFFLOAD_MODES = ("none", "model", "sequential")

_GIB = 1024**3


@dataclass(frozen=True)
class MemoryOptions:
    """How a generator saves GPU memory (see the module docstring)."""

    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    offload: str = "none"
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.offload not in OFFLOAD_MODES:
            raise PerceptogramError(
                f"offload must be one of {OFFLOAD_MODES}; got {self.offload!r}"
            )
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise PerceptogramError(
                f"batch_size must be a positive integer; got {self.batch_size!r}")

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain dictionary."""
        return asdict(self)


def auto_memory_options(device: Any, weights_gib: float, per_image_gib: float,
                        free_bytes: int | None = None) -> MemoryOptions:
    """Pick memory options from the free memory of ``device``.

    Parameters
    ----------
    device : str or torch.device
        Where the generator runs; on anything but CUDA no option is applied.
    weights_gib : float
        Memory of the generator's weights at the chosen precision, GiB.
    per_image_gib : float
        Activation memory of one image in a denoising batch (with guidance), GiB.
    free_bytes : int or None
        Free device memory; default ``torch.cuda.mem_get_info(device)[0]``.

    Returns
    -------
    options : MemoryOptions
        Batch of up to 8 images with everything on the GPU when it fits; else
        attention and VAE slicing with smaller batches; else model offload; else
        sequential offload with one image at a time.
    """
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return MemoryOptions()
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    free = free_bytes / _GIB
    room = free - weights_gib
    if room >= 8 * per_image_gib:
        return MemoryOptions(batch_size=8)
    sliced = MemoryOptions(attention_slicing=True, vae_slicing=True)
    # Attention slicing roughly halves the activation memory per image.
    for batch_size in (4, 2, 1):
        if room >= batch_size * per_image_gib / 2:
            return replace(sliced, batch_size=batch_size)
    if free >= 0.5 * weights_gib + per_image_gib / 2:
        return replace(sliced, offload="model", batch_size=1)
    return replace(sliced, vae_tiling=True, offload="sequential", batch_size=1)


SLICING_OPTIONS = ("attention_slicing", "vae_slicing", "vae_tiling")
"""Options that not every pipeline supports."""


def resolve_memory_options(memory: str | Mapping[str, Any] | MemoryOptions | None, device: Any,
                           weights_gib: float, per_image_gib: float,
                           supported: tuple[str, ...] = SLICING_OPTIONS) -> MemoryOptions:
    """``"auto"``/None -> :func:`auto_memory_options`; a mapping -> :class:`MemoryOptions`.

    Parameters
    ----------
    memory : "auto", mapping, MemoryOptions or None
    device : str or torch.device
    weights_gib, per_image_gib : float
        See :func:`auto_memory_options`.
    supported : tuple of str
        Which of :data:`SLICING_OPTIONS` the generator supports (Kandinsky's MoVQ
        decoder has neither VAE slicing nor tiling; diffusers' sliced attention
        drops IP-Adapter tokens): ``auto`` leaves the others out, an explicit request
        for one is an error.
    """
    if memory is None or memory == "auto":
        options = auto_memory_options(device, weights_gib, per_image_gib)
        return replace(options, **{name: False for name in SLICING_OPTIONS
                                   if name not in supported})
    if isinstance(memory, Mapping):
        unknown = sorted(set(memory) - set(MemoryOptions.__dataclass_fields__))
        if unknown:
            raise PerceptogramError(
                f"unknown memory options {unknown}; "
                f"known: {list(MemoryOptions.__dataclass_fields__)}"
            )
        memory = MemoryOptions(**memory)
    if not isinstance(memory, MemoryOptions):
        raise PerceptogramError(f"memory options must be 'auto' or a mapping; got {memory!r}")
    unsupported = [name for name in SLICING_OPTIONS
                   if getattr(memory, name) and name not in supported]
    if unsupported:
        raise PerceptogramError(f"this generator does not support the memory options {unsupported}")
    return memory


def apply_memory_options(pipe: Any, options: MemoryOptions, device: Any) -> list[str]:
    """Apply ``options`` to a diffusers pipeline and put it on ``device``.

    Parameters
    ----------
    pipe : diffusers.DiffusionPipeline
    options : MemoryOptions
    device : str or torch.device

    Returns
    -------
    applied : list of str
        Names of the options applied, in order (for logs and tests).

    Raises
    ------
    PerceptogramError
        If CPU offload is asked for without a CUDA device.
    """
    import torch

    device = torch.device(device)
    applied: list[str] = []
    if options.attention_slicing:
        pipe.enable_attention_slicing()
        applied.append("attention_slicing")
    decoder = getattr(pipe, "vae", None) or getattr(pipe, "movq", None)
    for name, method in (("vae_slicing", "enable_slicing"), ("vae_tiling", "enable_tiling")):
        if getattr(options, name):
            if not hasattr(decoder, method):
                raise PerceptogramError(
                    f"{name} is not supported by this generator's image decoder "
                    f"({type(decoder).__name__})"
                )
            getattr(decoder, method)()
            applied.append(name)
    if options.offload != "none":
        if device.type != "cuda":
            raise PerceptogramError(
                f"offload={options.offload!r} moves models between the CPU and a CUDA device; "
                f"the device is {device}"
            )
        if options.offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.enable_sequential_cpu_offload(device=device)
        applied.append(f"offload={options.offload}")
    else:
        pipe.to(device)
    return applied
