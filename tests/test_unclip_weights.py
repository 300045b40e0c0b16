"""The real Stable unCLIP weights (``pytest -m weights``; skipped unless they are cached).

Needs ``stabilityai/stable-diffusion-2-1-unclip`` in the local Hugging Face cache
(see docs/generation.md for the `hf download` command); nothing downloads.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def pipe():
    from perceptogram.errors import MissingWeightsError
    from perceptogram.latents.unclip import load_unclip_pipeline

    try:
        return load_unclip_pipeline()
    except MissingWeightsError as exc:
        pytest.skip(str(exc))


def test_real_embedding_and_vae_latent_shapes_and_semantics(pipe):
    from skimage import data

    from perceptogram.latents.unclip import UnCLIPImageSpace, UnCLIPVAESpace

    images = np.stack([data.chelsea()[:300, :300], data.coffee()[:300, :300],
                       data.chelsea()[100:400, 50:350]])
    embeds = UnCLIPImageSpace(pipe).encode(images)
    assert embeds.shape == (3, 1024) and embeds.dtype == np.float32
    unit = embeds / np.linalg.norm(embeds, axis=1, keepdims=True)
    # two crops of the same cat are closer to each other than to the coffee cup
    assert unit[0] @ unit[2] > unit[0] @ unit[1]
    latents = UnCLIPVAESpace(pipe).encode(images[:1])
    assert latents.shape == (1, 4 * 96 * 96)


def test_real_reconstruction_from_an_embedding(pipe):
    from skimage import data

    from perceptogram.latents.unclip import UnCLIPImageSpace
    from perceptogram.reconstruct.unclip import UnCLIPReconstructor

    embeds = UnCLIPImageSpace(pipe).encode(data.chelsea()[None, :300, :300])
    images = UnCLIPReconstructor(pipe, num_inference_steps=10, image_size=512).reconstruct(embeds)
    assert images.shape == (1, 512, 512, 3) and images.std() > 10
