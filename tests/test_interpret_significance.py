"""Cluster permutation tests over channel × time: planted effects and nulls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS
from perceptogram.errors import DataFormatError
from perceptogram.interpret.groupings import Grouping
from perceptogram.interpret.significance import (
    channel_time_adjacency,
    group_cluster_test,
    subjects_cluster_test,
)

CH = list(THINGS_CHANNELS)
TIMES = np.round(np.arange(0, 30) / 100, 2)
RIGHT = ["O2", "PO8", "P8", "PO4"]


def _planted(rng, effect, n=40):
    data = rng.normal(size=(n, len(CH), len(TIMES)))
    labels = np.repeat([0, 1], n // 2)
    rows = [CH.index(c) for c in RIGHT]
    data[np.ix_(labels == 0, rows, np.arange(10, 16))] += effect
    return data, Grouping("g", labels, ("a", "b"))


def test_adjacency_joins_neighbours_in_space_and_time():
    adj = channel_time_adjacency(CH, 3).toarray().astype(bool)
    n = len(CH)
    o1, o2, oz, p7, p8 = (CH.index(c) for c in ("O1", "O2", "Oz", "P7", "P8"))
    assert adj[n + o1, n + oz] and adj[n + oz, n + o2]  # same time, neighbours
    assert not adj[n + p7, n + p8]  # opposite sides
    assert adj[o1, n + o1] and not adj[o1, 2 * n + o1]  # next sample only


def test_planted_lateral_effect_survives_and_nothing_else():
    data, grouping = _planted(np.random.default_rng(0), effect=1.5)
    res = group_cluster_test(data, grouping, "a", "b", ch_names=CH, times=TIMES,
                             n_permutations=200, seed=0)
    expected, _ = stats.ttest_ind(data[:20], data[20:], axis=0)
    np.testing.assert_allclose(res.statistic, expected, rtol=1e-6)
    mask = res.mask
    assert res.min_p < 0.05
    planted = np.zeros_like(mask)
    planted[np.ix_([CH.index(c) for c in RIGHT], np.arange(10, 16))] = True
    assert (mask & planted).sum() >= 0.8 * planted.sum()
    assert (mask & ~planted).sum() <= 0.1 * planted.sum()
    left = [CH.index(c) for c in ("P7", "PO7", "O1", "P5", "P3")]
    assert not mask[left].any()


def test_no_effect_gives_no_significant_cluster():
    data, grouping = _planted(np.random.default_rng(1), effect=0.0)
    res = group_cluster_test(data, grouping, "a", "b", ch_names=CH, times=TIMES,
                             n_permutations=200, seed=0)
    assert res.min_p >= 0.05
    assert not res.mask.any()


def test_subjects_test_matches_one_sample_t_and_finds_the_effect():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(12, len(CH), len(TIMES)))
    data[:, CH.index("Oz"), 5:9] += 2.0
    data[:, CH.index("POz"), 5:9] += 2.0
    res = subjects_cluster_test(data, ch_names=CH, times=TIMES, n_permutations=200)
    np.testing.assert_allclose(res.statistic, stats.ttest_1samp(data, 0, axis=0)[0],
                               rtol=1e-6)
    assert res.mask[CH.index("Oz"), 5:9].all()
    assert not res.mask[:, 15:].any()


def test_bad_shapes_are_refused():
    data, grouping = _planted(np.random.default_rng(0), effect=0.0)
    with pytest.raises(DataFormatError, match="shape"):
        group_cluster_test(data[:, :5], grouping, "a", "b", ch_names=CH, times=TIMES)
    with pytest.raises(DataFormatError, match="at least 2"):
        group_cluster_test(data, Grouping("g", np.r_[0, np.ones(39, int)], ("a", "b")),
                           "a", "b", ch_names=CH, times=TIMES)


@pytest.mark.parametrize("tail, effect", [(0, 1.0), (0, 0.0), (1, 0.8), (-1, -0.8)])
def test_group_test_gives_mne_permutation_cluster_test_to_the_permutation(tail, effect):
    # The vectorised label shuffles against MNE's own loop: same seed, same
    # clusters, the same p-value for every cluster.
    import mne

    from perceptogram.interpret.significance import _t_threshold, _ttest_ind

    data, grouping = _planted(np.random.default_rng(5), effect=effect)
    ours = group_cluster_test(data, grouping, "a", "b", ch_names=CH, times=TIMES,
                              n_permutations=300, seed=4, tail=tail)
    xa, xb = (data[grouping.mask(g)].transpose(0, 2, 1) for g in ("a", "b"))
    t_obs, clusters, p_values, _ = mne.stats.permutation_cluster_test(
        [xa, xb], threshold=_t_threshold(0.05, len(data) - 2, tail), n_permutations=300,
        tail=tail, stat_fun=_ttest_ind, adjacency=channel_time_adjacency(CH, len(TIMES)),
        rng=4, out_type="mask", verbose=False)
    np.testing.assert_allclose(ours.statistic, t_obs.T, rtol=1e-12)
    assert len(ours.clusters) == len(clusters) > 0
    for mine, theirs in zip(ours.clusters, clusters):
        np.testing.assert_array_equal(mine, theirs.T)
    np.testing.assert_array_equal(ours.p_values, p_values)
