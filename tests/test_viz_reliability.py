"""Reliability-over-time and repetition-curve figures: what they draw, how they refuse."""

from __future__ import annotations

import numpy as np
import pytest

from perceptogram.errors import DataFormatError
from perceptogram.viz.figure import save_figure
from perceptogram.viz.reliability import plot_reliability_over_time, plot_repetition_curve


def test_reliability_figure_draws_median_range_and_peak(tmp_path):
    times = np.arange(-2, 8) / 10
    values = np.zeros((3, 10))
    values[2, 4] = 0.8  # peak on the third channel at 200 ms
    fig = plot_reliability_over_time(times, {"ceiling $x$": values}, ("O1", "Oz", "O2"))
    ax = fig.axes[0]
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_xdata(), times * 1000)
    np.testing.assert_allclose(line.get_ydata(), np.median(values, axis=0))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[1] == "peak 0.80: O2, 200 ms"
    assert "\\$x\\$" in labels[0]  # data text cannot start mathtext
    written = save_figure(fig, tmp_path / "reliability", formats=("png",))
    assert written[0].stat().st_size > 0
    with pytest.raises(DataFormatError, match="must have shape"):
        plot_reliability_over_time(times, {"x": values[:2]}, ("O1", "Oz", "O2"))


def test_repetition_curve_figure():
    k = np.array([1, 2, 4, 8])
    v = {"top-1": np.array([0.1, 0.2, 0.3, 0.4])}
    fig = plot_repetition_curve(k, v, {"top-1": v["top-1"] - 0.05},
                                {"top-1": v["top-1"] + 0.05}, chance={"top-1": 0.02})
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), v["top-1"])
    assert ax.lines[1].get_ydata()[0] == 0.02
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "8"]
    with pytest.raises(DataFormatError, match="needs 4 values"):
        plot_repetition_curve(k, {"a": v["top-1"][:3]}, {"a": k}, {"a": k})
