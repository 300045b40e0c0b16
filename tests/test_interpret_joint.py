"""Joint F test of collinear design columns, and weighted least squares of the maps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from perceptogram.errors import DataFormatError
from perceptogram.interpret.clusters import find_clusters
from perceptogram.interpret.effects import fit_effects, freedman_lane_test
from perceptogram.interpret.joint import f_map, joint_freedman_lane_test
from perceptogram.interpret.significance import channel_time_adjacency

CH = ("Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz", "PO4",
      "PO8", "P6", "P2")
TIMES = np.arange(24) / 100.0


def _collinear(seed, n=48, amplitude=0.0):
    """Category with two pixel attributes at |r| 0.8-0.9; EEG effect of the category only."""
    rng = np.random.default_rng(seed)
    face = np.repeat([1.0, 0.0], n // 2)
    rng.shuffle(face)
    bright = face + 0.3 * rng.standard_normal(n)
    texture = -face - 0.3 * rng.standard_normal(n)
    design = np.column_stack([np.ones(n), bright - bright.mean(), texture - texture.mean(),
                              face])
    names = ("intercept", "brightness", "texture", "semantic: face")
    pattern = np.zeros((len(CH), len(TIMES)))
    pattern[[2, 3, 10], 10:18] = 1.0
    data = (amplitude * face[:, None, None] * pattern
            + rng.standard_normal((n, len(CH), len(TIMES))))
    return data, design, names


def test_f_map_is_one_way_anova_and_the_extra_sum_of_squares():
    rng = np.random.default_rng(0)
    group = np.repeat([0, 1, 2], 12)
    data = rng.standard_normal((36, 4, 5)) + 0.5 * group[:, None, None]
    dummies = np.column_stack([np.ones(36), group == 1, group == 2]).astype(float)
    names = ("intercept", "b", "c")
    ours = f_map(data, dummies, names, ["b", "c"])
    expected = stats.f_oneway(*(data[group == g] for g in range(3)), axis=0).statistic
    np.testing.assert_allclose(ours, expected, rtol=1e-10)
    # with a nuisance column: (SSE_reduced - SSE_full) / q over SSE_full / df, by lstsq
    design, names = np.column_stack([dummies, rng.standard_normal(36)]), (*names, "x")
    Y = data.reshape(36, -1)

    def sse(matrix):
        return ((Y - matrix @ np.linalg.lstsq(matrix, Y, rcond=None)[0]) ** 2).sum(axis=0)

    full, reduced = sse(design), sse(design[:, [0, 3]])
    expected = ((reduced - full) / 2) / (full / (36 - 4))
    np.testing.assert_allclose(f_map(data, design, names, ["c", "b"]).ravel(), expected,
                               rtol=1e-9)
    # one column: F is the square of the partial t
    t = fit_effects(data, design, names).t[3]
    np.testing.assert_allclose(f_map(data, design, names, ["x"]), t ** 2, rtol=1e-9)
    with pytest.raises(KeyError, match="no design column"):
        f_map(data, design, names, ["y"])
    with pytest.raises(ValueError, match="reduced model"):
        f_map(data, design, names, names)


def test_joint_test_equals_brute_force_refits():
    # the same permutations, each one refitted with lstsq on
    # Y* = reduced-model fit + permuted reduced-model residuals, clusters labelled alone
    data, design, names = _collinear(1, n=30, amplitude=0.6)
    n_perm, seed, tested = 30, 5, ["brightness", "semantic: face"]
    ours = joint_freedman_lane_test(data, design, names, tested, ch_names=CH, times=TIMES,
                                    n_permutations=n_perm, seed=seed)
    Y = data.reshape(len(data), -1)
    reduced = design[:, [0, 2]]
    fitted = reduced @ np.linalg.lstsq(reduced, Y, rcond=None)[0]
    residuals = Y - fitted
    adjacency = channel_time_adjacency(CH, len(TIMES))
    threshold = stats.f.ppf(0.95, 2, len(data) - 4)
    rng = np.random.default_rng(seed)
    null = []
    for _ in range(n_perm):
        star = (fitted + residuals[rng.permutation(len(data))]).reshape(data.shape)
        _, masses = find_clusters(f_map(star, design, names, tested), threshold, adjacency,
                                  tail=1)
        null.append(masses.max() if len(masses) else 0.0)
    observed = f_map(data, design, names, tested)
    np.testing.assert_allclose(ours.statistic, observed, rtol=1e-9)
    _, masses = find_clusters(observed, threshold, adjacency, tail=1)
    expected = [(1 + np.sum(np.asarray(null) >= m * (1 - 1e-9))) / (1 + n_perm)
                for m in masses]
    assert len(masses) and np.all(masses > 0)
    np.testing.assert_allclose(ours.p_values, expected)


def test_joint_test_finds_what_collinear_partial_tests_miss():
    # the case: a category effect, and brightness and texture that go with the
    # category (|r| 0.82-0.90); each partial test loses the effect, the joint one keeps it
    data, design, names = _collinear(5, amplitude=0.7)
    r = np.abs(np.corrcoef(design[:, 1:].T)[np.triu_indices(3, 1)])
    assert np.all((r >= 0.82) & (r <= 0.9)), r
    kw = dict(ch_names=CH, times=TIMES, n_permutations=300, seed=0)
    partial = [freedman_lane_test(data, design, names, c, **kw).min_p for c in names[1:]]
    joint = joint_freedman_lane_test(data, design, names, names[1:], **kw)
    assert min(partial) >= 0.05, partial
    assert joint.min_p < 0.05
    null_data, _, _ = _collinear(5)
    null = joint_freedman_lane_test(null_data, design, names, names[1:], **kw)
    assert null.min_p >= 0.05


def test_joint_p_values_are_uniform_under_the_null():
    hits = []
    for seed in range(30):
        data, design, names = _collinear(200 + seed, n=30)
        res = joint_freedman_lane_test(data[:, :6, :12], design, names, names[1:3],
                                       ch_names=CH[:6], times=TIMES[:12], n_permutations=99,
                                       seed=seed)
        hits.append(res.min_p < 0.05)
    assert np.mean(hits) <= 0.17


def test_weighted_maps_are_least_squares_on_sqrt_weighted_rows():
    rng = np.random.default_rng(3)
    data, design, names = _collinear(3, n=40, amplitude=0.5)
    counts = rng.integers(5, 13, size=40).astype(float)  # repetitions averaged per picture
    fit = fit_effects(data, design, names, sample_weight=counts)
    root = np.sqrt(counts)
    Y = data.reshape(40, -1) * root[:, None]
    D = design * root[:, None]
    coef, sse, _, _ = np.linalg.lstsq(D, Y, rcond=None)
    np.testing.assert_allclose(fit.coef.reshape(4, -1), coef, rtol=1e-9, atol=1e-12)
    stderr = np.sqrt(np.outer(np.diag(np.linalg.inv(D.T @ D)), sse / (40 - 4)))
    np.testing.assert_allclose(fit.t.reshape(4, -1), coef / stderr, rtol=1e-8)
    assert not np.allclose(fit.coef, fit_effects(data, design, names).coef)
    # the tests permute the weighted residuals: the same as testing the weighted rows
    kw = dict(ch_names=CH, times=TIMES, n_permutations=40, seed=2)
    weighted = freedman_lane_test(data, design, names, "brightness", sample_weight=counts,
                                  **kw)
    rows = freedman_lane_test(Y.reshape(data.shape), D, names, "brightness", **kw)
    np.testing.assert_allclose(weighted.statistic, rows.statistic, rtol=1e-9)
    np.testing.assert_allclose(weighted.p_values, rows.p_values)
    joint = joint_freedman_lane_test(data, design, names, names[1:], sample_weight=counts,
                                     **kw)
    np.testing.assert_allclose(joint.statistic,
                               f_map(Y.reshape(data.shape), D, names, names[1:]), rtol=1e-9)
    with pytest.raises(DataFormatError, match="sample weights"):
        fit_effects(data, design, names, sample_weight=np.zeros(40))
    with pytest.raises(DataFormatError, match="sample weights"):
        fit_effects(data, design, names, sample_weight=counts[:-1])
