"""Decoding quality functions and the default decoder used by the probes.

Every probe (channel removal, mirroring, time windows) takes a ``quality``
callable ``quality(Y_true, Y_pred) -> float or ndarray`` and a ``fit_decoder``
callable ``fit_decoder(X, Y, groups) -> fitted model with predict``, so any
metric and any linear (or non-linear) decoder can be probed the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from perceptogram._stats import dimension_correlation, nanmean_count
from perceptogram.linear.ridge import RidgeCV

__all__ = [
    "DecoderFit",
    "Predictor",
    "Quality",
    "column_correlation",
    "dimension_correlation",  # re-exported from perceptogram._stats (the one implementation)
    "fit_ridge",
    "mean_correlation",
]


class Predictor(Protocol):
    """A fitted decoder: ``predict(X (n, n_features)) -> (n, n_targets)``."""

    def predict(self, X: np.ndarray) -> np.ndarray: ...


#: ``fit_decoder(X (n, n_features), Y (n, n_targets), groups (n,) or None) -> Predictor``
DecoderFit = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], Predictor]
#: ``quality(Y_true (n, n_targets), Y_pred (n, n_targets)) -> float or ndarray``
Quality = Callable[[np.ndarray, np.ndarray], "float | np.ndarray"]


def mean_correlation(Y_true: np.ndarray, Y_pred: np.ndarray) -> float:
    """Mean over latent dimensions of :func:`dimension_correlation`.

    Constant dimensions (NaN correlation) are left out of the mean, as in the
    evaluation tables (:mod:`perceptogram._stats`); NaN when every dimension is
    constant.
    """
    return nanmean_count(dimension_correlation(Y_true, Y_pred))[0]


def column_correlation(column: int) -> Quality:
    """Quality = correlation of one latent dimension (e.g. one attribute).

    Parameters
    ----------
    column : int
        Index of the latent dimension.
    """

    def quality(Y_true: np.ndarray, Y_pred: np.ndarray) -> float:
        return float(dimension_correlation(np.asarray(Y_true)[:, column],
                                           np.asarray(Y_pred)[:, column])[0])

    quality.__name__ = f"correlation[{column}]"
    return quality


def fit_ridge(X: np.ndarray, Y: np.ndarray, groups: np.ndarray | None = None) -> Predictor:
    """Default decoder: :class:`perceptogram.linear.ridge.RidgeCV`.

    The regularisation is chosen by cross-validation on ``(X, Y)`` only,
    grouped by ``groups`` (concepts) when given.
    """
    cv = "group" if groups is not None else "kfold"
    return RidgeCV(cv=cv).fit(X, Y, groups=groups)
