"""The unit of EEG values: what a dataset declares and what maps and figures show.

Every dataset declares the unit of its values (``Dataset.unit``, a key of
:data:`UNITS`); the key travels with the EEG containers
(:class:`~perceptogram.data.core.containers.EEGEpochs`,
:class:`~perceptogram.data.core.containers.EEGFeatures`) into the run, so that a
map of a real recording in volts is drawn in microvolts, official THINGS-EEG2 data
are called MVNN-whitened, and simulated data say that they are simulated.

A figure multiplies values by :attr:`EEGUnit.scale` and labels them with
:attr:`EEGUnit.label`; a report sentence uses :attr:`EEGUnit.description`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EEGUnit", "UNITS", "UNKNOWN", "eeg_unit", "unit_of_channels"]


@dataclass(frozen=True)
class EEGUnit:
    """How values in one unit are shown.

    Parameters
    ----------
    key : str
        Name in :data:`UNITS` (what datasets declare and files store).
    label : str
        Short label of displayed values (axes, colour bars, tables), e.g. ``"µV"``.
    scale : float
        Factor from stored values to displayed ones (``1e6`` for volts shown as µV).
    description : str
        ``"<label> (<where it comes from>)"``, for a report or a summary file.
    """

    key: str
    label: str
    scale: float
    description: str

    def display(self, values):
        """Values in display units: ``values * scale`` (arrays or numbers)."""
        return np.multiply(values, self.scale)


#: Unit of values whose unit nobody declared.
UNKNOWN = "unknown"

#: Every unit a dataset can declare, by key.
UNITS: dict[str, EEGUnit] = {
    "V": EEGUnit("V", "µV", 1e6, "µV (recorded in volts)"),
    "uV": EEGUnit("uV", "µV", 1.0, "µV (recorded in microvolts)"),
    "whitened": EEGUnit("whitened", "MVNN-whitened, unitless", 1.0,
                        "MVNN-whitened, unitless (THINGS-EEG2 preprocessing)"),
    "simulated": EEGUnit("simulated", "simulated units", 1.0,
                         "simulated units (single-trial noise SD)"),
    UNKNOWN: EEGUnit(UNKNOWN, "data units", 1.0, "data units (as stored in the files)"),
}


def eeg_unit(key: str) -> EEGUnit:
    """The :class:`EEGUnit` of a key of :data:`UNITS`.

    Raises
    ------
    ValueError
        Unknown key (the message lists the known ones).
    """
    try:
        return UNITS[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown EEG unit {key!r}; known units: {', '.join(UNITS)}") from None


#: Largest robust amplitude (99th percentile of |value|) believable for EEG in volts:
#: 10 mV. Values typed as volts but larger than this are not volts.
MAX_VOLTS = 1e-2


def unit_of_channels(info, picks, data: np.ndarray | None = None) -> tuple[str, str | None]:
    """The unit key of MNE channels, checked against the values when given.

    Parameters
    ----------
    info : mne.Info
    picks : array of int
        The channels read.
    data : ndarray or None
        Their values (any shape); when the channels say volts but the values are far
        too large for EEG in volts (99th percentile of ``|value|`` above 10 mV),
        the unit is ``"unknown"``.

    Returns
    -------
    key : str
        ``"V"`` when every channel is stored in volts (MNE's FIFF unit ``V`` with no
        multiplier), else ``"unknown"``.
    note : str or None
        Why the channels' declared unit was not believed.
    """
    from mne.io.constants import FIFF

    chs = [info["chs"][i] for i in picks]
    volts = all(ch["unit"] == FIFF.FIFF_UNIT_V and ch["unit_mul"] == 0 for ch in chs)
    if not volts:
        return UNKNOWN, None
    if data is not None and data.size:
        level = float(np.percentile(np.abs(np.asarray(data[: min(len(data), 256)])), 99))
        if level > MAX_VOLTS:
            return UNKNOWN, (f"the channels are typed as volts but their values reach "
                             f"{level:.3g} (99th percentile), far beyond EEG in volts: they "
                             "are shown as stored (data units); declare the unit with "
                             "dataset.options: {unit: ...}")
    return "V", None
