"""Typed containers that carry EEG arrays together with their axes.

Channel names and sample times always travel with the data (DESIGN.md): every
array here is paired with the labels of its axes, and the constructors check
that the two agree. So do the facts a real recording adds: how many epochs each
picture kept (``repetition_counts``), which rows of the dataset's picture table a
subject has (``image_index``), the unit of the values (``unit``, a key of
:data:`perceptogram.data.core.units.UNITS`) and the electrode positions stored in
the recording (``positions``).

Uneven repetitions. Real recordings lose epochs to artifact rejection, so
pictures have different numbers of epochs. :class:`EEGEpochs` keeps the layout
``(n_images, n_repetitions, n_channels, n_times)`` with ``n_repetitions`` the
largest count: the repetitions of picture *i* are ``data[i, :repetition_counts[i]]``
and the slots after them hold NaN (padding, never read). Averaging
(:meth:`EEGEpochs.average`) uses every available repetition of each picture;
nothing is cut to the smallest count. Data with equal counts (THINGS-EEG2) have no
padding and stay memory-mapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perceptogram.data.core.units import UNKNOWN, eeg_unit
from perceptogram.errors import ChannelMismatchError, DataFormatError

#: Sample times closer than this (seconds) are the same sample.
TIME_TOLERANCE = 1e-6


def check_same_axes(train: EEGEpochs | EEGFeatures, test: EEGEpochs | EEGFeatures,
                    where: str | None = None) -> None:
    """Refuse training and test data whose channels or sample times differ.

    The one check of the two splits' axes (every dataset format and
    :func:`~perceptogram.data.core.prepare.prepare` call it).

    Parameters
    ----------
    train, test : EEGEpochs or EEGFeatures
        Anything with ``ch_names`` and ``times``.
    where : str or None
        Where the data come from (a folder), to start the message with.

    Raises
    ------
    perceptogram.errors.ChannelMismatchError
        When the channel names (in order) differ, or the sample times differ by
        more than :data:`TIME_TOLERANCE`.
    """
    prefix = f"{where}: " if where else ""
    if tuple(train.ch_names) != tuple(test.ch_names):
        raise ChannelMismatchError(f"{prefix}training channels {list(train.ch_names)} differ "
                                   f"from test channels {list(test.ch_names)}")
    train_times, test_times = np.asarray(train.times), np.asarray(test.times)
    if train_times.shape != test_times.shape or not np.allclose(
            train_times, test_times, rtol=0, atol=TIME_TOLERANCE):
        raise ChannelMismatchError(f"{prefix}training and test data have different sample "
                                   "times")
    if train.unit != test.unit:
        raise DataFormatError(f"{prefix}the training split is in {train.unit!r} and the test "
                              f"split in {test.unit!r}")


def _check_axes(data: np.ndarray, ch_names: tuple[str, ...], times: np.ndarray,
                ch_axis: int, time_axis: int, what: str) -> None:
    if data.shape[ch_axis] != len(ch_names):
        raise ValueError(
            f"{what}: data has {data.shape[ch_axis]} channels on axis {ch_axis} "
            f"but {len(ch_names)} channel names were given"
        )
    if data.shape[time_axis] != len(times):
        raise ValueError(
            f"{what}: data has {data.shape[time_axis]} samples on axis {time_axis} "
            f"but {len(times)} sample times were given"
        )
    if len(set(ch_names)) != len(ch_names):
        raise ValueError(f"{what}: duplicate channel names {list(ch_names)}")


def _row_labels(obj, names: tuple[str, ...], n_rows: int, what: str) -> None:
    for name in names:
        labels = getattr(obj, name)
        if len(labels) != n_rows:
            raise ValueError(f"{what}: {len(labels)} {name} for {n_rows} rows")


def _image_index(index, n_rows: int, what: str) -> np.ndarray:
    """Validated ``image_index`` (default: the rows are the whole table, in order)."""
    if index is None:
        return np.arange(n_rows, dtype=np.int64)
    index = np.asarray(index)
    if index.shape != (n_rows,) or (n_rows and (index.dtype.kind not in "iu"
                                                or index.min() < 0)):
        raise ValueError(f"{what}: image_index must hold {n_rows} non-negative integers, "
                         f"got shape {index.shape} and dtype {index.dtype}")
    if len(np.unique(index)) != n_rows:
        raise ValueError(f"{what}: image_index names a picture twice")
    return index.astype(np.int64, copy=False)


def _positions(positions, n_channels: int, what: str) -> np.ndarray | None:
    if positions is None:
        return None
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (n_channels, 3):
        raise ValueError(f"{what}: positions must have shape ({n_channels}, 3), got "
                         f"{positions.shape}")
    return positions


def _counts(counts, n_rows: int, n_max: int | None, what: str) -> np.ndarray | None:
    if counts is None:
        return None
    counts = np.asarray(counts)
    if counts.shape != (n_rows,) or (n_rows and counts.dtype.kind not in "iu"):
        raise ValueError(f"{what}: repetition_counts must hold {n_rows} integers, got shape "
                         f"{counts.shape} and dtype {counts.dtype}")
    if n_rows and (counts.min() < 1 or (n_max is not None and counts.max() > n_max)):
        limit = "" if n_max is None else f" and at most {n_max}"
        raise ValueError(f"{what}: repetition_counts must be at least 1{limit}, got "
                         f"{counts.min()} to {counts.max()}")
    return counts.astype(np.int64, copy=False)


@dataclass(frozen=True)
class EEGEpochs:
    """Epoched EEG of one split, THINGS-EEG2 layout.

    Parameters
    ----------
    data : ndarray, shape (n_images, n_repetitions, n_channels, n_times)
        EEG in the unit named by ``unit``. With uneven counts, ``n_repetitions``
        is the largest count and the slots of a picture after its count hold NaN.
    ch_names : tuple of str, length n_channels
        Channel names in the order of axis 2.
    times : ndarray, shape (n_times,)
        Sample times in seconds relative to stimulus onset.
    image_files : tuple of str, length n_images
        Image file name of each row (e.g. ``"aardvark_01b.jpg"``).
    concepts : tuple of str, length n_images
        Concept of each row (e.g. ``"00001_aardvark"``); the unit of
        generalisation for cross-validation.
    repetition_counts : ndarray of int, shape (n_images,) or None
        Valid repetitions of each row (1 to ``n_repetitions``); None: every row
        has ``n_repetitions``.
    image_index : ndarray of int, shape (n_images,) or None
        Position of each row in the dataset's picture table of this split
        (:meth:`perceptogram.data.formats.base.Dataset.images`); a subject that
        lost every epoch of a picture has no row for it. None: the rows are the
        whole table, in order.
    unit : str
        Key of :data:`perceptogram.data.core.units.UNITS` (``"V"``, ``"whitened"``,
        ``"simulated"``...).
    positions : ndarray, shape (n_channels, 3) or None
        Electrode positions stored in the recording (metres, MNE head
        coordinates), NaN rows for channels without one; None: positions come
        from MNE's templates by channel name
        (:func:`perceptogram.data.core.montage.place_channels`).
    """

    data: np.ndarray
    ch_names: tuple[str, ...]
    times: np.ndarray
    image_files: tuple[str, ...]
    concepts: tuple[str, ...]
    repetition_counts: np.ndarray | None = field(default=None, repr=False)
    image_index: np.ndarray | None = field(default=None, repr=False)
    unit: str = UNKNOWN
    positions: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.data.ndim != 4:
            raise ValueError(
                "EEGEpochs.data must have shape (n_images, n_repetitions, n_channels, "
                f"n_times); got {self.data.ndim} dimensions {self.data.shape}"
            )
        object.__setattr__(self, "ch_names", tuple(self.ch_names))
        object.__setattr__(self, "image_files", tuple(self.image_files))
        object.__setattr__(self, "concepts", tuple(self.concepts))
        object.__setattr__(self, "times", np.asarray(self.times, dtype=float))
        _check_axes(self.data, self.ch_names, self.times, 2, 3, "EEGEpochs")
        n = self.data.shape[0]
        _row_labels(self, ("image_files", "concepts"), n, "EEGEpochs")
        counts = _counts(self.repetition_counts, n, self.data.shape[1], "EEGEpochs")
        if counts is None:
            counts = np.full(n, self.data.shape[1], dtype=np.int64)
        object.__setattr__(self, "repetition_counts", counts)
        object.__setattr__(self, "image_index", _image_index(self.image_index, n, "EEGEpochs"))
        object.__setattr__(self, "positions", _positions(self.positions, len(self.ch_names),
                                                         "EEGEpochs"))
        eeg_unit(self.unit)

    @property
    def n_images(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_repetitions(self) -> int:
        """The largest number of repetitions of a picture (axis 1 of ``data``)."""
        return int(self.data.shape[1])

    @property
    def even(self) -> bool:
        """Whether every picture has ``n_repetitions`` repetitions (no padding)."""
        return bool(np.all(self.repetition_counts == self.n_repetitions))

    def used_counts(self, n_max: int | None = None) -> np.ndarray:
        """Repetitions :meth:`average` uses per picture: ``min(count, n_max)``.

        Returns
        -------
        ndarray of int, shape (n_images,)
        """
        counts = self.repetition_counts
        return counts.copy() if n_max is None else np.minimum(counts, int(n_max))

    def average(self, n_max: int | None = None) -> np.ndarray:
        """Mean over each picture's repetitions, all of them or the first ``n_max``.

        Parameters
        ----------
        n_max : int or None
            Cap on the repetitions averaged per picture (``repetitions: N`` of a
            run); pictures with fewer use all they have.

        Returns
        -------
        ndarray of float64, shape (n_images, n_channels, n_times)
        """
        k = self.n_repetitions if n_max is None else min(int(n_max), self.n_repetitions)
        if k < 1:
            raise ValueError(f"n_max must be at least 1, got {n_max}")
        used = self.used_counts(k)
        if np.all(used == k):  # no padding inside the first k slots (THINGS-EEG2)
            return np.mean(self.data[:, :k], axis=1, dtype=np.float64)
        valid = np.arange(k)[None, :] < used[:, None]
        total = np.sum(self.data[:, :k], axis=1, dtype=np.float64,
                       where=valid[:, :, None, None])
        return total / used[:, None, None]


@dataclass(frozen=True)
class EEGFeatures:
    """Prepared decoder input: one row of flattened EEG per image.

    Parameters
    ----------
    X : ndarray, shape (n_images, n_channels * n_times)
        Repetition-averaged, windowed EEG flattened channel-major (all samples of
        the first channel, then the second, ...), z-scored with training
        statistics when produced by :func:`perceptogram.data.core.prepare.prepare`.
    ch_names : tuple of str, length n_channels
    times : ndarray, shape (n_times,)
        Sample times in seconds.
    image_files : tuple of str, length n_images
    concepts : tuple of str, length n_images
    mean : ndarray, shape (n_channels * n_times,) or None
        Per-feature training mean used for z-scoring (None if not z-scored).
    scale : ndarray, shape (n_channels * n_times,) or None
        Per-feature training standard deviation used for z-scoring.
    repetition_counts : ndarray of int, shape (n_images,) or None
        Epochs averaged into each row (the noise of a row's average scales as
        ``1 / sqrt(count)``: weights of per-row regressions and reliability use
        it); None: not known.
    image_index : ndarray of int, shape (n_images,) or None
        Position of each row in the dataset's picture table of its split: the rows
        of the split's latents and image paths that belong to these features
        (:func:`perceptogram.pipeline.datasource.subject_rows`). None: the whole
        table, in order.
    unit : str
        Key of :data:`perceptogram.data.core.units.UNITS`: the unit of ``mean``
        and ``scale`` (and of ``X`` before z-scoring).
    positions : ndarray, shape (n_channels, 3) or None
        Electrode positions stored in the recording (NaN rows: none); None:
        template positions by name.
    """

    X: np.ndarray
    ch_names: tuple[str, ...]
    times: np.ndarray
    image_files: tuple[str, ...]
    concepts: tuple[str, ...]
    mean: np.ndarray | None = field(default=None, repr=False)
    scale: np.ndarray | None = field(default=None, repr=False)
    repetition_counts: np.ndarray | None = field(default=None, repr=False)
    image_index: np.ndarray | None = field(default=None, repr=False)
    unit: str = UNKNOWN
    positions: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ch_names", tuple(self.ch_names))
        object.__setattr__(self, "image_files", tuple(self.image_files))
        object.__setattr__(self, "concepts", tuple(self.concepts))
        object.__setattr__(self, "times", np.asarray(self.times, dtype=float))
        if self.X.ndim != 2:
            raise ValueError(f"EEGFeatures.X must be 2-D, got shape {self.X.shape}")
        expected = len(self.ch_names) * len(self.times)
        if self.X.shape[1] != expected:
            raise ValueError(
                f"EEGFeatures.X has {self.X.shape[1]} columns but "
                f"{len(self.ch_names)} channels x {len(self.times)} times = {expected}"
            )
        n = self.X.shape[0]
        _row_labels(self, ("image_files", "concepts"), n, "EEGFeatures")
        object.__setattr__(self, "repetition_counts",
                           _counts(self.repetition_counts, n, None, "EEGFeatures"))
        object.__setattr__(self, "image_index", _image_index(self.image_index, n,
                                                             "EEGFeatures"))
        object.__setattr__(self, "positions", _positions(self.positions, len(self.ch_names),
                                                         "EEGFeatures"))
        eeg_unit(self.unit)

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)

    @property
    def n_times(self) -> int:
        return len(self.times)

    def as_channel_time(self) -> np.ndarray:
        """Return X reshaped to ``(n_images, n_channels, n_times)`` (a view)."""
        return self.X.reshape(self.X.shape[0], self.n_channels, self.n_times)
