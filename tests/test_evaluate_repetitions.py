"""Repetition curve: averages of min(k, available) repetitions, monotone growth, bands."""

from __future__ import annotations

import numpy as np
import pytest

from perceptogram.errors import DataFormatError
from perceptogram.evaluate.repetitions import draw_average, repetition_curve, repetition_levels


def test_levels():
    assert repetition_levels(80).tolist() == [1, 2, 4, 8, 16, 32, 64, 80]
    assert repetition_levels(4).tolist() == [1, 2, 4]
    assert repetition_levels(1).tolist() == [1]


def test_draw_average_uses_min_k_available_distinct_valid_repetitions():
    counts = np.array([6, 3, 1, 6])
    trials = np.full((4, 6, 1), np.nan)
    for i, c in enumerate(counts):
        trials[i, :c, 0] = 10.0 ** np.arange(c)  # distinct powers: the mean reveals the picks
    rng = np.random.default_rng(0)
    for k in (1, 2, 4, 6):
        avg = draw_average(trials, counts, k, rng)[:, 0]
        used = np.minimum(k, counts)
        for i in range(4):
            digits = [int(d) for d in f"{int(round(avg[i] * used[i])):0{counts[i]}d}"]
            assert sum(digits) == used[i] and set(digits) <= {0, 1}  # each rep at most once


def test_curve_grows_with_repetitions_and_reports_bands():
    rng = np.random.default_rng(1)
    signal = rng.standard_normal((60, 20))
    trials = signal[:, None] + 2.0 * rng.standard_normal((60, 16, 20))
    trials[:10, 12:] = np.nan  # ten pictures kept only 12 repetitions

    def score(averaged):
        a = averaged - averaged.mean(1, keepdims=True)
        b = signal - signal.mean(1, keepdims=True)
        r = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
        return {"pattern r": r, "mean r": float(r.mean())}

    curve = repetition_curve(trials, score, n_draws=4, n_boot=200)
    assert curve.n_repetitions.tolist() == [1, 2, 4, 8, 16]
    np.testing.assert_allclose(curve.mean_used, [1, 2, 4, 8, (50 * 16 + 10 * 12) / 60])
    r = curve.values["pattern r"]
    assert np.all(np.diff(r) > 0) and r[0] < 0.5 < r[-1]
    assert np.all(curve.low["pattern r"] <= r) and np.all(r <= curve.high["pattern r"])
    assert curve.bands == {"pattern r": "pictures and draws", "mean r": "draws"}
    np.testing.assert_allclose(curve.values["mean r"], r)
    full = np.nanmean(trials, axis=1)
    assert r[-1] == pytest.approx(score(full)["mean r"])
    assert curve.low["mean r"][-1] == curve.high["mean r"][-1]  # one draw takes everything
    assert len(curve.records()) == 2 * 5


def test_refusals():
    with pytest.raises(DataFormatError, match="no valid repetition"):
        repetition_curve(np.full((3, 2, 1), np.nan), lambda a: {"x": 0.0})
    with pytest.raises(DataFormatError, match="trials must have shape"):
        repetition_curve(np.zeros((3, 2)), lambda a: {"x": 0.0})
