"""Time courses with confidence bands."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from perceptogram._text import for_matplotlib as _mt
from perceptogram.errors import DataFormatError
from perceptogram.viz.figure import label_scaled, pyplot


def mean_confidence_band(
    samples: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and Student-t confidence band over observations.

    Parameters
    ----------
    samples : ndarray, shape (n_observations, n_points)
        E.g. one curve per subject, image pair or cross-validation fold.
    confidence : float
        Coverage of the band.

    Returns
    -------
    mean, lower, upper : ndarray, shape (n_points,)
        With a single observation the band has zero width.
    """
    from scipy import stats

    samples = np.asarray(samples, dtype=float)
    if samples.ndim == 1:
        samples = samples[None]
    if samples.ndim != 2:
        raise DataFormatError(
            f"mean_confidence_band: samples must be 2-D, got shape {samples.shape}"
        )
    mean = samples.mean(axis=0)
    n = samples.shape[0]
    if n < 2:
        return mean, mean.copy(), mean.copy()
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * samples.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def plot_timecourse(
    x: np.ndarray,
    curves: Mapping[str, np.ndarray],
    *,
    confidence: float = 0.95,
    xlabel: str = "time (ms)",
    ylabel: str = "",
    yunit: str | None = None,
    chance: float | None = None,
    markers: Mapping[str, float] | None = None,
    spans: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
    ax=None,
):
    """Mean curves with confidence bands, and optional bars marking where each is significant.

    Parameters
    ----------
    x : ndarray, shape (n_points,)
        Abscissa (already in display units, e.g. ms).
    curves : mapping of str to ndarray, shape (n_observations, n_points) or (n_points,)
        Label → observations of the curve; the band is a Student-t
        ``confidence`` interval of the mean over observations.
    confidence : float
        Coverage of the bands.
    xlabel, ylabel : str
        Axis labels (``ylabel`` with its unit, unless ``yunit`` is given).
    yunit : str or None
        Unit of the curves: the y label becomes ``"ylabel (unit)"``, with the
        scale of tiny or huge values in the unit (``"×10⁻⁶ µV"``) instead of an
        offset text.
    chance : float or None
        Level drawn as a dashed horizontal line.
    markers : mapping of str to float or None
        Label → x position of a vertical reference line (e.g. a planted
        latency).
    spans : mapping of str to ndarray of bool, shape (n_points,), or None
        Curve label → points to mark (e.g. inside a significant cluster),
        drawn as a bar in the curve's colour below the curves, one row per
        curve.
    title : str or None
    ax : matplotlib Axes or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    x = np.asarray(x, dtype=float)
    if ax is None:
        fig, ax = pyplot().subplots(figsize=(5, 3))
    else:
        fig = ax.figure
    colours = {}
    for label, samples in curves.items():
        samples = np.atleast_2d(np.asarray(samples, dtype=float))
        if samples.shape[1] != x.shape[0]:
            raise DataFormatError(
                f"plot_timecourse: curve '{label}' has {samples.shape[1]} points, x has "
                f"{x.shape[0]}"
            )
        mean, lower, upper = mean_confidence_band(samples, confidence)
        (line,) = ax.plot(x, mean, label=_mt(label), lw=1.5)
        colours[label] = line.get_color()
        if samples.shape[0] > 1:
            ax.fill_between(x, lower, upper, color=line.get_color(), alpha=0.25, lw=0)
    if chance is not None:
        ax.axhline(chance, color="0.4", ls="--", lw=0.8, label="chance")
    for label, pos in (markers or {}).items():
        ax.axvline(pos, color="0.2", ls=":", lw=0.8)
        ax.text(pos, 1.0, f" {_mt(label)}", transform=ax.get_xaxis_transform(), fontsize=7,
                va="top", rotation=90)
    _draw_spans(ax, x, spans or {}, colours)
    ax.set_xlabel(_mt(xlabel))
    if yunit is None:
        ax.set_ylabel(_mt(ylabel))
    else:
        low, high = ax.get_ylim()
        label_scaled(ax.yaxis, max(abs(low), abs(high)), yunit, ylabel)
    if title:
        ax.set_title(_mt(title), fontsize=10)
    if len(curves) > 1 or chance is not None:
        ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _draw_spans(ax, x: np.ndarray, spans: Mapping[str, np.ndarray], colours: dict) -> None:
    """One row of bars per curve below the data, over the marked points."""
    marked = {k: np.asarray(v, dtype=bool) for k, v in spans.items() if np.any(v)}
    if not marked:
        return
    for label, flags in marked.items():
        if flags.shape != x.shape:
            raise DataFormatError(
                f"plot_timecourse: span '{label}' has {flags.size} points, x has {x.size}")
    low, high = ax.get_ylim()
    row = 0.06 * (high - low)
    step = float(np.median(np.diff(x))) if len(x) > 1 else 1.0
    for k, (label, flags) in enumerate(marked.items()):
        y = low - (k + 0.5) * row
        for i in np.flatnonzero(flags):
            ax.plot([x[i] - step / 2, x[i] + step / 2], [y, y], color=colours.get(label, "k"),
                    lw=3, solid_capstyle="butt")
    ax.set_ylim(low - (len(marked) + 0.3) * row, high)
