"""Scalp geometry of a channel set, computed once and reused by every topomap.

:func:`mne.viz.plot_topomap` rebuilds its head outline, its Delaunay
triangulation (with the extra points of ``extrapolate="local"``) and its
Clough-Tocher interpolator for every map; the first query of each new
triangulation alone can cost hundreds of milliseconds on a busy machine. Here
that work is done once per channel set with MNE's own interpolation code:
because MNE's interpolation is linear in the channel values (Clough-Tocher with
gradients estimated linearly, border points at the mean of their neighbours),
interpolating each unit vector once gives a matrix that maps any channel
values to MNE's image by one matrix product.

The helpers used (``_find_topomap_coords``, ``_make_head_outlines``,
``_setup_interp``) are MNE internals behind :func:`mne.viz.plot_topomap`;
``tests/test_viz.py`` checks the images against :func:`mne.viz.plot_topomap`
so that a change in MNE shows up as a failing test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from perceptogram.errors import DataFormatError

#: Interpolation settings shared with :func:`mne.viz.plot_topomap`.
IMAGE_INTERP = "cubic"
EXTRAPOLATE = "local"
BORDER = "mean"


@lru_cache(maxsize=1)
def head_sphere() -> tuple[float, float, float, float]:
    """Sphere ``(x, y, z, radius)`` in metres fitted to the whole easycap-M1 cap.

    A posterior-only cap cannot define the head by itself; fitting the sphere
    to every position of the full montage puts the head outline where the
    head is, with the 17 posterior channels at its back.
    """
    import mne

    montage = mne.channels.make_standard_montage("easycap-M1")
    info = mne.create_info(montage.ch_names, 100.0, "eeg")
    info.set_montage(montage)
    radius, origin, _ = mne.bem.fit_sphere_to_headshape(
        info, dig_kinds=("eeg",), units="m", verbose=False
    )
    return (float(origin[0]), float(origin[1]), float(origin[2]), float(radius))


@dataclass(frozen=True, eq=False)
class ScalpLayout:
    """Where a channel set lies on the flattened head, and how to fill the head.

    Attributes
    ----------
    ch_names : tuple of str, length n_channels
    pos : ndarray, shape (n_channels, 2)
        Sensor positions on the topomap plane (metres, +y = nose).
    outlines : dict of str to (ndarray, ndarray)
        Head, nose and ears as ``(x, y)`` lines.
    clip : ndarray, shape (n_vertices, 2)
        Polygon the image is clipped to (the extrapolation boundary).
    extent : tuple of float
        ``(xmin, xmax, ymin, ymax)`` of the image grid.
    grid : tuple of ndarray, each shape (res, res)
        ``(X, Y)`` coordinates of the image pixels.
    weights : ndarray, shape (res, res, n_channels)
        Interpolation matrix: the image of channel values ``v`` is
        ``weights @ v`` (NaN outside the extrapolation boundary).
    """

    ch_names: tuple[str, ...]
    pos: np.ndarray
    outlines: dict
    clip: np.ndarray
    extent: tuple[float, float, float, float]
    grid: tuple[np.ndarray, np.ndarray]
    weights: np.ndarray

    def image(self, values: np.ndarray) -> np.ndarray:
        """Interpolated scalp image of channel values.

        Parameters
        ----------
        values : ndarray, shape (n_channels,) or (n_channels, n_maps)

        Returns
        -------
        ndarray, shape (res, res) or (res, res, n_maps)
            The image :func:`mne.viz.plot_topomap` draws for the same values.
        """
        values = np.asarray(values, dtype=float)
        if values.shape[0] != len(self.ch_names):
            raise DataFormatError(
                f"{values.shape[0]} values for a layout of {len(self.ch_names)} channels"
            )
        return self.weights @ values


def scalp_layout(ch_names: Sequence[str], res: int = 64) -> ScalpLayout:
    """The (cached) :class:`ScalpLayout` of a channel set on the easycap-M1 head.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
        Channel names with positions in ``easycap-M1``.
    res : int
        Pixels along each side of the image (as ``res`` in
        :func:`mne.viz.plot_topomap`).

    Returns
    -------
    ScalpLayout
        The same object for the same channels and resolution.
    """
    return _scalp_layout(tuple(ch_names), int(res))


@lru_cache(maxsize=16)
def _scalp_layout(ch_names: tuple[str, ...], res: int) -> ScalpLayout:
    from mne.channels.layout import _find_topomap_coords
    from mne.viz.topomap import _make_head_outlines, _setup_interp

    from perceptogram.data.core.montage import make_info

    sphere = np.array(head_sphere())
    info = make_info(list(ch_names), 100.0)
    pos = _find_topomap_coords(info, picks=list(range(len(ch_names))), sphere=sphere)
    outlines = _make_head_outlines(sphere, pos, "head", (0.0, 0.0))
    extent, X, Y, interp = _setup_interp(pos, res, IMAGE_INTERP, EXTRAPOLATE, outlines, BORDER)
    weights = np.stack(
        [interp.set_values(unit)(X, Y) for unit in np.eye(len(ch_names))], axis=-1
    )
    lines = {key: outlines[key] for key in ("head", "nose", "ear_left", "ear_right")}
    return ScalpLayout(ch_names, pos, lines, np.asarray(interp.mask_pts), tuple(extent),
                       (X, Y), weights)
