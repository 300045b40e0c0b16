"""Which channels of any montage are spatial neighbours, for cluster tests.

Cluster permutation tests join significant samples that are neighbours in time
and space. Real montages break the usual triangulation: 1-3 channels give no
scalp neighbourhood at all, sensors nearly on a circle (a Muse headband) make
Qhull refuse the Delaunay triangulation, and channels outside every template
have no position. :func:`channel_neighbours` copes with each case and says how
it decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perceptogram.data.core.montage import make_info, place_channels
from perceptogram.errors import DataFormatError

__all__ = ["MIN_SPATIAL_CHANNELS", "ChannelNeighbours", "channel_neighbours"]

#: Fewest placed channels for which scalp neighbours are looked for; with fewer,
#: clusters extend over time only.
MIN_SPATIAL_CHANNELS = 4


@dataclass(frozen=True)
class ChannelNeighbours:
    """Which channels are spatial neighbours in cluster tests, and how that was found.

    Attributes
    ----------
    adjacency : ndarray of bool, shape (n_channels, n_channels)
        Symmetric, diagonal set.
    method : str
        ``"delaunay"`` (MNE's triangulation of the positions, long edges removed),
        ``"distance"`` (channels within ``max_distance``: the triangulation failed,
        e.g. sensors on a circle or a line) or ``"none"`` (fewer than
        :data:`MIN_SPATIAL_CHANNELS` channels with a position: clusters over time
        only).
    note : str
        One sentence for a user.
    """

    adjacency: np.ndarray
    method: str
    note: str


def channel_neighbours(ch_names: Sequence[str], positions: np.ndarray | None = None, *,
                       max_distance: float = 0.07) -> ChannelNeighbours:
    """Spatial neighbours of the channels of any montage.

    Channels are neighbours by MNE's Delaunay triangulation of the positions
    (:func:`mne.channels.find_ch_adjacency`), minus the triangulation's edges
    longer than ``max_distance`` (e.g. P3–P4 across the border of the 17
    posterior channels). When the triangulation fails (Qhull refuses sensors
    nearly on a circle or on a line), channels closer than ``max_distance`` are
    neighbours. With fewer than :data:`MIN_SPATIAL_CHANNELS` placed channels, no
    channel has a neighbour. Channels without a position never have one.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
    positions : ndarray, shape (n_channels, 3) or None
        Metres, head coordinates, NaN rows for channels without a position
        (``EEGFeatures.positions``); None: template positions by name
        (:func:`perceptogram.data.core.montage.place_channels`).
    max_distance : float
        Longest neighbour edge, in metres (3-D distance).

    Returns
    -------
    ChannelNeighbours
    """
    from scipy.spatial.distance import cdist

    names = list(ch_names)
    if positions is None:
        positions = place_channels(names).positions
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (len(names), 3):
        raise DataFormatError(f"positions must have shape ({len(names)}, 3), got "
                              f"{positions.shape}")
    placed = np.flatnonzero(np.all(np.isfinite(positions), axis=1))
    adjacency = np.eye(len(names), dtype=bool)
    unplaced = [names[i] for i in range(len(names)) if i not in set(placed)]
    suffix = (f"; {', '.join(unplaced)} ha{'s' if len(unplaced) == 1 else 've'} no position "
              "and no neighbour") if unplaced else ""
    if len(placed) < MIN_SPATIAL_CHANNELS:
        return ChannelNeighbours(adjacency, "none", (
            f"{len(placed)} channel(s) with a position (fewer than {MIN_SPATIAL_CHANNELS}): "
            "clusters extend over time only, each channel on its own" + suffix))
    sub = positions[placed]
    near = cdist(sub, sub) <= max_distance
    import mne
    from scipy.spatial import QhullError

    placed_names = [names[i] for i in placed]
    info = make_info(placed_names, 100.0, positions=sub)
    try:
        with mne.utils.use_log_level("error"):
            ch_adjacency, found = mne.channels.find_ch_adjacency(info, ch_type="eeg")
    except (QhullError, ValueError) as exc:  # Qhull refuses cocircular / collinear sites
        linked = near
        method = "distance"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:60]
        note = (f"neighbours: channels within {max_distance * 100:.0f} cm (the sensors "
                f"cannot be triangulated, e.g. nearly on a circle or a line: {reason})")
    else:
        if list(found) != placed_names:
            raise DataFormatError(f"channel adjacency came back for {found}, expected "
                                  f"{placed_names}")
        linked = np.asarray(ch_adjacency.toarray(), dtype=bool) & near
        method = "delaunay"
        note = (f"neighbours: Delaunay triangulation of the {len(placed)} placed channels, "
                f"edges up to {max_distance * 100:.0f} cm")
    adjacency[np.ix_(placed, placed)] = linked | np.eye(len(placed), dtype=bool)
    if not (linked & ~np.eye(len(placed), dtype=bool)).any():
        note += "; no two channels are that close: clusters extend over time only"
    return ChannelNeighbours(adjacency, method, note + suffix)
