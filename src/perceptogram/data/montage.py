"""Electrode positions of THINGS-EEG2 channels (MNE's ``easycap-M1`` montage).

THINGS-EEG2 was recorded with an EASYCAP 64-channel cap; all its channel names
exist in MNE's ``easycap-M1`` template, which ships inside the ``mne`` package
(no download). Positions are template positions, not digitised ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptogram.errors import ChannelMismatchError

MONTAGE_NAME = "easycap-M1"


def get_montage():
    """Return a fresh ``mne.channels.DigMontage`` for ``easycap-M1``.

    Returns
    -------
    montage : mne.channels.DigMontage
        74 template positions with fiducials; a new object on every call (montages
        are mutable).
    """
    import mne

    return mne.channels.make_standard_montage(MONTAGE_NAME)


def _check_names(ch_names: Sequence[str], montage) -> None:
    unknown = [name for name in ch_names if name not in montage.ch_names]
    if unknown:
        raise ChannelMismatchError(
            f"channel(s) {unknown} are not in the {MONTAGE_NAME} montage; it has "
            f"{', '.join(montage.ch_names)}"
        )


def make_info(ch_names: Sequence[str], sfreq: float):
    """MNE measurement info for EEG channels placed on the ``easycap-M1`` montage.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
        Names as in the montage (case-sensitive, e.g. ``"POz"``).
    sfreq : float
        Sampling frequency in Hz.

    Returns
    -------
    info : mne.Info
        Channel type ``"eeg"`` for every channel, positions in head coordinates.

    Raises
    ------
    ChannelMismatchError
        A name is not in the montage.
    """
    import mne

    montage = get_montage()
    _check_names(ch_names, montage)
    info = mne.create_info(list(ch_names), float(sfreq), ch_types="eeg")
    info.set_montage(montage)
    return info


def channel_positions(ch_names: Sequence[str]) -> np.ndarray:
    """3-D positions of the named channels.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels

    Returns
    -------
    positions : ndarray, shape (n_channels, 3)
        Metres, MNE head coordinates (origin between the pre-auricular points,
        +x towards the right ear, +y towards the nose, +z up).

    Raises
    ------
    ChannelMismatchError
        A name is not in the montage.
    """
    info = make_info(ch_names, sfreq=1.0)
    return np.array([ch["loc"][:3] for ch in info["chs"]], dtype=float)
