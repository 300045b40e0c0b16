"""A tiny, random-weight Stable unCLIP image-variation pipeline built in code.

Same component types and wiring as ``stabilityai/stable-diffusion-2-1-unclip``
(CLIP vision encoder with projection, image normaliser, DDPM noising schedule for
the embedding, CLIP text encoder + CLIP BPE tokenizer, UNet with a projection class
embedding, KL autoencoder, DDIM with v-prediction), but a few thousand times smaller,
so that the whole unCLIP path runs in seconds on a CPU without any download.
The autouse fixtures ``no_network`` and ``single_thread`` are shared by the test
modules that import them.

Sizes: embedding dimension 32 (the real model: 1024), VAE downsampling factor 2
(real: 8), UNet blocks (32, 64) (real: 320, 640, 1280, 1280).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

EMBED_DIM = 32
"""Dimension of the tiny CLIP image embedding (``image_embeds``)."""

IMAGE_SIZE = 32
"""Side of the images the tiny pipeline generates, in pixels."""

VAE_SCALE_FACTOR = 2
"""Downsampling factor of the tiny VAE (two encoder blocks)."""

UNCLIP_SCHEDULER_CONFIG = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}
"""``scheduler/scheduler_config.json`` of ``stabilityai/stable-diffusion-2-1-unclip``."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any attempt to open a network connection."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Tiny models run fastest on one thread (no oversubscription on shared CPUs)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _byte_alphabet() -> list[str]:
    """The 256 printable characters byte-level BPE uses to stand for the 256 bytes.

    Printable Latin-1 bytes stand for themselves; the others (control characters,
    space, ...) are shifted to code points from 256 upwards.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + shift)
            shift += 1
    return [chars[b] for b in range(256)]


def write_tiny_clip_tokenizer(directory: str | Path) -> Path:
    """Write a minimal CLIP BPE vocabulary (``vocab.json``, ``merges.txt``).

    Every byte is a token, both inside a word and as a word end (``</w>``); a few
    merges make common English pairs single tokens. ``<|startoftext|>`` and
    ``<|endoftext|>`` are the last two ids. Prompts are padded to 77 tokens as in
    the real model.

    Parameters
    ----------
    directory : path-like
        Where to write the files; created if needed.

    Returns
    -------
    directory : Path
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    alphabet = _byte_alphabet()
    tokens = alphabet + [c + "</w>" for c in alphabet]
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("e", "r</w>")]
    tokens += ["".join(pair) for pair in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    merge_lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (directory / "merges.txt").write_text("\n".join(merge_lines) + "\n", encoding="utf-8")
    config = {"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def make_tiny_unclip_pipeline(tokenizer_dir: str | Path, seed: int = 0):
    """Build a random-weight :class:`diffusers.StableUnCLIPImg2ImgPipeline`.

    Parameters
    ----------
    tokenizer_dir : path-like
        A scratch directory for the hand-built tokenizer files.
    seed : int
        Seed of every component's random weights.

    Returns
    -------
    pipe : diffusers.StableUnCLIPImg2ImgPipeline
        In float32 on the CPU, all modules in eval mode.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableUnCLIPImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    try:  # transformers >= 5 names the torchvision-free processor explicitly
        from transformers import CLIPImageProcessorPil as ImageProcessor
    except ImportError:  # pragma: no cover - transformers 4.x
        from transformers import CLIPImageProcessor as ImageProcessor

    tokenizer = CLIPTokenizer.from_pretrained(str(write_tiny_clip_tokenizer(tokenizer_dir)))

    feature_extractor = ImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    torch.manual_seed(seed)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=EMBED_DIM,
            projection_dim=EMBED_DIM,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
            image_size=IMAGE_SIZE,
            patch_size=4,
            # Larger random weights than CLIP's default init, so that embeddings of
            # different images differ (mean pairwise correlation ~0.5, not ~0.97).
            initializer_factor=5.0,
        )
    )
    torch.manual_seed(seed)
    # Random statistics, so that scaling/unscaling the embedding is not the identity.
    image_normalizer = StableUnCLIPImageNormalizer(embedding_dim=EMBED_DIM)
    with torch.no_grad():
        image_normalizer.mean.normal_(0.0, 0.1)
        image_normalizer.std.uniform_(0.5, 1.5)
    image_noising_scheduler = DDPMScheduler(beta_schedule="squaredcos_cap_v2")

    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=EMBED_DIM,
            projection_dim=EMBED_DIM,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=77,
            layer_norm_eps=1e-5,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=IMAGE_SIZE // VAE_SCALE_FACTOR,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 64),
        attention_head_dim=(2, 4),
        layers_per_block=1,
        norm_num_groups=16,
        cross_attention_dim=EMBED_DIM,
        # The class label is the noise-augmented image embedding concatenated with
        # the sinusoidal embedding of the noise level: twice the embedding size.
        class_embed_type="projection",
        projection_class_embeddings_input_dim=2 * EMBED_DIM,
        upcast_attention=True,
        use_linear_projection=True,
    )
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type="v_prediction",
        set_alpha_to_one=False,
        steps_offset=1,
        clip_sample=False,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=IMAGE_SIZE,
        # Like SD's 0.18215: brings this VAE's latents to roughly unit variance.
        scaling_factor=4.0,
    )
    return StableUnCLIPImg2ImgPipeline(
        feature_extractor=feature_extractor,
        image_encoder=image_encoder.eval(),
        image_normalizer=image_normalizer.eval(),
        image_noising_scheduler=image_noising_scheduler,
        tokenizer=tokenizer,
        text_encoder=text_encoder.eval(),
        unet=unet.eval(),
        scheduler=scheduler,
        vae=vae.eval(),
    )
