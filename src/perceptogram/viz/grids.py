"""Image grids: ground truth above its reconstructions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from perceptogram._text import for_matplotlib as _mt
from perceptogram.errors import DataFormatError
from perceptogram.viz.figure import pyplot


def plot_image_grid(
    rows: Mapping[str, np.ndarray],
    *,
    column_titles: Sequence[str] | None = None,
    size: float = 1.0,
    title: str | None = None,
):
    """A grid of images, one labelled row per source.

    Parameters
    ----------
    rows : mapping of str to ndarray, each uint8 shape (n_images, H, W, 3)
        Row label → images, e.g. ``{"ground truth": gt, "ridge → unCLIP": rec}``;
        every row shows the same ``n_images`` in the same order (sizes may
        differ between rows).
    column_titles : sequence of str or None, length n_images
        Titles above the first row (e.g. concept names).
    size : float
        Size of one image in inches.
    title : str or None

    Returns
    -------
    matplotlib.figure.Figure
        ``len(rows) * n_images`` axes.
    """
    if not rows:
        raise DataFormatError("plot_image_grid: no rows given")
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    counts = {k: v.shape[0] if v.ndim == 4 else -1 for k, v in arrays.items()}
    n = next(iter(counts.values()))
    for label, images in arrays.items():
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise DataFormatError(
                f"plot_image_grid: row '{label}' must be uint8 (n, H, W, 3), got "
                f"{images.dtype} {images.shape}"
            )
        if images.shape[0] != n:
            raise DataFormatError(
                f"plot_image_grid: row '{label}' has {images.shape[0]} images, expected {n}"
            )
    if column_titles is not None and len(column_titles) != n:
        raise DataFormatError(f"plot_image_grid: {len(column_titles)} titles for {n} images")
    plt = pyplot()
    fig, axes = plt.subplots(len(arrays), n, figsize=(size * n + 1.0, size * len(arrays) + 0.3),
                             squeeze=False, gridspec_kw=dict(wspace=0.04, hspace=0.04))
    for r, (label, images) in enumerate(arrays.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and column_titles is not None:
                ax.set_title(_mt(column_titles[c]), fontsize=6)
        axes[r, 0].set_ylabel(_mt(label), fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(_mt(title), fontsize=10)
    return fig
