"""Split-half reliability: brute force, planted signal-to-noise, uneven repetitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr

from perceptogram.errors import DataFormatError
from perceptogram.evaluate.noise_ceiling import (
    latent_r_ceiling,
    random_halves,
    repetition_counts,
    spearman_brown,
    split_half_reliability,
)


def brute_force(trials, halves, counts):
    """Loop over splits, features and pictures with NumPy means and SciPy's pearsonr."""
    n_pictures = trials.shape[0]
    feature_shape = trials.shape[2:]
    lower = np.zeros(feature_shape)
    upper = np.zeros(feature_shape)
    used = [i for i in range(n_pictures) if counts[i] >= 2]
    for split in halves:
        for index in np.ndindex(*feature_shape):
            a = [trials[i][split[i] == 1][(slice(None),) + index].mean() for i in used]
            b = [trials[i][split[i] == 2][(slice(None),) + index].mean() for i in used]
            full = [trials[i][:counts[i]][(slice(None),) + index].mean() for i in used]
            lower[index] += pearsonr(a, b)[0]
            upper[index] += pearsonr(full, a)[0]
    return lower / len(halves), upper / len(halves)


@pytest.mark.parametrize("uneven", [False, True])
def test_split_half_equals_brute_force(uneven):
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((12, 1, 3, 4))
    trials = signal + rng.standard_normal((12, 7, 3, 4))
    counts = None
    if uneven:  # NaN padding: pictures with 7, 5, 3 and 1 repetitions
        counts = np.array([7, 5, 3, 1] * 3)
        for i, c in enumerate(counts):
            trials[i, c:] = np.nan
    found = repetition_counts(trials)
    np.testing.assert_array_equal(found, counts if uneven else np.full(12, 7))
    halves = random_halves(found, 7, n_splits=6, seed=3)
    assert ((halves == 1).sum(axis=2) == found // 2).all()
    assert ((halves == 2).sum(axis=2) == found // 2).all()
    result = split_half_reliability(trials, halves=halves)
    lower, upper = brute_force(trials, halves, found)
    np.testing.assert_allclose(result.split_half, lower, rtol=1e-10)
    np.testing.assert_allclose(result.all_vs_half, upper, rtol=1e-10)
    np.testing.assert_allclose(result.spearman_brown, 2 * lower / (1 + lower), rtol=1e-10)
    assert result.n_pictures == (9 if uneven else 12)
    same_seed = split_half_reliability(trials, n_splits=6, seed=3)
    np.testing.assert_array_equal(same_seed.split_half, result.split_half)


def test_spearman_brown_matches_planted_signal_to_noise():
    """Reliability of an n-repetition average is var_s / (var_s + var_e / n)."""
    rng = np.random.default_rng(1)
    n_pictures, n_reps, n_features = 200, 20, 300
    signal_sd = np.linspace(0.1, 1.0, n_features)
    trials = (signal_sd * rng.standard_normal((n_pictures, 1, n_features))
              + rng.standard_normal((n_pictures, n_reps, n_features)))
    result = split_half_reliability(trials, n_splits=30)
    expected = signal_sd**2 / (signal_sd**2 + 1.0 / n_reps)
    assert np.abs(result.spearman_brown - expected).mean() < 0.02
    assert np.all(result.all_vs_half >= result.split_half - 0.02)
    np.testing.assert_allclose(result.ceiling, np.sqrt(np.clip(result.spearman_brown, 0, 1)))
    ceiling, excluded = latent_r_ceiling(result.ceiling)
    assert ceiling == pytest.approx(np.mean(result.ceiling)) and excluded == 0


def test_spearman_brown_formula_and_refusals():
    np.testing.assert_allclose(spearman_brown(np.array([0.0, 0.5, 1.0])), [0, 2 / 3, 1])
    np.testing.assert_allclose(spearman_brown(0.2, factor=4), 0.8 / 1.6)
    with pytest.raises(DataFormatError, match="at least 3 pictures"):
        split_half_reliability(np.zeros((5, 1, 2)))
    with pytest.raises(DataFormatError, match="counts must be"):
        repetition_counts(np.zeros((3, 2, 1)), counts=np.array([1, 2, 3]))
