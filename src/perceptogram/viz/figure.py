"""Figure plumbing shared by every plot: headless backend, colour scale, saving."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from perceptogram._io import atomic_path
from perceptogram._text import for_matplotlib
from perceptogram.errors import DataFormatError

#: Colour-blind-safe diverging map used for signed EEG maps.
DIVERGING_CMAP = "RdBu_r"
#: Values whose largest magnitude lies in [10**low, 10**(high + 1)) are shown as they are;
#: others are rescaled by a power of ten written in the unit (no offset text).
_PLAIN_EXPONENTS = (-2, 3)
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


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


def unit_scale(limit: float, unit: str = "") -> tuple[float, str]:
    """Power of ten that brings values of magnitude ``limit`` near 1, and the unit with it.

    Matplotlib writes the scale of tiny or huge values as an "offset text"
    (``1e−6``) at the end of the axis, where it overlaps titles; figures write it
    in the unit instead.

    Parameters
    ----------
    limit : float
        Largest magnitude shown (e.g. the colour scale's half-width).
    unit : str
        The values' unit.

    Returns
    -------
    factor : float
        Divide values by it to get the tick labels (1 when no scale is needed).
    unit : str
        The unit with the scale, e.g. ``"×10⁻⁶ µV"`` (``unit`` itself when no scale
        is needed; ``"×10⁻⁶"`` for unitless values).

    Examples
    --------
    >>> unit_scale(3.2e-6, "µV")
    (1e-06, '×10⁻⁶ µV')
    >>> unit_scale(0.5, "µV")
    (1.0, 'µV')
    """
    limit = abs(float(limit))
    if not np.isfinite(limit) or limit == 0:
        return 1.0, unit
    exponent = int(np.floor(np.log10(limit)))
    low, high = _PLAIN_EXPONENTS
    if low <= exponent <= high:
        return 1.0, unit
    scale = "×10" + str(exponent).translate(_SUPERSCRIPT)
    return float(10.0 ** exponent), f"{scale} {unit}".strip()


def scaled_ticks(axis, factor: float) -> None:
    """Label the ticks of ``axis`` (an x/y axis or a colour bar) in units of ``factor``.

    The tick values are divided by ``factor`` and written without an offset text;
    the caller writes the scale in the axis label (see :func:`unit_scale`).
    """
    from matplotlib.ticker import FuncFormatter, ScalarFormatter

    target = getattr(axis, "ax", None)  # a Colorbar: its long axis
    if target is not None:
        axis = target.yaxis if axis.orientation == "vertical" else target.xaxis
    if factor == 1.0:
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        axis.set_major_formatter(formatter)
        return
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value / factor:g}"))


def label_scaled(axis, limit: float, unit: str, quantity: str = "", **text) -> str:
    """Scale the ticks of ``axis`` to ``limit`` and label it with the unit and scale.

    Parameters
    ----------
    axis : matplotlib Axis or Colorbar
    limit : float
        Largest magnitude shown.
    unit : str
    quantity : str
        What is shown (``"RMS over time"``); the label is ``"quantity (unit)"``,
        or the unit alone.
    **text
        Keyword arguments of ``set_label`` / ``set_label_text`` (e.g. ``fontsize``).

    Returns
    -------
    str
        The label written.
    """
    factor, scaled = unit_scale(limit, unit)
    scaled_ticks(axis, factor)
    label = f"{quantity} ({scaled})" if quantity and scaled else (quantity or scaled)
    is_colorbar = hasattr(axis, "orientation") and hasattr(axis, "ax")
    setter = axis.set_label if is_colorbar else axis.set_label_text
    setter(for_matplotlib(label), **text)
    return label


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
