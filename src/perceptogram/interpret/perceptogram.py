"""Perceptograms: groups, contrasts and views of channel × time maps.

The maps themselves come from :mod:`perceptogram.linear.patterns`:
:class:`~perceptogram.linear.patterns.LatentEncoder` (latent-filtered EEG
patterns, the paper's perceptograms: one map per decoded latent, or per latent
direction) and :func:`~perceptogram.linear.patterns.haufe_patterns` (Haufe
activation patterns of the decoder along latent directions, e.g.
:func:`latent_direction`). This module averages them over groups of images,
contrasts groups, reduces them to their negative part or to a winner-take-all
label, converts them back to EEG units and averages subjects.

Every function takes either a plain array or a
:class:`~perceptogram.linear.patterns.ChannelTimeMaps`; given the latter it
returns a ``ChannelTimeMaps`` with the same channels and times and named maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.interpret.groupings import Grouping
from perceptogram.linear.patterns import ChannelTimeMaps

Maps = TypeVar("Maps", np.ndarray, ChannelTimeMaps)


def _unwrap(maps: Any) -> tuple[np.ndarray, ChannelTimeMaps | None]:
    """The float array of ``maps`` and, for a ChannelTimeMaps, the maps themselves."""
    if isinstance(maps, ChannelTimeMaps):
        return np.asarray(maps.data, dtype=float), maps
    return np.asarray(maps, dtype=float), None


def _rewrap(data: np.ndarray, like: ChannelTimeMaps | None,
            names: Sequence[str] | None = None) -> Any:
    """``data`` as a ChannelTimeMaps on the axes of ``like`` (plain array if None)."""
    if like is None:
        return data
    return ChannelTimeMaps(data, like.ch_names, like.times,
                           like.names if names is None else tuple(names))


def to_eeg_units(maps: Maps, scale: np.ndarray | None) -> Maps:
    """Undo the per-feature z-scoring of differences of maps.

    Parameters
    ----------
    maps : ndarray, shape (..., n_channels, n_times), or ChannelTimeMaps
        Maps in z-scored feature units (differences, contrasts, patterns per
        unit latent).
    scale : ndarray, shape (n_channels * n_times,) or None
        ``EEGFeatures.scale`` (None: the features were not z-scored).

    Returns
    -------
    ndarray or ChannelTimeMaps, same shape
        In the units of the EEG before z-scoring.
    """
    data, like = _unwrap(maps)
    if scale is not None:
        scale = np.asarray(scale, dtype=float)
        if scale.size != np.prod(data.shape[-2:]):
            raise ChannelMismatchError(
                f"to_eeg_units: {scale.size} feature scales for maps of "
                f"{data.shape[-2]} channels x {data.shape[-1]} times"
            )
        data = data * scale.reshape(data.shape[-2:])
    return _rewrap(data, like)


def group_means(maps: Maps, grouping: Grouping) -> Maps:
    """Mean map of each group.

    Parameters
    ----------
    maps : ndarray, shape (n_images, n_channels, n_times), or ChannelTimeMaps
        One map per image.
    grouping : Grouping
        Groups of the same images.

    Returns
    -------
    ndarray, shape (n_groups, n_channels, n_times), or ChannelTimeMaps
        One map per group (named after the groups).
    """
    data, like = _unwrap(maps)
    if data.ndim != 3 or data.shape[0] != grouping.n_images:
        raise DataFormatError(
            f"group_means: data of shape {data.shape} for a grouping of "
            f"{grouping.n_images} images"
        )
    empty = [g for g, n in grouping.counts().items() if n == 0]
    if empty:
        raise DataFormatError(f"group_means: groups {empty} of '{grouping.name}' are empty")
    means = np.stack([data[grouping.mask(g)].mean(axis=0) for g in grouping.group_names])
    return _rewrap(means, like, grouping.group_names)


def contrast(maps: Maps, grouping: Grouping, group_a: str | int,
             group_b: str | int) -> Maps:
    """Group A's mean map minus group B's.

    Parameters
    ----------
    maps : ndarray, shape (n_images, n_channels, n_times), or ChannelTimeMaps
        One map per image.
    grouping : Grouping
    group_a, group_b : str or int
        Group names (or indices).

    Returns
    -------
    ndarray, shape (n_channels, n_times), or ChannelTimeMaps
        The difference (a ChannelTimeMaps holds one map named ``"A − B"``).
    """
    data, like = _unwrap(maps)
    means = group_means(data, grouping)
    a, b = grouping.index(group_a), grouping.index(group_b)
    diff = means[a] - means[b]
    if like is None:
        return diff
    name = f"{grouping.group_names[a]} − {grouping.group_names[b]}"
    return _rewrap(diff[None], like, [name])


def negative_part(maps: Maps) -> Maps:
    """Only the negative values of ``maps`` (the rest set to 0), any shape."""
    data, like = _unwrap(maps)
    return _rewrap(np.minimum(data, 0.0), like)


def winner_take_all(group_maps: np.ndarray | ChannelTimeMaps, *, sign: int = -1
                    ) -> np.ndarray:
    """Which group has the most negative (or positive) value at each sample.

    Parameters
    ----------
    group_maps : ndarray, shape (n_groups, n_channels, n_times), or ChannelTimeMaps
        E.g. :func:`group_means`, usually centred over groups first.
    sign : {-1, 1}
        ``-1``: the most negative group wins (the paper's view of
        negativities); ``1``: the most positive.

    Returns
    -------
    ndarray of int, shape (n_channels, n_times)
        Index of the winning group.
    """
    if sign not in (-1, 1):
        raise ValueError(f"winner_take_all: sign must be -1 or 1, got {sign}")
    data, _ = _unwrap(group_maps)
    if data.ndim != 3:
        raise DataFormatError(
            f"winner_take_all: expected (n_groups, n_channels, n_times), got {data.shape}"
        )
    return np.argmax(sign * data, axis=0)


def latent_direction(Y: np.ndarray, grouping: Grouping, group_a: str | int,
                     group_b: str | int) -> np.ndarray:
    """Difference of the two groups' mean latents.

    Parameters
    ----------
    Y : ndarray, shape (n_images, n_latent)
        Latents of the grouped images.
    grouping : Grouping
    group_a, group_b : str or int

    Returns
    -------
    ndarray, shape (n_latent,)
        A direction for
        :meth:`~perceptogram.linear.patterns.LatentEncoder.direction_maps` or
        :func:`~perceptogram.linear.patterns.haufe_patterns`.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2 or Y.shape[0] != grouping.n_images:
        raise DataFormatError(
            f"latent_direction: latents of shape {Y.shape} for {grouping.n_images} images"
        )
    return Y[grouping.mask(group_a)].mean(axis=0) - Y[grouping.mask(group_b)].mean(axis=0)


def average_subjects(per_subject: Sequence[Maps]) -> tuple[Maps, np.ndarray]:
    """Stack per-subject maps and average them.

    Parameters
    ----------
    per_subject : sequence of ndarray, each shape (..., n_channels, n_times), or of
        ChannelTimeMaps
        The same maps (same groups, channels and times) for each subject.

    Returns
    -------
    mean : ndarray, shape (..., n_channels, n_times), or ChannelTimeMaps
    stacked : ndarray, shape (n_subjects, ..., n_channels, n_times)
    """
    if not per_subject:
        raise DataFormatError("average_subjects: no subject maps given")
    unwrapped = [_unwrap(m) for m in per_subject]
    shapes = {data.shape for data, _ in unwrapped}
    if len(shapes) != 1:
        raise DataFormatError(f"average_subjects: subject maps differ in shape: {shapes}")
    like = unwrapped[0][1]
    if like is not None and any(
            other is None or other.ch_names != like.ch_names
            or not np.allclose(other.times, like.times) for _, other in unwrapped):
        raise ChannelMismatchError("average_subjects: subject maps differ in channels or times")
    stacked = np.stack([data for data, _ in unwrapped])
    return _rewrap(stacked.mean(axis=0), like), stacked
