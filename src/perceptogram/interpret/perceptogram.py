"""Perceptograms: channel × time maps of what a linear decoder reads.

Two ways of turning a linear model back into EEG space:

- **latent-filtered EEG patterns** (the paper's perceptograms): an encoding
  ridge maps (z-scored) latents back to (z-scored) EEG; each image's decoded
  latent pushed through it gives a channel × time pattern. Averaged over a
  group of images, contrasted between groups, or reduced to their negative part
  or to a winner-take-all label, they show where and when a group differs;
- **Haufe activation patterns** (Haufe et al. 2014) of the decoder along a
  latent direction, e.g. the direction separating two groups' latents.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.interpret.groupings import Grouping


class LatentEncoder:
    """Encoding ridge from z-scored latents back to EEG features (the paper's encoder).

    Parameters
    ----------
    alpha : float
        Regularisation of the encoding ridge (paper: 1e3).

    Attributes
    ----------
    mean_, scale_ : ndarray, shape (n_latent,)
        Training latent statistics used to z-score latents.
    ridge_ : perceptogram.linear.ridge.Ridge
        Fitted ridge, ``coef_`` of shape (n_channels * n_times, n_latent).
    n_channels_ : int
    """

    def __init__(self, alpha: float = 1e3) -> None:
        self.alpha = alpha

    def fit(self, X_train: np.ndarray, Y_train: np.ndarray, n_channels: int) -> LatentEncoder:
        """Fit the encoder.

        Parameters
        ----------
        X_train : ndarray, shape (n_train, n_channels * n_times)
            Training EEG features, flattened channel-major (z-scored, as
            returned by :func:`perceptogram.data.prepare.prepare`).
        Y_train : ndarray, shape (n_train, n_latent)
            True latents of the training images.
        n_channels : int
            Number of channels (to reshape the features).
        """
        from perceptogram.linear.ridge import Ridge

        X_train = np.asarray(X_train, dtype=np.float64)
        Y_train = np.asarray(Y_train, dtype=np.float64)
        if X_train.ndim != 2 or Y_train.ndim != 2 or X_train.shape[0] != Y_train.shape[0]:
            raise DataFormatError(
                f"LatentEncoder: X_train {X_train.shape} and Y_train {Y_train.shape} must "
                "be 2-D with one row per training image"
            )
        if X_train.shape[1] % n_channels:
            raise ChannelMismatchError(
                f"LatentEncoder: {X_train.shape[1]} features are not a multiple of "
                f"{n_channels} channels"
            )
        self.mean_ = Y_train.mean(axis=0)
        scale = Y_train.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.ridge_ = Ridge(alpha=self.alpha, dtype="float64").fit(
            (Y_train - self.mean_) / self.scale_, X_train)
        self.n_channels_ = int(n_channels)
        return self

    def patterns(self, latents: np.ndarray) -> np.ndarray:
        """Latent-filtered EEG pattern of each latent vector.

        Parameters
        ----------
        latents : ndarray, shape (n_images, n_latent)
            Decoded latents (e.g. of the test images).

        Returns
        -------
        ndarray, shape (n_images, n_channels, n_times)
        """
        latents = np.asarray(latents, dtype=np.float64)
        if latents.ndim != 2 or latents.shape[1] != self.mean_.shape[0]:
            raise DataFormatError(
                f"LatentEncoder: latents have shape {latents.shape}, expected "
                f"(n_images, {self.mean_.shape[0]})"
            )
        out = self.ridge_.predict((latents - self.mean_) / self.scale_)
        return np.asarray(out).reshape(latents.shape[0], self.n_channels_, -1)

    def direction_map(self, direction: np.ndarray) -> np.ndarray:
        """EEG change predicted for a step ``direction`` in latent space.

        The encoder is linear, so this is the difference between the patterns
        of ``m + direction`` and ``m`` for any latent ``m``: the perceptogram of
        the direction itself, free of the other latent dimensions that two
        finite groups of images happen to differ in.

        Parameters
        ----------
        direction : ndarray, shape (n_latent,)
            In latent units (e.g. :func:`latent_direction`).

        Returns
        -------
        ndarray, shape (n_channels, n_times)
        """
        direction = np.asarray(direction, dtype=np.float64)
        return self.patterns((self.mean_ + direction)[None])[0] - self.patterns(
            self.mean_[None])[0]


def latent_filtered_patterns(
    decoded: np.ndarray,
    X_train: np.ndarray,
    Y_train: np.ndarray,
    n_channels: int,
    *,
    alpha: float = 1e3,
) -> np.ndarray:
    """Latent-filtered EEG pattern of each decoded latent (the paper's perceptogram).

    An encoding ridge ``X ≈ Z W + b`` is fitted from the z-scored training
    latents ``Z`` to the training EEG features (:class:`LatentEncoder`); the
    pattern of image *i* is its decoded latent, z-scored with the training
    statistics, pushed through that encoder.

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
        Decoded latents (e.g. of the test images).
    X_train : ndarray, shape (n_train, n_channels * n_times)
        Training EEG features, flattened channel-major.
    Y_train : ndarray, shape (n_train, n_latent)
        True latents of the training images.
    n_channels : int
    alpha : float
        Regularisation of the encoding ridge (paper: 1e3).

    Returns
    -------
    ndarray, shape (n_images, n_channels, n_times)
    """
    return LatentEncoder(alpha).fit(X_train, Y_train, n_channels).patterns(decoded)


def to_eeg_units(maps: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """Undo the per-feature z-scoring of differences of maps.

    Parameters
    ----------
    maps : ndarray, shape (..., n_channels, n_times)
        Maps in z-scored feature units (differences, contrasts, patterns per
        unit latent).
    scale : ndarray, shape (n_channels * n_times,) or None
        ``EEGFeatures.scale`` (None: the features were not z-scored).

    Returns
    -------
    ndarray, same shape
        In the units of the EEG before z-scoring.
    """
    maps = np.asarray(maps, dtype=float)
    if scale is None:
        return maps
    return maps * np.asarray(scale, dtype=float).reshape(maps.shape[-2:])


def group_means(data: np.ndarray, grouping: Grouping) -> np.ndarray:
    """Mean map of each group.

    Parameters
    ----------
    data : ndarray, shape (n_images, n_channels, n_times)
        One map per image.
    grouping : Grouping
        Groups of the same images.

    Returns
    -------
    ndarray, shape (n_groups, n_channels, n_times)
    """
    data = np.asarray(data, dtype=float)
    if data.ndim != 3 or data.shape[0] != grouping.n_images:
        raise DataFormatError(
            f"group_means: data of shape {data.shape} for a grouping of "
            f"{grouping.n_images} images"
        )
    empty = [g for g, n in grouping.counts().items() if n == 0]
    if empty:
        raise DataFormatError(f"group_means: groups {empty} of '{grouping.name}' are empty")
    return np.stack([data[grouping.mask(g)].mean(axis=0) for g in grouping.group_names])


def contrast(data: np.ndarray, grouping: Grouping, group_a: str | int,
             group_b: str | int) -> np.ndarray:
    """Group A's mean map minus group B's, shape (n_channels, n_times)."""
    means = group_means(data, grouping)
    return means[grouping.index(group_a)] - means[grouping.index(group_b)]


def negative_part(maps: np.ndarray) -> np.ndarray:
    """Only the negative values of ``maps`` (the rest set to 0), any shape."""
    return np.minimum(np.asarray(maps, dtype=float), 0.0)


def winner_take_all(group_maps: np.ndarray, *, sign: int = -1) -> np.ndarray:
    """Which group has the most negative (or positive) value at each sample.

    Parameters
    ----------
    group_maps : ndarray, shape (n_groups, n_channels, n_times)
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
    group_maps = np.asarray(group_maps, dtype=float)
    if group_maps.ndim != 3:
        raise DataFormatError(
            f"winner_take_all: expected (n_groups, n_channels, n_times), got {group_maps.shape}"
        )
    return np.argmax(sign * group_maps, axis=0)


def latent_direction(Y: np.ndarray, grouping: Grouping, group_a: str | int,
                     group_b: str | int) -> np.ndarray:
    """Difference of the two groups' mean latents, shape (n_latent,)."""
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2 or Y.shape[0] != grouping.n_images:
        raise DataFormatError(
            f"latent_direction: latents of shape {Y.shape} for {grouping.n_images} images"
        )
    return Y[grouping.mask(group_a)].mean(axis=0) - Y[grouping.mask(group_b)].mean(axis=0)


def direction_pattern(X: np.ndarray, coef: np.ndarray, direction: np.ndarray,
                      n_channels: int) -> np.ndarray:
    """Haufe activation pattern of a linear decoder along a latent direction.

    The decoder's score along ``direction`` is ``s = X coefᵀ direction``; its
    activation pattern is ``a = Cov(X) w / Var(s)`` with ``w = coefᵀ
    direction`` (Haufe et al. 2014 with one extracted source), i.e. the
    covariance of each feature with the score per unit score variance.
    (:class:`mne.decoding.LinearModel` stores ``Cov(X) w`` for a single target,
    without the division by ``Var(s)``.)

    Parameters
    ----------
    X : ndarray, shape (n_images, n_channels * n_times)
        EEG features the decoder reads (training set).
    coef : ndarray, shape (n_latent, n_channels * n_times)
        Decoder weights (``Ridge.coef_``).
    direction : ndarray, shape (n_latent,)
        Latent direction (e.g. :func:`latent_direction`).
    n_channels : int

    Returns
    -------
    ndarray, shape (n_channels, n_times)
        In the units of ``X`` per unit score.
    """
    X = np.asarray(X, dtype=np.float64)
    coef = np.asarray(coef, dtype=np.float64)
    direction = np.asarray(direction, dtype=np.float64)
    if coef.ndim != 2 or coef.shape[1] != X.shape[1] or direction.shape != (coef.shape[0],):
        raise DataFormatError(
            f"direction_pattern: X {X.shape}, coef {coef.shape} and direction "
            f"{direction.shape} do not match"
        )
    Xc = X - X.mean(axis=0)
    score = Xc @ (coef.T @ direction)
    var = score @ score
    if var <= 0:
        raise DataFormatError("direction_pattern: the decoder's score along this direction "
                              "is constant over images")
    return (Xc.T @ score / var).reshape(n_channels, -1)


def average_subjects(per_subject: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-subject maps and average them.

    Parameters
    ----------
    per_subject : sequence of ndarray, each shape (..., n_channels, n_times)
        The same maps (same groups, channels and times) for each subject.

    Returns
    -------
    mean : ndarray, shape (..., n_channels, n_times)
    stacked : ndarray, shape (n_subjects, ..., n_channels, n_times)
    """
    if not per_subject:
        raise DataFormatError("average_subjects: no subject maps given")
    shapes = {np.shape(m) for m in per_subject}
    if len(shapes) != 1:
        raise DataFormatError(f"average_subjects: subject maps differ in shape: {shapes}")
    stacked = np.stack([np.asarray(m, dtype=float) for m in per_subject])
    return stacked.mean(axis=0), stacked
