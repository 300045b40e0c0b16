"""CUDA paths (run with ``pytest -m gpu`` on a machine with a GPU; skipped elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("cv", ["loo", "group"])
def test_ridgecv_on_cuda_matches_numpy(cv):
    from perceptogram.linear import RidgeCV

    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 80)).astype(np.float32)
    Y = (X @ rng.standard_normal((80, 30)) + rng.standard_normal((600, 30))).astype(np.float32)
    groups = np.repeat(np.arange(60), 10)
    kwargs = dict(alphas=np.logspace(-1, 4, 6), cv=cv, dtype="float64")
    cpu = RidgeCV(**kwargs).fit(X, Y, groups=groups)
    gpu = RidgeCV(backend="torch", device="cuda", **kwargs).fit(X, Y, groups=groups)
    np.testing.assert_array_equal(cpu.alpha_, gpu.alpha_)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-6, atol=1e-8)


def test_tiny_unclip_reconstructs_on_cuda_in_float16(tmp_path):
    from unclip_tiny import make_tiny_unclip_pipeline, write_tiny_clip_tokenizer

    from perceptogram.reconstruct.unclip import UnCLIPReconstructor

    pipe = make_tiny_unclip_pipeline(write_tiny_clip_tokenizer(tmp_path))
    pipe = pipe.to("cuda", torch.float16)
    embeds = np.random.default_rng(0).standard_normal((2, pipe.image_encoder.config.projection_dim))
    images = UnCLIPReconstructor(pipe, num_inference_steps=2, image_size=32).reconstruct(
        embeds.astype(np.float32))
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    assert images.std() > 0
