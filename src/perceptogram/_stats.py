"""The one per-dimension correlation, with one NaN policy, for metrics and probes.

Policy: a dimension that is constant in either array has no correlation, so it
gets ``NaN`` (never 0, which would read as "decoded at chance" and drag means
down). Means over dimensions exclude those NaN and say how many were excluded
(:func:`nanmean_count`). :mod:`perceptogram.evaluate.metrics` (latent r) and
:mod:`perceptogram.interpret.quality` (probe quality) both use these functions.
"""

from __future__ import annotations

import numpy as np

from perceptogram.errors import DataFormatError

__all__ = ["dimension_correlation", "nanmean_count", "CONSTANT_RTOL"]

#: A column whose standard deviation is at most ``CONSTANT_RTOL`` times its largest
#: absolute value is constant (rounding noise, not signal).
CONSTANT_RTOL = 1e-10


def dimension_correlation(Y_true: np.ndarray, Y_pred: np.ndarray) -> np.ndarray:
    """Pearson r between true and decoded values of each dimension, across samples.

    Parameters
    ----------
    Y_true, Y_pred : ndarray, shape (n_samples, n_dims) or (n_samples,)

    Returns
    -------
    r : ndarray of float64, shape (n_dims,)
        ``r[k] = pearsonr(Y_true[:, k], Y_pred[:, k])``; NaN where either column
        is constant (see the module's NaN policy).
    """
    Y_true = np.asarray(Y_true, dtype=np.float64)
    Y_pred = np.asarray(Y_pred, dtype=np.float64)
    if Y_true.ndim == 1:
        Y_true = Y_true[:, None]
    if Y_pred.ndim == 1:
        Y_pred = Y_pred[:, None]
    if Y_true.shape != Y_pred.shape or Y_true.ndim != 2:
        raise DataFormatError(
            f"per-dimension correlation needs two arrays of one shape (n_samples, n_dims); "
            f"got {Y_true.shape} and {Y_pred.shape}"
        )
    if len(Y_true) < 2:
        raise DataFormatError("per-dimension correlation needs at least 2 samples")
    a = Y_true - Y_true.mean(axis=0)
    b = Y_pred - Y_pred.mean(axis=0)
    ss_a = np.einsum("ij,ij->j", a, a)
    ss_b = np.einsum("ij,ij->j", b, b)
    constant = _constant(ss_a, Y_true) | _constant(ss_b, Y_pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.einsum("ij,ij->j", a, b) / np.sqrt(ss_a * ss_b)
    return np.where(constant, np.nan, np.clip(r, -1.0, 1.0))


def _constant(sum_squares: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Columns whose spread is rounding noise relative to their magnitude."""
    scale = np.abs(values).max(axis=0)
    return np.sqrt(sum_squares / len(values)) <= CONSTANT_RTOL * scale


def nanmean_count(values: np.ndarray) -> tuple[float, int]:
    """Mean of the finite values and how many values were excluded.

    Parameters
    ----------
    values : ndarray, shape (n,)

    Returns
    -------
    mean : float
        NaN when no value is finite.
    n_excluded : int
        Number of non-finite values left out.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(values)
    mean = float(values[finite].mean()) if finite.any() else float("nan")
    return mean, int(values.size - np.count_nonzero(finite))
