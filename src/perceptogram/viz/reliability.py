"""Figures of test-data reliability over time and of scores against repetitions.

Plain arrays in, a matplotlib Figure out (saved with
:func:`perceptogram.viz.figure.save_figure`): the numbers come from
:mod:`perceptogram.evaluate.noise_ceiling` and
:mod:`perceptogram.evaluate.repetitions`, which this module does not import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from perceptogram._text import for_matplotlib as _mt
from perceptogram.errors import DataFormatError
from perceptogram.viz.figure import pyplot


def plot_reliability_over_time(
    times: np.ndarray,
    measures: Mapping[str, np.ndarray],
    ch_names: Sequence[str],
    *,
    title: str | None = None,
    ax=None,
):
    """Reliability of the test EEG at each time sample: median over channels and range.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Seconds (shown in ms).
    measures : mapping of str to ndarray, shape (n_channels, n_times)
        Label -> reliability per channel and time, e.g.
        ``{"noise ceiling (sqrt of Spearman-Brown)": r.ceiling,
        "split-half r (lower bound)": r.split_half}``.
    ch_names : sequence of str, length n_channels
        The channel whose measure peaks highest is named in the legend.
    title : str or None
    ax : matplotlib Axes or None

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = pyplot()
    times = np.asarray(times, dtype=float)
    if not measures:
        raise DataFormatError("plot_reliability_over_time: no measure to plot")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    else:
        fig = ax.figure
    ms = times * 1000.0
    for label, values in measures.items():
        values = np.asarray(values, dtype=float)
        if values.shape != (len(ch_names), times.size):
            raise DataFormatError(
                f"plot_reliability_over_time: {_mt(label)!r} must have shape "
                f"({len(ch_names)}, {times.size}); got {values.shape}")
        with np.errstate(all="ignore"):
            median = np.nanmedian(values, axis=0)
            low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        line, = ax.plot(ms, median, lw=1.8, label=f"{_mt(label)} (median over channels)")
        ax.fill_between(ms, low, high, color=line.get_color(), alpha=0.15, lw=0)
        if np.isfinite(values).any():
            channel, sample = np.unravel_index(np.nanargmax(values), values.shape)
            ax.plot(ms[sample], values[channel, sample], "o", color=line.get_color(), ms=4,
                    label=f"peak {values[channel, sample]:.2f}: {_mt(ch_names[channel])}, "
                          f"{ms[sample]:.0f} ms")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.axvline(0.0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("reliability (r)")
    ax.set_title(_mt(title) if title else "Test-data reliability (band: range over channels)",
                 fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    return fig


def plot_repetition_curve(
    n_repetitions: np.ndarray,
    values: Mapping[str, np.ndarray],
    low: Mapping[str, np.ndarray],
    high: Mapping[str, np.ndarray],
    *,
    chance: Mapping[str, float] | None = None,
    ylabel: str = "score",
    title: str | None = None,
    ax=None,
):
    """Scores against the number of averaged test repetitions, with bands.

    Parameters
    ----------
    n_repetitions : ndarray of int, shape (n_levels,)
    values, low, high : mapping of str to ndarray, shape (n_levels,)
        Label -> score, lower and upper band (e.g. from a ``RepetitionCurve``).
    chance : mapping of str to float or None
        Label -> chance level, drawn dashed in the curve's colour.
    ylabel : str
    title : str or None
    ax : matplotlib Axes or None

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = pyplot()
    x = np.asarray(n_repetitions, dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 3.6), layout="constrained")
    else:
        fig = ax.figure
    for label, v in values.items():
        v = np.asarray(v, dtype=float)
        if v.shape != x.shape or np.shape(low[label]) != x.shape \
                or np.shape(high[label]) != x.shape:
            raise DataFormatError(f"plot_repetition_curve: {_mt(label)!r} needs "
                                  f"{x.size} values, lows and highs")
        line, = ax.plot(x, v, "o-", ms=3, lw=1.5, label=_mt(label))
        ax.fill_between(x, low[label], high[label], color=line.get_color(), alpha=0.2, lw=0)
        if chance and label in chance and chance[label] is not None:
            ax.axhline(chance[label], color=line.get_color(), lw=0.8, ls="--")
    ax.set_xscale("log", base=2)
    ax.set_xticks(x)
    ax.set_xticklabels([str(int(k)) for k in x])
    ax.set_xlabel("averaged test repetitions")
    ax.set_ylabel(_mt(ylabel))
    ax.set_title(_mt(title) if title else "Scores against repetitions (dashed: chance)",
                 fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    return fig
