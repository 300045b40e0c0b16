"""Reconstruct images with Stable unCLIP from decoded CLIP embeddings and VAE latents.

The decoded image embedding conditions the UNet (noise-augmented at ``noise_level``,
0 by default, exactly as ``StableUnCLIPImg2ImgPipeline`` does); classifier-free
guidance contrasts it with an all-zero class label, the pipeline's own negative
(also what the reference code passes). The text condition is the empty prompt.
The decoded VAE latent gives the low-level layout through the starting point of
the denoising loop:

``init_mode="img2img"`` (default)
    Standard image-to-image strength: with ``T`` inference steps the loop skips the
    first ``T - int(T * strength)`` steps, the decoded latent is noised to the
    first remaining timestep with ``scheduler.add_noise`` and denoised from there,
    on a scheduler that is exact part-way
    (:func:`perceptogram.reconstruct.schedules.partial_schedule`: for the real
    model's PNDM, DDIM built from its configuration).
    ``strength=1`` starts from pure noise (the latent is ignored), ``strength=0``
    returns the decoded latent rendered by the VAE.
``init_mode="mix"`` (the reference code's recipe)
    All ``T`` steps run from ``x_T = (mix_weight * z + eps) * init_noise_sigma``,
    with ``z`` the decoded latent and ``eps`` standard normal noise: pure noise
    slightly biased towards the layout. The reference used 0.02 on unscaled VAE
    latents, about 0.11 in the scaled units used here.

Every image gets its own ``torch.Generator`` seeded with ``seed + image_id``
(created on the CPU, so results do not depend on the device's random generator),
which draws, in this order, the embedding's augmentation noise and the initial
latent noise; image *i* therefore never depends on the batch size or order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import Field

from perceptogram._progress import track
from perceptogram.errors import DataFormatError, PerceptogramError, require
from perceptogram.latents.hub import weights_missing
from perceptogram.latents.unclip import (
    DOWNLOAD_EXCLUDE,
    DOWNLOAD_INCLUDE,
    default_device,
    load_unclip_pipeline,
    resolve_torch_dtype,
    to_uint8,
)
from perceptogram.reconstruct.base import (
    GeneratorOptions,
    ReconstructionMethod,
    SeedField,
    check_image_ids,
    register,
)
from perceptogram.reconstruct.memory import apply_memory_options, resolve_memory_options
from perceptogram.reconstruct.schedules import partial_schedule, step_kwargs

INIT_MODES = ("img2img", "mix")


class UnCLIPReconstructor:
    """Turn decoded unCLIP embeddings (and VAE latents) into images.

    Parameters
    ----------
    pipe : diffusers.StableUnCLIPImg2ImgPipeline
        A loaded pipeline (see :func:`perceptogram.latents.unclip.load_unclip_pipeline`),
        with all components.
    num_inference_steps : int
        Denoising steps of the scheduler's full schedule (fewer run when
        ``strength < 1`` in ``"img2img"`` mode).
    guidance_scale : float
        Classifier-free guidance weight; ``<= 1`` switches guidance off.
    strength : float in [0, 1]
        How far the decoded VAE latent is noised in ``"img2img"`` mode.
    image_size : int
        Side of the generated images in pixels (768 for SD 2.1 unCLIP); must match
        the size the VAE latents were computed at.
    seed : int
        Image ``i`` uses ``torch.Generator().manual_seed(seed + image_ids[i])``.
    batch_size : int
        Images per UNet batch (the UNet sees twice as many with guidance).
    init_mode : {"img2img", "mix"}
        How the VAE latent seeds the loop (see the module docstring).
    mix_weight : float
        Weight of the VAE latent in ``"mix"`` mode.
    noise_level : int
        Noise augmentation of the image embedding (0 = none, the published setting).
    eta : float
        DDIM's eta (0 = deterministic DDIM; ignored by schedulers without it).
    """

    def __init__(
        self,
        pipe: Any,
        *,
        num_inference_steps: int = 20,
        guidance_scale: float = 7.5,
        strength: float = 0.75,
        image_size: int = 768,
        seed: int = 0,
        batch_size: int = 4,
        init_mode: str = "img2img",
        mix_weight: float = 0.11,
        noise_level: int = 0,
        eta: float = 0.0,
    ) -> None:
        if init_mode not in INIT_MODES:
            raise PerceptogramError(f"init_mode must be one of {INIT_MODES}; got {init_mode!r}")
        if not 0.0 <= strength <= 1.0:
            raise PerceptogramError(f"strength must be in [0, 1]; got {strength}")
        if num_inference_steps < 1 or batch_size < 1:
            raise PerceptogramError("num_inference_steps and batch_size must be at least 1")
        missing = [c for c in ("unet", "vae", "scheduler", "text_encoder", "tokenizer",
                               "image_normalizer", "image_noising_scheduler")
                   if getattr(pipe, c, None) is None]
        if missing:
            raise PerceptogramError(f"the pipeline lacks the components {missing}")
        if image_size < 1 or image_size % pipe.vae_scale_factor:
            raise PerceptogramError(
                f"image_size must be a positive multiple of {pipe.vae_scale_factor}; "
                f"got {image_size}"
            )
        self.pipe = pipe
        self.num_inference_steps = int(num_inference_steps)
        self.guidance_scale = float(guidance_scale)
        self.strength = float(strength)
        self.image_size = int(image_size)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.init_mode = init_mode
        self.mix_weight = float(mix_weight)
        self.noise_level = int(noise_level)
        self.eta = float(eta)

    @property
    def embedding_dim(self) -> int:
        """Dimension of the image embedding the UNet is conditioned on (1024 for SD 2.1)."""
        return int(self.pipe.unet.config.projection_class_embeddings_input_dim) // 2

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """Shape of one VAE latent at ``image_size``: ``(4, 96, 96)`` at 768 px."""
        side = self.image_size // self.pipe.vae_scale_factor
        return (int(self.pipe.unet.config.in_channels), side, side)

    def _check(self, image_embeds, vae_latents, image_ids):
        image_embeds = np.ascontiguousarray(image_embeds, dtype=np.float32)
        if image_embeds.ndim != 2 or image_embeds.shape[1] != self.embedding_dim:
            raise DataFormatError(
                f"image_embeds must have shape (n_images, {self.embedding_dim}); "
                f"got {image_embeds.shape}"
            )
        n_images = len(image_embeds)
        if vae_latents is not None:
            vae_latents = np.ascontiguousarray(vae_latents, dtype=np.float32)
            dim = int(np.prod(self.latent_shape))
            if vae_latents.shape != (n_images, dim):
                raise DataFormatError(
                    f"vae_latents must have shape ({n_images}, {dim}) = (n_images, "
                    f"{' * '.join(map(str, self.latent_shape))}) for image_size "
                    f"{self.image_size}; got {vae_latents.shape}"
                )
        return image_embeds, vae_latents, check_image_ids(image_ids, n_images)

    def reconstruct(
        self,
        image_embeds: np.ndarray,
        vae_latents: np.ndarray | None = None,
        *,
        image_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        """Generate one image per decoded embedding.

        Parameters
        ----------
        image_embeds : ndarray, shape (n_images, embedding_dim)
            Decoded ``unclip`` latents (1,024-d for SD 2.1).
        vae_latents : ndarray, shape (n_images, channels * rows * columns) or None
            Decoded ``unclip-vae`` latents at ``image_size`` (4 * 96 * 96 at 768 px);
            ``None`` starts from pure noise.
        image_ids : ndarray of int, shape (n_images,) or None
            Identity of each image for seeding (default ``arange(n_images)``); pass
            the images' indices in the full set when reconstructing a subset.

        Returns
        -------
        images : ndarray of uint8, shape (n_images, image_size, image_size, 3)
        """
        torch = require("torch", extra="diffusion", purpose="unCLIP reconstruction")

        image_embeds, vae_latents, image_ids = self._check(image_embeds, vae_latents, image_ids)
        n_images = len(image_embeds)
        out = np.empty((n_images, self.image_size, self.image_size, 3), dtype=np.uint8)
        starts = range(0, n_images, self.batch_size)
        with torch.inference_mode():
            text, negative_text = self._text_embeddings()
            for start in track(starts, "unCLIP reconstruction", total=len(starts)):
                batch = slice(start, min(start + self.batch_size, n_images))
                out[batch] = self._generate(
                    image_embeds[batch],
                    None if vae_latents is None else vae_latents[batch],
                    image_ids[batch],
                    text,
                    negative_text,
                )
        return out

    def _text_embeddings(self):
        """Embeddings of the empty prompt (condition and negative), shape (1, 77, d)."""
        pipe = self.pipe
        return pipe.encode_prompt(
            prompt="",
            device=_execution_device(pipe),
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
        )

    def denoise(self, embeds: np.ndarray, latents: np.ndarray | None, ids: np.ndarray,
                text: Any = None, negative_text: Any = None):
        """Run the denoising loop for one batch; return the final latents.

        Parameters
        ----------
        embeds : ndarray of float32, shape (n, embedding_dim)
        latents : ndarray of float32, shape (n, prod(latent_shape)) or None
        ids : ndarray of int, shape (n,)
        text, negative_text : torch.Tensor, shape (1, 77, d) or None
            Empty-prompt embeddings (computed when None).

        Returns
        -------
        latents : torch.Tensor, shape (n, *latent_shape)
            In the UNet's units (VAE latent times ``scaling_factor``).
        """
        torch = require("torch")
        from diffusers.utils.torch_utils import randn_tensor

        pipe = self.pipe
        if text is None:
            text, negative_text = self._text_embeddings()
        device, dtype = _execution_device(pipe), pipe.unet.dtype
        n = len(embeds)
        generators = [torch.Generator("cpu").manual_seed(self.seed + int(i)) for i in ids]

        # Condition: the embedding, noise-augmented at noise_level, with the
        # sinusoidal embedding of the noise level appended (first random draw).
        class_labels = pipe.noise_image_embeddings(
            image_embeds=torch.from_numpy(embeds).to(device=device, dtype=dtype),
            noise_level=self.noise_level,
            generator=generators,
        )
        text = text.to(dtype).expand(n, -1, -1)
        guided = self.guidance_scale > 1.0
        if guided:
            class_labels = torch.cat([torch.zeros_like(class_labels), class_labels])
            text = torch.cat([negative_text.to(dtype).expand(n, -1, -1), text])

        # Starting point (second random draw). A partial schedule runs on a
        # scheduler that is exact part-way (see perceptogram.reconstruct.schedules).
        shape = (n, *self.latent_shape)
        noise = randn_tensor(shape, generator=generators, device=device, dtype=dtype)
        img2img = self.init_mode == "img2img" and latents is not None and self.strength < 1.0
        scheduler, timesteps = partial_schedule(
            pipe.scheduler, self.num_inference_steps, self.strength if img2img else 1.0,
            device=device,
        )
        if latents is None or (self.init_mode == "img2img" and not img2img):
            x = noise * scheduler.init_noise_sigma
        else:
            init = torch.from_numpy(latents).reshape(shape).to(device=device, dtype=dtype)
            if self.init_mode == "mix":
                x = (self.mix_weight * init + noise) * scheduler.init_noise_sigma
            elif len(timesteps) == 0:
                x = init
            else:
                x = scheduler.add_noise(init, noise, timesteps[:1].repeat(n))

        extra = step_kwargs(scheduler, generators, self.eta)
        for t in timesteps:
            model_input = torch.cat([x, x]) if guided else x
            model_input = scheduler.scale_model_input(model_input, t)
            prediction = pipe.unet(
                model_input, t, encoder_hidden_states=text, class_labels=class_labels
            ).sample
            if guided:
                unconditional, conditional = prediction.chunk(2)
                prediction = unconditional + self.guidance_scale * (conditional - unconditional)
            x = scheduler.step(prediction, t, x, **extra).prev_sample
        return x

    def _generate(self, embeds, latents, ids, text, negative_text) -> np.ndarray:
        x = self.denoise(embeds, latents, ids, text, negative_text)
        vae = self.pipe.vae
        pixels = vae.decode(x.to(vae.dtype) / vae.config.scaling_factor).sample
        return to_uint8(pixels)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_inference_steps={self.num_inference_steps}, "
            f"guidance_scale={self.guidance_scale}, strength={self.strength}, "
            f"init_mode={self.init_mode!r}, image_size={self.image_size}, seed={self.seed})"
        )


def _execution_device(pipe: Any):
    """Where inputs go: the pipeline's execution device (CUDA under CPU offload)."""
    device = getattr(pipe, "_execution_device", None)
    return device if device is not None else pipe.unet.device


# --------------------------------------------------------------------- generator
WEIGHTS_GIB = 4.5
"""Memory of the SD 2.1 unCLIP weights in float16, GiB (twice that in float32)."""

PER_IMAGE_GIB = 1.5
"""Activation memory of one 768 px image in a guided batch, float16, GiB (estimate)."""


class UnCLIPOptions(GeneratorOptions):
    """Options of the ``unclip`` generator (``reconstruction.options.unclip``; the
    section ``reconstruction.unclip`` of older configurations is read as the same)."""

    model: str = Field(
        "stabilityai/stable-diffusion-2-1-unclip",
        description="Hugging Face model id or local folder (never downloaded implicitly); "
        "also the default model of the unclip and unclip-vae latent spaces.")
    steps: int = Field(20, ge=1, le=1000, description="Denoising steps.")
    guidance: float = Field(7.5, ge=0.0, description="Classifier-free guidance scale.")
    strength: float = Field(0.75, gt=0.0, le=1.0,
                            description="How far to noise the decoded VAE latent (img2img).")
    size: int = Field(768, ge=8, le=4096,
                      description="Output side, pixels; also the default image_size of the "
                      "unclip-vae latent space.")
    seed: int = SeedField
    init_mode: Literal["img2img", "mix"] = "img2img"
    mix_weight: float = 0.11
    noise_level: int = Field(0, ge=0, le=999)
    eta: float = Field(0.0, ge=0.0)
    dtype: str | None = None
    variant: str | None = None


@register("unclip", availability=lambda: UnCLIPGenerator.missing(UnCLIPOptions()))
class UnCLIPGenerator(ReconstructionMethod):
    """Stable unCLIP 2.1 from the decoded CLIP image embedding (+ VAE latent start).

    Parameters
    ----------
    pipeline : diffusers.StableUnCLIPImg2ImgPipeline or None
        An already loaded pipeline; ``None`` loads ``model`` (local files only) on
        first use.
    device : str or None
        Where to run (default CUDA when available).
    memory : "auto", mapping or MemoryOptions
        GPU memory options (:mod:`perceptogram.reconstruct.memory`).
    **options
        Fields of :class:`UnCLIPOptions` (steps, guidance, strength, size, seed, ...).
    """

    name = "unclip"
    label = "unCLIP"
    spaces = ("unclip",)
    optional_spaces = ("unclip-vae",)
    Options = UnCLIPOptions
    shared_options = {"unclip": {"model": "model"},
                      "unclip-vae": {"model": "model", "image_size": "size"}}
    memory_options = ("attention_slicing", "vae_slicing", "vae_tiling")

    @classmethod
    def missing(cls, options: UnCLIPOptions) -> str | None:
        """What this machine lacks to generate with ``options`` (the weights), or None."""
        return weights_missing(options.model, ("model_index.json", "unet/config.json"),
                               include=DOWNLOAD_INCLUDE, exclude=DOWNLOAD_EXCLUDE)

    def __init__(self, pipeline: Any = None, *, device: Any = None, memory: Any = "auto",
                 **options: Any) -> None:
        self.options = UnCLIPOptions(**options)
        self._pipeline = pipeline
        self._device = device
        self._memory = memory
        self._prepared = False
        self.applied_memory_options: list[str] = []

    @property
    def pipeline(self):
        """The diffusers pipeline (given or loaded), memory options applied on first use."""
        if not self._prepared:
            device = default_device() if self._device is None else self._device
            if self._pipeline is None:
                self._pipeline = load_unclip_pipeline(
                    self.options.model, device="cpu", dtype=self._dtype(device),
                    variant=self.options.variant)
            self.applied_memory_options = apply_memory_options(self._pipeline, self.memory,
                                                               device)
            self._prepared = True
        return self._pipeline

    def _dtype(self, device: Any):
        return resolve_torch_dtype(self.options.dtype, device)

    @property
    def memory(self):
        """The resolved :class:`~perceptogram.reconstruct.memory.MemoryOptions`."""
        device = default_device() if self._device is None else self._device
        scale = 2.0 if str(self._dtype(device)).endswith("float32") else 1.0
        return resolve_memory_options(self._memory, device, WEIGHTS_GIB * scale,
                                      PER_IMAGE_GIB * scale, self.memory_options)

    def reconstructor(self) -> UnCLIPReconstructor:
        """The :class:`UnCLIPReconstructor` with these options."""
        o = self.options
        return UnCLIPReconstructor(
            self.pipeline, num_inference_steps=o.steps, guidance_scale=o.guidance,
            strength=o.strength, image_size=o.size, seed=o.seed,
            batch_size=self.memory.batch_size, init_mode=o.init_mode, mix_weight=o.mix_weight,
            noise_level=o.noise_level, eta=o.eta,
        )

    def generate(self, latents: Mapping[str, np.ndarray],
                 image_ids: np.ndarray | None = None) -> np.ndarray:
        """Images from decoded ``unclip`` embeddings (and ``unclip-vae`` latents if given).

        Parameters
        ----------
        latents : mapping
            ``"unclip"``: ndarray, shape (n_images, 1024); optional ``"unclip-vae"``:
            ndarray, shape (n_images, 4 * 96 * 96) at 768 px.
        image_ids : ndarray of int, shape (n_images,) or None

        Returns
        -------
        images : ndarray of uint8, shape (n_images, size, size, 3)
        """
        if "unclip" not in latents:
            raise DataFormatError(
                f"the decoded 'unclip' latents are missing; got {sorted(latents)}")
        return self.reconstructor().reconstruct(latents["unclip"], latents.get("unclip-vae"),
                                                image_ids=image_ids)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"
