"""Partial-effect maps: OLS against MNE, cluster labelling against MNE, Freedman-Lane."""

from __future__ import annotations

import numpy as np
import pytest

from perceptogram.errors import DataFormatError
from perceptogram.interpret.clusters import ClusterGraph, find_clusters
from perceptogram.interpret.effects import fit_effects, freedman_lane_test
from perceptogram.interpret.significance import channel_time_adjacency

CH = ("Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz", "PO4",
      "PO8", "P6", "P2")
TIMES = np.arange(30) / 100.0


def _design(rng, n, rho=0.6):
    a = rng.standard_normal(n)
    b = rho * a + np.sqrt(1 - rho ** 2) * rng.standard_normal(n)  # correlated with a
    c = rng.standard_normal(n)  # null
    return np.column_stack([np.ones(n), a, b, c]), ("intercept", "a", "b", "c")


def test_fit_effects_matches_mne_linear_regression():
    import mne

    rng = np.random.default_rng(0)
    n = 60
    design, names = _design(rng, n)
    data = rng.standard_normal((n, len(CH), len(TIMES)))
    from perceptogram.data.core.montage import make_info

    ours = fit_effects(data, design, names)
    epochs = mne.EpochsArray(data, make_info(CH, 100.0), verbose=False)
    theirs = mne.stats.linear_regression(epochs, design, names)
    for k, name in enumerate(names):
        np.testing.assert_allclose(ours.coef[k], theirs[name].beta.data, rtol=1e-8,
                                   atol=1e-12)
        np.testing.assert_allclose(ours.stderr[k], theirs[name].stderr.data, rtol=1e-8)
        np.testing.assert_allclose(ours.t[k], theirs[name].t_val.data, rtol=1e-8, atol=1e-10)
    assert ours.df == n - len(names)


def test_fit_effects_refuses_collinear_or_short_designs():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((20, len(CH), len(TIMES)))
    design, names = _design(rng, 20)
    collinear = np.column_stack([design, design[:, 1] * 2])
    with pytest.raises(DataFormatError, match="linearly dependent"):
        fit_effects(data, collinear, (*names, "a2"))
    with pytest.raises(DataFormatError, match="one row per image"):
        fit_effects(data[:10], design, names)


def test_find_clusters_matches_mne_cluster_labelling():
    import mne

    rng = np.random.default_rng(2)
    adjacency = channel_time_adjacency(CH, len(TIMES))
    statistic = rng.standard_normal((len(CH), len(TIMES))) * 2.5
    threshold = 2.0
    ours, masses = find_clusters(statistic, threshold, adjacency)
    # MNE's 1-sample test with a statistic function that returns our fixed map
    X = rng.standard_normal((5, len(TIMES), len(CH)))
    _, theirs, _, _ = mne.stats.permutation_cluster_1samp_test(
        X, threshold=threshold, n_permutations=2, adjacency=adjacency, out_type="mask",
        stat_fun=lambda x: statistic.T.ravel().copy(), tail=0, verbose=False)
    key = lambda masks: sorted(tuple(np.flatnonzero(m.ravel())) for m in masks)  # noqa: E731
    assert len(ours) > 3
    assert key(ours) == key([m.T for m in theirs])
    for mask, mass in zip(ours, masses):
        assert mass == pytest.approx(statistic[mask].sum())


def _planted(seed, n=80, amplitude=1.0):
    rng = np.random.default_rng(seed)
    design, names = _design(rng, n)
    pattern = np.zeros((len(CH), len(TIMES)))
    pattern[[3, 4, 5], 10:16] = 1.0  # O1, Oz, O2 at 100-150 ms
    other = np.zeros_like(pattern)
    other[[7, 14], 18:24] = 1.0  # P8, PO8 at 180-230 ms
    data = (amplitude * design[:, 1, None, None] * pattern
            + amplitude * design[:, 2, None, None] * other
            + rng.standard_normal((n, len(CH), len(TIMES))))
    return data, design, names, pattern


def test_freedman_lane_finds_the_planted_column_and_not_the_null_one():
    data, design, names, pattern = _planted(3)
    kw = dict(ch_names=CH, times=TIMES, n_permutations=200, seed=0)
    planted = freedman_lane_test(data, design, names, "a", **kw)
    assert planted.min_p < 0.01
    significant = planted.mask
    assert significant[pattern > 0].mean() > 0.8 and not significant[pattern == 0].mean() > 0.05
    np.testing.assert_allclose(planted.statistic, fit_effects(data, design, names).t[1])
    null = freedman_lane_test(data, design, names, "c", **kw)
    assert null.min_p >= 0.05


def test_freedman_lane_p_values_are_uniform_under_the_null():
    # 40 independent null data sets: the smallest cluster p is below 0.05 in about 5 %
    hits = []
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        design, names = _design(rng, 40)
        data = rng.standard_normal((40, 6, 12))
        res = freedman_lane_test(data, design, names, "b", ch_names=CH[:6], times=TIMES[:12],
                                 n_permutations=99, seed=seed)
        hits.append(res.min_p < 0.05)
    assert np.mean(hits) <= 0.15


def test_freedman_lane_equals_brute_force_refits():
    # the same permutations, each one refitted explicitly with lstsq on
    # Y* = reduced-model fit + permuted reduced-model residuals
    data, design, names, _ = _planted(4, n=30, amplitude=0.4)
    ch, times = CH, TIMES
    n_perm, seed, j = 30, 5, 2
    ours = freedman_lane_test(data, design, names, "b", ch_names=ch, times=times,
                              n_permutations=n_perm, seed=seed)
    Y = data.reshape(len(data), -1)
    reduced = np.delete(design, j, axis=1)
    fitted = reduced @ np.linalg.lstsq(reduced, Y, rcond=None)[0]
    residuals = Y - fitted
    adjacency = channel_time_adjacency(ch, len(times))
    from scipy import stats

    threshold = stats.t.ppf(0.975, len(data) - design.shape[1])
    rng = np.random.default_rng(seed)
    null = []
    for _ in range(n_perm):
        star = fitted + residuals[rng.permutation(len(data))]
        t = fit_effects(star.reshape(data.shape), design, names).t[j]
        _, masses = find_clusters(t, threshold, adjacency)
        null.append(np.abs(masses).max() if len(masses) else 0.0)
    _, observed = find_clusters(fit_effects(data, design, names).t[j], threshold, adjacency)
    expected = [(1 + np.sum(np.asarray(null) >= abs(m) * (1 - 1e-9))) / (1 + n_perm)
                for m in observed]
    np.testing.assert_allclose(ours.p_values, expected)


@pytest.mark.parametrize("tail", [0, 1, -1])
def test_cluster_masses_of_a_permutation_block_match_one_map_at_a_time(tail):
    # max_masses labels a block of maps in one graph of disjoint copies; each map's
    # largest cluster mass must be what find_clusters gives for that map alone.

    rng = np.random.default_rng(7)
    n_ch, n_t = len(CH), len(TIMES)
    adjacency = channel_time_adjacency(CH, n_t)
    maps = rng.standard_normal((9, n_ch, n_t)) * 1.5
    maps[3] = 0.0  # a map without any cluster
    block = maps.transpose(0, 2, 1).reshape(len(maps), -1)  # time-major
    ours = ClusterGraph(adjacency).max_masses(block, 1.2, tail)
    expected = []
    for one in maps:
        _, masses = find_clusters(one, 1.2, adjacency, tail=tail)
        expected.append(np.abs(masses).max() if len(masses) else 0.0)
    np.testing.assert_allclose(ours, expected)
    assert ours[3] == 0.0 and (ours > 0).sum() >= 6
