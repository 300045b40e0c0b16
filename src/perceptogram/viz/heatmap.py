"""Channel × time heatmaps with channel names and millisecond ticks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptogram._text import for_matplotlib as _mt
from perceptogram.errors import DataFormatError
from perceptogram.viz.figure import (
    DIVERGING_CMAP,
    check_map_stack,
    pyplot,
    symmetric_limit,
)


def plot_channel_time(
    data: np.ndarray,
    ch_names: Sequence[str],
    times: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    vlim: float | None = None,
    cmap: str = DIVERGING_CMAP,
    mask: np.ndarray | None = None,
    unit: str = "a.u.",
    title: str | None = None,
):
    """Side-by-side channel × time heatmaps sharing one colour scale.

    Parameters
    ----------
    data : ndarray, shape (n_maps, n_channels, n_times) or (n_channels, n_times)
    ch_names : sequence of str, length n_channels
        Row labels (channel order as in ``data``).
    times : ndarray, shape (n_times,)
        Sample times in seconds (shown in ms).
    names : sequence of str or None, length n_maps
        Panel titles.
    vlim : float or None
        Half-width of the shared symmetric colour scale.
    cmap : str
        Colour map.
    mask : ndarray of bool, same shape as ``data``, or None
        Significant samples; the others are drawn faded.
    unit : str
        Colorbar label.
    title : str or None
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        ``n_maps`` heatmap axes plus one colorbar axes.
    """
    data, mask = check_map_stack(data, mask, ch_names, times, "plot_channel_time")
    times = np.asarray(times, dtype=float)
    lim = symmetric_limit(data, vlim)
    step = (times[1] - times[0]) if len(times) > 1 else 0.01
    extent = ((times[0] - step / 2) * 1000, (times[-1] + step / 2) * 1000,
              len(ch_names) - 0.5, -0.5)
    plt = pyplot()
    n = data.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 0.8, 0.18 * len(ch_names) + 1.2),
                             squeeze=False, sharey=True)
    im = None
    for i, ax in enumerate(axes[0]):
        im = ax.imshow(data[i], aspect="auto", cmap=cmap, vmin=-lim, vmax=lim,
                       extent=extent, interpolation="nearest")
        if mask is not None:
            ax.imshow(np.where(mask[i], np.nan, 0.0), aspect="auto", cmap="Greys",
                      vmin=0, vmax=1, alpha=0.6, extent=extent, interpolation="nearest")
        ax.axvline(0.0, color="k", lw=0.6, ls=":")
        ax.set_xlabel("time (ms)")
        if names is not None:
            ax.set_title(_mt(names[i]), fontsize=9)
    axes[0, 0].set_yticks(np.arange(len(ch_names)))
    axes[0, 0].set_yticklabels([_mt(c) for c in ch_names], fontsize=7)
    axes[0, 0].set_ylabel("channel")
    cbar = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
    cbar.set_label(_mt(unit))
    if title:
        fig.suptitle(_mt(title), fontsize=10)
    return fig


#: Okabe & Ito's colour-blind-safe qualitative palette.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00",
             "#CC79A7", "#000000")


def plot_winner_take_all(
    labels: np.ndarray,
    ch_names: Sequence[str],
    times: np.ndarray,
    group_names: Sequence[str],
    *,
    title: str | None = None,
):
    """Channel × time map of which group wins at each sample.

    Parameters
    ----------
    labels : ndarray of int, shape (n_channels, n_times)
        Winning group index (e.g.
        :func:`perceptogram.interpret.perceptogram.winner_take_all`).
    ch_names : sequence of str, length n_channels
    times : ndarray, shape (n_times,)
        Seconds (shown in ms).
    group_names : sequence of str
        Name of each group index (at most 8, one Okabe–Ito colour each).
    title : str or None

    Returns
    -------
    matplotlib.figure.Figure
        One axes with a legend naming the groups.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    labels = np.asarray(labels)
    if labels.shape != (len(ch_names), len(times)):
        raise DataFormatError(
            f"plot_winner_take_all: labels must have shape ({len(ch_names)}, {len(times)}), "
            f"got {labels.shape}"
        )
    n = len(group_names)
    if not 1 <= n <= len(OKABE_ITO) or labels.min() < 0 or labels.max() >= n:
        raise DataFormatError(
            f"plot_winner_take_all: labels must index 1..{len(OKABE_ITO)} group names"
        )
    times = np.asarray(times, dtype=float)
    step = (times[1] - times[0]) if len(times) > 1 else 0.01
    fig, ax = pyplot().subplots(figsize=(6, 0.18 * len(ch_names) + 1.2))
    ax.imshow(labels, aspect="auto", cmap=ListedColormap(OKABE_ITO[:n]), vmin=-0.5,
              vmax=n - 0.5, interpolation="nearest",
              extent=((times[0] - step / 2) * 1000, (times[-1] + step / 2) * 1000,
                      len(ch_names) - 0.5, -0.5))
    ax.set_yticks(np.arange(len(ch_names)))
    ax.set_yticklabels([_mt(c) for c in ch_names], fontsize=7)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("channel")
    ax.legend(handles=[Patch(color=OKABE_ITO[i], label=_mt(g))
                       for i, g in enumerate(group_names)],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    if title:
        ax.set_title(_mt(title), fontsize=10)
    return fig
