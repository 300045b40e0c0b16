"""Figure plumbing shared by every plot: headless backend, colour scale, saving."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perceptogram._io import atomic_path
from perceptogram.errors import DataFormatError

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


def check_map_stack(data: np.ndarray, mask: np.ndarray | None, ch_names: Sequence[str],
                    times: Sequence[float], caller: str
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Promote one channel x time map to a stack and check data and mask shapes.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times) or (n_maps, n_channels, n_times)
    mask : ndarray of bool of the same shape as ``data``, or None
    ch_names : sequence of str, length n_channels
    times : sequence of float, length n_times
    caller : str
        Name of the plotting function, for error messages.

    Returns
    -------
    data : ndarray of float, shape (n_maps, n_channels, n_times)
    mask : ndarray, shape (n_maps, n_channels, n_times), or None
    """
    data = np.asarray(data, dtype=float)
    if data.ndim == 2:
        data = data[None]
        mask = None if mask is None else np.asarray(mask)[None]
    if data.ndim != 3 or data.shape[1:] != (len(ch_names), len(times)):
        raise DataFormatError(
            f"{caller}: data must have shape (n_maps, {len(ch_names)}, "
            f"{len(times)}), got {data.shape}"
        )
    if mask is not None and np.shape(mask) != data.shape:
        raise DataFormatError(
            f"{caller}: mask shape {np.shape(mask)} differs from data {data.shape}"
        )
    return data, mask


def save_figure(
    fig, path: str | os.PathLike, formats: Sequence[str] = ("png", "svg"), dpi: int = 150
) -> list[Path]:
    """Save ``fig`` atomically in each format, with ``usetex`` off for every text.

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
    import matplotlib
    from matplotlib.text import Text

    path = Path(path)
    written = []
    # Never hand text to LaTeX, whatever the user's matplotlibrc says: labels drawn
    # from data are not TeX (see perceptogram._text.for_matplotlib).
    for text in fig.findobj(Text):
        text.set_usetex(False)
    with matplotlib.rc_context({"text.usetex": False}):
        for fmt in formats:
            target = path.with_suffix("." + fmt)
            with atomic_path(target) as tmp:
                fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
            written.append(target)
    return written
