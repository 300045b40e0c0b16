"""Cross-validation splits for choosing the ridge regularisation on training data.

THINGS-EEG2 training images come ten per concept and the test concepts are new,
so the honest split keeps all images of a concept in the same fold
(:class:`sklearn.model_selection.GroupKFold` with the concepts as groups).

A user's picture set may hold fewer concepts than folds (faces and houses: two).
Grouped folds would then leave a whole category out of training, and the alpha
chosen would be the one that best predicts a category never seen, not new
pictures. :func:`decoder_folds` chooses the units of the folds from what the
training rows hold, and says so in one sentence when they are not the concepts:

1. at least ``n_splits`` concepts: grouped K-fold over concepts (THINGS-EEG2, the
   simulators; unchanged);
2. else at least ``n_splits`` images: grouped K-fold over images (rows that show
   one image, e.g. groups of its epochs, stay in one fold): validation pictures
   are new pictures of concepts seen in training;
3. else K-fold over rows (at most one fold per row): validation rows are new
   epochs of images seen in training, as a test split cut in time shows them.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
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


@dataclass(frozen=True)
class DecoderFolds:
    """How alpha is cross-validated on one subject's training rows.

    Attributes
    ----------
    cv : {"group", "kfold"}
        The ``cv`` of :class:`~perceptogram.linear.ridge.RidgeCV`.
    n_splits : int
    groups : ndarray of int, shape (n_rows,) or None
        Fold units for ``"group"`` (concept or image of each row); None for
        ``"kfold"``.
    unit : {"concept", "image", "row"}
        What a fold keeps together.
    note : str or None
        One sentence when the folds are not over concepts (None otherwise).
    """

    cv: str
    n_splits: int
    groups: np.ndarray | None
    unit: str
    note: str | None


def decoder_folds(concepts: Any, images: Any, n_splits: int) -> DecoderFolds:
    """Folds for choosing alpha: concepts, else images, else rows (module notes).

    Parameters
    ----------
    concepts : array-like of str, shape (n_rows,)
        Concept of each training row.
    images : array-like of str, shape (n_rows,)
        Image each training row shows (rows that share an image share it).
    n_splits : int
        Folds asked for (``decoder.n_splits``), at least 2.

    Returns
    -------
    DecoderFolds

    Raises
    ------
    DataFormatError
        Fewer than two training rows.
    """
    concepts, images = np.asarray(concepts).astype(str), np.asarray(images).astype(str)
    n_rows = len(concepts)
    if len(images) != n_rows:
        raise DataFormatError(f"{n_rows} concepts for {len(images)} images of training rows")
    if n_splits < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {n_splits}")
    if n_rows < 2:
        raise DataFormatError(f"cannot choose alpha by cross-validation from {n_rows} "
                              "training row(s); at least 2 are needed")
    concept_ids = np.unique(concepts, return_inverse=True)[1]
    n_concepts = int(concept_ids.max()) + 1
    if n_concepts >= n_splits:
        return DecoderFolds("group", n_splits, concept_ids, "concept", None)
    image_ids = np.unique(images, return_inverse=True)[1]
    n_images = int(image_ids.max()) + 1
    head = (f"the training pictures hold {n_concepts} concept{'s' * (n_concepts != 1)}, "
            f"fewer than the {n_splits} folds of grouped cross-validation, so alpha was "
            "chosen by ")
    if n_images >= n_splits:
        return DecoderFolds(
            "group", n_splits, image_ids, "image",
            head + f"{n_splits}-fold cross-validation over the {n_images} training images "
            "(rows that show one image stay in one fold), not over concepts: validation "
            "pictures are new pictures of concepts seen in training")
    k = min(n_splits, n_rows)
    return DecoderFolds(
        "kfold", k, None, "row",
        head + f"{k}-fold cross-validation over the {n_rows} training rows (only "
        f"{n_images} image{'s' * (n_images != 1)}: rows that show one image fall in "
        "several folds), not over concepts or images: validation rows are new epochs of "
        "images seen in training")
