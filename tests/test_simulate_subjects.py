"""The simulator's several subjects: own channel mixing and noise, default unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perceptogram.data.simulate import forward_model as fm
from perceptogram.data.simulate.dataset import load_ground_truth, simulate_dataset

SIZE = dict(n_subjects=3, n_train_concepts=6, images_per_concept=2, n_test_concepts=4,
            n_train_repetitions=2, n_test_repetitions=4, write_images=False, seed=2)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same simulation without and with subject mixing and noise spread."""
    base = tmp_path_factory.mktemp("subjects")
    plain = simulate_dataset(base / "plain", **SIZE)
    mixed = simulate_dataset(base / "mixed", **SIZE, subject_mixing=2.0,
                             subject_noise_spread=0.5)
    return load_ground_truth(plain), load_ground_truth(mixed), plain, mixed


def test_each_subject_sees_the_same_sources_through_its_own_mixing(pair):
    plain, mixed, _, _ = pair
    mixings = [mixed.subjects[s].mixing for s in (1, 2, 3)]
    for s, M in zip((1, 2, 3), mixings):
        np.testing.assert_allclose(M @ M.T, np.eye(17), atol=1e-10)  # orthogonal
        assert abs(np.trace(M)) / 17 < 0.5  # strength 2: channels scrambled
        for name, pattern in plain.subjects[s].patterns.items():
            np.testing.assert_allclose(mixed.subjects[s].patterns[name], M @ pattern,
                                       atol=1e-12)
        assert plain.subjects[s].mixing is None and plain.subjects[s].noise_scale == 1.0
    assert not np.allclose(mixings[0], mixings[1])
    scales = [mixed.subjects[s].noise_scale for s in (1, 2, 3)]
    assert len(set(scales)) == 3
    for s, scale in zip((1, 2, 3), scales):
        ratio = mixed.subjects[s].noise_sd["train"] / plain.subjects[s].noise_sd["train"]
        assert ratio == pytest.approx(scale, rel=0.05)


def test_default_simulation_records_no_new_parameter(pair):
    _, _, plain_root, mixed_root = pair
    plain = json.loads((plain_root / "ground_truth" / "simulation.json").read_text())
    mixed = json.loads((mixed_root / "ground_truth" / "simulation.json").read_text())
    assert "subject_mixing" not in plain["parameters"]
    assert "mixing" not in plain["subjects"]["sub-01"]
    assert mixed["parameters"]["subject_mixing"] == 2.0
    assert len(mixed["subjects"]["sub-02"]["mixing"]) == 17


def test_channel_mixing_strength_and_refusals(tmp_path):
    rng = np.random.default_rng(0)
    assert np.allclose(fm.channel_mixing(5, 0.0, rng), np.eye(5))
    keep = np.mean([np.trace(fm.channel_mixing(17, 1.0, rng)) / 17 for _ in range(20)])
    assert 0.4 < keep < 0.8
    with pytest.raises(ValueError, match="subject_mixing must be"):
        simulate_dataset(tmp_path / "x", **SIZE, subject_mixing=-1.0)
