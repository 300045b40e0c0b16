"""Channel × time heatmaps with channel names, millisecond ticks and marked clusters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptogram._text import for_matplotlib as _mt
from perceptogram.errors import DataFormatError
from perceptogram.viz.figure import (
    DIVERGING_CMAP,
    check_map_stack,
    label_scaled,
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
    scales: Sequence[str] | None = None,
    mask_style: str | Sequence[str] = "both",
):
    """Side-by-side channel × time heatmaps on shared, absolute colour scales.

    Parameters
    ----------
    data : ndarray, shape (n_maps, n_channels, n_times) or (n_channels, n_times)
    ch_names : sequence of str, length n_channels
        Row labels (channel order as in ``data``), every one written.
    times : ndarray, shape (n_times,)
        Sample times in seconds (shown in ms).
    names : sequence of str or None, length n_maps
        Panel titles.
    vlim : float or None
        Half-width of the shared symmetric colour scale (default: the largest
        absolute value of the maps sharing it, so that sizes compare across
        those panels).
    cmap : str
        Colour map.
    mask : ndarray of bool, same shape as ``data``, or None
        Significant samples, shown as ``mask_style`` says.
    unit : str
        Unit of the colour bars (tiny or huge scales are written in it, e.g.
        ``"×10⁻⁶ µV"``, never as an offset text).
    title : str or None
        Figure title.
    scales : sequence of str or None, length n_maps
        Colour-scale key of each map: maps with the same key share one scale
        and one colour bar; default one scale for all maps.
    mask_style : str or sequence of str, length n_maps
        ``"outline"``: each connected significant region outlined in black;
        ``"fade"``: samples outside the mask faded towards white (readable when
        most samples are significant; a map without any significant sample is
        not faded); ``"both"`` (default). One for all maps or one per map.

    Returns
    -------
    matplotlib.figure.Figure
        ``n_maps`` heatmap axes plus one colorbar axes per scale.
    """
    data, mask = check_map_stack(data, mask, ch_names, times, "plot_channel_time")
    times = np.asarray(times, dtype=float)
    keys = [""] * data.shape[0] if scales is None else [str(k) for k in scales]
    if len(keys) != data.shape[0]:
        raise DataFormatError(f"plot_channel_time: {len(keys)} scales for {data.shape[0]} maps")
    styles = ([mask_style] * data.shape[0] if isinstance(mask_style, str)
              else list(mask_style))
    if len(styles) != data.shape[0] or not set(styles) <= {"outline", "fade", "both"}:
        raise DataFormatError("plot_channel_time: mask_style must be 'outline', 'fade' or "
                              f"'both', one for all or one per map; got {mask_style!r}")
    limits = {k: symmetric_limit(data[[i for i, key in enumerate(keys) if key == k]], vlim)
              for k in dict.fromkeys(keys)}
    step = (times[1] - times[0]) if len(times) > 1 else 0.01
    x_edges = (np.append(times, times[-1] + step) - step / 2) * 1000
    extent = (x_edges[0], x_edges[-1], len(ch_names) - 0.5, -0.5)
    plt = pyplot()
    n = data.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n + 1.2, 0.2 * len(ch_names) + 1.3),
                             squeeze=False, sharey=True, layout="constrained")
    images = {}
    for i, ax in enumerate(axes[0]):
        lim = limits[keys[i]]
        images[keys[i]] = ax.imshow(data[i], aspect="auto", cmap=cmap, vmin=-lim, vmax=lim,
                                    extent=extent, interpolation="nearest")
        if mask is not None:
            marked = np.asarray(mask[i], dtype=bool)
            if styles[i] in ("fade", "both") and marked.any():
                _fade(ax, marked, extent)
            if styles[i] in ("outline", "both"):
                _outline(ax, marked, x_edges)
        ax.axvline(0.0, color="k", lw=0.6, ls=":")
        ax.set_xlabel("time (ms)")
        if names is not None:
            ax.set_title(_mt(names[i]), fontsize=9)
    axes[0, 0].set_yticks(np.arange(len(ch_names)))
    axes[0, 0].set_yticklabels([_mt(c) for c in ch_names], fontsize=8)
    axes[0, 0].set_ylabel("channel")
    for key, im in images.items():
        members = [ax for ax, k in zip(axes[0], keys) if k == key]
        cbar = fig.colorbar(im, ax=members, fraction=0.05 if len(images) > 1 else 0.03,
                            pad=0.02)
        label_scaled(cbar, limits[key], unit)
    if title:
        fig.suptitle(_mt(title), fontsize=10)
    return fig


#: Opacity of the white veil over samples outside the mask (``mask_style`` "fade").
FADE_ALPHA = 0.6


def _fade(ax, mask: np.ndarray, extent) -> None:
    """A white veil over the samples outside ``mask``."""
    veil = np.zeros((*mask.shape, 4))
    veil[..., :3] = 1.0
    veil[..., 3] = np.where(mask, 0.0, FADE_ALPHA)
    ax.imshow(veil, aspect="auto", extent=extent, interpolation="nearest", zorder=1.5)


def _outline(ax, mask: np.ndarray, x_edges: np.ndarray) -> None:
    """Black outline along the cell edges that separate masked from unmasked samples."""
    from matplotlib.collections import LineCollection

    padded = np.pad(mask, 1)
    segments = []
    rows, cols = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])  # horizontal edges
    for r, c in zip(rows, cols):
        segments.append([(x_edges[c], r - 0.5), (x_edges[c + 1], r - 0.5)])
    rows, cols = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])  # vertical edges
    for r, c in zip(rows, cols):
        segments.append([(x_edges[c], r - 0.5), (x_edges[c], r + 0.5)])
    if segments:
        ax.add_collection(LineCollection(segments, colors="k", linewidths=1.0))


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
