"""Typed containers that carry EEG arrays together with their axes.

Channel names and sample times always travel with the data (DESIGN.md): every
array here is paired with the labels of its axes, and the constructors check
that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perceptogram.errors import ChannelMismatchError

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


@dataclass(frozen=True)
class EEGEpochs:
    """Epoched EEG of one split, THINGS-EEG2 layout.

    Parameters
    ----------
    data : ndarray, shape (n_images, n_repetitions, n_channels, n_times)
        EEG in the units of the source (THINGS-EEG2: MVNN-whitened, unitless).
    ch_names : tuple of str, length n_channels
        Channel names in the order of axis 2.
    times : ndarray, shape (n_times,)
        Sample times in seconds relative to stimulus onset.
    image_files : tuple of str, length n_images
        Image file name of each row (e.g. ``"aardvark_01b.jpg"``).
    concepts : tuple of str, length n_images
        Concept of each row (e.g. ``"00001_aardvark"``); the unit of
        generalisation for cross-validation.
    """

    data: np.ndarray
    ch_names: tuple[str, ...]
    times: np.ndarray
    image_files: tuple[str, ...]
    concepts: tuple[str, ...]

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
        for name in ("image_files", "concepts"):
            labels = getattr(self, name)
            if len(labels) != self.data.shape[0]:
                raise ValueError(
                    f"EEGEpochs: {len(labels)} {name} for {self.data.shape[0]} images"
                )

    @property
    def n_images(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_repetitions(self) -> int:
        return int(self.data.shape[1])


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
    """

    X: np.ndarray
    ch_names: tuple[str, ...]
    times: np.ndarray
    image_files: tuple[str, ...]
    concepts: tuple[str, ...]
    mean: np.ndarray | None = field(default=None, repr=False)
    scale: np.ndarray | None = field(default=None, repr=False)

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
        for name in ("image_files", "concepts"):
            if len(getattr(self, name)) != self.X.shape[0]:
                raise ValueError(
                    f"EEGFeatures: {len(getattr(self, name))} {name} for "
                    f"{self.X.shape[0]} rows"
                )

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)

    @property
    def n_times(self) -> int:
        return len(self.times)

    def as_channel_time(self) -> np.ndarray:
        """Return X reshaped to ``(n_images, n_channels, n_times)`` (a view)."""
        return self.X.reshape(self.X.shape[0], self.n_channels, self.n_times)
