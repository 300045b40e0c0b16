"""The one correlation and row similarity, with one NaN policy, for metrics, probes and retrieval.

Policy: something that does not vary has no direction, so every correlation or
similarity with it is ``NaN`` (never 0, which would read as "decoded at chance"
and drag means down):

- a *dimension* (column) constant in either array: :func:`dimension_correlation`
  gives NaN; means over dimensions exclude those NaN and say how many were
  excluded (:func:`nanmean_count`);
- a *row* with no spread (all zeros for cosine; constant for correlation):
  :func:`unit_rows` gives a NaN row, so :func:`row_similarity` gives NaN against
  every other row. Whoever ranks similarities treats NaN as the worst value: a
  NaN candidate is never retrieved, and a query whose own similarity is NaN
  counts as a miss.

"Constant" means a spread of at most :data:`CONSTANT_RTOL` times the largest
absolute value (rounding noise, not signal), or a few float32 rounding steps for
float32 rows. :mod:`perceptogram.evaluate.metrics` (latent r, PixCorr, two-way
identification, retrieval ranks), :mod:`perceptogram.interpret.quality` (probe
quality) and :mod:`perceptogram.reconstruct.retrieval` (nearest image) all use
these functions.
"""

from __future__ import annotations

import numpy as np

from perceptogram.errors import DataFormatError

__all__ = ["dimension_correlation", "nanmean_count", "row_similarity", "unit_rows",
           "CONSTANT_RTOL"]

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


def unit_rows(a: np.ndarray, *, centre: bool = False, dtype: type = np.float64) -> np.ndarray:
    """Each row scaled to unit Euclidean norm (centred on its mean first with ``centre``).

    Dot products of unit rows are cosine similarities (``centre=False``) or
    Pearson correlations (``centre=True``).

    Parameters
    ----------
    a : ndarray, shape (n_rows, n_features)
    centre : bool
        Subtract each row's mean before scaling.
    dtype : numpy dtype
        Working and output precision (retrieval works in float32).

    Returns
    -------
    rows : ndarray of ``dtype``, shape (n_rows, n_features)
        NaN for a row without spread (see the module's NaN policy).
    """
    original = np.asarray(a, dtype=dtype)
    a = original - original.mean(axis=1, keepdims=True) if centre else original
    sum_squares = np.einsum("ij,ij->i", a, a)
    rtol = max(CONSTANT_RTOL, 8 * float(np.finfo(dtype).eps)) if centre else 0.0
    scale = np.abs(original).max(axis=1, initial=0.0)
    flat = np.sqrt(sum_squares / max(a.shape[1], 1)) <= rtol * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        rows = a / np.sqrt(sum_squares)[:, None]
    rows[flat] = np.nan
    return rows


def row_similarity(a: np.ndarray, b: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """Cosine similarity or Pearson correlation between every row of ``a`` and of ``b``.

    Parameters
    ----------
    a : ndarray, shape (n_a, n_features)
    b : ndarray, shape (n_b, n_features)
    metric : {"cosine", "correlation"}

    Returns
    -------
    s : ndarray of float64, shape (n_a, n_b)
        NaN in the rows / columns of rows without spread (the module's NaN policy).
    """
    if metric not in ("cosine", "correlation"):
        raise ValueError(f"metric must be 'cosine' or 'correlation'; got {metric!r}")
    centre = metric == "correlation"
    return unit_rows(a, centre=centre) @ unit_rows(b, centre=centre).T


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
