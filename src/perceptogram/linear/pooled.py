"""Ridge regression pooled over subjects, from accumulated cross-products.

Leave-one-subject-out decoding fits one ridge on the training rows of several
subjects (each subject's averaged responses to its training pictures, z-scored
with its own training statistics and optionally mapped to a shared space by
:mod:`perceptogram.linear.alignment`). Concatenating 9 subjects x 16,540 x 1,360
features would hold every subject at once; here each subject is streamed once
into sufficient statistics (:class:`MomentAccumulator`):

- per cross-validation fold ``f``: the Gram matrix ``G_f = sum x x^T`` of the
  fold's rows (float64), their sum and their number;
- per picture ``q``: the sum over subjects of the rows showing ``q``
  (``x_by_picture[q]``) and how many rows that is (``multiplicity[q]``).

The targets (latents) belong to pictures, not to subjects, so over the pooled
rows of fold ``f`` the cross-product is ``X_f^T Y_f = x_by_picture[f]^T Y[f]``:
one product of the size of a single subject, whatever the number of subjects.
Folds group pictures (by concept, :func:`fold_of_pictures`), so a picture's rows
from every subject share one fold: no picture is ever validated on with its own
response from another subject in the training part.

Cross-validation errors, the eigendecompositions and the ridge weights come
from the kernels of :mod:`perceptogram.linear.solvers` (Gram form): a fold's
training Gram matrix is the total minus the fold's; its errors are expanded from
cross-products (:func:`perceptogram.linear.solvers.fold_errors`), without
forming a prediction. The result equals :class:`~perceptogram.linear.ridge.RidgeCV`
(and scikit-learn) on the concatenated rows with the same folds.

Memory: ``(n_folds + 1) x n_features^2`` float64 for the Gram matrices (15 MB each
at 1,360 features) plus ``n_pictures x n_features`` in the working dtype, plus
one subject's rows while it is added.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from perceptogram._progress import track
from perceptogram.errors import DataFormatError, PerceptogramError
from perceptogram.linear import solvers
from perceptogram.linear.backend import Backend, get_backend
from perceptogram.linear.cv import make_splits
from perceptogram.linear.ridge import (
    DEFAULT_ALPHAS,
    AlphaGridEdgeWarning,
    _BaseRidge,
    _grid_edge_message,
    _select,
    check_alphas,
)

#: Largest total size of the Gram matrices (all folds and the total) accumulated
#: by default, bytes: 4 GiB, i.e. about 9,000 features with 5 folds.
MAX_GRAM_BYTES = 4 * 2**30

#: Rows converted to float64 at a time while adding a subject.
CHUNK_ROWS = 2048

#: Floats in one (n_pictures, batch) block of targets by default (32 MiB in float32):
#: smaller than the single-subject estimators' blocks, to keep the pooled fit within
#: about twice one subject's data.
BLOCK_FLOATS = 2**23


def fold_of_pictures(groups: Any, n_splits: int = 5) -> np.ndarray:
    """Assign every picture to a cross-validation fold, keeping groups together.

    Parameters
    ----------
    groups : array-like, shape (n_pictures,)
        Group of each picture (THINGS: its concept). Pictures of one group share
        a fold (:class:`sklearn.model_selection.GroupKFold`).
    n_splits : int, default=5

    Returns
    -------
    folds : ndarray of int, shape (n_pictures,)
        Fold index in ``range(n_splits)`` of each picture.
    """
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise DataFormatError(f"groups must be 1-D, one label per picture; got {groups.shape}")
    splits = make_splits("group", n_splits, groups.shape[0], groups)
    folds = np.empty(groups.shape[0], dtype=np.intp)
    for f, (_, val) in enumerate(splits):
        folds[val] = f
    return folds


@dataclass
class PooledMoments:
    """Sufficient statistics of the pooled rows of several subjects.

    Every row ``x`` entered as ``x - origin``; pictures are stored in fold order
    (``order``), so a fold's pictures are the contiguous slice ``slices[f]``.

    Attributes
    ----------
    origin : ndarray, shape (n_features,), float64
        Shift subtracted from every row (the mean of the first rows added, for
        numerical centring; zeros without intercept).
    grams : ndarray, shape (n_folds, n_features, n_features), float64
        ``sum (x - origin)(x - origin)^T`` over the rows of each fold.
    sums : ndarray, shape (n_folds, n_features), float64
        ``sum (x - origin)`` over the rows of each fold.
    counts : ndarray, shape (n_folds,), float64
        Rows in each fold.
    x_by_picture : ndarray, shape (n_pictures, n_features), working dtype
        Sum of ``x - origin`` over the rows of each picture, pictures in fold
        order (row ``i`` is picture ``order[i]``).
    multiplicity : ndarray, shape (n_pictures,), float64
        Rows of each picture (fold order).
    order : ndarray of int, shape (n_pictures,)
        Picture index of each stored row.
    slices : list of slice, length n_folds
        Stored rows of each fold.
    n_subjects : int
        Number of calls to :meth:`MomentAccumulator.add`.
    """

    origin: np.ndarray
    grams: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    x_by_picture: np.ndarray
    multiplicity: np.ndarray
    order: np.ndarray
    slices: list[slice]
    n_subjects: int

    @property
    def n_features(self) -> int:
        return int(self.grams.shape[1])

    @property
    def n_pictures(self) -> int:
        return int(self.order.shape[0])

    @property
    def n_rows(self) -> float:
        return float(self.counts.sum())


class MomentAccumulator:
    """Stream subjects' rows into :class:`PooledMoments`, one subject at a time.

    Parameters
    ----------
    n_features : int
    folds : array-like of int, shape (n_pictures,)
        Cross-validation fold of every picture (:func:`fold_of_pictures`).
    fit_intercept : bool, default=True
        Whether rows are centred (``False`` keeps the origin at zero).
    dtype : {"float32", "float64"}, default="float32"
        Dtype of the per-picture sums (Gram matrices are always float64).
    max_gram_bytes : int, default=:data:`MAX_GRAM_BYTES`
        Refuse feature counts whose Gram matrices would exceed this size.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> folds = fold_of_pictures(np.arange(40) // 4, n_splits=5)  # 10 concepts
    >>> acc = MomentAccumulator(6, folds)
    >>> for subject in range(3):
    ...     acc.add(rng.standard_normal((40, 6)))  # row i shows picture i
    >>> acc.moments.n_rows, acc.moments.n_subjects
    (120.0, 3)
    """

    def __init__(self, n_features: int, folds: Any, *, fit_intercept: bool = True,
                 dtype: str = "float32", max_gram_bytes: int = MAX_GRAM_BYTES) -> None:
        folds = np.asarray(folds)
        if folds.ndim != 1 or folds.size == 0 or not np.issubdtype(folds.dtype, np.integer) \
                or folds.min() < 0:
            raise DataFormatError("folds must be a 1-D array of non-negative fold indices, "
                                  "one per picture")
        n_folds = int(folds.max()) + 1
        if n_folds < 2:
            raise DataFormatError("pooled cross-validation needs at least 2 folds")
        needed = (n_folds + 1) * n_features * n_features * 8
        if needed > max_gram_bytes:
            raise PerceptogramError(
                f"a pooled ridge on {n_features} features needs {needed / 2**30:.1f} GiB of "
                f"Gram matrices ({n_folds} folds), more than the limit of "
                f"{max_gram_bytes / 2**30:.1f} GiB; use fewer channels, a shorter time "
                "window or a lower sampling rate"
            )
        self.n_features = int(n_features)
        self.fit_intercept = fit_intercept
        self._dtype = np.dtype(dtype)
        order = np.argsort(folds, kind="stable")
        self._position = np.empty_like(order)
        self._position[order] = np.arange(order.size)
        bounds = np.searchsorted(folds[order], np.arange(n_folds + 1))
        self._fold_of_row = folds
        self._moments = PooledMoments(
            origin=np.zeros(n_features), grams=np.zeros((n_folds, n_features, n_features)),
            sums=np.zeros((n_folds, n_features)), counts=np.zeros(n_folds),
            x_by_picture=np.zeros((folds.size, n_features), dtype=self._dtype),
            multiplicity=np.zeros(folds.size), order=order,
            slices=[slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])],
            n_subjects=0)

    @property
    def moments(self) -> PooledMoments:
        """The statistics accumulated so far."""
        return self._moments

    def add(self, X: Any, pictures: Any = None) -> None:
        """Add one subject's rows.

        Parameters
        ----------
        X : array-like, shape (n_rows, n_features)
            The subject's rows (e.g. its z-scored, aligned training features).
        pictures : array-like of int, shape (n_rows,), or None
            Picture index of each row (``None``: row ``i`` shows picture ``i``,
            and there must be one row per picture).
        """
        X = np.asarray(X)
        m = self._moments
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataFormatError(f"a subject's rows must have shape (n_rows, "
                                  f"{self.n_features}); got {X.shape}")
        pictures = self._check_pictures(pictures, X.shape[0])
        if not np.isfinite(X).all():
            raise DataFormatError("a subject's rows contain NaN or infinite values")
        if m.n_subjects == 0 and self.fit_intercept and X.shape[0]:
            m.origin = X.mean(axis=0, dtype=np.float64)
        unique = np.unique(pictures).size == pictures.size
        rows_by_fold = np.argsort(self._fold_of_row[pictures], kind="stable")
        fold_bounds = np.searchsorted(self._fold_of_row[pictures][rows_by_fold],
                                      np.arange(m.counts.size + 1))
        for f in range(m.counts.size):
            rows = rows_by_fold[fold_bounds[f]:fold_bounds[f + 1]]
            for start in range(0, rows.size, CHUNK_ROWS):
                chunk = rows[start:start + CHUNK_ROWS]
                block = X[chunk].astype(np.float64) - m.origin
                m.grams[f] += block.T @ block
                m.sums[f] += block.sum(axis=0)
                where = self._position[pictures[chunk]]
                if unique:
                    m.x_by_picture[where] += block.astype(self._dtype, copy=False)
                else:
                    np.add.at(m.x_by_picture, where, block.astype(self._dtype, copy=False))
            m.counts[f] += rows.size
        np.add.at(m.multiplicity, self._position[pictures], 1.0)
        m.n_subjects += 1

    def _check_pictures(self, pictures: Any, n_rows: int) -> np.ndarray:
        n_pictures = self._fold_of_row.size
        if pictures is None:
            if n_rows != n_pictures:
                raise DataFormatError(f"a subject has {n_rows} rows for {n_pictures} pictures; "
                                      "pass pictures= to say which picture each row shows")
            return np.arange(n_pictures)
        pictures = np.asarray(pictures)
        if pictures.shape != (n_rows,) or not np.issubdtype(pictures.dtype, np.integer):
            raise DataFormatError(f"pictures must be {n_rows} integer picture indices, one "
                                  f"per row; got shape {pictures.shape}")
        if n_rows and (pictures.min() < 0 or pictures.max() >= n_pictures):
            raise DataFormatError(f"picture indices must lie in [0, {n_pictures})")
        return pictures


@dataclass
class _PooledFold:
    """A fold known only by its moments (the Gram-form fold of :mod:`solvers`)."""

    eigvals: Any
    eigvecs: Any
    factor: Any
    upper: bool
    x_mean: Any
    x_sum_val: Any
    n_train: float
    n_val: float
    index: int
    x_mean64: Any
    x_sum_val64: Any
    rows: slice


@dataclass
class PooledFit:
    """What :func:`fit_pooled_ridge` learned.

    Attributes
    ----------
    coef : ndarray, shape (n_targets, n_features)
    intercept : ndarray, shape (n_targets,)
    alpha : ndarray, shape (n_targets,)
    cv_errors : ndarray, shape (n_alphas, n_targets)
        Squared validation errors pooled over folds and rows, divided by the
        number of rows (as :attr:`RidgeCV.cv_errors_`).
    target_mean, target_var : ndarray, shape (n_targets,)
        Over the pooled rows.
    train_pred_mean, train_pred_scale : ndarray, shape (n_targets,)
        Mean and standard deviation of the predictions on the pooled rows.
    n_rescored : int
        Targets whose float32 errors were recomputed in float64.
    n_splits : int
        Folds that held rows.
    alpha_grid_edge : str or None
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray
    cv_errors: np.ndarray
    target_mean: np.ndarray
    target_var: np.ndarray
    train_pred_mean: np.ndarray
    train_pred_scale: np.ndarray
    n_rescored: int
    n_splits: int
    alpha_grid_edge: str | None


def _decompose(moments: PooledMoments, fit_intercept: bool, bk: Backend
               ) -> tuple[list[_PooledFold], solvers.Decomposition]:
    """Eigendecompose every fold's centred training Gram matrix and the total's."""
    total = moments.grams.sum(axis=0)
    total_sum = moments.sums.sum(axis=0)
    n = moments.n_rows
    mean = total_sum / n if fit_intercept else np.zeros(moments.n_features)
    used = [f for f in range(moments.counts.size) if moments.counts[f] > 0]
    if len(used) < 2:
        raise DataFormatError("the pooled rows fall in fewer than 2 cross-validation folds; "
                              "give more pictures or groups")

    def one(f: int | None) -> Any:
        """Fold ``f``'s decomposition and validation factor (``None``: the full Gram)."""
        if f is None:
            full_gram = total - n * np.outer(mean, mean)
            eigvals, eigvecs = bk.eigh(bk.asarray(full_gram, dtype=bk.float64))
            del full_gram
            return solvers.Decomposition(eigvals=eigvals, eigvecs=bk.asarray(eigvecs),
                                         primal=True)
        n_tr, n_va = float(n - moments.counts[f]), float(moments.counts[f])
        mu = (total_sum - moments.sums[f]) / n_tr if fit_intercept else np.zeros_like(mean)
        train_c, val_c = solvers.centre_fold_grams(total - moments.grams[f],
                                                   moments.grams[f].copy(), mu,
                                                   moments.sums[f], n_tr, n_va)
        eigvals, eigvecs = bk.eigh(bk.asarray(train_c, dtype=bk.float64))
        del train_c
        V = bk.asarray(eigvecs)
        del eigvecs
        factor, upper = solvers.fold_factor(V, val_c, bk)
        return _PooledFold(
            eigvals=eigvals, eigvecs=V, factor=bk.asarray(factor), upper=upper,
            x_mean=bk.asarray(mu), x_sum_val=bk.asarray(moments.sums[f]), n_train=n_tr,
            n_val=n_va, index=f, x_mean64=bk.asarray(mu, dtype=bk.float64),
            x_sum_val64=bk.asarray(moments.sums[f], dtype=bk.float64), rows=moments.slices[f])

    # One fold per core at a time, each on single-threaded LAPACK: only that many
    # centred p x p matrices are alive at once (the full Gram matrix last).
    *folds, full = bk.map_single_threaded(one, [*used, None])
    return folds, full


def _float64_backend(bk: Backend) -> Backend:
    return get_backend(bk.name, "float64", str(bk.device) if bk.name == "torch" else None)


def _exact_folds(folds: list[_PooledFold], moments: PooledMoments,
                 bk: Backend) -> list[_PooledFold]:
    """Float64 copies of the folds, decomposed again from the moments.

    Only for the rare targets whose float32 errors are rescored; recomputing
    keeps the float64 eigenvectors out of memory in the usual case.
    """
    bk64 = _float64_backend(bk)
    total = moments.grams.sum(axis=0)
    mats, vals = [], []
    for fold in folds:
        mu = bk64.to_numpy(fold.x_mean64)
        train_c, val_c = solvers.centre_fold_grams(
            total - moments.grams[fold.index], moments.grams[fold.index].copy(), mu,
            moments.sums[fold.index], fold.n_train, fold.n_val)
        mats.append(bk64.asarray(train_c))
        vals.append(val_c)
    out = []
    for fold, (eigvals, eigvecs), val_c in zip(folds, bk64.eigh_many(mats), vals):
        factor, upper = solvers.fold_factor(eigvecs, val_c, bk64)
        out.append(replace(fold, eigvals=eigvals, eigvecs=eigvecs, factor=factor,
                           upper=upper, x_mean=fold.x_mean64, x_sum_val=fold.x_sum_val64))
    return out


def _fold_errors(folds: list[_PooledFold], x_by_picture: np.ndarray,
                 targets: Callable[[slice], Any], weights: np.ndarray, alphas64: Any,
                 fit_intercept: bool, bk: Backend) -> tuple[Any, Any, Any, Any]:
    """Pooled validation errors of every alpha for one batch of targets.

    ``targets(rows)`` gives the (centred) targets of the stored rows ``rows``
    (pictures in fold order), one fold at a time, so that no copy of the whole
    batch is made; ``weights`` holds the rows per picture. Returns the summed
    squared errors (n_alphas, n_batch), the total cross-product (n_features,
    n_batch) and the weighted sum and sum of squares of the targets.
    """
    crosses, sums, sumsqs = [], [], []
    for fold in folds:
        Yf, wf = targets(fold.rows), bk.asarray(weights[fold.rows])
        crosses.append(bk.asarray(x_by_picture[fold.rows]).T @ Yf)
        sums.append(wf @ Yf)
        sumsqs.append(wf @ (Yf * Yf))
    total_cross = sum(crosses[1:], crosses[0])
    total_sum = sum(sums[1:], sums[0])
    total_sumsq = sum(sumsqs[1:], sumsqs[0])

    def one(job: tuple[int, slice]) -> Any:
        f, cols = job
        return solvers.fold_errors(
            folds[f], folds[f].n_train, folds[f].n_val,
            total_cross[:, cols] - crosses[f][:, cols], total_sum[cols] - sums[f][cols],
            crosses[f][:, cols], sums[f][cols], sumsqs[f][cols], alphas64, fit_intercept, bk)

    errors = solvers.sum_fold_jobs(one, len(folds), total_cross.shape[1], alphas64.shape[0], bk)
    return errors, total_cross, total_sum, total_sumsq


def fit_pooled_ridge(moments: PooledMoments, Y: Any, alphas: Any = DEFAULT_ALPHAS, *,
                     alpha_per_target: bool = True, fit_intercept: bool = True,
                     backend: str = "numpy", device: str | None = None,
                     dtype: str = "float32", batch_size: int | None = None) -> PooledFit:
    """Choose alpha per target by pooled cross-validation and fit the pooled ridge.

    Equivalent to :class:`~perceptogram.linear.ridge.RidgeCV` with ``cv`` the
    folds of ``moments`` on the concatenation of every subject's rows (each row
    paired with the latent of its picture), computed from the moments alone.

    Parameters
    ----------
    moments : PooledMoments
        From :class:`MomentAccumulator`.
    Y : array-like, shape (n_pictures, n_targets)
        Target (latent) of every picture, in picture order (not fold order).
    alphas : sequence of float, default=13 values log-spaced in [1e-1, 1e5]
        Strictly positive candidate regularisations.
    alpha_per_target : bool, default=True
        One alpha per target (``True``) or one shared by all targets.
    fit_intercept : bool, default=True
        Must match the accumulator's.
    backend, device, dtype
        As in :class:`~perceptogram.linear.ridge.RidgeCV`.
    batch_size : int or None
        Targets per batch (``None``: about 32 MiB of targets per batch,
        :data:`BLOCK_FLOATS`).

    Returns
    -------
    PooledFit
    """
    bk = get_backend(backend, dtype, device)
    alphas = check_alphas(alphas, allow_zero=False)
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[0] != moments.n_pictures:
        raise DataFormatError(f"Y must have shape (n_pictures={moments.n_pictures}, "
                              f"n_targets); got {Y.shape}")
    if not np.isfinite(Y).all():
        raise DataFormatError("Y contains NaN or infinite values")
    if moments.n_rows < 2:
        raise DataFormatError("the pooled ridge needs at least 2 rows")
    folds, full = _decompose(moments, fit_intercept, bk)
    n = moments.n_rows
    weights = moments.multiplicity
    y_sum = np.zeros(Y.shape[1])  # weighted sums, in blocks of pictures (no float64 copy)
    for start in range(0, moments.n_pictures, CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        y_sum += weights[rows] @ Y[moments.order[rows]].astype(np.float64)
    y_mean = y_sum / n if fit_intercept else np.zeros(Y.shape[1])
    x_mean = moments.origin + moments.sums.sum(axis=0) / n if fit_intercept \
        else np.zeros(moments.n_features)
    alphas64 = bk.asarray(alphas, dtype=bk.float64)
    x_by_picture = bk.asarray(moments.x_by_picture)
    n_targets, n_features = Y.shape[1], moments.n_features
    if batch_size is None:
        batch_size = max(64, BLOCK_FLOATS // max(moments.n_pictures, 1))
    batches = solvers.target_batches(n_targets, moments.n_pictures, batch_size)
    errors = np.empty((alphas.size, n_targets), dtype=np.dtype(dtype))
    coef = np.empty((n_targets, n_features), dtype=np.dtype(dtype))
    y_var = np.empty(n_targets)
    exact: list[_PooledFold] = []
    n_rescored = 0

    def block(batch: slice, rows: slice = slice(None)) -> Any:
        """Targets of a batch for stored rows ``rows`` (fold order), centred (working dtype)."""
        Yb = bk.asarray(Y[moments.order[rows], batch])  # a copy: centred in place
        if fit_intercept:
            Yb -= bk.asarray(y_mean[batch])
        return Yb

    for batch in track(batches, "pooled ridge: choosing alpha per target"):
        err, total_cross, t_sum, t_sumsq = _fold_errors(
            folds, moments.x_by_picture, lambda rows, b=batch: block(b, rows), weights,
            alphas64, fit_intercept, bk)
        mean_b = bk.to_numpy(t_sum).astype(np.float64) / n
        y_var[batch] = np.clip(bk.to_numpy(t_sumsq) / n - mean_b ** 2, 0.0, None)
        err = bk.to_numpy(err) / n
        if dtype == "float32":
            flagged = np.flatnonzero(solvers.needs_exact(err, y_var[batch]))
            if flagged.size:
                if not exact:
                    exact = _exact_folds(folds, moments, bk)
                bk64 = _float64_backend(bk)
                cols = np.arange(batch.start, batch.stop)[flagged]
                Y64 = Y[np.ix_(moments.order, cols)].astype(np.float64) - (
                    y_mean[cols] if fit_intercept else 0.0)
                err64 = _fold_errors(exact, moments.x_by_picture,
                                     lambda rows, y=Y64: bk64.asarray(y[rows]), weights, alphas64, fit_intercept, bk64)[0]
                err = err.copy()
                err[:, flagged] = bk64.to_numpy(err64) / n
                n_rescored += int(flagged.size)
        errors[:, batch] = err
        if alpha_per_target:
            proj = full.eigvecs.T @ total_cross
            best = alphas[_select(errors[:, batch])]
            coef[batch] = bk.to_numpy(solvers.ridge_coef(None, full, proj, best, bk))
    if alpha_per_target:
        alpha = alphas[_select(errors)]
    else:
        total = np.where(np.isfinite(errors), errors, np.inf).astype(np.float64).sum(axis=1)
        alpha = np.full(n_targets, alphas[int(np.argmin(total))])
        for batch in batches:
            Yb = block(batch)
            total_cross = x_by_picture.T @ Yb
            proj = full.eigvecs.T @ total_cross
            coef[batch] = bk.to_numpy(solvers.ridge_coef(None, full, proj, alpha[batch], bk))
    intercept = y_mean - coef.astype(np.float64) @ x_mean
    # Variance of the predictions on the pooled rows, c^T G c / n with G = V diag(s) V^T.
    rotated = bk.to_numpy(bk.asarray(coef) @ full.eigvecs).astype(np.float64)
    pred_var = (rotated * rotated) @ bk.to_numpy(full.eigvals).astype(np.float64) / n
    pred_mean = y_mean if fit_intercept else coef.astype(np.float64) @ (
        moments.origin + moments.sums.sum(axis=0) / n)
    return PooledFit(coef=coef, intercept=intercept, alpha=alpha, cv_errors=errors,
                     target_mean=y_sum / n,
                     target_var=y_var, train_pred_mean=pred_mean,
                     train_pred_scale=np.sqrt(np.clip(pred_var, 0.0, None)),
                     n_rescored=n_rescored, n_splits=len(folds),
                     alpha_grid_edge=_grid_edge_message(alpha, alphas, y_var))


class PooledRidgeCV(_BaseRidge):
    """Ridge decoder fitted on several subjects' rows without concatenating them.

    Cross-validation keeps each group of pictures (THINGS: a concept) in one
    fold across every subject; alpha is chosen per target on the pooled
    validation error, as :class:`~perceptogram.linear.ridge.RidgeCV` does on
    one subject. Subjects are streamed once into :class:`MomentAccumulator`, so
    memory stays that of one subject plus ``n_folds + 1`` Gram matrices.

    Parameters
    ----------
    alphas : sequence of float, default=13 values log-spaced in [1e-1, 1e5]
    n_splits : int, default=5
        Grouped folds.
    alpha_per_target : bool, default=True
    fit_intercept, backend, device, dtype, rescale, batch_size
        As in :class:`~perceptogram.linear.ridge.RidgeCV`.

    Attributes
    ----------
    coef_ : ndarray, shape (n_targets, n_features)
    intercept_ : ndarray, shape (n_targets,)
    alpha_ : ndarray, shape (n_targets,)
    cv_errors_ : ndarray, shape (n_alphas, n_targets)
    n_splits_ : int
    n_subjects_ : int
    n_rows_ : int
        Pooled rows.
    n_rescored_ : int
    alpha_grid_edge_ : str or None
    target_mean_, target_scale_, train_pred_mean_, train_pred_scale_ : ndarray, shape (n_targets,)
        Over the pooled rows (see :class:`~perceptogram.linear.ridge.Ridge`).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Y = rng.standard_normal((60, 3))                 # latents of 60 pictures
    >>> subjects = [Y @ rng.standard_normal((3, 8)) + rng.standard_normal((60, 8))
    ...             for _ in range(4)]                   # 4 subjects x 60 rows x 8 features
    >>> model = PooledRidgeCV(alphas=np.logspace(-1, 3, 9)).fit(
    ...     subjects, Y, groups=np.arange(60) // 3)     # 20 concepts of 3 pictures
    >>> model.coef_.shape, model.n_rows_
    ((3, 8), 240)
    """

    def __init__(self, alphas: Any = DEFAULT_ALPHAS, *, n_splits: int = 5,
                 alpha_per_target: bool = True, fit_intercept: bool = True,
                 backend: str = "numpy", device: str | None = None, dtype: str = "float32",
                 rescale: str = "none", batch_size: int | None = None) -> None:
        super().__init__(fit_intercept=fit_intercept, backend=backend, device=device,
                         dtype=dtype, rescale=rescale, batch_size=batch_size)
        self.alphas = alphas
        self.n_splits = n_splits
        self.alpha_per_target = alpha_per_target

    def fit(self, subjects: Iterable[Any], Y: Any, *, groups: Any = None,
            pictures: Sequence[Any] | None = None, folds: Any = None) -> PooledRidgeCV:
        """Accumulate every subject's rows, choose alpha, fit.

        Parameters
        ----------
        subjects : iterable of array-like, shape (n_rows_s, n_features)
            Each subject's rows; may be a generator that loads one subject at a
            time (only one is held).
        Y : array-like, shape (n_pictures, n_targets)
            Target of every picture.
        groups : array-like, shape (n_pictures,), or None
            Group of each picture for the folds (THINGS: concepts); ``None``
            makes each picture its own group.
        pictures : sequence of array-like of int, or None
            Picture of every row of each subject (``None``: row ``i`` shows
            picture ``i`` in every subject).
        folds : array-like of int, shape (n_pictures,), or None
            Explicit fold of every picture (overrides ``groups``/``n_splits``).

        Returns
        -------
        self
        """
        self._backend()
        Y = np.asarray(Y)
        if Y.ndim == 1:
            Y = Y[:, None]
        if Y.ndim != 2:
            raise DataFormatError(f"Y must have shape (n_pictures, n_targets); got {Y.shape}")
        if folds is None:
            groups = np.arange(Y.shape[0]) if groups is None else np.asarray(groups)
            if groups.shape != (Y.shape[0],):
                raise DataFormatError(f"groups must have one label per picture "
                                      f"({Y.shape[0]}); got shape {groups.shape}")
            folds = fold_of_pictures(groups, self.n_splits)
        elif np.asarray(folds).shape != (Y.shape[0],):
            raise DataFormatError(f"folds must have one fold index per picture "
                                  f"({Y.shape[0]})")
        accumulator = None
        for s, X in enumerate(subjects):
            X = np.asarray(X)
            if accumulator is None:
                if X.ndim != 2:
                    raise DataFormatError(f"a subject's rows must be 2-D; got {X.shape}")
                accumulator = MomentAccumulator(X.shape[1], folds,
                                                fit_intercept=self.fit_intercept,
                                                dtype=self.dtype)
            if pictures is not None and s >= len(pictures):
                raise DataFormatError("pictures has fewer entries than there are subjects")
            accumulator.add(X, None if pictures is None else pictures[s])
        if accumulator is None:
            raise DataFormatError("no subject to fit the pooled ridge on")
        if pictures is not None and len(pictures) != accumulator.moments.n_subjects:
            raise DataFormatError(f"pictures has {len(pictures)} entries for "
                                  f"{accumulator.moments.n_subjects} subjects")
        return self.fit_moments(accumulator.moments, Y)

    def fit_moments(self, moments: PooledMoments, Y: Any) -> PooledRidgeCV:
        """Fit from statistics accumulated elsewhere (see :class:`MomentAccumulator`).

        Parameters
        ----------
        moments : PooledMoments
        Y : array-like, shape (n_pictures, n_targets)

        Returns
        -------
        self
        """
        self._backend()
        Y = np.asarray(Y)
        y_ndim = Y.ndim
        result = fit_pooled_ridge(moments, Y[:, None] if y_ndim == 1 else Y, self.alphas,
                                  alpha_per_target=self.alpha_per_target,
                                  fit_intercept=self.fit_intercept, backend=self.backend,
                                  device=self.device, dtype=self.dtype,
                                  batch_size=self.batch_size)
        dtype = np.dtype(self.dtype)
        self.coef_ = result.coef.astype(dtype, copy=False)
        self.intercept_ = result.intercept.astype(dtype)
        self.alpha_ = result.alpha
        self.cv_errors_ = result.cv_errors
        self.target_mean_ = result.target_mean.astype(dtype)
        self.target_scale_ = np.sqrt(np.clip(result.target_var, 0.0, None)).astype(dtype)
        if self.rescale == "train":
            self.train_pred_mean_ = result.train_pred_mean.astype(dtype)
            self.train_pred_scale_ = result.train_pred_scale.astype(dtype)
        if y_ndim == 1:
            self.coef_, self.intercept_ = self.coef_[0], dtype.type(self.intercept_[0])
            self.alpha_ = float(self.alpha_[0])
        self.n_splits_ = result.n_splits
        self.n_subjects_ = moments.n_subjects
        self.n_rows_ = int(moments.n_rows)
        self.n_rescored_ = result.n_rescored
        self.n_features_in_ = moments.n_features
        self.alpha_grid_edge_ = result.alpha_grid_edge
        if self.alpha_grid_edge_ is not None:
            warnings.warn(self.alpha_grid_edge_, AlphaGridEdgeWarning, stacklevel=2)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predict targets for one subject's rows.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Rows prepared as the training rows were (z-scored with the subject's
            own training statistics, aligned with its own map).

        Returns
        -------
        ndarray, shape (n_samples, n_targets)
        """
        check_is_fitted(self, "coef_")
        return super().predict(X)
