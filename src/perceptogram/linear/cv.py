"""Cross-validation splits for choosing the ridge regularisation on training data.

THINGS-EEG2 training images come ten per concept and the test concepts are new,
so the honest split keeps all images of a concept in the same fold
(:class:`sklearn.model_selection.GroupKFold` with the concepts as groups).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold, KFold

from perceptogram.errors import DataFormatError

#: Names accepted for ``cv`` besides an int and a scikit-learn splitter.
CV_NAMES = ("group", "kfold", "loo")


def check_groups(groups: Any, n_samples: int) -> np.ndarray:
    """Validate a group vector (one label per sample).

    Parameters
    ----------
    groups : array-like, shape (n_samples,)
        Group label of each sample (e.g. the concept of each image).
    n_samples : int

    Returns
    -------
    ndarray, shape (n_samples,)
    """
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.shape[0] != n_samples:
        raise DataFormatError(
            f"groups must have one label per sample, shape ({n_samples},); "
            f"got shape {groups.shape}"
        )
    return groups


def make_splits(cv: Any, n_splits: int, n_samples: int, groups: Any = None
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Training/validation index pairs for a ``cv`` specification.

    Parameters
    ----------
    cv : {"group", "kfold"}, int or scikit-learn splitter
        ``"group"``: :class:`~sklearn.model_selection.GroupKFold` with
        ``n_splits`` folds (folds keep a group together); without ``groups``, plain
        ``KFold`` with a ``UserWarning`` saying so.
        ``"kfold"``: unshuffled :class:`~sklearn.model_selection.KFold` with
        ``n_splits`` folds (contiguous blocks; groups ignored).
        int ``K``: ``GroupKFold(K)`` when ``groups`` is given, else ``KFold(K)``.
        A splitter: its ``split(X, y, groups)`` is used as is.
    n_splits : int
        Number of folds for ``"group"`` and ``"kfold"``.
    n_samples : int
    groups : array-like, shape (n_samples,) or None

    Returns
    -------
    list of (ndarray, ndarray)
        Training and validation row indices of each fold.
    """
    if groups is not None:
        groups = check_groups(groups, n_samples)
    if isinstance(cv, str):
        if cv not in ("group", "kfold"):
            raise ValueError(f"cv must be one of {CV_NAMES}, an int or a splitter; got {cv!r}")
        if cv == "group" and groups is None:
            warnings.warn(
                f"cv='group' was given no groups: using plain {n_splits}-fold cross-"
                "validation. Pass fit(X, Y, groups=...) (e.g. the concept of each image) so "
                "that related samples never straddle folds, or set cv='kfold' or cv='loo' to "
                "silence this",
                UserWarning, stacklevel=3)
        grouped = cv == "group" and groups is not None
        splitter, k = (GroupKFold(n_splits) if grouped else KFold(n_splits)), n_splits
    elif isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        k = int(cv)
        splitter = GroupKFold(k) if groups is not None else KFold(k)
    elif hasattr(cv, "split"):
        splitter, k = cv, None
    else:
        raise ValueError(f"cv must be one of {CV_NAMES}, an int or a splitter; got {cv!r}")
    if k is not None:
        if k < 2:
            raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
        units = (np.unique(groups).shape[0], "groups") if isinstance(splitter, GroupKFold) \
            else (n_samples, "samples")
        if units[0] < k:
            raise DataFormatError(
                f"cannot make {k} folds from {units[0]} {units[1]}; use fewer folds"
            )
    X_dummy = np.zeros((n_samples, 1))
    splits = [(np.asarray(train), np.asarray(val))
              for train, val in splitter.split(X_dummy, None, groups)]
    for train, val in splits:
        if train.size == 0 or val.size == 0:
            raise DataFormatError(
                "a cross-validation fold has no training or no validation sample"
            )
    return splits
