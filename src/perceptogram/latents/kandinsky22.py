"""The Kandinsky 2.2 latent space: the prior's CLIP image embedding.

``kandinsky-community/kandinsky-2-2-decoder`` is conditioned on ``image_embeds``
(1,280-d, CLIP ViT-bigG/14 with projection). For an image, the prior pipeline
(``kandinsky-community/kandinsky-2-2-prior``) computes them with its
``image_processor`` and ``image_encoder``: ``image_encoder(pixel_values).image_embeds``
(what ``KandinskyV22PriorPipeline.interpolate`` does for image conditions). Decoded
vectors therefore live exactly where the decoder expects them; the
``kandinsky22`` generator renders them.
"""

from __future__ import annotations

from perceptogram.latents.base import register
from perceptogram.latents.clip_vision import CLIPVisionSpace

PRIOR_MODEL = "kandinsky-community/kandinsky-2-2-prior"
"""Repository of the prior, whose image encoder defines the space."""

PRIOR_INCLUDE = ("image_encoder/config.json", "image_encoder/*.safetensors",
                 "image_processor/*.json")
"""Only the image encoder and its processor are needed from the prior."""


@register("kandinsky22", availability=lambda: Kandinsky22Space.missing({}))
class Kandinsky22Space(CLIPVisionSpace):
    """Kandinsky 2.2 prior's CLIP image embedding (1,280-d), the decoder's condition.

    Parameters
    ----------
    model : str or None
        Default :data:`PRIOR_MODEL`, or a folder with ``image_encoder/`` and
        ``image_processor/`` subfolders.
    encoder, processor, device, dtype, batch_size, local_files_only
        See :class:`~perceptogram.latents.clip_vision.CLIPVisionSpace`.
    """

    name = "kandinsky22"
    default_model = PRIOR_MODEL
    encoder_subfolder = "image_encoder"
    processor_subfolder = "image_processor"
    download_include = PRIOR_INCLUDE
