"""Convert between :class:`~perceptogram.data.core.containers.EEGEpochs` and MNE epochs.

Units: values are passed through unchanged, and the channels are typed
``"eeg"`` so that montages, topomaps and statistics work. MNE assumes Volts for
``"eeg"`` channels, which is right for recordings in volts (``unit == "V"``);
THINGS-EEG2 values are multivariate-noise-normalised (whitened) and therefore
unitless, and simulated values are in units of the noise: the ``Info``
description names the unit (:mod:`perceptogram.data.core.units`). When plotting
such data with MNE, pass ``scalings=1`` (or ``scalings=dict(eeg=1)``) and a unit
label of your choice, otherwise MNE labels the values as microvolts after
multiplying them by 1e6.

Epoch order is image-major: all repetitions of image 0, then of image 1, ...
Each epoch's event code is its image index + 1, and ``event_id`` maps the tag
``"<concept>/<image_file>"`` to it, so ``epochs["00001_aardvark"]`` selects a
concept and ``epochs["aardvark_01b.jpg"]`` an image (MNE's ``/`` tag matching).
When pandas is installed, ``epochs.metadata`` also holds the columns
``image_file``, ``concept`` and (unaveraged) ``repetition``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np

from perceptogram.data.core.containers import EEGEpochs
from perceptogram.data.core.montage import make_info, recording_positions
from perceptogram.data.core.units import eeg_unit, unit_of_channels
from perceptogram.errors import DataFormatError


def units_note(unit: str) -> str:
    """The ``Info`` description of EEG in ``unit`` (a key of ``UNITS``)."""
    if unit == "V":
        return "values in volts"
    return f"values as stored: {eeg_unit(unit).description}; not volts"


def sampling_frequency(times: np.ndarray) -> float:
    """Sampling frequency of evenly spaced sample times.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Seconds.

    Returns
    -------
    sfreq : float
        Hz.

    Raises
    ------
    DataFormatError
        Fewer than two samples, or uneven spacing.
    """
    times = np.asarray(times, dtype=float)
    if times.size < 2:
        raise DataFormatError("at least two sample times are needed to know the sampling "
                              "frequency")
    steps = np.diff(times)
    if not np.allclose(steps, steps.mean(), rtol=1e-6, atol=1e-9) or steps.mean() <= 0:
        raise DataFormatError("sample times are not evenly spaced and increasing")
    return float(1.0 / steps.mean())


def to_epochs(epochs: EEGEpochs, average: bool = True):
    """Wrap EEG epochs in an ``mne.EpochsArray`` (positions: the recording's, else a template).

    Parameters
    ----------
    epochs : EEGEpochs
        ``data`` of shape (n_images, n_repetitions, n_channels, n_times).
    average : bool
        True: one epoch per image, the mean over all its repetitions. False: one
        epoch per image and available repetition (padding left out), image-major.

    Returns
    -------
    mne_epochs : mne.EpochsArray
        Data of shape (n_images, n_channels, n_times) or
        (total repetitions, n_channels, n_times), float64, values unchanged
        (see the module docstring about units); ``tmin`` is ``times[0]``. Rows
        that share a concept and image file get the tag ``concept/file/row<i>``.

    Raises
    ------
    DataFormatError
        Uneven sample times.
    """
    import mne

    sfreq = sampling_frequency(epochs.times)
    tags = [f"{concept}/{name}" for concept, name in zip(epochs.concepts, epochs.image_files)]
    if len(set(tags)) != len(tags):  # rows that show the same image (e.g. groups of epochs)
        tags = [f"{tag}/row{i}" for i, tag in enumerate(tags)]
    info = make_info(epochs.ch_names, sfreq, positions=epochs.positions)
    info["description"] = units_note(epochs.unit)
    n_images, counts = epochs.n_images, epochs.repetition_counts
    if average:
        data = epochs.average()
        image_index = np.arange(n_images)
        repetition = None
    else:
        valid = np.arange(epochs.n_repetitions)[None, :] < counts[:, None]
        data = np.asarray(epochs.data, dtype=np.float64)[valid]
        image_index = np.repeat(np.arange(n_images), counts)
        repetition = np.concatenate([np.arange(c) for c in counts])
    n_times = data.shape[-1]
    events = np.column_stack([np.arange(len(image_index)) * n_times,
                              np.zeros(len(image_index), dtype=int),
                              image_index + 1]).astype(int)
    event_id = {tag: i + 1 for i, tag in enumerate(tags)}
    metadata = _metadata(epochs, image_index, repetition)
    return mne.EpochsArray(data, info, events=events, tmin=float(epochs.times[0]),
                           event_id=event_id, baseline=None, metadata=metadata,
                           verbose=False)


def _metadata(epochs: EEGEpochs, image_index: np.ndarray, repetition: np.ndarray | None):
    if importlib.util.find_spec("pandas") is None:
        return None
    import pandas as pd

    columns = {
        "image_file": [epochs.image_files[i] for i in image_index],
        "concept": [epochs.concepts[i] for i in image_index],
    }
    if repetition is not None:
        columns["repetition"] = repetition
    return pd.DataFrame(columns)


def from_epochs(mne_epochs, image_files: Sequence[str], concepts: Sequence[str],
                n_repetitions: int = 1) -> EEGEpochs:
    """Build :class:`EEGEpochs` from MNE epochs ordered image-major.

    Parameters
    ----------
    mne_epochs : mne.BaseEpochs
        ``n_images * n_repetitions`` epochs: all repetitions of the first image,
        then of the second, ...
    image_files, concepts : sequence of str, length n_images
    n_repetitions : int
        Repetitions per image.

    Returns
    -------
    epochs : EEGEpochs
        ``data`` of shape (n_images, n_repetitions, n_channels, n_times), float64,
        EEG channels only (bad ones included), values unchanged; ``times`` as
        MNE reports them; ``unit`` from the channels
        (:func:`perceptogram.data.core.units.unit_of_channels`), ``positions``
        from the montage stored in the epochs.

    Raises
    ------
    DataFormatError
        The number of epochs is not ``len(image_files) * n_repetitions``.
    """
    import mne

    n_images = len(image_files)
    picks = mne.pick_types(mne_epochs.info, eeg=True, exclude=[])
    if len(picks) == 0:
        raise DataFormatError("the MNE epochs hold no EEG channel")
    data = mne_epochs.get_data(picks=picks)
    if n_repetitions < 1 or data.shape[0] != n_images * n_repetitions:
        raise DataFormatError(
            f"{data.shape[0]} epochs cannot be {n_images} images x {n_repetitions} "
            "repetitions"
        )

    ch_names = tuple(mne_epochs.ch_names[i] for i in picks)
    return EEGEpochs(data=data.reshape(n_images, n_repetitions, *data.shape[1:]),
                     ch_names=ch_names, times=mne_epochs.times.copy(),
                     image_files=image_files, concepts=concepts,
                     unit=unit_of_channels(mne_epochs.info, picks, data)[0],
                     positions=recording_positions(ch_names, mne_epochs.get_montage()))
