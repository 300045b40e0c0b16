"""Figure plumbing shared by every plot: headless backend, colour scale, saving."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perceptogram._io import atomic_path

#: Colour-blind-safe diverging map used for signed EEG maps.
DIVERGING_CMAP = "RdBu_r"


def pyplot():
    """Return :mod:`matplotlib.pyplot`, on the Agg backend unless one was chosen."""
    import matplotlib

    if "MPLBACKEND" not in os.environ and matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def symmetric_limit(data: np.ndarray, vlim: float | None = None) -> float:
    """Half-width of a colour scale centred on zero shared by all of ``data``.

    Parameters
    ----------
    data : ndarray, any shape
        All values that the figure shows.
    vlim : float or None
        Fixed half-width; by default the largest absolute finite value.
    """
    if vlim is not None:
        if not vlim > 0:
            raise ValueError(f"vlim must be positive, got {vlim}")
        return float(vlim)
    finite = np.abs(np.asarray(data, dtype=float))
    finite = finite[np.isfinite(finite)]
    peak = float(finite.max()) if finite.size else 0.0
    return peak if peak > 0 else 1.0


def save_figure(
    fig, path: str | os.PathLike, formats: Sequence[str] = ("png", "svg"), dpi: int = 150
) -> list[Path]:
    """Save ``fig`` atomically in each format.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : path-like
        Destination; its suffix is replaced by each format's.
    formats : sequence of str
        File formats, e.g. ``("png", "svg")``.
    dpi : int
        Resolution of raster formats.

    Returns
    -------
    list of Path
        The files written.
    """
    path = Path(path)
    written = []
    for fmt in formats:
        target = path.with_suffix("." + fmt)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        written.append(target)
    return written
