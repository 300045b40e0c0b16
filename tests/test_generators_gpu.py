"""Every generator at real size (random weights, float16) on a CUDA device, with and
without memory options: outputs are images, offload keeps peak memory below the
plain run. Needs a GPU: run with ``-m gpu``."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

from generators_real import (  # noqa: E402
    build_real_kandinsky22,
    build_real_sdxl_ip_adapter,
    default_dtype,
)
from perceptogram.reconstruct.base import get_generator  # noqa: E402

DIMS = {"unclip": 1024, "kandinsky22": 1280, "sdxl-ip-adapter": 1024}


def _pipeline(name, tmp_path):
    dtype = torch.float16
    with default_dtype(dtype):
        if name == "unclip":
            import sys
            from pathlib import Path

            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
            from bench_unclip import build_real_size_pipeline

            return build_real_size_pipeline("cpu", dtype, tmp_path)
        if name == "kandinsky22":
            return build_real_kandinsky22(dtype)
        return build_real_sdxl_ip_adapter(dtype, tmp_path)


@pytest.mark.parametrize("name", sorted(DIMS))
def test_generator_on_gpu_with_and_without_offload(name, tmp_path):
    embeds = np.random.default_rng(0).normal(size=(2, DIMS[name])).astype(np.float32)
    options = {"steps": 2, "size": 512, "seed": 0}
    if name == "kandinsky22":
        options["negative"] = "zero"
    peaks = {}
    for offload in ("none", "model"):
        pipe = _pipeline(name, tmp_path / offload)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        gen = get_generator(name, pipeline=pipe, device="cuda",
                            memory={"offload": offload, "batch_size": 2}, **options)
        images = gen.generate({name: embeds})
        assert images.shape == (2, 512, 512, 3) and images.dtype == np.uint8
        peaks[offload] = torch.cuda.max_memory_allocated()
        del gen, pipe
    assert peaks["model"] < peaks["none"]
