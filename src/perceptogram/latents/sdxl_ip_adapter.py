"""The SDXL + IP-Adapter latent space: the IP-Adapter's image encoder embedding.

``h94/IP-Adapter`` ``sdxl_models/ip-adapter_sdxl_vit-h.safetensors`` projects the
1,024-d ``image_embeds`` of the OpenCLIP ViT-H/14 encoder in ``models/image_encoder``
into four extra cross-attention tokens of SDXL. diffusers computes them from an
image with a default ``CLIPImageProcessor`` (224 px, bicubic, CLIP mean/std) and
``image_encoder(pixel_values).image_embeds`` (the non-"plus" adapters); this space is
that computation, and the ``sdxl-ip-adapter`` generator renders its vectors.
"""

from __future__ import annotations

from perceptogram.latents.base import register
from perceptogram.latents.clip_vision import CLIPVisionSpace

IP_ADAPTER_MODEL = "h94/IP-Adapter"
"""Repository of the IP-Adapter weights and their image encoder."""

ENCODER_SUBFOLDER = "models/image_encoder"
"""The ViT-H/14 encoder that the ``*_vit-h`` SDXL adapters were trained with."""

IP_ADAPTER_INCLUDE = ("models/image_encoder/config.json", "models/image_encoder/*.safetensors",
                      "sdxl_models/ip-adapter_sdxl_vit-h.safetensors")
"""The encoder and the one SDXL adapter used (the repository holds many more)."""


@register("sdxl-ip-adapter", availability=lambda: SDXLIPAdapterSpace.missing({}))
class SDXLIPAdapterSpace(CLIPVisionSpace):
    """IP-Adapter ViT-H/14 image embedding (1,024-d), SDXL's image prompt.

    Parameters
    ----------
    model : str or None
        Default :data:`IP_ADAPTER_MODEL`, or a folder with ``models/image_encoder/``.
    encoder, processor, device, dtype, batch_size, local_files_only
        See :class:`~perceptogram.latents.clip_vision.CLIPVisionSpace`.
    """

    name = "sdxl-ip-adapter"
    default_model = IP_ADAPTER_MODEL
    encoder_subfolder = ENCODER_SUBFOLDER
    processor_subfolder = None
    download_include = IP_ADAPTER_INCLUDE
