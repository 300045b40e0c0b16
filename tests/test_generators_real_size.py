"""Every generator at its real size, random weights, one denoising step on the CPU.

Checks what tiny models cannot: the real component sizes wire together (class
embedding 2 x 1,024 for unCLIP, 1,280-d image projection for Kandinsky 2.2, 2,816-d
text-time embedding and 1,024 -> 4 x 2,048 IP-Adapter tokens for SDXL), in bfloat16
(so the SDXL UNet needs 5 GB, not 10), at a reduced resolution (256 px). Slow
(minutes on two cores): run with ``-m slow``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from generators_real import (  # noqa: E402
    IP_ADAPTER_EMBED_DIM,
    build_real_kandinsky22,
    build_real_sdxl_ip_adapter,
    default_dtype,
    n_parameters,
)
from perceptogram.reconstruct.kandinsky22 import Kandinsky22Generator  # noqa: E402
from perceptogram.reconstruct.sdxl_ip_adapter import SDXLIPAdapterGenerator  # noqa: E402
from perceptogram.reconstruct.unclip import UnCLIPGenerator  # noqa: E402
from unclip_tiny import UNCLIP_SCHEDULER_CONFIG, no_network  # noqa: E402, F401

pytestmark = pytest.mark.slow

DTYPE = torch.bfloat16
SIZE = 256
ONE_STEP = {"steps": 1, "size": SIZE, "seed": 0}


def _check(images):
    assert images.shape == (1, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert images.std() > 0


def test_unclip_real_size_one_step(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_unclip import build_real_size_pipeline
    from diffusers import PNDMScheduler

    with default_dtype(DTYPE):
        pipe = build_real_size_pipeline("cpu", DTYPE, tmp_path)
    pipe.scheduler = PNDMScheduler.from_config(UNCLIP_SCHEDULER_CONFIG)
    assert pipe.unet.class_embedding.linear_1.in_features == 2 * 1024
    assert 0.86e9 < n_parameters(pipe.unet) < 0.88e9
    gen = UnCLIPGenerator(pipe, device="cpu", memory={"batch_size": 1}, **ONE_STEP)
    embeds = np.random.default_rng(0).normal(size=(1, 1024)).astype(np.float32)
    vae = np.random.default_rng(1).normal(size=(1, 4 * 32 * 32)).astype(np.float32)
    _check(gen.generate({"unclip": embeds, "unclip-vae": vae}))  # img2img: DDIM from PNDM config


def test_kandinsky22_real_size_one_step():
    pipe = build_real_kandinsky22(DTYPE)
    assert pipe.unet.encoder_hid_proj.image_embeds.in_features == 1280
    assert 1.2e9 < n_parameters(pipe.unet) < 1.3e9
    gen = Kandinsky22Generator(pipe, device="cpu", memory={"batch_size": 1}, negative="zero",
                               **ONE_STEP)
    embeds = np.random.default_rng(0).normal(size=(1, 1280)).astype(np.float32)
    _check(gen.generate({"kandinsky22": embeds}))


def test_sdxl_ip_adapter_real_size_one_step(tmp_path):
    pipe = build_real_sdxl_ip_adapter(DTYPE, tmp_path)
    assert pipe.unet.add_embedding.linear_1.in_features == 2816
    layer = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    assert layer.image_embeds.in_features == IP_ADAPTER_EMBED_DIM
    assert layer.image_embeds.out_features == 4 * 2048
    assert 2.9e9 < n_parameters(pipe.unet) < 3.0e9  # 2.57 B + 0.35 B IP-Adapter layers
    gen = SDXLIPAdapterGenerator(pipe, device="cpu", memory={"batch_size": 1}, guidance=5.0,
                                 **ONE_STEP)
    embeds = np.random.default_rng(0).normal(size=(1, IP_ADAPTER_EMBED_DIM)).astype(np.float32)
    _check(gen.generate({"sdxl-ip-adapter": embeds}))
