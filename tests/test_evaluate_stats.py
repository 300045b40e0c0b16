"""Statistics of perceptogram.evaluate.stats against scipy and brute-force references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import binomtest, sem

from perceptogram.evaluate import metrics as M
from perceptogram.evaluate import stats


def test_bootstrap_ci_equals_brute_force_loop():
    rng = np.random.default_rng(0)
    scores = rng.random(50)
    low, high = stats.bootstrap_ci(scores, n_boot=500, ci=0.9, seed=3)
    draws = np.random.default_rng(3).integers(0, 50, size=(500, 50))
    means = [np.mean([scores[i] for i in row]) for row in draws]
    assert low == pytest.approx(np.percentile(means, 5), rel=1e-12)
    assert high == pytest.approx(np.percentile(means, 95), rel=1e-12)


def test_bootstrap_ci_covers_the_true_mean_at_the_nominal_rate():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(200):
        sample = rng.normal(loc=2.0, size=60)
        low, high = stats.bootstrap_ci(sample, n_boot=400, seed=int(rng.integers(1e9)))
        covered += low <= 2.0 <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_bootstrap_latent_ci_equals_recomputing_per_resample():
    rng = np.random.default_rng(2)
    true = rng.normal(size=(25, 8))
    dec = 0.6 * true + rng.normal(size=true.shape)
    fast = stats.bootstrap_latent_ci(dec, true, n_boot=200, seed=5, chunk=30)
    slow_r = stats.bootstrap_statistic_ci(
        lambda idx: np.nanmean(M.latent_correlation(dec[idx], true[idx])), 25, n_boot=200, seed=5
    )
    np.testing.assert_allclose(fast, slow_r, rtol=1e-9)


@pytest.mark.parametrize("n, d, noise", [(200, 1000, 1.0), (200, 50, 2.0), (50, 500, 3.0)])
def test_latent_r2_interval_contains_its_point_estimate(n, d, noise):
    # many dimensions of mixed units, decoded with noise: the plug-in R² of a resample
    # is biased down by duplicated images, and averaged over dimensions its bootstrap
    # distribution used to fall entirely below the point estimate
    rng = np.random.default_rng(0)
    true = rng.standard_normal((n, d)) * rng.uniform(0.01, 10, d)
    dec = 0.5 * true + noise * rng.standard_normal((n, d)) * true.std(0)
    point = np.nanmean(M.latent_r2(dec, true))
    scores = M.latent_r2_per_image(dec, true)
    assert scores.mean() == pytest.approx(point, rel=1e-10)  # same estimator
    low, high = stats.bootstrap_ci(scores, n_boot=500, seed=0)
    assert low < point < high
    low, high = stats.bootstrap_latent_ci(dec, true, n_boot=500, seed=0)
    assert low < np.nanmean(M.latent_correlation(dec, true)) < high


def _two_way_of_pairing(rec, gt, perm):
    """Brute force: mean two-way identification when recon i is paired with gt perm[i]."""
    n = len(rec)
    total = 0.0
    for i in range(n):
        own = np.corrcoef(rec[i], gt[perm[i]])[0, 1]
        total += sum(np.corrcoef(rec[i], gt[j])[0, 1] < own for j in range(n) if j != perm[i])
    return total / (n * (n - 1))


def test_two_way_permutation_test_matches_exact_enumeration():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(6, 20))
    rec = 0.4 * gt + rng.normal(size=gt.shape)
    observed = _two_way_of_pairing(rec, gt, np.arange(6))
    null = [_two_way_of_pairing(rec, gt, p) for p in itertools.permutations(range(6))]
    exact_p = np.mean(np.array(null) >= observed - 1e-12)
    score, p = stats.two_way_permutation_test(rec, gt, n_perm=4000, seed=0)
    assert score == pytest.approx(observed)
    assert score == pytest.approx(M.two_way_identification(rec, gt).mean())
    assert p == pytest.approx(exact_p, abs=0.02)


def test_two_way_permutation_pvalue_small_for_signal_uniform_for_noise():
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(50, 30))
    _, p_signal = stats.two_way_permutation_test(gt + rng.normal(size=gt.shape), gt, n_perm=500)
    assert p_signal == pytest.approx(1 / 501)
    null_p = [stats.two_way_permutation_test(rng.normal(size=gt.shape), gt, n_perm=200,
                                             seed=s)[1] for s in range(60)]
    assert 0.3 < np.mean(null_p) < 0.7


def test_binomial_pvalue_equals_scipy():
    assert stats.binomial_pvalue(7, 200, 1 / 200) == pytest.approx(
        binomtest(7, 200, 1 / 200, alternative="greater").pvalue
    )
    assert stats.binomial_pvalue(0, 200, 5 / 200) == pytest.approx(1.0)


def test_mean_sem_equals_scipy():
    values = np.array([0.81, 0.86, 0.79, 0.9])
    mean, s = stats.mean_sem(values)
    assert mean == pytest.approx(values.mean())
    assert s == pytest.approx(sem(values))
    assert np.isnan(stats.mean_sem([0.5])[1])
