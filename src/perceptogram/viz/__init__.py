"""Figures (matplotlib, headless): scalp-map strips (drawn from a cached
per-channel-set :class:`ScalpLayout`), channel × time heatmaps, time courses
with confidence bands, image grids; saved as PNG and SVG."""

from perceptogram.viz.figure import DIVERGING_CMAP, save_figure, symmetric_limit
from perceptogram.viz.grids import plot_image_grid
from perceptogram.viz.heatmap import plot_channel_time, plot_winner_take_all
from perceptogram.viz.scalp import ScalpLayout, head_sphere, scalp_layout
from perceptogram.viz.timecourse import mean_confidence_band, plot_timecourse
from perceptogram.viz.topomap import plot_topomap, plot_topomap_strip

__all__ = [
    "DIVERGING_CMAP",
    "ScalpLayout",
    "head_sphere",
    "mean_confidence_band",
    "plot_channel_time",
    "plot_image_grid",
    "plot_timecourse",
    "plot_topomap",
    "plot_topomap_strip",
    "plot_winner_take_all",
    "scalp_layout",
    "save_figure",
    "symmetric_limit",
]
