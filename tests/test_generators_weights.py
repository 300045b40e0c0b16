"""Kandinsky 2.2 and SDXL + IP-Adapter with their real weights (``pytest -m weights``).

Skipped unless the repositories are in the local Hugging Face cache (see
docs/generation.md for the `hf download` commands); nothing downloads. Checks the
embedding sizes, that two crops of one photo embed closer than a different photo,
and that a generated image re-embeds closer to its condition than to another one.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.weights

CASES = {"kandinsky22": 1280, "sdxl-ip-adapter": 1024}


def _images():
    from skimage import data

    return np.stack([data.chelsea()[:300, :300], data.coffee()[:300, :300],
                     data.chelsea()[100:400, 50:350]])


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_space_and_generator(name):
    from perceptogram.latents.base import LATENT_SPACES, get_latent_space
    from perceptogram.reconstruct.base import GENERATORS, get_generator

    for registry in (LATENT_SPACES, GENERATORS):
        missing = registry.entry(name).missing()
        if missing:
            pytest.skip(missing)
    space = get_latent_space(name)
    embeds = space.encode(_images())
    assert embeds.shape == (3, CASES[name])
    unit = _unit(embeds)
    assert unit[0] @ unit[2] > unit[0] @ unit[1]
    generator = get_generator(name, steps=25, size=512)
    images = generator.generate({name: embeds[:2]})
    assert images.shape == (2, 512, 512, 3)
    again = _unit(space.encode(images))
    assert again[0] @ unit[0] > again[0] @ unit[1] and again[1] @ unit[1] > again[1] @ unit[0]
