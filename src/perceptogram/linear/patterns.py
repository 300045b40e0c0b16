"""Read a linear decoder back into EEG space: channel x time maps.

Two readings of the same linear model:

- :func:`haufe_patterns`: activation patterns (Haufe et al., 2014,
  NeuroImage 87:96-110), ``A = Cov(X) W Cov(Yhat)^-1``, computed one latent
  *direction* at a time: for a direction ``d`` in latent space the decoder's
  spatio-temporal filter is ``w_d = W^T d`` and its pattern is
  ``Cov(X) w_d / Var(X w_d)``. The ``n_targets x n_targets`` covariance of the
  predictions is never formed, so directions in a 36,864-d latent space are as
  cheap as in a 10-d one.
- :func:`decode_encode_patterns`: the published "latent-filtered EEG patterns":
  an encoding ridge (alpha 1e3) from z-scored latents back to z-scored EEG; the
  pattern of an image is its decoded latent pushed through that encoder.

Feature index ``channel * n_times + time`` (channel-major, as produced by
:func:`perceptogram.data.prepare.prepare`) is reshaped to ``(n_channels, n_times)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perceptogram.data.containers import EEGFeatures
from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.linear.ridge import Ridge


@dataclass(frozen=True)
class ChannelTimeMaps:
    """A stack of named channel x time maps.

    Parameters
    ----------
    data : ndarray, shape (n_maps, n_channels, n_times)
    ch_names : tuple of str, length n_channels
    times : ndarray, shape (n_times,)
        Sample times in seconds.
    names : tuple of str, length n_maps
        What each map shows (a latent direction, an image, ...).
    """

    data: np.ndarray
    ch_names: tuple[str, ...]
    times: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ch_names", tuple(self.ch_names))
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        object.__setattr__(self, "times", np.asarray(self.times, dtype=float))
        data = np.asarray(self.data)
        object.__setattr__(self, "data", data)
        expected = (len(self.names), len(self.ch_names), len(self.times))
        if data.shape != expected:
            raise DataFormatError(
                f"ChannelTimeMaps: data has shape {data.shape}, expected (n_maps, "
                f"n_channels, n_times) = {expected}"
            )

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> np.ndarray:
        """The map called ``name``, shape (n_channels, n_times)."""
        try:
            return self.data[self.names.index(name)]
        except ValueError:
            raise KeyError(f"no map named {name!r}; maps: {list(self.names)}") from None


def _axes(X: Any, ch_names: Sequence[str] | None, times: Any
          ) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Feature matrix and its channel/time axes, checked against each other."""
    if isinstance(X, EEGFeatures):
        ch_names = X.ch_names if ch_names is None else ch_names
        times = X.times if times is None else times
        X = X.X
    if ch_names is None or times is None:
        raise ValueError("ch_names and times are needed unless X is an EEGFeatures")
    ch_names, times = tuple(ch_names), np.asarray(times, dtype=float)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise DataFormatError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[1] != len(ch_names) * len(times):
        raise ChannelMismatchError(
            f"X has {X.shape[1]} features but {len(ch_names)} channels x {len(times)} "
            f"times = {len(ch_names) * len(times)}"
        )
    if not np.all(np.isfinite(X)):
        raise DataFormatError("X contains NaN or infinite values")
    return X, ch_names, times


def haufe_patterns(model: Any, X: Any, directions: Any = None, *,
                   ch_names: Sequence[str] | None = None, times: Any = None,
                   names: Sequence[str] | None = None,
                   batch_size: int = 256) -> ChannelTimeMaps:
    """Haufe activation patterns of latent directions of a linear decoder.

    Parameters
    ----------
    model : fitted estimator with ``coef_``
        Decoder EEG -> latent, ``coef_`` of shape (n_targets, n_features) or
        (n_features,) (any linear scikit-learn regressor works).
    X : ndarray, shape (n_samples, n_channels * n_times), or EEGFeatures
        EEG features whose covariance defines the patterns (the decoder's
        training features).
    directions : array-like, shape (n_maps, n_targets) or (n_targets,), optional
        Latent directions ``d``. A pattern is in EEG units per unit of the
        decoded source ``d . yhat``: scaling ``d`` by ``c`` divides its pattern by
        ``c``. Default: one map per target (unit vectors).
    ch_names : sequence of str, optional
        Channel names (taken from ``X`` when it is an EEGFeatures).
    times : array-like, shape (n_times,), optional
        Sample times in seconds (taken from ``X`` when it is an EEGFeatures).
    names : sequence of str, optional
        Name of each map; default ``"direction 0"``, ``"direction 1"``, ...
    batch_size : int
        Directions processed together (memory ``n_samples * batch_size``).

    Returns
    -------
    ChannelTimeMaps
        ``data[k] = Cov(X) w_k / Var(X w_k)`` reshaped to (n_channels, n_times),
        with ``w_k = coef_.T @ directions[k]``; a direction the decoder ignores
        (``Var(X w_k) = 0``) gives a zero map.
    """
    X, ch_names, times = _axes(X, ch_names, times)
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    if coef.shape[1] != X.shape[1]:
        raise ChannelMismatchError(
            f"the decoder has {coef.shape[1]} input features but X has {X.shape[1]}"
        )
    if directions is None:
        directions = np.eye(coef.shape[0])
    directions = np.atleast_2d(np.asarray(directions, dtype=np.float64))
    if directions.shape[1] != coef.shape[0]:
        raise DataFormatError(
            f"directions have {directions.shape[1]} latent dimensions but the decoder "
            f"has {coef.shape[0]} targets"
        )
    names = ([f"direction {k}" for k in range(directions.shape[0])] if names is None
             else list(names))
    if len(names) != directions.shape[0]:
        raise DataFormatError(f"{len(names)} names for {directions.shape[0]} directions")
    Xc = X - X.mean(axis=0)
    maps = np.empty((directions.shape[0], X.shape[1]))
    for start in range(0, directions.shape[0], batch_size):
        block = slice(start, start + batch_size)
        filters = directions[block] @ coef  # (batch, n_features)
        sources = Xc @ filters.T  # (n_samples, batch)
        var = np.einsum("ij,ij->j", sources, sources)
        cov_w = Xc.T @ sources  # (n_features, batch), both scaled by n - 1
        scale = np.divide(1.0, var, out=np.zeros_like(var), where=var > 0)
        maps[block] = (cov_w * scale).T
    return ChannelTimeMaps(maps.reshape(-1, len(ch_names), len(times)), ch_names, times,
                           tuple(names))


def _zscore_stats(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = A.mean(axis=0)
    scale = A.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def decode_encode_patterns(decoded: Any, latents: Any, X: Any, *, alpha: float = 1e3,
                           ch_names: Sequence[str] | None = None, times: Any = None,
                           names: Sequence[str] | None = None, backend: str = "numpy",
                           device: str | None = None, dtype: str = "float32"
                           ) -> ChannelTimeMaps:
    """Latent-filtered EEG patterns: decoded latents pushed through an encoding ridge.

    The encoder is a :class:`~perceptogram.linear.ridge.Ridge` (``alpha``) from
    the training latents to the training EEG features, both z-scored per
    dimension with their training mean and standard deviation (``ddof=0``;
    constant dimensions keep scale 1). Decoded latents are z-scored with the
    same training-latent statistics, then encoded.

    Parameters
    ----------
    decoded : array-like, shape (n_images, n_latent)
        Decoded latents (e.g. of the test images).
    latents : array-like, shape (n_train, n_latent)
        True latents of the training images.
    X : ndarray, shape (n_train, n_channels * n_times), or EEGFeatures
        Training EEG features.
    alpha : float
        Regularisation of the encoder (the paper uses 1e3).
    ch_names, times : optional
        Axes of ``X`` (taken from ``X`` when it is an EEGFeatures).
    names : sequence of str, optional
        Name of each map (e.g. the image files); default ``"image 0"``, ...
    backend, device, dtype
        Passed to the encoder (:class:`~perceptogram.linear.ridge.Ridge`).

    Returns
    -------
    ChannelTimeMaps
        One map per decoded latent, in z-scored EEG units.
    """
    X, ch_names, times = _axes(X, ch_names, times)
    latents = np.asarray(latents, dtype=np.float64)
    decoded = np.asarray(decoded, dtype=np.float64)
    if latents.ndim != 2 or latents.shape[0] != X.shape[0]:
        raise DataFormatError(
            f"latents {latents.shape} must be 2-D with one row per row of X {X.shape}"
        )
    if decoded.ndim != 2 or decoded.shape[1] != latents.shape[1]:
        raise DataFormatError(
            f"decoded latents have shape {decoded.shape}, expected (n_images, "
            f"{latents.shape[1]})"
        )
    names = ([f"image {i}" for i in range(decoded.shape[0])] if names is None
             else list(names))
    if len(names) != decoded.shape[0]:
        raise DataFormatError(f"{len(names)} names for {decoded.shape[0]} decoded latents")
    lat_mean, lat_scale = _zscore_stats(latents)
    x_mean, x_scale = _zscore_stats(X)
    encoder = Ridge(alpha=alpha, backend=backend, device=device, dtype=dtype)
    encoder.fit((latents - lat_mean) / lat_scale, (X - x_mean) / x_scale)
    maps = encoder.predict((decoded - lat_mean) / lat_scale)
    return ChannelTimeMaps(np.asarray(maps).reshape(-1, len(ch_names), len(times)),
                           ch_names, times, tuple(names))
