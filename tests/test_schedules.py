"""Exact image-to-image schedules, checked with an oracle denoiser.

The oracle stands in for the UNet of a tiny unCLIP pipeline: it knows the clean
latent ``x0`` and returns the exact v-prediction for whatever noisy sample and
timestep it is given. Along the exact probability-flow trajectory of that
point-mass data distribution the noise ``eps`` never changes, so every consistent
sampler ends at ``sqrt(a_end) x0 + sqrt(1 - a_end) eps``, where ``eps`` is read
from the first call and ``a_end`` is the scheduler's final ``alpha_cumprod``
(``alphas_cumprod[0]`` for DDIM / PNDM with ``set_alpha_to_one=False``, 1 for
DPM-Solver / UniPC, whose last sigma is zero). Removing that noise recovers
``x0`` to float tolerance; a sampler that loses track of its step counter does not.
Schedulers use the real ``stabilityai/stable-diffusion-2-1-unclip`` configuration.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from perceptogram.reconstruct import schedules  # noqa: E402
from perceptogram.reconstruct.unclip import UnCLIPReconstructor  # noqa: E402
from unclip_tiny import (  # noqa: E402
    EMBED_DIM,
    IMAGE_SIZE,
    UNCLIP_SCHEDULER_CONFIG,
    VAE_SCALE_FACTOR,
    make_tiny_unclip_pipeline,
    no_network,  # noqa: F401  (autouse fixture)
    single_thread,  # noqa: F401  (autouse fixture)
)

SIDE = IMAGE_SIZE // VAE_SCALE_FACTOR
STEPS = 20
SCHEDULERS = ["DDIMScheduler", "PNDMScheduler", "DPMSolverMultistepScheduler",
              "UniPCMultistepScheduler"]


class OracleUNet(torch.nn.Module):
    """Return the exact v-prediction for clean latents ``x0`` (ignores conditioning)."""

    def __init__(self, config, alphas_cumprod, x0, prediction_type="v_prediction"):
        super().__init__()
        self.config = config
        self.prediction_type = prediction_type
        self.register_buffer("alphas_cumprod", alphas_cumprod.double())
        self.x0 = x0.double()
        self.calls = []

    @property
    def device(self):
        return self.alphas_cumprod.device

    @property
    def dtype(self):
        return torch.float32

    def forward(self, sample, timestep, encoder_hidden_states=None, class_labels=None):
        self.calls.append((int(timestep), sample.double().clone()))
        a = self.alphas_cumprod[int(timestep)]
        x0 = self.x0.repeat(len(sample) // len(self.x0), 1, 1, 1)
        eps = (sample.double() - a.sqrt() * x0) / (1 - a).sqrt()
        if self.prediction_type == "epsilon":
            return SimpleNamespace(sample=eps.float())
        return SimpleNamespace(sample=(a.sqrt() * eps - (1 - a).sqrt() * x0).float())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_unclip_pipeline(tmp_path_factory.mktemp("tokenizer"))


def _oracle_run(tiny, scheduler_name, strength, x0, **config):
    """Run the unCLIP reconstruction loop with the oracle; final latents and oracle."""
    config = {**UNCLIP_SCHEDULER_CONFIG, **config}
    scheduler = getattr(diffusers, scheduler_name).from_config(config)
    oracle = OracleUNet(tiny.unet.config, scheduler.alphas_cumprod, x0,
                        config["prediction_type"])
    pipe = SimpleNamespace(**{name: getattr(tiny, name) for name in (
        "vae", "text_encoder", "tokenizer", "image_normalizer", "image_noising_scheduler",
        "vae_scale_factor", "noise_image_embeddings", "encode_prompt")})
    pipe.unet, pipe.scheduler = oracle, scheduler
    reconstructor = UnCLIPReconstructor(pipe, num_inference_steps=STEPS, strength=strength,
                                        image_size=IMAGE_SIZE, guidance_scale=7.5)
    embeds = np.random.default_rng(0).normal(size=(len(x0), EMBED_DIM)).astype(np.float32)
    latents = x0.numpy().reshape(len(x0), -1)
    with torch.inference_mode():
        out = reconstructor.denoise(embeds, latents, np.arange(len(x0)))
    return out.double(), oracle


def _recovered_x0(tiny, scheduler_name, strength, x0, **config):
    out, oracle = _oracle_run(tiny, scheduler_name, strength, x0, **config)
    t_first, sample = oracle.calls[0]
    a = oracle.alphas_cumprod
    eps = (sample[: len(x0)] - a[t_first].sqrt() * x0.double()) / (1 - a[t_first]).sqrt()
    a_end = a[0] if scheduler_name in ("DDIMScheduler", "PNDMScheduler") else torch.tensor(1.0)
    return (out - (1 - a_end).sqrt() * eps) / a_end.sqrt(), oracle


@pytest.fixture(scope="module")
def x0():
    return torch.randn((2, 4, SIDE, SIDE), generator=torch.Generator().manual_seed(1))


def test_real_unclip_scheduler_schedule():
    """The real PNDM config repeats the second timestep (21 entries for 20 steps)."""
    pndm = diffusers.PNDMScheduler.from_config(UNCLIP_SCHEDULER_CONFIG)
    pndm.set_timesteps(STEPS)
    assert pndm.timesteps[:4].tolist() == [951, 901, 901, 851]
    assert len(pndm.timesteps) == STEPS + 1


@pytest.mark.parametrize("scheduler_name", SCHEDULERS)
@pytest.mark.parametrize("strength", [1.0, 0.75])
def test_every_sampler_returns_the_oracle_latent(tiny, x0, scheduler_name, strength):
    recovered, oracle = _recovered_x0(tiny, scheduler_name, strength, x0)
    # PLMS (PNDM) extrapolates the raw model outputs of earlier timesteps; with
    # v-prediction those change along the exact path (v_t = sqrt(a_t) eps -
    # sqrt(1 - a_t) x0), so PNDM's own full schedule is exact only to its order.
    # The epsilon variant below shows that the loop itself drives PNDM exactly.
    inexact_by_design = scheduler_name == "PNDMScheduler" and strength == 1.0
    atol = 0.05 if inexact_by_design else 1e-5
    np.testing.assert_allclose(recovered.numpy(), x0.double().numpy(), atol=atol)
    # The run starts at the right timestep of the scheduler's own schedule (PNDM:
    # of the DDIM schedule built from its config) and takes 15 of 20 steps.
    reference = "DDIMScheduler" if scheduler_name == "PNDMScheduler" and strength < 1 \
        else scheduler_name
    full = getattr(diffusers, reference).from_config(UNCLIP_SCHEDULER_CONFIG)
    full.set_timesteps(STEPS)
    timesteps = [t for t, _ in oracle.calls]
    n_run = 15 if strength < 1 else STEPS
    assert timesteps[0] == int(full.timesteps[STEPS - n_run])
    assert len(set(timesteps)) == n_run


@pytest.mark.parametrize("strength", [1.0, 0.75])
def test_pndm_with_epsilon_prediction_is_exact(tiny, x0, strength):
    recovered, _ = _recovered_x0(tiny, "PNDMScheduler", strength, x0, prediction_type="epsilon")
    np.testing.assert_allclose(recovered.numpy(), x0.double().numpy(), atol=1e-5)


def _sliced_schedule(scheduler, num_inference_steps, strength=1.0, device=None):
    """The schedule before the fix: cut the front off the scheduler's own timesteps."""
    scheduler.set_timesteps(num_inference_steps, device=device)
    begin = schedules.start_step(num_inference_steps, strength) * scheduler.order
    return scheduler, scheduler.timesteps[begin:]


def test_slicing_the_pndm_schedule_is_not_exact(tiny, x0, monkeypatch):
    """Guard of the test above: the old slicing fails it with the real PNDM config."""
    monkeypatch.setattr("perceptogram.reconstruct.unclip.partial_schedule", _sliced_schedule)
    recovered, oracle = _recovered_x0(tiny, "PNDMScheduler", 0.75, x0)
    error = float((recovered - x0.double()).abs().max())
    assert error > 1e-2, error
    assert oracle.calls[0][0] == 751  # and it started one step too early


def test_partial_schedule_leaves_a_pndm_scheduler_untouched():
    pndm = diffusers.PNDMScheduler.from_config(UNCLIP_SCHEDULER_CONFIG)
    used, timesteps = schedules.partial_schedule(pndm, STEPS, 0.75)
    assert isinstance(used, diffusers.DDIMScheduler) and used is not pndm
    assert used.config.prediction_type == "v_prediction" and used.config.steps_offset == 1
    assert timesteps.tolist() == list(range(701, 0, -50))
    used, timesteps = schedules.partial_schedule(pndm, STEPS, 1.0)
    assert used is pndm and len(timesteps) == STEPS + 1


def test_strength_bounds_and_step_kwargs():
    assert schedules.start_step(20, 1.0) == 0 and schedules.start_step(20, 0.0) == 20
    with pytest.raises(schedules.PerceptogramError, match="strength"):
        schedules.start_step(20, 1.5)
    ddim = diffusers.DDIMScheduler.from_config(UNCLIP_SCHEDULER_CONFIG)
    pndm = diffusers.PNDMScheduler.from_config(UNCLIP_SCHEDULER_CONFIG)
    assert set(schedules.step_kwargs(ddim, None, 0.5)) == {"eta", "generator"}
    assert schedules.step_kwargs(pndm, None, 0.5) == {}
