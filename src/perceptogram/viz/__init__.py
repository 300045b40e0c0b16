"""Figures (matplotlib, headless): scalp-map grids and strips (drawn from a cached
per-channel-set :class:`ScalpLayout` that copes with any montage), channel × time
heatmaps with outlined clusters, time courses with confidence bands and marked
spans, image grids; saved as PNG and SVG."""

from perceptogram.viz.figure import DIVERGING_CMAP, save_figure, symmetric_limit
from perceptogram.viz.grids import plot_image_grid
from perceptogram.viz.heatmap import plot_channel_time, plot_winner_take_all
from perceptogram.viz.scalp import (
    MIN_SCALP_CHANNELS,
    ScalpLayout,
    head_sphere,
    scalp_layout,
    sensor_positions,
)
from perceptogram.viz.timecourse import mean_confidence_band, plot_timecourse
from perceptogram.viz.topomap import (
    plot_topomap,
    plot_topomap_grid,
    plot_topomap_strip,
    scalp_width_px,
)

__all__ = [
    "DIVERGING_CMAP",
    "MIN_SCALP_CHANNELS",
    "ScalpLayout",
    "head_sphere",
    "mean_confidence_band",
    "plot_channel_time",
    "plot_image_grid",
    "plot_timecourse",
    "plot_topomap",
    "plot_topomap_grid",
    "plot_topomap_strip",
    "plot_winner_take_all",
    "scalp_layout",
    "scalp_width_px",
    "save_figure",
    "sensor_positions",
    "symmetric_limit",
]
