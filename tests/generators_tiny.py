"""Tiny random-weight Kandinsky 2.2 decoder, SDXL and IP-Adapter built in code.

Same component classes and wiring as ``kandinsky-community/kandinsky-2-2-decoder``
(UNet with an image-embedding projection and learned variance, MoVQ decoder) and
``stabilityai/stable-diffusion-xl-base-1.0`` (two CLIP text encoders, UNet with
text-time additional embeddings, Euler scheduler) plus an IP-Adapter state dict in
the format of ``h94/IP-Adapter`` (``image_proj.*`` and ``ip_adapter.<n>.to_k_ip`` /
``to_v_ip`` for every cross-attention layer), at a few thousand times less compute.
"""

from __future__ import annotations

from pathlib import Path

EMBED_DIM = 32
"""Dimension of the tiny image embeddings."""


def make_tiny_clip_vision(image_size: int = 32, projection_dim: int = EMBED_DIM, seed: int = 0):
    """A random CLIP vision encoder with projection and its (torchvision-free) processor."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from perceptogram.latents.clip_vision import image_processor_class

    torch.manual_seed(seed)
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=projection_dim, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=37, image_size=image_size,
        patch_size=image_size // 4, initializer_factor=5.0,
    )).eval()
    processor = image_processor_class()(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})
    return encoder, processor


def make_tiny_kandinsky22_decoder(seed: int = 0):
    """A random :class:`diffusers.KandinskyV22Pipeline` (64 px images, 32-d embeddings)."""
    import torch
    from diffusers import DDPMScheduler, KandinskyV22Pipeline, UNet2DConditionModel, VQModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        in_channels=4,
        out_channels=8,  # noise and learned variance, as the real decoder
        addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(32, 64),
        layers_per_block=1,
        encoder_hid_dim=EMBED_DIM,
        encoder_hid_dim_type="image_proj",
        cross_attention_dim=48,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        class_embed_type=None,
    ).eval()
    torch.manual_seed(seed)
    movq = VQModel(
        block_out_channels=[32, 64],
        down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
        in_channels=3,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        norm_type="spatial",
        num_vq_embeddings=12,
        out_channels=3,
        up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"],
        vq_embed_dim=4,
    ).eval()
    scheduler = DDPMScheduler(beta_schedule="linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, steps_offset=1, variance_type="learned_range")
    return KandinskyV22Pipeline(unet=unet, scheduler=scheduler, movq=movq)


def make_tiny_sdxl(tokenizer_dir: str | Path, seed: int = 0):
    """A random :class:`diffusers.StableDiffusionXLPipeline` (64 px images)."""
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

    from unclip_tiny import write_tiny_clip_tokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(write_tiny_clip_tokenizer(tokenizer_dir)))
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=32 + 6 * 8,  # pooled text + 6 size ids
        cross_attention_dim=64,  # both text encoders' hidden states, concatenated
        norm_num_groups=16,
    ).eval()
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=[16, 32], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4, norm_num_groups=8, sample_size=64,
    ).eval()
    config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, hidden_size=32, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(tokenizer), projection_dim=32,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(config).eval()
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(config).eval()
    return StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
    )


def ip_adapter_state_dict(unet, image_embed_dim: int = EMBED_DIM, seed: int = 0) -> dict:
    """A random IP-Adapter (4 image tokens) for ``unet``, keys as in ``h94/IP-Adapter``.

    Returns
    -------
    tensors : dict of str to torch.Tensor
        ``image_proj.proj.{weight,bias}``, ``image_proj.norm.{weight,bias}`` and
        ``ip_adapter.<1, 3, 5, ...>.to_{k,v}_ip.weight`` (one pair per
        cross-attention layer, numbered as the original checkpoints).
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    tensors = {
        "image_proj.proj.weight": torch.randn(4 * cross, image_embed_dim, generator=generator) / 4,
        "image_proj.proj.bias": torch.zeros(4 * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    channels = unet.config.block_out_channels
    key_id = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            hidden = channels[int(name[len("down_blocks.")])]
        for kind in ("k", "v"):
            tensors[f"ip_adapter.{key_id}.to_{kind}_ip.weight"] = (
                torch.randn(hidden, cross, generator=generator) / cross**0.5)
        key_id += 2
    return tensors
