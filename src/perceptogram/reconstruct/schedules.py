"""Exact partial (image-to-image) denoising schedules for diffusers schedulers.

Image-to-image generation noises a starting latent to an intermediate timestep and
denoises from there. Cutting the front off a full schedule (``timesteps[k:]``) is
exact only for samplers whose step depends on nothing but the current sample and
timestep, or that restart their history cleanly at a begin index:

- ``DDIMScheduler`` is stateless: any suffix of its schedule is a valid schedule.
- ``DPMSolverMultistepScheduler`` and ``UniPCMultistepScheduler`` clear their
  history in ``set_timesteps`` and take ``set_begin_index``: the first step after the
  cut is a first-order step, the following ones build their history again.
- ``PNDMScheduler`` (the scheduler of ``stable-diffusion-2-1-unclip``) is *not*:
  with ``skip_prk_steps`` its schedule repeats the second timestep for the PLMS
  warm-up (20 steps: ``[951, 901, 901, 851, ...]``) and its step counter decides how
  each call is interpreted. A suffix ``[751, 701, 651, ...]`` lacks the repeat, so
  the counter treats 701 as the warm-up repeat of 751 and the chain stays one step
  behind to the end (under-denoised output).

:func:`partial_schedule` therefore keeps the pipeline's own scheduler for a full
schedule (``strength == 1``: what the pipeline's ``__call__`` does) and for the
schedulers listed in :data:`RESUMABLE_SCHEDULERS`; any other scheduler runs a
partial schedule as DDIM built from its own configuration (same training noise
schedule, prediction type, timestep spacing and offset), which is exact.
``tests/test_schedules.py`` checks all of this with an oracle denoiser.
"""

from __future__ import annotations

import inspect
from typing import Any

from perceptogram.errors import PerceptogramError, require

__all__ = ["RESUMABLE_SCHEDULERS", "partial_schedule", "start_step", "step_kwargs"]

RESUMABLE_SCHEDULERS = ("DDIMScheduler", "DPMSolverMultistepScheduler", "UniPCMultistepScheduler")
"""Scheduler classes whose schedules may start part-way (validated by oracle tests)."""


def start_step(num_inference_steps: int, strength: float) -> int:
    """Index of the first of ``num_inference_steps`` steps that runs at ``strength``.

    ``strength`` 1 runs every step (index 0); ``strength`` 0 runs none
    (index ``num_inference_steps``). Same rounding as diffusers' img2img pipelines.
    """
    if not 0.0 <= strength <= 1.0:
        raise PerceptogramError(f"strength must be in [0, 1]; got {strength}")
    if num_inference_steps < 1:
        raise PerceptogramError(
            f"num_inference_steps must be at least 1; got {num_inference_steps}")
    n_run = min(int(num_inference_steps * strength), num_inference_steps)
    return num_inference_steps - n_run


def partial_schedule(scheduler: Any, num_inference_steps: int, strength: float = 1.0,
                     device: Any = None) -> tuple[Any, Any]:
    """The scheduler and timesteps that denoise exactly from ``strength``.

    Parameters
    ----------
    scheduler : diffusers scheduler
        The pipeline's scheduler. It is used (and its state reset) for a full
        schedule and for :data:`RESUMABLE_SCHEDULERS`; otherwise a
        ``DDIMScheduler`` is built from its configuration and the original is left
        untouched.
    num_inference_steps : int
        Steps of the full schedule.
    strength : float in [0, 1]
        Fraction of the schedule that runs (1: from pure noise).
    device : str or torch.device or None
        Where the timesteps live.

    Returns
    -------
    scheduler : diffusers scheduler
        The one to call ``add_noise`` and ``step`` on.
    timesteps : torch.Tensor of int, shape (n_run_entries,)
        Timesteps to run, first one = where the starting latent is noised to
        (empty when ``strength`` is so small that no step runs).
    """
    begin = start_step(num_inference_steps, strength)
    if begin > 0 and type(scheduler).__name__ not in RESUMABLE_SCHEDULERS:
        diffusers = require("diffusers", extra="diffusion", purpose="image-to-image schedules")
        scheduler = diffusers.DDIMScheduler.from_config(scheduler.config)
    scheduler.set_timesteps(num_inference_steps, device=device)
    begin *= scheduler.order
    if begin > 0 and hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(begin)
    return scheduler, scheduler.timesteps[begin:]


def step_kwargs(scheduler: Any, generator: Any, eta: float = 0.0) -> dict[str, Any]:
    """Keyword arguments of ``scheduler.step`` for ``eta`` and ``generator``.

    Only those that the scheduler's ``step`` accepts (DDIM takes both; PNDM neither).
    """
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict[str, Any] = {}
    if "eta" in accepted:
        kwargs["eta"] = eta
    if "generator" in accepted:
        kwargs["generator"] = generator
    return kwargs
