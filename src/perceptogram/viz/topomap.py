"""Scalp maps of channel × time patterns: single maps, strips and grids over time.

Each map shows the whole head (outline, nose, ears) whatever the sensors, the
interpolated values inside it, and the sensors: small dots, and open rings
where a mask (e.g. a significant cluster) marks them, so that the colour under
a marked sensor stays visible even when every sensor is marked. Maps are drawn from the channel
set's cached :class:`~perceptogram.viz.scalp.ScalpLayout`: one matrix product
per map. Axes that hold scalp maps (a grid draws all of its maps into one axes) carry
the gid :data:`SCALP_GID`, and so does each head outline, so that
:func:`scalp_width_px` can measure the drawn heads of any figure.
"""

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
from perceptogram.viz.scalp import ScalpLayout, head_sphere, scalp_layout

__all__ = ["head_sphere", "plot_topomap", "plot_topomap_grid", "plot_topomap_strip",
           "scalp_width_px", "time_indices"]

#: gid of every axes that holds a scalp map, and of its head outline.
SCALP_GID = "perceptogram-scalp-map"


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


#: Marker of masked (e.g. significant) channels, an open ring; its size scales with the
#: head.
MASK_MARKER = dict(marker="o", markerfacecolor="none", markeredgecolor="k",
                   markeredgewidth=1.3, linewidth=0)
#: Marker of the other channels: a small black dot with a thin white rim (visible on dark
#: colours too).
SENSOR_MARKER = dict(marker="o", markerfacecolor="k", markeredgecolor="w",
                     markeredgewidth=0.4, linewidth=0)
#: Drawing order: image, contours, head outline, sensors.
_ZORDER = dict(image=1.0, contours=2.0, outline=2.5, sensors=3.0)


def _check_layout(layout: ScalpLayout, caller: str) -> None:
    if not layout.drawable:
        raise DataFormatError(
            f"{caller}: only {layout.n_placed} channel(s) have a scalp position "
            f"({', '.join(layout.placed_names) or 'none'}); a scalp map needs at least 4 "
            "(draw time courses per channel instead)"
        )


def plot_topomap(
    values: np.ndarray,
    ch_names: Sequence[str],
    *,
    positions: np.ndarray | None = None,
    ax=None,
    vlim: float | None = None,
    cmap: str = DIVERGING_CMAP,
    mask: np.ndarray | None = None,
    sensors: bool = True,
    contours: int = 0,
    symmetric: bool = True,
):
    """One scalp map of the whole head.

    Parameters
    ----------
    values : ndarray, shape (n_channels,)
        Value per channel (channels without a position are left out).
    ch_names : sequence of str, length n_channels
    positions : ndarray, shape (n_channels, 3), or None
        Sensor positions from the recording (metres, head coordinates); None:
        template positions (:func:`~perceptogram.viz.scalp.sensor_positions`).
    ax : matplotlib Axes or None
        Axes to draw into (a new figure when None).
    vlim : float or None
        Colour scale half-width (or upper end when not ``symmetric``).
    cmap : str
        Colour map.
    mask : ndarray of bool, shape (n_channels,) or None
        Channels to mark (e.g. in a significant cluster).
    sensors : bool
        Draw sensor positions.
    contours : int
        Number of contour lines.
    symmetric : bool
        Colour scale ``[-vlim, vlim]`` (signed maps) or ``[0, vlim]``.

    Returns
    -------
    matplotlib.image.AxesImage
        The image, for a colorbar.

    Raises
    ------
    DataFormatError
        Fewer than 4 channels have a position, or shapes disagree.
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
    layout = scalp_layout(ch_names, positions)
    _check_layout(layout, "plot_topomap")
    if ax is None:
        _, ax = pyplot().subplots(figsize=(2.5, 2.5))
    lim = symmetric_limit(values[layout.picks], vlim)
    low = -lim if symmetric else 0.0
    _scalp_axes(ax, _view_limits(layout))
    return _draw(ax, layout, layout.image(values), low=low, high=lim, cmap=cmap, mask=mask,
                 sensors=sensors, contours=contours, marker_size=4.0)


def _scalp_axes(ax, limits: tuple[float, float, float, float]) -> None:
    """Prepare ``ax`` for scalp maps: no ticks or frame, ``(xmin, xmax, ymin, ymax)`` shown."""
    ax.set_gid(SCALP_GID)
    ax.xaxis.set_ticks([])
    ax.yaxis.set_ticks([])
    ax.set_frame_on(False)
    ax.set_xlim(*limits[:2])
    ax.set_ylim(*limits[2:])


def _draw(ax, layout: ScalpLayout, image: np.ndarray, *, low: float, high: float, cmap: str,
          mask: np.ndarray | None, sensors: bool, contours: int, marker_size: float,
          offset: tuple[float, float] = (0.0, 0.0)):
    """Draw one interpolated ``image`` (res, res) of ``layout`` into ``ax``, its head
    centre moved by ``offset`` (data units; several maps may share one axes)."""
    from matplotlib import rcParams
    from matplotlib.patches import Polygon

    dx, dy = offset
    x0, x1, y0, y1 = layout.extent
    im = ax.imshow(image, cmap=cmap, vmin=low, vmax=high, origin="lower", aspect="equal",
                   extent=(x0 + dx, x1 + dx, y0 + dy, y1 + dy), interpolation="bilinear",
                   zorder=_ZORDER["image"])
    region = Polygon(layout.clip + (dx, dy), closed=True, transform=ax.transData)
    im.set_clip_path(region)
    finite = image[np.isfinite(image)]
    if contours and finite.size and np.ptp(finite) > 0:
        grid_x, grid_y = layout.grid
        lines = ax.contour(grid_x + dx, grid_y + dy, image, contours, colors="k",
                           linewidths=0.4, zorder=_ZORDER["contours"])
        lines.set_clip_path(region)
    marked = (np.zeros(layout.n_placed, bool) if mask is None
              else np.asarray(mask, dtype=bool)[layout.picks])
    x, y = layout.pos.T + np.array([[dx], [dy]])
    if sensors:
        ax.plot(x[~marked], y[~marked], ls="none", markersize=max(2.2, marker_size / 2.5),
                zorder=_ZORDER["sensors"], **SENSOR_MARKER)
    if marked.any():
        ax.plot(x[marked], y[marked], ls="none", markersize=marker_size,
                zorder=_ZORDER["sensors"], **MASK_MARKER)
    for name, (line_x, line_y) in layout.outlines.items():
        ax.plot(np.asarray(line_x) + dx, np.asarray(line_y) + dy,
                color=rcParams["axes.edgecolor"], linewidth=1, zorder=_ZORDER["outline"],
                gid=SCALP_GID if name == "head" else None)
    return im


def _view_limits(layout: ScalpLayout) -> tuple[float, float, float, float]:
    """``(xmin, xmax, ymin, ymax)`` showing the whole head, nose, ears and coloured area."""
    cx, cy = layout.centre
    r = layout.radius
    clip = layout.clip if len(layout.clip) else np.array([[cx, cy]])
    return (min(cx - 1.1 * r, clip[:, 0].min()), max(cx + 1.1 * r, clip[:, 0].max()),
            min(cy - 1.04 * r, clip[:, 1].min()), max(cy + 1.14 * r, clip[:, 1].max()))


def scalp_width_px(fig, dpi: float | None = None) -> float | None:
    """Width in pixels of the narrowest head outline drawn in ``fig``.

    Measured from the axes' final positions: call it after the figure was drawn
    or saved when it uses a layout engine (constrained layout moves axes at
    draw time); figures laid out by hand, such as :func:`plot_topomap_grid`,
    can be measured at once.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : float or None
        Resolution the figure is (or will be) saved at; default the figure's.

    Returns
    -------
    float or None
        None when the figure holds no scalp map.
    """
    widths = []
    for ax in fig.axes:
        if ax.get_gid() != SCALP_GID:
            continue
        ax.apply_aspect()
        for line in ax.get_lines():
            if line.get_gid() == SCALP_GID:
                xs = line.get_xdata()
                ends = ax.transData.transform([[np.min(xs), 0.0], [np.max(xs), 0.0]])
                widths.append(abs(ends[1, 0] - ends[0, 0]))
    if not widths:
        return None
    return float(min(widths)) * (dpi or fig.dpi) / fig.dpi


def plot_topomap_grid(
    data: np.ndarray,
    ch_names: Sequence[str],
    times: np.ndarray,
    *,
    positions: np.ndarray | None = None,
    at: Sequence[float] | None = None,
    vlim: float | None = None,
    cmap: str = DIVERGING_CMAP,
    mask: np.ndarray | None = None,
    unit: str = "a.u.",
    title: str | None = None,
    ncols: int = 5,
    head_size: float = 1.25,
    symmetric: bool = True,
):
    """One channel × time map as a grid of scalp maps over time, one colour scale.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
    ch_names : sequence of str, length n_channels
    times : ndarray, shape (n_times,)
        Sample times in seconds.
    positions : ndarray, shape (n_channels, 3), or None
        Sensor positions from the recording (None: template positions).
    at : sequence of float or None
        Times (seconds) to show; default every 20 ms from 0 to 580 ms (those
        inside the data).
    vlim : float or None
        Half-width of the symmetric colour scale; default the largest absolute
        value shown.
    cmap : str
        Colour map.
    mask : ndarray of bool, shape (n_channels, n_times), or None
        Samples to mark (e.g. in a significant cluster): marked sensors are
        drawn as open rings at that time.
    unit : str
        Unit written on the colour bar.
    title : str or None
    ncols : int
        Maps per row.
    head_size : float
        Width of one head outline in inches.
    symmetric : bool
        Colour scale ``[-vlim, vlim]`` (signed maps) or ``[0, vlim]`` (e.g. F
        maps, with a sequential ``cmap``).

    Returns
    -------
    matplotlib.figure.Figure
        One axes (tagged :data:`SCALP_GID`) holding the ``len(at)`` scalp maps,
        each head ``head_size`` inches wide under its time, and one colour-bar
        axes labelled with ``unit``.
    """
    stack, mask_stack = check_map_stack(data, mask, ch_names, times, "plot_topomap_grid")
    if stack.shape[0] != 1:
        raise DataFormatError("plot_topomap_grid: draws one channel × time map; got "
                              f"{stack.shape[0]}")
    layout = scalp_layout(ch_names, positions)
    _check_layout(layout, "plot_topomap_grid")
    idx = time_indices(times, _default_times(times) if at is None else at)
    shown = stack[0][:, idx]
    lim = symmetric_limit(shown[layout.picks], vlim)
    low = -lim if symmetric else 0.0
    images = layout.image(shown)  # (res, res, n_shown)
    n = len(idx)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    # One axes holds every map, laid out by hand: a layout engine, or an axes per map,
    # would cost most of the drawing time.
    x0, x1, y0, y1 = _view_limits(layout)
    width = head_size * (x1 - x0) / (2 * layout.radius)  # inches
    height = width * (y1 - y0) / (x1 - x0)
    per_inch = (x1 - x0) / width  # data units per inch
    gap, title_h, top = 0.05, 0.22, (0.45 if title else 0.1)
    fig_w = ncols * (width + gap) + 1.0
    fig_h = nrows * (height + title_h) + top + 0.05
    fig = pyplot().figure(figsize=(fig_w, fig_h))
    grid_w = ncols * width + (ncols - 1) * gap
    grid_h = nrows * (height + title_h) - title_h
    ax = fig.add_axes((0.05 / fig_w, (fig_h - top - title_h - grid_h + 0.02) / fig_h,
                       grid_w / fig_w, grid_h / fig_h))
    _scalp_axes(ax, (x0, x0 + grid_w * per_inch, y1 - grid_h * per_inch, y1))
    im = None
    for k in range(n):
        row, col = divmod(k, ncols)
        offset = (col * (width + gap) * per_inch, -row * (height + title_h) * per_inch)
        t = idx[k]
        im = _draw(ax, layout, images[:, :, k], low=low, high=lim, cmap=cmap,
                   mask=None if mask_stack is None else mask_stack[0, :, t], sensors=True,
                   contours=0, marker_size=3.0 + 2.0 * head_size, offset=offset)
        ax.annotate(f"{times[t] * 1000:.0f} ms", ((x0 + x1) / 2 + offset[0], y1 + offset[1]),
                    xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                    fontsize=9, annotation_clip=False)
    bar_h = min(fig_h - top - 0.3, max(1.5, 0.8 * nrows * (height + title_h)))
    cax = fig.add_axes(((0.05 + ncols * (width + gap) + 0.1) / fig_w,
                        (fig_h - top - 0.1 - bar_h) / fig_h, 0.14 / fig_w, bar_h / fig_h))
    cbar = fig.colorbar(im, cax=cax)
    label_scaled(cbar, lim, unit, fontsize=9)
    cbar.ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(_mt(title), fontsize=10, y=1 - 0.08 / fig_h, va="top")
    return fig


def _default_times(times: np.ndarray) -> np.ndarray:
    """Every 20 ms from 0 to 580 ms, those inside the data (at least the first sample)."""
    at = np.round(np.arange(0.0, 0.58 + 1e-9, 0.02), 3)
    step = (times[1] - times[0]) / 2 if len(times) > 1 else 0.0
    inside = at[(at >= times[0] - step) & (at <= times[-1] + step)]
    return inside if inside.size else np.asarray(times[:1], dtype=float)


def plot_topomap_strip(
    data: np.ndarray,
    ch_names: Sequence[str],
    times: np.ndarray,
    *,
    positions: np.ndarray | None = None,
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

    A compact overview (documentation figures); the report draws each map as a
    :func:`plot_topomap_grid` with larger heads.

    Parameters
    ----------
    data : ndarray, shape (n_maps, n_channels, n_times) or (n_channels, n_times)
        Channel × time maps (e.g. one per group, subject or contrast).
    ch_names : sequence of str, length n_channels
    times : ndarray, shape (n_times,)
        Sample times in seconds.
    positions : ndarray, shape (n_channels, 3), or None
        Sensor positions from the recording (None: template positions).
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
    layout = scalp_layout(ch_names, positions)
    _check_layout(layout, "plot_topomap_strip")
    if at is None:
        at = np.round(np.arange(0.0, 0.58 + 1e-9, 0.02), 3)
    idx = time_indices(times, at)
    lim = symmetric_limit(data[:, layout.picks][:, :, idx], vlim)
    plt = pyplot()
    n_rows, n_cols = data.shape[0], len(idx)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(size * n_cols + 1.2, 1.1 * size * n_rows + 0.5),
        squeeze=False, gridspec_kw=dict(wspace=0.05, hspace=0.15),
    )
    shown = data[:, :, idx]  # (n_maps, n_channels, n_shown)
    images = layout.image(shown.transpose(1, 0, 2).reshape(len(ch_names), -1))
    images = images.reshape(*images.shape[:2], n_rows, n_cols)
    im = None
    for r in range(n_rows):
        for c, t in enumerate(idx):
            ax = axes[r, c]
            _scalp_axes(ax, _view_limits(layout))
            im = _draw(ax, layout, images[:, :, r, c], low=-lim, high=lim, cmap=cmap,
                       mask=None if mask is None else mask[r, :, t], sensors=False,
                       contours=0, marker_size=3.0)
            if r == 0:
                ax.set_title(f"{times[t] * 1000:.0f} ms", fontsize=7)
        if names is not None:
            axes[r, 0].text(-0.15, 0.5, _mt(names[r]), transform=axes[r, 0].transAxes,
                            ha="right", va="center", fontsize=8)
    cbar = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, pad=0.01, aspect=15)
    label_scaled(cbar, lim, unit, fontsize=8)
    cbar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(_mt(title), fontsize=10, y=1.0 + 0.25 / fig.get_figheight())
    return fig
