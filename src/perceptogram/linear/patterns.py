"""Read a linear decoder back into EEG space: channel x time maps.

Two readings of the same linear model:

- :func:`haufe_patterns`: activation patterns (Haufe et al., 2014,
  NeuroImage 87:96-110) of K latent *directions* ``D`` (default: every latent
  dimension). The decoder's spatio-temporal filters are ``W_D = W^T D^T``
  and the decoded sources ``S = X W_D``; ``method="joint"`` (the default) is
  Haufe's ``A = Cov(X) W_D Cov(S)^-1``, which gives each direction its own
  pattern even when the sources are correlated (always, for CLIP or VAE
  latents). The K x K source covariance is never inverted as such: it has rank
  at most ``min(n_features, K)``, and only a matrix of that size is
  pseudo-inverted, so any K works (a 36,864-d VAE latent included).
  ``method="marginal"`` is the single-target formula ``Cov(X) w_k / Var(s_k)``
  applied to each direction alone: exact for one direction, but with correlated
  sources each map absorbs its neighbours'; it must be asked for by name.

  **Ill-conditioned decoded sources.** The joint formula divides by the
  variance of every direction in which the decoded sources differ. When two
  decoded targets correlate at 0.95 or more (redness and the cosine of hue, say),
  their difference holds a few per cent of their variance, and that is the part
  a ridge decoder biases most (ridge shrinks the weak directions of the EEG
  first, which makes decoded targets *more* correlated than the true ones); the
  inverse amplifies the bias into patterns of the wrong shape or sign. When the
  condition number of the decoded sources' correlation matrix (largest over
  smallest non-zero eigenvalue) exceeds ``max_condition`` (default
  :data:`MAX_CONDITION` = 30, the value of two targets correlating at |r| = 0.935,
  ``(1 + r) / (1 - r)``), the correlation matrix is shrunk towards the identity
  (``(1 - lam) R + lam I``: the covariance towards its diagonal, as Ledoit-Wolf
  shrinkage does, with the intensity ``lam`` that brings the condition number
  down to ``max_condition`` exactly), so each pattern moves from the joint
  towards the single-target one only as far as the conditioning requires. The
  maps carry a note (:attr:`ChannelTimeMaps.notes`) and a
  :class:`IllConditionedSourcesWarning` is issued; ``max_condition=None`` keeps
  the exact formula. On planted sources correlating at 0.95 with decoded
  targets at 0.99 (``tests/test_linear_patterns.py``) the exact formula's
  patterns correlate 0.30-0.46 with the planted ones, the shrunk ones 0.89-0.96,
  with the right sign.
- :class:`LatentEncoder` / :func:`decode_encode_patterns`: the published
  "latent-filtered EEG patterns": an encoding ridge (alpha 1e3) from z-scored
  latents back to z-scored EEG; the pattern of an image is its decoded latent
  pushed through that encoder, the pattern of a latent direction the EEG change
  the encoder predicts for a step along it.

Feature index ``channel * n_times + time`` (channel-major, as produced by
:func:`perceptogram.data.core.prepare.prepare`) is reshaped to ``(n_channels, n_times)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scipy import linalg
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from perceptogram.data.core.containers import EEGFeatures
from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.linear.ridge import Ridge

#: Largest condition number of the decoded sources' correlation matrix that the joint
#: Haufe formula inverts as it is (see the module notes).
MAX_CONDITION = 30.0


class IllConditionedSourcesWarning(UserWarning):
    """The decoded sources are nearly collinear: joint patterns were regularised."""


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
    notes : tuple of str
        How the maps were computed where it departs from the textbook formula
        (e.g. regularised joint patterns).
    """

    data: np.ndarray
    ch_names: tuple[str, ...]
    times: np.ndarray
    names: tuple[str, ...]
    notes: tuple[str, ...] = ()

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


def _zscore_stats(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = A.mean(axis=0)
    scale = A.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def _as_rows(A: Any, n_columns: int, what: str) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2 or A.shape[1] != n_columns:
        raise DataFormatError(
            f"{what} have shape {A.shape}, expected (n_maps, {n_columns})"
        )
    return A


def _names(names: Sequence[str] | None, n: int, default: str, what: str) -> tuple[str, ...]:
    names = tuple(f"{default} {i}" for i in range(n)) if names is None else tuple(names)
    if len(names) != n:
        raise DataFormatError(f"{len(names)} names for {n} {what}")
    return names


def haufe_patterns(model: Any, X: Any, directions: Any = None, *,
                   method: str = "joint",
                   ch_names: Sequence[str] | None = None, times: Any = None,
                   names: Sequence[str] | None = None,
                   batch_size: int = 256,
                   max_condition: float | None = MAX_CONDITION) -> ChannelTimeMaps:
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
    method : {"joint", "marginal"}
        ``"joint"``: ``A = Cov(X) W_D Cov(S)^-1`` over all directions together
        (Haufe et al. 2014, eq. 6), with the pseudo-inverse of ``Cov(S)`` at a
        relative tolerance (singular whenever K exceeds the number of features
        or samples), so directions the decoder cannot tell apart share their
        pattern instead of blowing it up. ``"marginal"``: each direction
        alone, ``Cov(X) w_k / Var(s_k)`` (equal to the joint pattern when there
        is one direction, or when the sources are uncorrelated).
    ch_names : sequence of str, optional
        Channel names (taken from ``X`` when it is an EEGFeatures).
    times : array-like, shape (n_times,), optional
        Sample times in seconds (taken from ``X`` when it is an EEGFeatures).
    names : sequence of str, optional
        Name of each map; default ``"direction 0"``, ``"direction 1"``, ...
    batch_size : int
        Directions processed together.
    max_condition : float or None
        ``"joint"`` only: largest condition number of the correlation matrix of
        the decoded sources inverted as it is; above it the matrix is shrunk
        towards the identity until its condition number is ``max_condition``
        (see the module notes). None: the exact formula, however ill-conditioned.

    Returns
    -------
    ChannelTimeMaps
        ``data[k]`` is direction *k*'s pattern reshaped to (n_channels, n_times),
        with ``w_k = coef_.T @ directions[k]``; a direction the decoder ignores
        (``Var(X w_k) = 0``) gives a zero map. ``notes`` says when the joint
        patterns were regularised, with the condition number and the shrinkage.

    Notes
    -----
    :class:`mne.decoding.LinearModel` computes ``Cov(X) W Cov(Y)^-1`` with the
    covariance of the targets it was fitted on; Haufe's formula uses the
    covariance of the decoded sources. The two coincide for a least-squares
    fit to targets that are themselves linear in ``X`` (e.g. the decoder's own
    predictions).
    """
    if method not in ("joint", "marginal"):
        raise ValueError(f"method must be 'joint' or 'marginal'; got {method!r}")
    if max_condition is not None and not max_condition > 1.0:
        raise ValueError(f"max_condition must be above 1 (or None), got {max_condition}")
    X, ch_names, times = _axes(X, ch_names, times)
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    if coef.shape[1] != X.shape[1]:
        raise ChannelMismatchError(
            f"the decoder has {coef.shape[1]} input features but X has {X.shape[1]}"
        )
    if directions is None:  # one map per target: the filters are the decoder's rows
        filters_t = coef
    else:
        directions = np.atleast_2d(np.asarray(directions, dtype=np.float64))
        if directions.shape[1] != coef.shape[0]:
            raise DataFormatError(
                f"directions have {directions.shape[1]} latent dimensions but the decoder "
                f"has {coef.shape[0]} targets"
            )
        filters_t = directions @ coef
    names = _names(names, filters_t.shape[0], "direction", "directions")
    cov_w, filters = _covariance_times_filters(X, filters_t, batch_size)
    notes: tuple[str, ...] = ()
    if method == "marginal":
        var = np.einsum("ij,ij->j", filters, cov_w)  # Var(s_k), scaled like cov_w
        maps = (cov_w * np.divide(1.0, var, out=np.zeros_like(var), where=var > 0)).T
    else:
        condition, shrinkage = _source_conditioning(cov_w, filters, max_condition)
        if shrinkage == 0.0:
            maps = _joint_patterns(cov_w, filters)
        else:
            maps = _shrunk_joint_patterns(cov_w, filters, shrinkage)
            notes = (f"the decoded sources are nearly collinear (condition number "
                     f"{condition:.3g} of their correlation matrix, above {max_condition:g}): "
                     f"joint patterns from the correlation shrunk towards the identity by "
                     f"{shrinkage:.3f}, between joint and single-target patterns",)
            warnings.warn(notes[0], IllConditionedSourcesWarning, stacklevel=2)
    return ChannelTimeMaps(maps.reshape(-1, len(ch_names), len(times)), ch_names, times, names,
                           notes)


def _standardised(cov_w: np.ndarray, filters: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Filters and ``Cov(X) W`` of unit-variance sources, and the sources' SDs (0: ignored).

    ``cov_w`` carries a factor ``n - 1``, and so do the SDs returned, so that
    ``filters_s.T @ cov_s`` is the sources' correlation matrix (unit diagonal).
    """
    var = np.einsum("ij,ij->j", filters, cov_w)
    sd = np.sqrt(np.maximum(var, 0.0))
    live = sd > max(sd.max(initial=0.0), 1e-300) * 1e-12
    scale = np.where(live, sd, 1.0)
    return filters / scale * live, cov_w / scale * live, np.where(live, sd, 0.0)


def _row_space(filters: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``W = P V^T`` with ``V^T`` orthonormal rows: (P, V^T), or None for a zero ``W``."""
    s2, u = linalg.eigh(filters @ filters.T)
    keep = s2 > max(s2.max(initial=0.0), 0.0) * filters.shape[0] * np.finfo(np.float64).eps
    if not keep.any():
        return None
    s = np.sqrt(s2[keep])
    return u[:, keep] * s, (u[:, keep].T @ filters) / s[:, None]


def _source_conditioning(cov_w: np.ndarray, filters: np.ndarray,
                         max_condition: float | None) -> tuple[float, float]:
    """Condition number of the sources' correlation matrix, and the shrinkage it needs.

    The non-zero spectrum of the correlation ``R = W_s^T Cov(X) W_s`` of the
    unit-variance sources is that of ``R`` itself when there are no more
    directions than features, else that of the ``r x r`` matrix ``P^T Cov(X) P``
    (``W_s = P V^T``). The shrinkage ``lam`` solves ``((1 - lam) e_max + lam) /
    ((1 - lam) e_min + lam) = max_condition``.

    Returns
    -------
    condition : float
        Largest over smallest non-zero eigenvalue (1.0 when not computed).
    shrinkage : float
        0.0 when the condition number is at most ``max_condition``.
    """
    if max_condition is None or filters.shape[1] < 2:
        return 1.0, 0.0
    filters_s, cov_s, _ = _standardised(cov_w, filters)
    if filters.shape[1] <= filters.shape[0]:
        eigenvalues = linalg.eigvalsh(filters_s.T @ cov_s)
    else:
        factors = _row_space(filters_s)
        if factors is None:
            return 1.0, 0.0
        p, vt = factors
        eigenvalues = linalg.eigvalsh(p.T @ (cov_s @ vt.T))
    top = eigenvalues.max(initial=0.0)
    positive = eigenvalues[eigenvalues > top * len(eigenvalues) * np.finfo(np.float64).eps]
    if len(positive) < 2:
        return 1.0, 0.0
    e_max, e_min = float(positive.max()), float(positive.min())
    condition = e_max / e_min
    if condition <= max_condition:
        return condition, 0.0
    gap = e_max - max_condition * e_min
    return condition, float(np.clip(gap / (max_condition - 1.0 + gap), 0.0, 1.0))


def _shrunk_joint_patterns(cov_w: np.ndarray, filters: np.ndarray, shrinkage: float
                           ) -> np.ndarray:
    """Joint patterns with the sources' correlation ``R`` replaced by ``(1 - lam) R + lam I``.

    With unit-variance sources (filters ``W_s``), ``Cov(X) W_s`` vanishes on the
    null space of ``R``, so only its row space matters: for ``W_s = P V^T`` the
    pattern matrix is ``(Cov(X) P ((1 - lam) P^T Cov(X) P + lam I)^-1 V^T)^T``.
    Each pattern is then divided by its source's standard deviation (patterns
    are per unit of the source, as in the exact formula).

    Parameters
    ----------
    cov_w : ndarray, shape (n_features, n_directions)
        ``Cov(X) W_D`` scaled by ``n - 1``.
    filters : ndarray, shape (n_features, n_directions)
    shrinkage : float
        ``lam`` in (0, 1].

    Returns
    -------
    maps : ndarray, shape (n_directions, n_features)
    """
    filters_s, cov_s, sd = _standardised(cov_w, filters)  # filters_s.T @ cov_s is R
    n_features, n_directions = filters.shape
    if n_directions <= n_features:
        shrunk = (1.0 - shrinkage) * (filters_s.T @ cov_s) + shrinkage * np.eye(n_directions)
        maps = linalg.solve(shrunk, cov_s.T, assume_a="pos")
    else:
        factors = _row_space(filters_s)
        if factors is None:
            return np.zeros((n_directions, n_features))
        p, vt = factors
        cov_p = cov_s @ vt.T  # Cov(X) P, scaled like cov_s
        inner = (1.0 - shrinkage) * (p.T @ cov_p) + shrinkage * np.eye(p.shape[1])
        maps = vt.T @ linalg.solve(inner, cov_p.T, assume_a="pos")
    return maps / np.where(sd > 0, sd, np.inf)[:, None]


def _joint_patterns(cov_w: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """``A = Cov(X) W_D Cov(S)^+`` inverting at most a ``min(p, K)``-sized matrix.

    ``Cov(S) = W_D^T Cov(X) W_D`` (K x K) has rank at most ``min(p, K)``. With no
    more directions than features it is pseudo-inverted directly. Otherwise,
    writing ``W_D = P V^T`` (``P = U s`` from the eigendecomposition of the
    ``p x p`` matrix ``W_D W_D^T``, ``V`` orthonormal), ``Cov(S) = V (P^T Cov(X) P)
    V^T`` and its pseudo-inverse is exactly ``V (P^T Cov(X) P)^+ V^T``: only an
    ``r x r`` matrix (``r <= p``) is inverted, so K may be a 36,864-d VAE latent.

    Parameters
    ----------
    cov_w : ndarray, shape (n_features, n_directions)
        ``Cov(X) W_D`` (any common scale).
    filters : ndarray, shape (n_features, n_directions)
        ``W_D``.

    Returns
    -------
    maps : ndarray, shape (n_directions, n_features)
    """
    n_features, n_directions = filters.shape
    if n_directions <= n_features:
        return (cov_w @ linalg.pinvh(filters.T @ cov_w)).T
    factors = _row_space(filters)
    if factors is None:  # the decoder ignores every direction
        return np.zeros((n_directions, n_features))
    p, vt = factors  # vt: orthonormal rows
    cov_p = cov_w @ vt.T  # Cov(X) P
    return (cov_p @ linalg.pinvh(p.T @ cov_p) @ vt).T


def _covariance_times_filters(X: np.ndarray, filters_t: np.ndarray, batch_size: int
                              ) -> tuple[np.ndarray, np.ndarray]:
    """``Cov(X) W_D`` (scaled by n - 1) and ``W_D``, in blocks of directions.

    Through the ``p x p`` scatter matrix when there are fewer features than
    samples, otherwise through the ``n x batch`` sources (never both large).

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    filters_t : ndarray, shape (n_directions, n_features)
        One spatio-temporal filter per direction.
    batch_size : int

    Returns
    -------
    cov_w, filters : ndarray, shape (n_features, n_directions)
    """
    Xc = X - X.mean(axis=0)
    scatter = Xc.T @ Xc if X.shape[1] <= X.shape[0] else None
    filters = np.ascontiguousarray(filters_t.T)
    cov_w = np.empty_like(filters)
    for start in range(0, filters.shape[1], batch_size):
        block = slice(start, start + batch_size)
        if scatter is not None:
            cov_w[:, block] = scatter @ filters[:, block]
        else:
            cov_w[:, block] = Xc.T @ (Xc @ filters[:, block])
    return cov_w, filters


class LatentEncoder(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Encoding ridge from z-scored latents back to z-scored EEG features.

    The published "latent-filtered EEG patterns" read a decoder back into EEG
    space through this encoder: a :class:`~perceptogram.linear.ridge.Ridge`
    (``alpha``, 1e3 in the paper) from the training latents to the training
    EEG features, both z-scored per dimension with their training mean and
    standard deviation (``ddof=0``; constant dimensions keep scale 1).

    A scikit-learn regressor (``get_params``, ``set_params``, ``clone``,
    ``fit(X=latents, y=eeg)``, ``predict(latents)``, ``score``): its input is
    the latents and its target the EEG features.

    Parameters
    ----------
    alpha : float
        Regularisation of the encoder.
    backend, device, dtype
        Passed to the encoder's :class:`~perceptogram.linear.ridge.Ridge`.

    Attributes
    ----------
    latent_mean_, latent_scale_ : ndarray, shape (n_latent,)
        Training-latent statistics used to z-score every latent.
    feature_mean_, feature_scale_ : ndarray, shape (n_channels * n_times,)
        Training-feature statistics; maps are in units of ``feature_scale_``
        (for features from :func:`perceptogram.data.core.prepare.prepare`, already
        z-scored with the same statistics, these are the features' own units).
    ridge_ : Ridge
        Fitted encoder, ``coef_`` of shape (n_channels * n_times, n_latent).
    ch_names_ : tuple of str, length n_channels, or None
    times_ : ndarray, shape (n_times,), or None
        Axes of the EEG features (None when fitted on a plain array without
        them: :meth:`predict` works, the map methods need them).
    n_features_in_ : int
        Number of latent dimensions.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptogram.linear.patterns import LatentEncoder
    >>> rng = np.random.default_rng(0)
    >>> latents = rng.normal(size=(50, 3))
    >>> eeg = latents @ rng.normal(size=(3, 2 * 4)) + rng.normal(size=(50, 8))
    >>> encoder = LatentEncoder(alpha=1.0).fit(latents, eeg, ch_names=["O1", "O2"],
    ...                                        times=[0.0, 0.01, 0.02, 0.03])
    >>> encoder.predict(latents).shape
    (50, 8)
    >>> encoder.direction_maps([1.0, 0.0, 0.0]).data.shape
    (1, 2, 4)
    """

    def __init__(self, alpha: float = 1e3, *, backend: str = "numpy",
                 device: str | None = None, dtype: str = "float32") -> None:
        self.alpha = alpha
        self.backend = backend
        self.device = device
        self.dtype = dtype

    def fit(self, X: Any, y: Any, *, ch_names: Sequence[str] | None = None,
            times: Any = None) -> LatentEncoder:
        """Fit the encoder latents -> EEG features.

        scikit-learn's names, the encoder's direction: ``X`` holds the latents
        (the encoder's input) and ``y`` the EEG features (its targets).

        Parameters
        ----------
        X : array-like, shape (n_train, n_latent)
            True latents of the training images.
        y : ndarray, shape (n_train, n_channels * n_times) or (n_train,), or EEGFeatures
            Training EEG features, flattened channel-major.
        ch_names, times : optional
            Axes of ``y`` (taken from ``y`` when it is an EEGFeatures); needed
            only by :meth:`project` and :meth:`direction_maps`.

        Returns
        -------
        self
        """
        if isinstance(y, EEGFeatures) or ch_names is not None or times is not None:
            y, self.ch_names_, self.times_ = _axes(y, ch_names, times)
        else:
            self.ch_names_, self.times_ = None, None
        latents, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                                   dtype=np.float64, ensure_min_samples=2)
        self._y_ndim = np.ndim(y)
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        self.latent_mean_, self.latent_scale_ = _zscore_stats(latents)
        self.feature_mean_, self.feature_scale_ = _zscore_stats(y)
        self.ridge_ = Ridge(alpha=self.alpha, backend=self.backend, device=self.device,
                            dtype=self.dtype)
        self.ridge_.fit((latents - self.latent_mean_) / self.latent_scale_,
                        (y - self.feature_mean_) / self.feature_scale_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """EEG features the encoder predicts for latents, in the units of ``y``.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_latent)
            Latents.

        Returns
        -------
        y : ndarray, shape (n_samples, n_channels * n_times) or (n_samples,)
            Shaped like the ``y`` given to :meth:`fit`.
        """
        z = self._z_predict(X)
        pred = z * self.feature_scale_ + self.feature_mean_
        return pred[:, 0] if self._y_ndim == 1 else pred

    def _z_predict(self, latents: Any) -> np.ndarray:
        """Prediction in z-scored feature units, shape (n_samples, n_features)."""
        check_is_fitted(self, "ridge_")
        latents = validate_data(self, latents, reset=False, dtype=np.float64)
        z = self.ridge_.predict((latents - self.latent_mean_) / self.latent_scale_)
        return np.asarray(z, dtype=np.float64).reshape(len(latents), -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _maps(self, flat: Any, names: tuple[str, ...]) -> ChannelTimeMaps:
        check_is_fitted(self, "ridge_")
        if self.ch_names_ is None:
            raise DataFormatError(
                "the encoder was fitted without channel names and times; fit it on "
                "EEGFeatures or pass ch_names= and times= to fit() to get maps"
            )
        data = np.asarray(flat, dtype=np.float64).reshape(
            -1, len(self.ch_names_), len(self.times_))
        return ChannelTimeMaps(data, self.ch_names_, self.times_, names)

    def project(self, decoded: Any, names: Sequence[str] | None = None) -> ChannelTimeMaps:
        """Latent-filtered EEG pattern of each decoded latent.

        Parameters
        ----------
        decoded : array-like, shape (n_images, n_latent)
            Decoded latents (e.g. of the test images), z-scored here with the
            training-latent statistics.
        names : sequence of str, optional
            Name of each map (e.g. the image files); default ``"image 0"``, ...

        Returns
        -------
        ChannelTimeMaps
            One map per decoded latent, in z-scored feature units.
        """
        check_is_fitted(self, "ridge_")
        decoded = _as_rows(decoded, self.latent_mean_.shape[0], "decoded latents")
        names = _names(names, decoded.shape[0], "image", "decoded latents")
        return self._maps(self._z_predict(decoded), names)

    def direction_maps(self, directions: Any,
                       names: Sequence[str] | None = None) -> ChannelTimeMaps:
        """EEG change the encoder predicts for a step along each latent direction.

        The encoder is linear, so the pattern of ``m + d`` minus the pattern of
        ``m`` is the same for every latent ``m``: the map of the direction
        ``d`` itself, free of the other latent dimensions that two finite
        groups of images happen to differ in.

        Parameters
        ----------
        directions : array-like, shape (n_maps, n_latent) or (n_latent,)
            Steps in (raw, not z-scored) latent units, e.g. the difference of
            two groups' mean latents.
        names : sequence of str, optional
            Name of each map; default ``"direction 0"``, ...

        Returns
        -------
        ChannelTimeMaps
            ``ridge_.coef_ @ (d / latent_scale_)`` per direction, in z-scored
            feature units.
        """
        check_is_fitted(self, "ridge_")
        directions = _as_rows(np.atleast_2d(directions), self.latent_mean_.shape[0],
                              "directions")
        names = _names(names, directions.shape[0], "direction", "directions")
        coef = np.asarray(self.ridge_.coef_, dtype=np.float64)
        return self._maps((directions / self.latent_scale_) @ coef.T, names)


def decode_encode_patterns(decoded: Any, latents: Any, X: Any, *, alpha: float = 1e3,
                           ch_names: Sequence[str] | None = None, times: Any = None,
                           names: Sequence[str] | None = None, backend: str = "numpy",
                           device: str | None = None, dtype: str = "float32"
                           ) -> ChannelTimeMaps:
    """Latent-filtered EEG patterns: decoded latents pushed through an encoding ridge.

    Shorthand for ``LatentEncoder(alpha, ...).fit(latents, X).project(decoded)``
    (see :class:`LatentEncoder`; fit the encoder once and call
    :meth:`LatentEncoder.project` / :meth:`LatentEncoder.direction_maps` to
    reuse it).

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
    encoder = LatentEncoder(alpha, backend=backend, device=device, dtype=dtype)
    return encoder.fit(latents, X, ch_names=ch_names, times=times).project(decoded, names)
