"""SDXL + IP-Adapter: Stable Diffusion XL prompted by a decoded image embedding.

``StableDiffusionXLPipeline`` (``stabilityai/stable-diffusion-xl-base-1.0``) with
``h94/IP-Adapter`` ``sdxl_models/ip-adapter_sdxl_vit-h.safetensors`` loaded by
``load_ip_adapter`` (without its image encoder: the embeddings are decoded, not
computed from an image). The decoded ``sdxl-ip-adapter`` latents (1,024-d ViT-H/14
``image_embeds``, :mod:`perceptogram.latents.sdxl_ip_adapter`) go in as
``ip_adapter_image_embeds``; the negative is an all-zero embedding, as diffusers
uses when it encodes an image itself. The text prompt is empty by default (SDXL
then uses zero text embeddings as its negative).

The pipeline shares one image prompt across a batch (it repeats
``ip_adapter_image_embeds`` ``batch_size`` times), so each image is one pipeline
call here; ``memory.batch_size`` only groups progress and seeding.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from perceptogram.errors import MissingWeightsError, require
from perceptogram.latents.hub import dtype_kwargs, is_local_path, missing_weights, weights_missing
from perceptogram.latents.sdxl_ip_adapter import IP_ADAPTER_INCLUDE
from perceptogram.reconstruct._diffusers_call import PipelineCallGenerator
from perceptogram.reconstruct.base import GeneratorOptions, SeedField, register

BASE_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
"""Repository of the SDXL base pipeline."""

BASE_INCLUDE = ("*.json", "*.txt", "*/*.fp16.safetensors")
"""Configs, tokenizers and the float16 weights of every component."""

BASE_EXCLUDE = ("*.onnx*", "*.msgpack", "*.bin", "*.ckpt")

IP_ADAPTER_WEIGHT = "sdxl_models/ip-adapter_sdxl_vit-h.safetensors"
"""The SDXL adapter trained with the ViT-H/14 image encoder."""


class SDXLIPAdapterOptions(GeneratorOptions):
    """Options of the ``sdxl-ip-adapter`` generator."""

    model: str = BASE_MODEL
    ip_adapter: str = "h94/IP-Adapter"
    ip_adapter_weight: str = IP_ADAPTER_WEIGHT
    ip_adapter_scale: float = Field(1.0, ge=0.0)
    prompt: str = ""
    steps: int = Field(30, ge=1)
    guidance: float = Field(5.0, ge=0.0)
    size: int = Field(1024, ge=64)
    seed: int = SeedField
    dtype: str | None = None
    variant: str | None = "fp16"


@register("sdxl-ip-adapter",
          availability=lambda: SDXLIPAdapterGenerator.missing(SDXLIPAdapterOptions()))
class SDXLIPAdapterGenerator(PipelineCallGenerator):
    """SDXL base + IP-Adapter (ViT-H) from the decoded IP-Adapter image embedding.

    Parameters
    ----------
    pipeline : diffusers.StableDiffusionXLPipeline or None
        A loaded pipeline with the IP-Adapter already loaded; None loads both.
    device, memory, **options
        See :class:`~perceptogram.reconstruct._diffusers_call.PipelineCallGenerator`
        and :class:`SDXLIPAdapterOptions`.
    """

    name = "sdxl-ip-adapter"
    spaces = ("sdxl-ip-adapter",)
    Options = SDXLIPAdapterOptions
    shared_options = {"sdxl-ip-adapter": {"model": "ip_adapter"}}
    weights_gib = 6.9
    per_image_gib = 2.5
    # diffusers' sliced attention processors replace the IP-Adapter ones (and fail on
    # their image tokens): no attention slicing.
    memory_options = ("vae_slicing", "vae_tiling")

    @classmethod
    def missing(cls, options: SDXLIPAdapterOptions) -> str | None:
        """What this machine lacks to generate with ``options`` (SDXL and the adapter), or None."""
        return (weights_missing(options.model, ("model_index.json", "unet/config.json"),
                                include=BASE_INCLUDE, exclude=BASE_EXCLUDE)
                or weights_missing(options.ip_adapter, (options.ip_adapter_weight,),
                                   include=IP_ADAPTER_INCLUDE))

    def _load(self):
        diffusers = require("diffusers", extra="diffusion", purpose="the sdxl-ip-adapter generator")
        o = self.options
        cls = diffusers.StableDiffusionXLPipeline
        try:
            pipe = cls.from_pretrained(o.model, local_files_only=True, variant=o.variant,
                                       **dtype_kwargs(cls, self.torch_dtype()))
        except OSError as exc:
            if is_local_path(o.model):
                raise MissingWeightsError(f"cannot load SDXL from {o.model}: {exc}") from exc
            raise missing_weights(o.model, BASE_INCLUDE, exc, exclude=BASE_EXCLUDE) from exc
        subfolder, _, weight_name = o.ip_adapter_weight.rpartition("/")
        try:
            pipe.load_ip_adapter(o.ip_adapter, subfolder=subfolder, weight_name=weight_name,
                                 image_encoder_folder=None, local_files_only=True)
        except OSError as exc:
            if is_local_path(o.ip_adapter):
                raise MissingWeightsError(
                    f"cannot load the IP-Adapter {o.ip_adapter_weight} from {o.ip_adapter}: {exc}"
                ) from exc
            raise missing_weights(o.ip_adapter, IP_ADAPTER_INCLUDE, exc) from exc
        return pipe

    @property
    def pipeline(self):
        """The pipeline with the IP-Adapter scale set (see the base class)."""
        pipe = super().pipeline
        pipe.set_ip_adapter_scale(self.options.ip_adapter_scale)
        return pipe

    def _embedding_dim(self) -> int:
        projection = self.pipeline.unet.encoder_hid_proj
        if projection is None:
            raise MissingWeightsError("the SDXL pipeline has no IP-Adapter loaded")
        return int(projection.image_projection_layers[0].image_embeds.in_features)

    def _call(self, embeds, generators: list) -> np.ndarray:
        # One pipeline call per image: StableDiffusionXLPipeline treats
        # ip_adapter_image_embeds as one image prompt shared by the whole batch (it
        # repeats them batch_size times), so a batch of different embeddings would
        # be mixed across images. Memory options still apply to each call.
        torch = require("torch")
        images = []
        for embed, generator in zip(embeds, generators, strict=True):
            # (2, 1, dim): the all-zero negative first, as the pipeline splits them.
            guided = torch.stack([torch.zeros_like(embed), embed])[:, None, :]
            images.append(self.pipeline(
                prompt=self.options.prompt,
                ip_adapter_image_embeds=[guided],
                height=self.options.size,
                width=self.options.size,
                num_inference_steps=self.options.steps,
                guidance_scale=self.options.guidance,
                generator=generator,
                output_type="np",
            ).images)
        return np.concatenate(images)
