"""Scalp maps of channel × time patterns: strips of topomaps over time.

Each map looks like :func:`mne.viz.plot_topomap` (head outline, ears, nose,
Clough-Tocher interpolation with local extrapolation, clipped to the
extrapolation boundary) but is drawn from the channel set's cached
:class:`~perceptogram.viz.scalp.ScalpLayout`: one matrix product per map
instead of one interpolator per map.
"""

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
from perceptogram.viz.scalp import ScalpLayout, head_sphere, scalp_layout

__all__ = ["head_sphere", "plot_topomap", "plot_topomap_strip", "time_indices"]


def time_indices(times: np.ndarray, at: Sequence[float]) -> np.ndarray:
    """Index of the sample nearest to each requested time (seconds).

    Raises
    ------
    DataFormatError
        If a requested time lies more than half a sample outside ``times``.
    """
    times = np.asarray(times, dtype=float)
    at = np.asarray(at, dtype=float)
    half = (times[1] - times[0]) / 2 if len(times) > 1 else 0.0
    outside = (at < times[0] - half - 1e-9) | (at > times[-1] + half + 1e-9)
    if outside.any():
        raise DataFormatError(
            f"requested times {np.round(at[outside] * 1000).tolist()} ms lie outside the "
            f"data ({times[0] * 1000:.0f}..{times[-1] * 1000:.0f} ms)"
        )
    return np.abs(times[None, :] - at[:, None]).argmin(axis=1)


#: Marker of masked (e.g. significant) channels.
MASK_MARKER = dict(marker="o", markerfacecolor="k", markeredgecolor="w", markersize=3,
                   markeredgewidth=1, linewidth=0)
#: Drawing order, as in MNE: image, contours, head outline, sensors.
_ZORDER = dict(image=1.0, contours=2.0, outline=2.5, sensors=3.0)


def plot_topomap(
    values: np.ndarray,
    ch_names: Sequence[str],
    *,
    ax=None,
    vlim: float | None = None,
    cmap: str = DIVERGING_CMAP,
    mask: np.ndarray | None = None,
    sensors: bool = True,
    contours: int = 0,
    posterior_view: bool = True,
):
    """One scalp map with head outline, as :func:`mne.viz.plot_topomap` draws it.

    Parameters
    ----------
    values : ndarray, shape (n_channels,)
        Value per channel.
    ch_names : sequence of str, length n_channels
        Channel names with positions in ``easycap-M1``.
    ax : matplotlib Axes or None
        Axes to draw into (a new figure when None).
    vlim : float or None
        Colour scale half-width (symmetric around zero).
    cmap : str
        Colour map.
    mask : ndarray of bool, shape (n_channels,) or None
        Channels to mark (e.g. in a significant cluster).
    sensors : bool
        Draw sensor positions.
    contours : int
        Number of contour lines.
    posterior_view : bool
        Show only the back half of the head (where the posterior channels are),
        ears included, instead of the whole head.

    Returns
    -------
    matplotlib.image.AxesImage
        The image, for a colorbar.
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(ch_names),):
        raise DataFormatError(
            f"plot_topomap: {values.shape} values for {len(ch_names)} channels"
        )
    if mask is not None and np.shape(mask) != values.shape:
        raise DataFormatError(
            f"plot_topomap: mask shape {np.shape(mask)} for {len(ch_names)} channels"
        )
    if ax is None:
        _, ax = pyplot().subplots(figsize=(2.5, 2.5))
    layout = scalp_layout(ch_names)
    lim = symmetric_limit(values, vlim)
    return _draw(ax, layout, layout.image(values), lim=lim, cmap=cmap, mask=mask,
                 sensors=sensors, contours=contours, posterior_view=posterior_view)


def _draw(ax, layout: ScalpLayout, image: np.ndarray, *, lim: float, cmap: str,
          mask: np.ndarray | None, sensors: bool, contours: int, posterior_view: bool):
    """Draw one interpolated ``image`` (res, res) of ``layout`` into ``ax``."""
    from matplotlib import rcParams
    from matplotlib.patches import Polygon

    ax.xaxis.set_ticks([])
    ax.yaxis.set_ticks([])
    ax.set_frame_on(False)
    im = ax.imshow(image, cmap=cmap, vmin=-lim, vmax=lim, origin="lower", aspect="equal",
                   extent=layout.extent, interpolation="bilinear", zorder=_ZORDER["image"])
    head = Polygon(layout.clip, clip_on=True, transform=ax.transData)
    im.set_clip_path(head)
    finite = image[np.isfinite(image)]
    if contours and finite.size and np.ptp(finite) > 0:
        lines = ax.contour(*layout.grid, image, contours, colors="k",
                           linewidths=MASK_MARKER["markeredgewidth"] / 2.0,
                           zorder=_ZORDER["contours"])
        lines.set_clip_path(head)
    marked = (np.zeros(len(layout.ch_names), bool) if mask is None
              else np.asarray(mask, dtype=bool))
    x, y = layout.pos.T
    if sensors:
        ax.scatter(x[~marked], y[~marked], s=0.25, marker="o", edgecolor="k",
                   facecolor="none", zorder=_ZORDER["sensors"])
    if marked.any():
        ax.plot(x[marked], y[marked], zorder=_ZORDER["sensors"], **MASK_MARKER)
    for line_x, line_y in layout.outlines.values():
        ax.plot(line_x, line_y, color=rcParams["axes.edgecolor"], linewidth=1, clip_on=False,
                zorder=_ZORDER["outline"])
    if posterior_view:
        x0, y0, _, radius = head_sphere()
        ax.set_xlim(x0 - 1.2 * radius, x0 + 1.2 * radius)
        ax.set_ylim(y0 - 1.12 * radius, y0 + 0.3 * radius)
        for artist in (*ax.lines, *ax.patches, *ax.collections):
            artist.set_clip_on(True)
    return im


def plot_topomap_strip(
    data: np.ndarray,
    ch_names: Sequence[str],
    times: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    at: Sequence[float] | None = None,
    vlim: float | None = None,
    cmap: str = DIVERGING_CMAP,
    mask: np.ndarray | None = None,
    unit: str = "a.u.",
    title: str | None = None,
    size: float = 0.9,
):
    """Rows of scalp maps over time, one row per map, one shared colour scale.

    Parameters
    ----------
    data : ndarray, shape (n_maps, n_channels, n_times) or (n_channels, n_times)
        Channel × time maps (e.g. one per group, subject or contrast).
    ch_names : sequence of str, length n_channels
    times : ndarray, shape (n_times,)
        Sample times in seconds.
    names : sequence of str or None, length n_maps
        Row labels.
    at : sequence of float or None
        Times (seconds) to show; default every 20 ms from 0 to 580 ms.
    vlim : float or None
        Half-width of the shared symmetric colour scale; default the largest
        absolute value shown.
    cmap : str
        Colour map (default colour-blind-safe diverging ``"RdBu_r"``).
    mask : ndarray of bool, same shape as ``data``, or None
        Samples to mark (e.g. :attr:`ClusterResult.mask`).
    unit : str
        Unit written on the colorbar.
    title : str or None
        Figure title.
    size : float
        Width of one scalp map in inches.

    Returns
    -------
    matplotlib.figure.Figure
        ``n_maps * len(at)`` topomap axes plus one colorbar axes.
    """
    data, mask = check_map_stack(data, mask, ch_names, times, "plot_topomap_strip")
    if names is not None and len(names) != data.shape[0]:
        raise DataFormatError(f"plot_topomap_strip: {len(names)} names for {data.shape[0]} maps")
    if at is None:
        at = np.round(np.arange(0.0, 0.58 + 1e-9, 0.02), 3)
    idx = time_indices(times, at)
    lim = symmetric_limit(data[:, :, idx], vlim)
    plt = pyplot()
    n_rows, n_cols = data.shape[0], len(idx)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(size * n_cols + 1.2, 0.62 * size * n_rows + 0.5),
        squeeze=False, gridspec_kw=dict(wspace=0.05, hspace=0.15),
    )
    layout = scalp_layout(ch_names)
    shown = data[:, :, idx]  # (n_maps, n_channels, n_shown)
    images = layout.image(shown.transpose(1, 0, 2).reshape(len(ch_names), -1))
    images = images.reshape(*images.shape[:2], n_rows, n_cols)
    im = None
    for r in range(n_rows):
        for c, t in enumerate(idx):
            ax = axes[r, c]
            im = _draw(ax, layout, images[:, :, r, c], lim=lim, cmap=cmap,
                       mask=None if mask is None else mask[r, :, t], sensors=False,
                       contours=0, posterior_view=True)
            if r == 0:
                ax.set_title(f"{times[t] * 1000:.0f} ms", fontsize=7)
        if names is not None:
            axes[r, 0].text(-0.15, 0.5, _mt(names[r]), transform=axes[r, 0].transAxes,
                            ha="right", va="center", fontsize=8)
    cbar = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01, aspect=15)
    cbar.set_label(_mt(unit), fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(_mt(title), fontsize=10, y=1.0 + 0.25 / fig.get_figheight())
    return fig
