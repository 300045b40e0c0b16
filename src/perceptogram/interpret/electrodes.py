"""Channels: left/right mirroring from montage coordinates, named subsets, energy.

Nothing here hard-codes a channel permutation: mirror partners are found from
the electrode positions of the montage, so the same code works for any cap
whose positions MNE knows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptogram.data.core.channels import resolve_channels
from perceptogram.data.core.montage import channel_positions
from perceptogram.errors import ChannelMismatchError

#: The channels of the 17 THINGS-EEG2 posterior channels that belong to the
#: classic 10-20 system.
TEN_TWENTY = ("Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8")

#: A consumer-headset-like posterior layout (four temporo-occipital channels).
CONSUMER_4 = ("P7", "O1", "O2", "P8")

#: Named channel subsets accepted wherever a subset name is.
CHANNEL_SUBSETS: dict[str, tuple[str, ...]] = {
    "10-20": TEN_TWENTY,
    "consumer-4": CONSUMER_4,
}


def mirror_permutation(
    ch_names: Sequence[str],
    positions: np.ndarray | None = None,
    *,
    tolerance: float = 0.01,
) -> np.ndarray:
    """Left/right mirror partner of each channel, from electrode coordinates.

    Each channel is paired with the channel nearest to its position reflected
    through the midsagittal plane (x → −x); midline channels are their own
    partner.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
        Channel names.
    positions : ndarray, shape (n_channels, 3) or None
        Positions in metres, head coordinates (+x right); defaults to the
        ``easycap-M1`` positions from :func:`perceptogram.data.core.montage.channel_positions`.
    tolerance : float
        Largest accepted distance (metres) between a mirrored position and its
        partner.

    Returns
    -------
    perm : ndarray of int, shape (n_channels,)
        ``data[:, perm]`` swaps left and right channels; ``perm[perm]`` is the
        identity.

    Raises
    ------
    ChannelMismatchError
        If a channel has no partner within ``tolerance`` or two channels claim
        the same partner.
    """
    from scipy.spatial.distance import cdist

    ch_names = list(ch_names)
    if positions is None:
        positions = channel_positions(ch_names)
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (len(ch_names), 3):
        raise ChannelMismatchError(
            f"mirror_permutation: positions have shape {positions.shape}, expected "
            f"({len(ch_names)}, 3)"
        )
    distances = cdist(positions * np.array([-1.0, 1.0, 1.0]), positions)
    perm = np.argmin(distances, axis=1)
    far = distances[np.arange(len(ch_names)), perm] > tolerance
    if far.any():
        raise ChannelMismatchError(
            "mirror_permutation: no mirror partner within "
            f"{tolerance * 1000:.0f} mm for {[ch_names[i] for i in np.flatnonzero(far)]}; "
            "the montage is not left/right symmetric over these channels"
        )
    if not np.array_equal(perm[perm], np.arange(len(ch_names))):
        raise ChannelMismatchError(
            "mirror_permutation: mirror pairs are not one-to-one for channels "
            f"{[ch_names[i] for i in np.flatnonzero(perm[perm] != np.arange(len(perm)))]}"
        )
    return perm


def channel_indices(subset: str | Sequence[str], ch_names: Sequence[str]) -> np.ndarray:
    """Indices of a named or listed channel subset.

    Parameters
    ----------
    subset : str or sequence of str
        A key of :data:`CHANNEL_SUBSETS` (``"10-20"``, ``"consumer-4"``) or a
        list of channel names.
    ch_names : sequence of str
        Channels of the data, in order.

    Returns
    -------
    ndarray of int, shape (n_selected,)
        Positions in ``ch_names``, in the data's channel order.
    """
    if isinstance(subset, str):
        if subset not in CHANNEL_SUBSETS:
            raise KeyError(
                f"unknown channel subset '{subset}'; named subsets are "
                f"{sorted(CHANNEL_SUBSETS)} (or pass a list of channel names)"
            )
        subset = CHANNEL_SUBSETS[subset]
    return resolve_channels(ch_names, subset)


def pattern_energy(maps: np.ndarray) -> np.ndarray:
    """Energy of channel × time maps per channel (sum of squares over time).

    Parameters
    ----------
    maps : ndarray, shape (..., n_channels, n_times)

    Returns
    -------
    ndarray, shape (..., n_channels)
    """
    maps = np.asarray(maps, dtype=float)
    return np.sum(maps**2, axis=-1)
