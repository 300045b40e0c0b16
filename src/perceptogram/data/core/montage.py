"""Electrode positions of a channel set from MNE's template montages.

THINGS-EEG2 was recorded with an EASYCAP 64-channel cap; all its channel names
(the 17 posterior channels of the official release and the 63 of the NICE
re-preprocessing) exist in MNE's ``easycap-M1`` template, which ships inside the
``mne`` package (no download). Other channel sets are placed on the first of
MNE's built-in templates that holds every name (10-05 caps, BioSemi, EGI
HydroCel, ...). Positions are template positions, not digitised ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from perceptogram.errors import ChannelMismatchError

MONTAGE_NAME = "easycap-M1"


def get_montage(name: str = MONTAGE_NAME):
    """Return a fresh ``mne.channels.DigMontage`` for a template (default ``easycap-M1``).

    Returns
    -------
    montage : mne.channels.DigMontage
        Template positions with fiducials (74 for ``easycap-M1``); a new object on
        every call (montages are mutable).
    """
    import mne

    return mne.channels.make_standard_montage(name)


@lru_cache(maxsize=8)
def _template_names(name: str) -> frozenset[str]:
    return frozenset(get_montage(name).ch_names)


def find_montage_name(ch_names: Sequence[str]) -> str:
    """The first MNE template montage that places every channel of ``ch_names``.

    ``easycap-M1`` (the THINGS-EEG2 cap) comes first, then MNE's other built-in
    templates in the order :func:`mne.channels.get_builtin_montages` lists them.

    Raises
    ------
    ChannelMismatchError
        No template holds every name (case-sensitive, e.g. ``"POz"``).
    """
    return _find_montage_name(tuple(ch_names))


@lru_cache(maxsize=32)
def _find_montage_name(ch_names: tuple[str, ...]) -> str:
    import mne

    wanted = set(ch_names)
    names = [MONTAGE_NAME, *(n for n in mne.channels.get_builtin_montages()
                             if n != MONTAGE_NAME and not n.startswith("standard_"))]
    for name in names:
        if wanted <= _template_names(name):
            return name
    unknown = sorted(wanted - _template_names(MONTAGE_NAME))
    raise ChannelMismatchError(
        f"channel(s) {unknown} are not in the {MONTAGE_NAME} montage, and no MNE template "
        "montage holds all the channels; use 10-05 names (e.g. 'POz') to get positions"
    )


def make_info(ch_names: Sequence[str], sfreq: float):
    """MNE measurement info for EEG channels placed on a template montage.

    The montage is ``easycap-M1`` when it holds every name, otherwise the first
    MNE template that does (:func:`find_montage_name`).

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
        No template montage holds every name.
    """
    import mne

    montage = get_montage(find_montage_name(ch_names))
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
        No template montage holds every name.
    """
    info = make_info(ch_names, sfreq=1.0)
    return np.array([ch["loc"][:3] for ch in info["chs"]], dtype=float)
