"""Channel mirroring from montage coordinates, named subsets, pattern energy."""

from __future__ import annotations

import numpy as np
import pytest

from perceptogram.data.core.montage import channel_positions
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS
from perceptogram.errors import ChannelMismatchError
from perceptogram.interpret.electrodes import (
    channel_indices,
    mirror_permutation,
    pattern_energy,
)


def test_mirror_pairs_follow_the_10_10_naming_convention():
    # Odd numbers sit on the left, even on the right, "z" on the midline: the
    # partner found from coordinates must be the same electrode name mirrored.
    names = list(THINGS_CHANNELS)
    perm = mirror_permutation(names)
    for i, j in enumerate(perm):
        a, b = names[i], names[j]
        if a.endswith("z"):
            assert b == a
        else:
            stem, number = a.rstrip("0123456789"), int(a[len(a.rstrip("0123456789")):])
            assert b == f"{stem}{number + 1 if number % 2 else number - 1}"
    np.testing.assert_array_equal(perm[perm], np.arange(len(names)))


def test_mirror_uses_coordinates_not_order():
    names = list(THINGS_CHANNELS)
    shuffled = [names[i] for i in np.random.default_rng(0).permutation(len(names))]
    perm = mirror_permutation(shuffled)
    pos = channel_positions(shuffled)
    np.testing.assert_allclose(pos[perm][:, 0], -pos[:, 0], atol=1e-6)
    np.testing.assert_allclose(pos[perm][:, 1:], pos[:, 1:], atol=1e-6)


def test_mirror_refuses_an_asymmetric_set():
    with pytest.raises(ChannelMismatchError, match="no mirror partner"):
        mirror_permutation(["Pz", "P3", "O1", "O2"])


def test_named_and_listed_subsets():
    idx = channel_indices("10-20", THINGS_CHANNELS)
    assert [THINGS_CHANNELS[i] for i in idx] == ["Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8"]
    idx = channel_indices("consumer-4", THINGS_CHANNELS)
    assert sorted(THINGS_CHANNELS[i] for i in idx) == ["O1", "O2", "P7", "P8"]
    np.testing.assert_array_equal(channel_indices(["Oz", "Pz"], THINGS_CHANNELS), [0, 4])
    with pytest.raises(KeyError, match="unknown channel subset"):
        channel_indices("10-10", THINGS_CHANNELS)
    with pytest.raises(ChannelMismatchError, match="not in the data"):
        channel_indices(["Cz"], THINGS_CHANNELS)


def test_pattern_energy():
    maps = np.random.default_rng(0).normal(size=(3, 17, 20))
    np.testing.assert_allclose(pattern_energy(maps), np.einsum("gct,gct->gc", maps, maps))
