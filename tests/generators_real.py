"""Random-weight generators at the real models' sizes (no download), for the slow
real-size tests and ``benchmarks/bench_unclip.py``.

Configurations are those of the published checkpoints (``unet/config.json`` etc. of
``kandinsky-community/kandinsky-2-2-decoder`` and
``stabilityai/stable-diffusion-xl-base-1.0``; IP-Adapter SDXL ViT-H: four
2,048-d image tokens from a 1,024-d embedding). Parameter counts are checked in the
tests (Kandinsky 2.2 UNet 1.22 B per its model card, SDXL UNet 2.57 B). Modules are
built directly in the requested dtype (``torch.set_default_dtype``) so that no
float32 copy of a 2.6 B-parameter UNet is ever allocated.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

KANDINSKY22_UNET = {
    "in_channels": 4,
    "out_channels": 8,
    "addition_embed_type": "image",
    "addition_embed_type_num_heads": 64,
    "attention_head_dim": 64,
    "block_out_channels": (384, 768, 1152, 1536),
    "class_embed_type": None,
    "cross_attention_dim": 768,
    "down_block_types": ("ResnetDownsampleBlock2D",) + ("SimpleCrossAttnDownBlock2D",) * 3,
    "up_block_types": ("SimpleCrossAttnUpBlock2D",) * 3 + ("ResnetUpsampleBlock2D",),
    "mid_block_type": "UNetMidBlock2DSimpleCrossAttn",
    "encoder_hid_dim": 1280,
    "encoder_hid_dim_type": "image_proj",
    "layers_per_block": 3,
    "norm_num_groups": 32,
    "resnet_time_scale_shift": "scale_shift",
    "sample_size": 64,
}
KANDINSKY22_MOVQ = {
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": (128, 256, 256, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 3 + ("AttnDownEncoderBlock2D",),
    "up_block_types": ("AttnUpDecoderBlock2D",) + ("UpDecoderBlock2D",) * 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "norm_type": "spatial",
    "num_vq_embeddings": 16384,
    "vq_embed_dim": 4,
}
SDXL_UNET = {
    "sample_size": 128,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "block_out_channels": (320, 640, 1280),
    "layers_per_block": 2,
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,  # 1,280 pooled text + 6 x 256 size ids
}
SDXL_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "force_upcast": True,
}
SDXL_TEXT_ENCODER = {  # CLIP ViT-L/14 text tower
    "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
    "num_hidden_layers": 12, "projection_dim": 768, "hidden_act": "quick_gelu",
}
SDXL_TEXT_ENCODER_2 = {  # OpenCLIP ViT-bigG/14 text tower
    "hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 20,
    "num_hidden_layers": 32, "projection_dim": 1280, "hidden_act": "gelu",
}
IP_ADAPTER_EMBED_DIM = 1024
"""``image_embeds`` of the ViT-H/14 encoder in ``h94/IP-Adapter/models/image_encoder``."""


@contextlib.contextmanager
def default_dtype(dtype):
    """Build modules directly in ``dtype``."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def n_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_real_kandinsky22(dtype, device="cpu"):
    """``KandinskyV22Pipeline`` with the decoder's real sizes and random weights."""
    import torch
    from diffusers import DDPMScheduler, KandinskyV22Pipeline, UNet2DConditionModel, VQModel

    torch.manual_seed(0)
    with default_dtype(dtype):
        unet = UNet2DConditionModel(**KANDINSKY22_UNET).eval()
        movq = VQModel(**KANDINSKY22_MOVQ).eval()
    scheduler = DDPMScheduler(beta_schedule="linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, steps_offset=1, variance_type="learned_range")
    return KandinskyV22Pipeline(unet=unet, scheduler=scheduler, movq=movq).to(device)


def build_real_sdxl_ip_adapter(dtype, scratch: str | Path, device="cpu"):
    """``StableDiffusionXLPipeline`` + IP-Adapter (ViT-H) at real sizes, random weights."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    from generators_tiny import ip_adapter_state_dict
    from unclip_tiny import write_tiny_clip_tokenizer

    # The prompt is empty: a byte-level vocabulary costs the same per token.
    tokenizer = CLIPTokenizer.from_pretrained(str(write_tiny_clip_tokenizer(scratch)))
    ids = {"vocab_size": 49408, "max_position_embeddings": 77,
           "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id}
    torch.manual_seed(0)
    with default_dtype(dtype):
        unet = UNet2DConditionModel(**SDXL_UNET).eval()
        vae = AutoencoderKL(**SDXL_VAE).eval()
        text_encoder = CLIPTextModel(CLIPTextConfig(**SDXL_TEXT_ENCODER, **ids)).eval()
        text_encoder_2 = CLIPTextModelWithProjection(
            CLIPTextConfig(**SDXL_TEXT_ENCODER_2, **ids)).eval()
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder,
                                     text_encoder_2=text_encoder_2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
    tensors = ip_adapter_state_dict(unet, IP_ADAPTER_EMBED_DIM)
    state = {part: {key[len(part) + 1:]: value.to(dtype) for key, value in tensors.items()
                    if key.startswith(part + ".")} for part in ("image_proj", "ip_adapter")}
    pipe.load_ip_adapter(state, subfolder="", weight_name="", image_encoder_folder=None)
    return pipe.to(device)
