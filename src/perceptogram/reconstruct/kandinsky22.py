"""Kandinsky 2.2: the decoder pipeline conditioned on decoded CLIP image embeddings.

``KandinskyV22Pipeline`` (``kandinsky-community/kandinsky-2-2-decoder``) takes
``image_embeds`` and ``negative_image_embeds`` directly; the decoded ``kandinsky22``
latents (the prior's image embedding, :mod:`perceptogram.latents.kandinsky22`) are
the condition. The negative is either the prior's own (its image encoder applied to
an all-zero image, what ``KandinskyV22PriorPipeline`` returns as
``negative_image_embeds``) or an all-zero vector.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from perceptogram.errors import MissingWeightsError, require
from perceptogram.latents.hub import dtype_kwargs, is_local_path, missing_weights, weights_missing
from perceptogram.latents.kandinsky22 import Kandinsky22Space
from perceptogram.reconstruct._diffusers_call import PipelineCallGenerator
from perceptogram.reconstruct.base import GeneratorOptions, SeedField, register

DECODER_MODEL = "kandinsky-community/kandinsky-2-2-decoder"
"""Repository of the decoder (UNet, MoVQ, scheduler)."""

DECODER_INCLUDE = ("*.json", "*/*.safetensors")
DECODER_EXCLUDE = ("*.bin", "*.fp16.*")


class Kandinsky22Options(GeneratorOptions):
    """Options of the ``kandinsky22`` generator (``reconstruction.options.kandinsky22``)."""

    model: str = DECODER_MODEL
    prior_model: str = "kandinsky-community/kandinsky-2-2-prior"
    steps: int = Field(50, ge=1)
    guidance: float = Field(4.0, ge=0.0)
    size: int = Field(768, ge=64)
    seed: int = SeedField
    negative: Literal["prior", "zero"] = "prior"
    dtype: str | None = None
    variant: str | None = None


@register("kandinsky22",
          availability=lambda: Kandinsky22Generator.missing(Kandinsky22Options()))
class Kandinsky22Generator(PipelineCallGenerator):
    """Kandinsky 2.2 decoder from the decoded prior image embedding (1,280-d).

    Parameters
    ----------
    pipeline : diffusers.KandinskyV22Pipeline or None
    negative_embedding : ndarray, shape (dim,) or None
        The negative condition; default from ``negative`` (the prior's zero-image
        embedding, or zeros).
    device, memory, **options
        See :class:`~perceptogram.reconstruct._diffusers_call.PipelineCallGenerator`
        and :class:`Kandinsky22Options`.
    """

    name = "kandinsky22"
    spaces = ("kandinsky22",)
    Options = Kandinsky22Options
    shared_options = {"kandinsky22": {"model": "prior_model"}}
    weights_gib = 2.7
    per_image_gib = 1.5
    memory_options = ("attention_slicing",)  # diffusers' VQModel (MoVQ): no slicing/tiling

    @classmethod
    def missing(cls, options: Kandinsky22Options) -> str | None:
        """What this machine lacks to generate with ``options`` (decoder weights, and the
        prior's image encoder for the ``prior`` negative), or None."""
        return (weights_missing(options.model, ("model_index.json", "unet/config.json"),
                                include=DECODER_INCLUDE, exclude=DECODER_EXCLUDE)
                or (Kandinsky22Space.missing({"model": options.prior_model})
                    if options.negative == "prior" else None))

    def __init__(self, pipeline: Any = None, *, negative_embedding: np.ndarray | None = None,
                 device: Any = None, memory: Any = "auto", **options: Any) -> None:
        super().__init__(pipeline, device=device, memory=memory, **options)
        self._negative = negative_embedding

    def _load(self):
        diffusers = require("diffusers", extra="diffusion", purpose="the kandinsky22 generator")
        cls = diffusers.KandinskyV22Pipeline
        try:
            return cls.from_pretrained(self.options.model, local_files_only=True,
                                       variant=self.options.variant,
                                       **dtype_kwargs(cls, self.torch_dtype()))
        except OSError as exc:
            if is_local_path(self.options.model):
                raise MissingWeightsError(
                    f"cannot load the Kandinsky 2.2 decoder from {self.options.model}: {exc}"
                ) from exc
            raise missing_weights(self.options.model, DECODER_INCLUDE, exc,
                                  exclude=DECODER_EXCLUDE) from exc

    def _embedding_dim(self) -> int:
        return int(self.pipeline.unet.config.encoder_hid_dim)

    def negative_embedding(self) -> np.ndarray:
        """The negative condition, shape (dim,)."""
        if self._negative is None:
            if self.options.negative == "zero":
                self._negative = np.zeros(self._embedding_dim(), dtype=np.float32)
            else:
                space = Kandinsky22Space(self.options.prior_model, device=self.device,
                                         dtype=self.torch_dtype())
                self._negative = prior_zero_embedding(space.encoder)
        return np.asarray(self._negative, dtype=np.float32).reshape(-1)

    def _call(self, embeds, generators: list) -> np.ndarray:
        torch = require("torch")
        negative = torch.from_numpy(self.negative_embedding()).expand(len(embeds), -1)
        return self.pipeline(
            image_embeds=embeds,
            negative_image_embeds=negative,
            height=self.options.size,
            width=self.options.size,
            num_inference_steps=self.options.steps,
            guidance_scale=self.options.guidance,
            generator=generators,
            output_type="np",
        ).images


def prior_zero_embedding(image_encoder: Any) -> np.ndarray:
    """The prior's negative: its image encoder applied to an all-zero image.

    Same computation as ``KandinskyV22PriorPipeline.get_zero_embed``.

    Returns
    -------
    embedding : ndarray of float32, shape (dim,)
    """
    torch = require("torch")
    side = image_encoder.config.image_size
    zero = torch.zeros(1, 3, side, side, device=image_encoder.device, dtype=image_encoder.dtype)
    with torch.inference_mode():
        return image_encoder(zero).image_embeds[0].float().cpu().numpy()
