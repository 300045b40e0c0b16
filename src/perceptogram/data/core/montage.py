"""Electrode positions of a channel set: the recording's own, else MNE's templates.

THINGS-EEG2 was recorded with an EASYCAP 64-channel cap; all its channel names
(the 17 posterior channels of the official release and the 63 of the NICE
re-preprocessing) exist in MNE's ``easycap-M1`` template, which ships inside the
``mne`` package (no download). Other channel sets are placed on the first of
MNE's built-in templates that holds every name (10-05 caps, BioSemi, EGI
HydroCel, ...).

Any montage works (:func:`place_channels`): each channel takes the position
stored in the recording (digitisation, or a montage the user set on the MNE
object), else its position on a template (names matched exactly, then ignoring
case: EEGLAB's ``FPz`` is ``Fpz``), else none. A channel without a position
(e.g. ``EOG1``) is left out of scalp maps and has no spatial neighbour in cluster
tests; it is never an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    wanted = set(ch_names)
    for name in _template_order():
        if wanted <= _template_names(name):
            return name
    unknown = sorted(wanted - _template_names(MONTAGE_NAME))
    raise ChannelMismatchError(
        f"channel(s) {unknown} are not in the {MONTAGE_NAME} montage, and no MNE template "
        "montage holds all the channels; use 10-05 names (e.g. 'POz') to get positions"
    )


def _template_order() -> list[str]:
    import mne

    return [MONTAGE_NAME, *(n for n in mne.channels.get_builtin_montages()
                            if n != MONTAGE_NAME and not n.startswith("standard_"))]


@lru_cache(maxsize=64)
def _template_head_positions(name: str) -> dict[str, np.ndarray]:
    """Head-coordinate position of every channel of a template (as ``set_montage`` puts it)."""
    import mne

    montage = get_montage(name)
    info = mne.create_info(list(montage.ch_names), 100.0, ch_types="eeg")
    with mne.utils.use_log_level("error"):
        info.set_montage(montage)
    return {ch["ch_name"]: ch["loc"][:3].copy() for ch in info["chs"]}


def _lookup(names: Mapping[str, np.ndarray], name: str) -> np.ndarray | None:
    """Position of ``name`` in ``names``: exact, else the one name equal ignoring case."""
    if name in names:
        return names[name]
    matches = [key for key in names if key.lower() == name.lower()]
    return names[matches[0]] if len(matches) == 1 else None


def _usable(position) -> bool:
    position = np.asarray(position, dtype=float)
    return bool(position.shape == (3,) and np.all(np.isfinite(position))
                and np.any(position != 0))


@dataclass(frozen=True)
class ChannelPlacement:
    """Where each channel of a recording is, and where that came from.

    Attributes
    ----------
    ch_names : tuple of str, length n_channels
    positions : ndarray, shape (n_channels, 3)
        Metres, MNE head coordinates; NaN rows for channels without a position.
    sources : tuple of str, length n_channels
        ``"recording"``, a template name (``"easycap-M1"``) or ``""`` (none).
    """

    ch_names: tuple[str, ...]
    positions: np.ndarray
    sources: tuple[str, ...]

    @property
    def placed(self) -> np.ndarray:
        """Boolean mask, shape (n_channels,), of the channels with a position."""
        return np.all(np.isfinite(self.positions), axis=1)

    @property
    def unplaced(self) -> tuple[str, ...]:
        """Names of the channels without a position."""
        return tuple(n for n, ok in zip(self.ch_names, self.placed) if not ok)

    def describe(self) -> str:
        """One sentence: where the positions come from and which channels have none."""
        counts: dict[str, int] = {}
        for source in self.sources:
            if source:
                counts[source] = counts.get(source, 0) + 1
        parts = [f"{n} from {'the recording' if s == 'recording' else 'the ' + s + ' template'}"
                 for s, n in counts.items()]
        text = "electrode positions: " + ("; ".join(parts) if parts else "none")
        if self.unplaced:
            text += (f"; {', '.join(self.unplaced)} ha{'s' if len(self.unplaced) == 1 else 've'}"
                     " no position (in no template and not stored in the recording): left "
                     "out of scalp maps, and no spatial neighbours in cluster tests")
        return text


def place_channels(ch_names: Sequence[str], stored=None) -> ChannelPlacement:
    """Positions of a channel set: stored in the recording first, else a template.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
    stored : mne.channels.DigMontage, mapping of str to array, ndarray or None
        Positions stored in the recording: a montage in head coordinates (as
        ``epochs.get_montage()`` returns), a name -> (x, y, z) mapping, or an
        array of shape (n_channels, 3) in the order of ``ch_names`` (NaN or zero
        rows: not stored).

    Returns
    -------
    ChannelPlacement
        Each channel's stored position, else its position on the first MNE
        template (``easycap-M1`` first) that holds every remaining name, else on
        the template that holds most of them; channels in no template have none.
    """
    names = [str(n) for n in ch_names]
    positions = np.full((len(names), 3), np.nan)
    sources = [""] * len(names)
    known = _stored_positions(names, stored)
    for i, name in enumerate(names):
        position = known.get(name)
        if position is not None and _usable(position):
            positions[i], sources[i] = position, "recording"
    rest = [i for i, s in enumerate(sources) if not s]
    if rest:
        template = _best_template(tuple(names[i] for i in rest))
        if template is not None:
            table = _template_head_positions(template)
            for i in rest:
                position = _lookup(table, names[i])
                if position is not None:
                    positions[i], sources[i] = position, template
    return ChannelPlacement(tuple(names), positions, tuple(sources))


def recording_positions(ch_names: Sequence[str], stored) -> np.ndarray | None:
    """Positions to carry with a recording's EEG, or None when it stores none.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
    stored : mne.channels.DigMontage, mapping, ndarray or None
        What the recording stores (as in :func:`place_channels`).

    Returns
    -------
    ndarray, shape (n_channels, 3) or None
        :func:`place_channels` positions (stored ones first, templates for the
        rest, NaN for none) when the recording stores a position for at least one
        channel; None otherwise (templates are then found by name where needed).
    """
    placement = place_channels(ch_names, stored)
    if "recording" not in placement.sources:
        return None
    return placement.positions


def _stored_positions(names: list[str], stored) -> dict[str, np.ndarray]:
    if stored is None:
        return {}
    if isinstance(stored, np.ndarray):
        if stored.shape != (len(names), 3):
            raise ValueError(f"stored positions must have shape ({len(names)}, 3), got "
                             f"{stored.shape}")
        return dict(zip(names, stored))
    if isinstance(stored, Mapping):
        table = dict(stored)
    else:  # a DigMontage
        found = stored.get_positions()
        if found.get("coord_frame") not in ("head", None):
            return {}
        table = dict(found["ch_pos"])
    return {name: p for name in names if (p := _lookup(table, name)) is not None}


@lru_cache(maxsize=32)
def _best_template(ch_names: tuple[str, ...]) -> str | None:
    """The first template holding every name, else the one holding most (ignoring case)."""
    best, best_count = None, 0
    for name in _template_order():
        table = _template_head_positions(name)
        count = sum(_lookup(table, n) is not None for n in ch_names)
        if count == len(ch_names):
            return name
        if count > best_count:
            best, best_count = name, count
    return best


def make_info(ch_names: Sequence[str], sfreq: float, positions: np.ndarray | None = None):
    """MNE measurement info for EEG channels, with their positions.

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
    sfreq : float
        Sampling frequency in Hz.
    positions : ndarray, shape (n_channels, 3) or None
        Positions to use (metres, head coordinates; NaN rows: none), e.g.
        ``EEGFeatures.positions``. None: :func:`place_channels` by name (the
        ``easycap-M1`` template when it holds every name).

    Returns
    -------
    info : mne.Info
        Channel type ``"eeg"`` for every channel; channels without a position
        have NaN locations (pick them out before drawing a scalp map).
    """
    import mne

    names = list(ch_names)
    info = mne.create_info(names, float(sfreq), ch_types="eeg")
    if positions is None:
        try:
            montage = get_montage(find_montage_name(names))
        except ChannelMismatchError:
            positions = place_channels(names).positions
        else:
            info.set_montage(montage)
            return info
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (len(names), 3):
        raise ValueError(f"positions must have shape ({len(names)}, 3), got {positions.shape}")
    ch_pos = {n: p for n, p in zip(names, positions) if np.all(np.isfinite(p))}
    if ch_pos:
        montage = mne.channels.make_dig_montage(ch_pos=ch_pos, coord_frame="head")
        info.set_montage(montage, on_missing="ignore")
    return info


def channel_positions(ch_names: Sequence[str]) -> np.ndarray:
    """3-D template positions of the named channels (strict).

    For any channel set, :func:`place_channels` is the tolerant version (stored
    positions first, channels without a position allowed).

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
    table = _template_head_positions(find_montage_name(ch_names))
    return np.array([table[name] for name in ch_names], dtype=float)
