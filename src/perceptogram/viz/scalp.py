"""Scalp geometry of a channel set, computed once and reused by every topomap.

A :class:`ScalpLayout` places the channels on the flattened head and holds one
interpolation matrix: the image of any channel values is one matrix product,
so a grid of 30 maps costs one interpolation set-up, not 30.

How a layout is built (for any montage, from one channel upward):

1. **Positions.** Positions stored with the recording are used when given;
   otherwise each channel is looked up in MNE's template montages
   (``easycap-M1`` first, then the template that holds most of the names,
   case-insensitively, so EEGLAB's ``FPz`` is found). Channels with no
   position (e.g. ``EOG1``) are left out and listed in
   :attr:`ScalpLayout.missing`.
2. **Projection.** Azimuthal equidistant projection about the vertex of a
   sphere fitted to the whole ``easycap-M1`` cap (or, for positions from a
   recording, to those positions when they define a head-sized sphere): the
   distance from the centre of the map is proportional to the angle from the
   vertex, and the head outline (radius of the sphere) is the level of the
   ears and the nasion, as in :func:`mne.viz.plot_topomap`. Sensors below that
   level (TP9/TP10 of a Muse headband or of a 63-channel cap, EOG electrodes
   at the eyes) would fall outside the drawn head: the outline, nose and ears
   are then drawn on a circle just outside the outermost sensor, so that every
   sensor lies on the drawn head (as EEGLAB's ``topoplot`` does) and the colour
   never leaves it.
3. **Triangulation that copes with any montage.** The sensors are
   triangulated together with a ring of extra points placed outside every
   sensor and the head outline. The ring makes the point set two-dimensional
   and never co-circular, whatever the sensors (a line of three, four sensors
   on a circle such as the Muse headband's TP9, AF7, AF8, TP10); no jitter is
   added. Each ring point takes the mean of the sensors it is joined to
   (the nearest sensor when it is joined to none); sensors at the same place
   share their mean.
4. **Interpolation.** Clough-Tocher (:class:`scipy.interpolate.
   CloughTocher2DInterpolator`) over that triangulation, always clipped to the
   drawn head. Sensors around the whole head (their convex hull holds the
   head's centre well inside it: 63-channel caps, EEGLAB's 32 channels, the
   four Muse sensors) colour the whole head, as MNE's ``extrapolate="head"``
   does for EEG; sensors over part of the head (THINGS-EEG2's 17 posterior
   channels) colour only their convex hull widened by half the typical sensor
   spacing (at most 12 % of the head radius), as ``extrapolate="local"`` does:
   no colour far from every sensor.

Every step is linear in the channel values, so the layout stores the images
of the unit vectors once (``weights``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from perceptogram.errors import DataFormatError

#: Fewest positioned channels for which a scalp map is drawn; below it,
#: figures show time courses per channel instead.
MIN_SCALP_CHANNELS = 4
#: Template montage tried first (the THINGS-EEG2 cap).
FIRST_TEMPLATE = "easycap-M1"
#: Positions farther than this from the head centre (metres) are not on a head.
_MAX_RADIUS_M = 0.3
#: Sensors up to this far from the centre (fraction of the head radius) are drawn on
#: the head circle (the 10-20 circumference lies at 1.02); farther ones enlarge it.
_ON_OUTLINE = 1.05
#: Gap between the outermost sensor and an enlarged head outline (fraction).
_OUTLINE_GAP = 0.04
#: The whole head is coloured when the sensors' hull holds the head's centre at least
#: this far (fraction of the radius) inside its border.
_WHOLE_HEAD_DEPTH = 0.25


@lru_cache(maxsize=1)
def head_sphere() -> tuple[float, float, float, float]:
    """Sphere ``(x, y, z, radius)`` in metres fitted to the whole easycap-M1 cap.

    A posterior-only cap cannot define the head by itself; fitting the sphere
    to every position of the full montage puts the head outline where the
    head is, with the 17 posterior channels at its back.
    """
    import mne

    montage = mne.channels.make_standard_montage(FIRST_TEMPLATE)
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
        Every channel of the data, in the data's order.
    picks : ndarray of int, shape (n_placed,)
        Indices of the channels that have a position (drawn on the head).
    missing : tuple of str
        Channels without a position (left out of scalp maps).
    source : str
        Where the positions came from: ``"recording"`` or a template name.
    pos : ndarray, shape (n_placed, 2)
        Positions of the placed channels on the map (metres, +y = nose).
    centre : tuple of float
        ``(x, y)`` of the head's centre on the map.
    radius : float
        Radius of the drawn head outline (metres): the head sphere's radius, or
        just outside the outermost sensor when sensors lie farther out.
    outlines : dict of str to (ndarray, ndarray)
        Head, nose and ears as ``(x, y)`` lines.
    clip : ndarray, shape (n_vertices, 2)
        Polygon the image is clipped to, inside the head outline.
    whole_head : bool
        Whether the sensors surround the head and colour all of it (else only
        near their hull).
    sphere_radius : float
        Radius of the head sphere (the level of the nasion and the ears);
        :attr:`radius` is larger when sensors lie below that level.
    extent : tuple of float
        ``(xmin, xmax, ymin, ymax)`` of the image grid.
    grid : tuple of ndarray, each shape (res, res)
        ``(X, Y)`` coordinates of the image pixels.
    weights : ndarray, shape (res, res, n_placed)
        Interpolation matrix: the image of values ``v`` of the placed channels
        is ``weights @ v`` (NaN outside the triangulation).
    """

    ch_names: tuple[str, ...]
    picks: np.ndarray
    missing: tuple[str, ...]
    source: str
    pos: np.ndarray
    centre: tuple[float, float]
    radius: float
    outlines: dict
    clip: np.ndarray
    whole_head: bool
    sphere_radius: float
    extent: tuple[float, float, float, float]
    grid: tuple[np.ndarray, np.ndarray]
    weights: np.ndarray

    @property
    def n_placed(self) -> int:
        """Number of channels drawn on the head."""
        return len(self.picks)

    @property
    def drawable(self) -> bool:
        """Whether enough channels have positions for a scalp map."""
        return self.n_placed >= MIN_SCALP_CHANNELS

    @property
    def enlarged(self) -> bool:
        """Whether the head is drawn larger than the sphere to hold every sensor."""
        return self.radius > self.sphere_radius

    @property
    def placed_names(self) -> tuple[str, ...]:
        """Names of the channels drawn on the head."""
        return tuple(self.ch_names[i] for i in self.picks)

    def image(self, values: np.ndarray) -> np.ndarray:
        """Interpolated scalp image of channel values.

        Parameters
        ----------
        values : ndarray, shape (n_channels,) or (n_channels, n_maps)
            One value per channel of :attr:`ch_names` (channels without a
            position are ignored).

        Returns
        -------
        ndarray, shape (res, res) or (res, res, n_maps)
        """
        values = np.asarray(values, dtype=float)
        if values.shape[0] != len(self.ch_names):
            raise DataFormatError(
                f"{values.shape[0]} values for a layout of {len(self.ch_names)} channels"
            )
        return self.weights @ values[self.picks]


def scalp_layout(ch_names: Sequence[str], positions: np.ndarray | None = None,
                 res: int = 64) -> ScalpLayout:
    """The (cached) :class:`ScalpLayout` of a channel set.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
    positions : ndarray, shape (n_channels, 3), or None
        Sensor positions stored with the recording (metres, MNE head
        coordinates; NaN rows: no position). None: template positions.
    res : int
        Pixels along each side of the image.

    Returns
    -------
    ScalpLayout
        The same object for the same channels, positions and resolution. A
        layout may place fewer than :data:`MIN_SCALP_CHANNELS` channels (see
        :attr:`ScalpLayout.drawable`); it never raises for a montage.

    Raises
    ------
    DataFormatError
        ``positions`` has the wrong shape.
    """
    names = tuple(str(c) for c in ch_names)
    key = None
    if positions is not None:
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (len(names), 3):
            raise DataFormatError(
                f"positions must have shape ({len(names)}, 3), got {positions.shape}")
        key = positions.tobytes()
    return _scalp_layout(names, key, int(res))


def sensor_positions(ch_names: Sequence[str], positions: np.ndarray | None = None
                     ) -> tuple[np.ndarray, str]:
    """3-D position of each channel, NaN where none is known.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
    positions : ndarray, shape (n_channels, 3), or None
        Positions stored with the recording; used when at least one row is a
        position on a head (finite, within 0.3 m of the head's centre).

    Returns
    -------
    positions : ndarray, shape (n_channels, 3)
        Metres, MNE head coordinates; NaN rows for channels without a position.
    source : str
        ``"recording"`` or the name of the template montage used.
    """
    if positions is not None:
        positions = np.array(positions, dtype=float)
        centre = np.asarray(head_sphere()[:3])
        distance = np.linalg.norm(positions - centre, axis=1)
        usable = np.isfinite(distance) & (distance > 0) & (distance < _MAX_RADIUS_M)
        positions[~usable] = np.nan
        if usable.any():
            return positions, "recording"
    return _template_positions(tuple(str(c) for c in ch_names))


@lru_cache(maxsize=32)
def _template_positions(ch_names: tuple[str, ...]) -> tuple[np.ndarray, str]:
    """Positions from the template that places most channels (easycap-M1 on ties)."""
    import mne

    best: tuple[int, str, dict[str, np.ndarray]] = (-1, FIRST_TEMPLATE, {})
    names = [FIRST_TEMPLATE, *(n for n in mne.channels.get_builtin_montages()
                               if n != FIRST_TEMPLATE)]
    for name in names:
        found = _template_lookup(name)
        count = sum(c.lower() in found for c in ch_names)
        if count > best[0]:
            best = (count, name, found)
        if count == len(ch_names):
            break
    _, name, found = best
    out = np.array([found.get(c.lower(), (np.nan,) * 3) for c in ch_names], dtype=float)
    return out.reshape(len(ch_names), 3), name


@lru_cache(maxsize=64)
def _template_lookup(name: str) -> dict[str, np.ndarray]:
    """Lower-case channel name -> head-coordinate position (metres) in a template."""
    import mne

    montage = mne.channels.make_standard_montage(name)
    info = mne.create_info(montage.ch_names, 100.0, "eeg")
    info.set_montage(montage)
    return {ch["ch_name"].lower(): np.array(ch["loc"][:3], dtype=float) for ch in info["chs"]}


def project_to_plane(positions: np.ndarray,
                     sphere: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Azimuthal equidistant projection of 3-D sensor positions onto the map.

    Parameters
    ----------
    positions : ndarray, shape (n, 3)
        Metres, MNE head coordinates.
    sphere : tuple of float or None
        ``(x, y, z, radius)``; default :func:`head_sphere`.

    Returns
    -------
    ndarray, shape (n, 2)
        Map coordinates (metres): the vertex of the sphere at its centre
        ``(x, y)``, points at the sphere's equator on the circle of its radius.
    """
    x0, y0, z0, radius = head_sphere() if sphere is None else sphere
    rel = np.asarray(positions, dtype=float) - (x0, y0, z0)
    norm = np.linalg.norm(rel, axis=1)
    polar = np.arccos(np.clip(rel[:, 2] / np.where(norm > 0, norm, 1.0), -1.0, 1.0))
    azimuth = np.arctan2(rel[:, 1], rel[:, 0])
    r = radius * polar / (np.pi / 2)
    return np.column_stack([x0 + r * np.cos(azimuth), y0 + r * np.sin(azimuth)])


def head_outlines(centre: tuple[float, float], radius: float
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Head circle, nose and ears around ``centre`` (nose towards +y)."""
    cx, cy = centre
    angle = np.linspace(0, 2 * np.pi, 181)
    head = (cx + radius * np.cos(angle), cy + radius * np.sin(angle))
    half = np.deg2rad(9.0)
    nose = (cx + radius * np.array([-np.sin(half), 0.0, np.sin(half)]),
            cy + radius * np.array([np.cos(half), 1.12, np.cos(half)]))
    t = np.linspace(-np.pi / 2, np.pi / 2, 25)
    ear_dx = radius * (1.0 + 0.08 * np.cos(t)) - radius * 0.005
    ear_dy = radius * (0.05 + 0.16 * np.sin(t))
    return {"head": head, "nose": nose,
            "ear_left": (cx - ear_dx, cy + ear_dy), "ear_right": (cx + ear_dx, cy + ear_dy)}


@lru_cache(maxsize=16)
def _scalp_layout(ch_names: tuple[str, ...], positions_key: bytes | None, res: int
                  ) -> ScalpLayout:
    positions = (None if positions_key is None else
                 np.frombuffer(positions_key, dtype=float).reshape(len(ch_names), 3))
    pos3, source = sensor_positions(ch_names, positions)
    placed = np.all(np.isfinite(pos3), axis=1)
    picks = np.flatnonzero(placed)
    missing = tuple(c for c, ok in zip(ch_names, placed) if not ok)
    sphere = head_sphere() if source != "recording" else _recording_sphere(pos3[placed])
    x0, y0, _, radius = sphere
    centre = (x0, y0)
    if not len(picks):
        return ScalpLayout(ch_names, picks, missing, source, np.zeros((0, 2)), centre, radius,
                           head_outlines(centre, radius), np.zeros((0, 2)), False, radius,
                           (x0 - radius, x0 + radius, y0 - radius, y0 + radius),
                           (np.zeros((res, res)), np.zeros((res, res))),
                           np.zeros((res, res, 0)))
    pos = project_to_plane(pos3[picks], sphere)
    sphere_radius, radius = radius, _drawn_radius(pos, centre, radius)
    spacing = _typical_spacing(pos, radius)
    margin = min(0.5 * spacing, 0.12 * radius)
    whole = _surrounds(pos, centre, _WHOLE_HEAD_DEPTH * radius)
    clip = _clip_polygon(pos, margin, centre, radius, whole)
    extent = (x0 - radius, x0 + radius, y0 - radius, y0 + radius)
    X, Y = np.meshgrid(np.linspace(extent[0], extent[1], res),
                       np.linspace(extent[2], extent[3], res))
    weights = _interpolation_weights(pos, centre, radius, spacing, X, Y)
    return ScalpLayout(ch_names, picks, missing, source, pos, centre, radius,
                       head_outlines(centre, radius), clip, whole, sphere_radius, extent,
                       (X, Y), weights)


def _drawn_radius(pos: np.ndarray, centre: tuple[float, float], radius: float) -> float:
    """Radius of the drawn head: the sphere's, or just outside the outermost sensor.

    Parameters
    ----------
    pos : ndarray, shape (n, 2)
        Projected sensor positions.
    centre : tuple of float
    radius : float
        Radius of the head sphere (the level of the nasion and the ears).

    Returns
    -------
    float
        ``radius`` when every sensor lies within 5 % outside it (the 10-20
        circumference lies on the outline, as in MNE's maps); otherwise the
        outermost sensor's distance plus 4 %.
    """
    outer = float(np.linalg.norm(pos - np.asarray(centre), axis=1).max()) if len(pos) else 0.0
    if outer <= _ON_OUTLINE * radius:
        return float(radius)
    return outer * (1.0 + _OUTLINE_GAP)


def _surrounds(pos: np.ndarray, centre: tuple[float, float], depth: float) -> bool:
    """Whether the sensors' convex hull holds ``centre`` at least ``depth`` inside."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(pos)
    except (QhullError, ValueError):  # fewer than 3 points, or all on a line
        return False
    # facets: normal . x + offset <= 0 inside; the distance inside is -(normal . c + offset)
    inside = -(hull.equations[:, :2] @ np.asarray(centre) + hull.equations[:, 2])
    return bool(inside.min() >= depth)


def _recording_sphere(positions: np.ndarray) -> tuple[float, float, float, float]:
    """Sphere of a recording's own positions (least squares), else the template's.

    Digitised or exported positions need not share the template's origin (EEGLAB
    puts its sphere's centre at 0); a fit is kept when at least 8 sensors give a
    head-sized sphere (radius 6 to 12 cm) near the template's centre.
    """
    default = head_sphere()
    if len(positions) < 8:
        return default
    design = np.column_stack([2 * positions, np.ones(len(positions))])
    target = np.sum(positions ** 2, axis=1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    centre = solution[:3]
    radius = float(np.sqrt(max(solution[3] + centre @ centre, 0.0)))
    near = np.linalg.norm(centre - np.asarray(default[:3])) < 0.05
    if not (0.06 <= radius <= 0.12 and near):
        return default
    return (float(centre[0]), float(centre[1]), float(centre[2]), radius)


def _typical_spacing(pos: np.ndarray, radius: float) -> float:
    """Median distance from each sensor to its nearest distinct neighbour."""
    if len(pos) < 2:
        return 0.25 * radius
    distance = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    distance[distance < 1e-9] = np.inf
    nearest = distance.min(axis=1)
    nearest = nearest[np.isfinite(nearest)]
    return float(np.median(nearest)) if nearest.size else 0.25 * radius


def _clip_polygon(pos: np.ndarray, margin: float, centre: tuple[float, float],
                  radius: float, whole: bool) -> np.ndarray:
    """The head's disc, or the sensors' hull widened by ``margin`` cut to that disc.

    Returns the vertices counter-clockwise, shape (n_vertices, 2).
    """
    from scipy.spatial import ConvexHull

    angle = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    circle = np.column_stack([centre[0] + radius * np.cos(angle),
                              centre[1] + radius * np.sin(angle)])
    if whole:
        return circle
    angle = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    disc = margin * np.column_stack([np.cos(angle), np.sin(angle)])
    points = (pos[:, None, :] + disc[None]).reshape(-1, 2)
    hull = points[ConvexHull(points).vertices]
    return _intersect_convex(hull, circle)


def _intersect_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Intersection of two convex counter-clockwise polygons (Sutherland-Hodgman)."""
    out = subject
    for a, b in zip(clip, np.roll(clip, -1, axis=0)):
        edge = b - a
        side = edge[0] * (out[:, 1] - a[1]) - edge[1] * (out[:, 0] - a[0])  # >= 0: inside
        kept = []
        for i in range(len(out)):
            p, q = out[i], out[(i + 1) % len(out)]
            sp, sq = side[i], side[(i + 1) % len(out)]
            if sp >= 0:
                kept.append(p)
            if (sp >= 0) != (sq >= 0):
                kept.append(p + (q - p) * (sp / (sp - sq)))
        if not kept:
            return np.zeros((0, 2))
        out = np.asarray(kept)
    return out


def _interpolation_weights(pos: np.ndarray, centre: tuple[float, float], radius: float,
                           spacing: float, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Images of the unit vectors of the placed channels, shape (res, res, n_placed)."""
    from scipy.interpolate import CloughTocher2DInterpolator
    from scipy.spatial import Delaunay

    # sensors at the same place become one node carrying their mean
    nodes, inverse = np.unique(np.round(pos, 9), axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    share = np.zeros((len(nodes), len(pos)))
    share[inverse, np.arange(len(pos))] = 1.0
    share /= share.sum(axis=1, keepdims=True)
    # a ring outside every sensor and the head outline
    reach = max(radius, float(np.linalg.norm(nodes - centre, axis=1).max())) + spacing
    n_ring = int(np.clip(np.ceil(2 * np.pi * reach / spacing), 12, 72))
    angle = np.linspace(0, 2 * np.pi, n_ring, endpoint=False)
    ring = np.column_stack([centre[0] + reach * np.cos(angle),
                            centre[1] + reach * np.sin(angle)])
    tri = Delaunay(np.concatenate([nodes, ring]))
    n = len(nodes)
    indptr, indices = tri.vertex_neighbor_vertices
    border = np.zeros((n_ring, n))
    for k in range(n_ring):
        neighbours = indices[indptr[n + k]:indptr[n + k + 1]]
        neighbours = neighbours[neighbours < n]
        if neighbours.size == 0:
            neighbours = [int(np.argmin(np.linalg.norm(nodes - ring[k], axis=1)))]
        border[k, neighbours] = 1.0 / len(neighbours)
    node_values = np.vstack([np.eye(n), border]) @ share  # (n_nodes, n_placed)
    interpolator = CloughTocher2DInterpolator(tri, node_values)
    images = interpolator(X, Y)  # (res, res, n_placed)
    return np.asarray(images, dtype=float).reshape(*X.shape, len(pos))
