"""Turn epoched EEG into decoder input: average, window, select, flatten, z-score.

This is the published input pipeline: the repetitions of each image are
averaged (all of them, however many each picture kept, unless a cap is asked
for; the count of each row travels with the features), the post-stimulus samples ``tmin <= t < tmax`` are kept (0-0.79 s by
default, dropping the 20 baseline samples of THINGS-EEG2), the channels are
flattened channel-major (all samples of the first channel, then the second,
...) and every feature is z-scored with the *training* mean and standard
deviation, applied unchanged to the test split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptogram.data.core.channels import resolve_channels
from perceptogram.data.core.containers import (
    TIME_TOLERANCE,
    EEGEpochs,
    EEGFeatures,
    check_same_axes,
)
from perceptogram.errors import DataFormatError


def _repetitions_per_split(n_repetitions: int | tuple[int, int] | None,
                           train: EEGEpochs, test: EEGEpochs) -> tuple[int | None, int | None]:
    if n_repetitions is None:
        return None, None
    if isinstance(n_repetitions, (int, np.integer)):
        wanted = (int(n_repetitions), int(n_repetitions))
    else:
        wanted = tuple(int(n) for n in n_repetitions)
        if len(wanted) != 2:
            raise ValueError("n_repetitions must be an int or a (train, test) pair, "
                             f"got {n_repetitions!r}")
    for n, epochs, split in zip(wanted, (train, test), ("training", "test")):
        if not 1 <= n <= epochs.n_repetitions:
            raise ValueError(f"n_repetitions={n} for the {split} split, which has "
                             f"{epochs.n_repetitions} repetitions")
    return wanted


def time_mask(times: np.ndarray, tmin: float, tmax: float) -> np.ndarray:
    """Boolean mask of the samples with ``tmin <= t < tmax``.

    Parameters
    ----------
    times : ndarray, shape (n_times,)
        Seconds.
    tmin, tmax : float
        Window start (included) and end (excluded), in seconds; a sample within
        1 microsecond of a bound counts as on it.

    Returns
    -------
    mask : ndarray of bool, shape (n_times,)
    """
    times = np.asarray(times, dtype=float)
    return (times >= tmin - TIME_TOLERANCE) & (times < tmax - TIME_TOLERANCE)


def _average(epochs: EEGEpochs, n_repetitions: int | None, channels: np.ndarray,
             window: np.ndarray) -> np.ndarray:
    mean = epochs.average(n_repetitions)
    return mean[:, channels][:, :, window].reshape(epochs.n_images, -1)


def prepare(train: EEGEpochs, test: EEGEpochs, *, tmin: float = 0.0, tmax: float = 0.8,
            channels: Sequence[str] | None = None,
            n_repetitions: int | tuple[int, int] | None = None,
            zscore: bool = True) -> tuple[EEGFeatures, EEGFeatures]:
    """Average repetitions, select a time window and channels, flatten and z-score.

    Parameters
    ----------
    train, test : EEGEpochs
        ``data`` of shape (n_images, n_repetitions, n_channels, n_times); both
        splits must have the same channels and sample times.
    tmin, tmax : float
        Keep samples with ``tmin <= t < tmax`` (seconds). The default keeps the
        80 post-stimulus samples 0-0.79 s of THINGS-EEG2.
    channels : sequence of str or None
        Channels to keep (kept in the data's channel order, whatever the order
        of the names: :func:`perceptogram.data.core.channels.resolve_channels`);
        None keeps all.
    n_repetitions : int, (int, int) or None
        Average at most the first N repetitions of each picture (one number for
        both splits, or a ``(train, test)`` pair; pictures with fewer use all they
        have); None averages every available repetition.
    zscore : bool
        Standardise every feature with the training split's mean and standard
        deviation (population, ``ddof=0``; a constant feature gets scale 1, as
        in :class:`sklearn.preprocessing.StandardScaler`). The test split is
        transformed with the training statistics, never its own.

    Returns
    -------
    train_features, test_features : EEGFeatures
        ``X`` of shape (n_images, n_selected_channels * n_selected_times),
        float32, flattened channel-major; ``mean`` and ``scale`` are the
        training statistics (None when ``zscore=False``);
        ``repetition_counts`` the repetitions averaged into each row;
        ``image_index``, ``unit`` and ``positions`` (of the selected channels)
        as in the epochs.

    Raises
    ------
    ChannelMismatchError
        The splits disagree on channels or times, or a requested channel does
        not exist.
    DataFormatError
        No sample falls in the time window.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptogram.data.core.containers import EEGEpochs
    >>> rng = np.random.default_rng(0)
    >>> def split(n_images, n_reps):
    ...     return EEGEpochs(data=rng.standard_normal((n_images, n_reps, 3, 10)),
    ...                      ch_names=("Pz", "Oz", "O1"), times=np.arange(-2, 8) / 10,
    ...                      image_files=[f"{i}.jpg" for i in range(n_images)],
    ...                      concepts=[f"c{i // 2}" for i in range(n_images)])
    >>> train, test = prepare(split(8, 4), split(4, 20), channels=["O1", "Pz"])
    >>> train.X.shape, train.ch_names  # 2 channels x 8 post-stimulus samples
    ((8, 16), ('Pz', 'O1'))
    >>> bool(np.allclose(train.X.mean(axis=0), 0, atol=1e-6))  # z-scored on training
    True
    """
    check_same_axes(train, test)
    reps = _repetitions_per_split(n_repetitions, train, test)
    picks = resolve_channels(train.ch_names, channels)
    window = time_mask(train.times, tmin, tmax)
    if not window.any():
        raise DataFormatError(
            f"no sample in the window {tmin} <= t < {tmax} s; the data cover "
            f"{train.times[0]:.3f} to {train.times[-1]:.3f} s"
        )
    X_train = _average(train, reps[0], picks, window)
    X_test = _average(test, reps[1], picks, window)
    mean = scale = None
    if zscore:
        mean = X_train.mean(axis=0)
        scale = X_train.std(axis=0)
        scale[scale == 0] = 1.0
        X_train = (X_train - mean) / scale
        X_test = (X_test - mean) / scale
        mean, scale = mean.astype(np.float32), scale.astype(np.float32)
    ch_names = tuple(train.ch_names[i] for i in picks)
    times = train.times[window]
    positions = None if train.positions is None else train.positions[picks]
    features = [
        EEGFeatures(X=X.astype(np.float32), ch_names=ch_names, times=times,
                    image_files=split.image_files, concepts=split.concepts,
                    mean=mean, scale=scale, repetition_counts=split.used_counts(n),
                    image_index=split.image_index, unit=train.unit, positions=positions)
        for X, split, n in ((X_train, train, reps[0]), (X_test, test, reps[1]))
    ]
    return features[0], features[1]
