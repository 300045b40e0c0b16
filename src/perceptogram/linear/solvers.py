"""Pure numerical kernels for ridge regression with many targets.

The problem shape of EEG decoding is ``n_samples`` (16,540) much larger than
``n_features`` (1,360) and many targets (1,024 to 197,376). Every kernel here
decomposes a small matrix once (the ``p x p`` Gram matrix of the centred design,
or the ``n x n`` kernel matrix when ``p > n``) in float64 and reuses it for every
regularisation value, every fold and every batch of targets; the products with
the targets (whose size grows with their number) run in the working dtype.

Notation: ``X`` is ``(n_samples, n_features)``, ``Y`` is ``(n_samples, n_targets)``,
centred by the training means when an intercept is fitted (the intercept is never
penalised). With the eigendecomposition ``Xc^T Xc = V diag(s) V^T`` the ridge
solution is ``W = (Xc^T Xc + alpha I)^-1 Xc^T Yc = V diag(1 / (s + alpha)) V^T Xc^T Yc``.

All functions take a backend from :mod:`perceptogram.linear.backend` and arrays of
that backend; nothing here validates user input (the estimators do).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from perceptogram.linear.backend import Backend, get_backend

#: Default number of floats in one ``(n_samples, batch)`` block of targets (128 MiB
#: in float32): batches of targets are sized so that such a block stays below it.
BLOCK_FLOATS = 2**25


@dataclass
class Design:
    """A design matrix prepared once for all solvers.

    Attributes
    ----------
    X64 : array, shape (n_samples, n_features), float64
        The design, centred by its mean when ``fit_intercept``.
    Xw : array, shape (n_samples, n_features), working dtype
        The same values in the working dtype.
    x_mean : ndarray, shape (n_features,), float64
        The subtracted mean (zeros without intercept).
    fit_intercept : bool
    """

    X64: Any
    Xw: Any
    x_mean: np.ndarray
    fit_intercept: bool

    @property
    def n_samples(self) -> int:
        return int(self.X64.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X64.shape[1])


@dataclass
class Decomposition:
    """Eigendecomposition of the centred Gram (``p <= n``) or kernel (``p > n``) matrix.

    Attributes
    ----------
    eigvals : array, shape (r,), float64
        Eigenvalues ``s`` (clipped at zero).
    eigvecs : array, shape (n_features, r) if ``primal`` else (n_samples, r)
        Eigenvectors, in the working dtype.
    primal : bool
        ``True`` for ``Xc^T Xc = V diag(s) V^T``, ``False`` for
        ``Xc Xc^T = Q diag(s) Q^T``.
    eigvecs64 : array, same shape as ``eigvecs``, float64, or None
        The eigenvectors before conversion to the working dtype, when kept.
    """

    eigvals: Any
    eigvecs: Any
    primal: bool
    eigvecs64: Any = None


@dataclass
class _FoldBase:
    """Rows and eigendecomposition shared by both kinds of cross-validation fold.

    Attributes
    ----------
    train, val : ndarray of int
        Row indices (NumPy) of the training and validation samples.
    train_index, val_index : backend index arrays of the same rows.
    eigvals : array, shape (r,), float64
        Eigenvalues of the fold-centred training Gram matrix (:class:`Fold`,
        ``r = n_features``) or kernel matrix (:class:`KernelFold`, ``r = n_train``).
    eigvecs : array, shape (r, r), working dtype
    eigvecs64 : array, shape (r, r), float64
        The same eigenvectors in float64 (for :func:`exact_fold_errors`).
    """

    train: np.ndarray
    val: np.ndarray
    train_index: Any
    val_index: Any
    eigvals: Any
    eigvecs: Any
    eigvecs64: Any


@dataclass
class Fold(_FoldBase):
    """One cross-validation fold, decomposed for fast validation errors.

    Attributes
    ----------
    train, val, train_index, val_index, eigvals, eigvecs
        As in :class:`_FoldBase` (Gram form, ``r = n_features``).
    factor : array, shape (m, n_features), working dtype
        ``factor.T @ factor`` is the validation Gram matrix (centred with the
        training means) in the eigenbasis.
    upper : bool
        Whether ``factor`` is upper triangular (Cholesky factor).
    x_mean : array, shape (n_features,), working dtype
        Training mean of the (globally centred) design, zeros without intercept.
    x_sum_val : array, shape (n_features,), working dtype
        Sum of the validation rows of the (globally centred) design.
    x_val : array, shape (n_val, n_features), working dtype
        The validation rows of the (globally centred) design.
    complement : bool
        Whether the validation sets of all folds partition the samples and each
        training set is the complement of its validation set (then training
        cross-products are obtained by subtraction from the total).
    exact64 : dict of str to array
        Float64 ``val_gram`` (the validation Gram matrix centred with the
        training means, ``(n_features, n_features)``), ``x_mean`` and
        ``x_sum_val``, from which :func:`exact_folds` rebuilds the fold in float64.
    """

    factor: Any
    upper: bool
    x_mean: Any
    x_sum_val: Any
    x_val: Any
    complement: bool
    exact64: dict


@dataclass
class KernelFold(_FoldBase):
    """One cross-validation fold in kernel form, for fewer training samples than features.

    With ``Kt = (X_tr - mu) (X_tr - mu)^T = Q diag(s) Q^T`` (``mu`` the training
    mean, zero without intercept), the fold's ridge predictions on its validation
    rows are ``cross @ diag(1 / (s + alpha)) @ Q^T (y_tr - nu) + nu``.

    Attributes
    ----------
    train, val, train_index, val_index, eigvals, eigvecs
        As in :class:`_FoldBase` (kernel form, ``r = n_train``).
    cross : array, shape (n_val, n_train), working dtype
        ``(X_val - mu) (X_tr - mu)^T Q``.
    """

    cross: Any


def target_batches(n_targets: int, n_samples: int, batch_size: int | None = None
                   ) -> list[slice]:
    """Split ``range(n_targets)`` into contiguous batches.

    Parameters
    ----------
    n_targets, n_samples : int
    batch_size : int or None
        Targets per batch; ``None`` sizes batches so that an
        ``(n_samples, batch)`` block holds at most :data:`BLOCK_FLOATS` floats.

    Returns
    -------
    list of slice
    """
    if batch_size is None:
        batch_size = max(256, BLOCK_FLOATS // max(n_samples, 1))
    batch_size = max(1, int(batch_size))
    return [slice(start, min(start + batch_size, n_targets))
            for start in range(0, n_targets, batch_size)]


def prepare_design(X: np.ndarray, fit_intercept: bool, bk: Backend) -> Design:
    """Centre ``X`` (when fitting an intercept) and move it to the backend.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    fit_intercept : bool
    bk : Backend

    Returns
    -------
    Design
    """
    X64 = bk.asarray(X, dtype=bk.float64)
    x_mean = X64.mean(0) if fit_intercept else bk.zeros((X64.shape[1],), dtype=bk.float64)
    if fit_intercept:
        X64 = X64 - x_mean
    return Design(X64=X64, Xw=bk.asarray(X64), x_mean=bk.to_numpy(x_mean),
                  fit_intercept=fit_intercept)


def target_block(Y: np.ndarray, batch: slice, y_mean: np.ndarray | None, bk: Backend) -> Any:
    """Targets ``Y[:, batch]`` in the working dtype, centred by ``y_mean[batch]``.

    Parameters
    ----------
    Y : ndarray, shape (n_samples, n_targets)
    batch : slice
    y_mean : ndarray, shape (n_targets,) or None
        Training means (``None``: no centring).
    bk : Backend

    Returns
    -------
    array, shape (n_samples, batch size)
    """
    block = bk.asarray(Y[:, batch])
    if y_mean is not None:
        block = block - bk.asarray(y_mean[batch])
    return block


def decompose(design: Design, bk: Backend, keep64: bool = False) -> Decomposition:
    """Eigendecompose the smaller of the Gram and kernel matrices (float64).

    Parameters
    ----------
    design : Design
    bk : Backend
    keep64 : bool, default=False
        Keep the float64 eigenvectors (``eigvecs64``, needed by :func:`loo_basis`).

    Returns
    -------
    Decomposition
    """
    X64 = design.X64
    primal = design.n_features <= design.n_samples
    gram = X64.T @ X64 if primal else X64 @ X64.T
    eigvals, eigvecs = bk.eigh(gram)
    return Decomposition(eigvals=eigvals, eigvecs=bk.asarray(eigvecs), primal=primal,
                         eigvecs64=eigvecs if keep64 else None)


def _inverse_shift(eigvals: Any, alphas: Any, bk: Backend) -> Any:
    """``1 / (s + alpha)`` of shape (r, n_alphas), 0 where ``s + alpha`` vanishes."""
    denom = eigvals[:, None] + alphas[None, :]
    tol = float(eigvals.max()) * max(eigvals.shape[0], 1) * np.finfo(np.float64).eps
    tol = max(tol, np.finfo(np.float64).tiny)
    return (denom > tol) / denom.clip(min=tol)


def project_targets(design: Design, decomp: Decomposition, Yb: Any,
                    xty: Any = None) -> Any:
    """Targets in the eigenbasis: ``V^T Xc^T Yb`` (primal) or ``Q^T Yb`` (dual).

    Parameters
    ----------
    design : Design
    decomp : Decomposition
    Yb : array, shape (n_samples, n_batch)
        Centred targets (working dtype).
    xty : array, shape (n_features, n_batch), optional
        ``Xc^T Yb`` when already computed (primal only).

    Returns
    -------
    array, shape (r, n_batch)
    """
    E = decomp.eigvecs
    if not decomp.primal:
        return E.T @ Yb
    return E.T @ (design.Xw.T @ Yb if xty is None else xty)


def ridge_coef(design: Design, decomp: Decomposition, proj: Any, alpha: np.ndarray,
               bk: Backend) -> Any:
    """Ridge weights for one batch of targets, one regularisation per target.

    Parameters
    ----------
    design : Design
    decomp : Decomposition
    proj : array, shape (r, n_batch)
        Targets in the eigenbasis (:func:`project_targets`).
    alpha : ndarray, shape (n_batch,)
        Regularisation of each target, ``>= 0`` (``0`` gives the minimum-norm
        least-squares solution).
    bk : Backend

    Returns
    -------
    array, shape (n_batch, n_features)
        Weights in the working dtype.
    """
    alpha64 = bk.asarray(np.asarray(alpha, dtype=np.float64), dtype=bk.float64)
    phi = bk.asarray(_inverse_shift(decomp.eigvals, alpha64, bk))
    E = decomp.eigvecs
    if decomp.primal:
        return (E @ (proj * phi)).T
    return (design.Xw.T @ (E @ (proj * phi))).T


@dataclass
class ShiftedFactor:
    """Cholesky factor of the Gram (``p <= n``) or kernel (``p > n``) matrix plus ``alpha I``.

    Attributes
    ----------
    factor : array, shape (r, r), float64
        Lower triangular ``L`` with ``L L^T = Xc^T Xc + alpha I`` (primal) or
        ``Xc Xc^T + alpha I`` (dual).
    primal : bool
    """

    factor: Any
    primal: bool


def factor_shifted(design: Design, alpha: float, bk: Backend) -> ShiftedFactor | None:
    """Cholesky-factor the shifted Gram or kernel matrix for one shared alpha (float64).

    The fast path of a fixed regularisation: ``r^3 / 3`` flops in blocked
    (BLAS-3) LAPACK code, about 15 times faster than the eigendecomposition of
    :func:`decompose` at ``r`` in the thousands.

    Parameters
    ----------
    design : Design
    alpha : float
        Regularisation, ``>= 0``.
    bk : Backend

    Returns
    -------
    ShiftedFactor or None
        ``None`` when ``alpha`` is too small for the shifted matrix to be
        numerically positive definite (the caller then uses :func:`decompose`,
        which handles singular systems with the minimum-norm solution).
    """
    X64 = design.X64
    primal = design.n_features <= design.n_samples
    gram = X64.T @ X64 if primal else X64 @ X64.T
    scale = float(gram.diagonal().sum())  # >= largest eigenvalue
    if not alpha > scale * gram.shape[0] * np.finfo(np.float64).eps:
        return None
    factor = bk.cho_factor(gram, alpha)
    return None if factor is None else ShiftedFactor(factor=factor, primal=primal)


def shifted_coef(design: Design, shifted: ShiftedFactor, Yb: Any, bk: Backend) -> Any:
    """Ridge weights for one batch of targets from :func:`factor_shifted`.

    ``W = (Xc^T Xc + alpha I)^-1 Xc^T Yb`` (primal) or
    ``W = Xc^T (Xc Xc^T + alpha I)^-1 Yb`` (dual); the triangular solves run in
    float64, the products with the design in the working dtype.

    Parameters
    ----------
    design : Design
    shifted : ShiftedFactor
    Yb : array, shape (n_samples, n_batch)
        Centred targets (working dtype).
    bk : Backend

    Returns
    -------
    array, shape (n_batch, n_features)
        Weights in the working dtype.
    """
    Xw = design.Xw
    if shifted.primal:
        rhs = bk.asarray(Xw.T @ Yb, dtype=bk.float64)
        return bk.asarray(bk.cho_solve(shifted.factor, rhs)).T
    dual = bk.cho_solve(shifted.factor, bk.asarray(Yb, dtype=bk.float64))
    return (Xw.T @ bk.asarray(dual)).T


@dataclass
class LooBasis:
    """Everything leave-one-out needs that does not depend on the targets.

    With ``U`` an orthonormal basis of the column space of the centred design
    (its left singular vectors of non-zero singular value ``sqrt(s)``), the
    training residual of ridge is ``r = P y + U diag(alpha / (s + alpha)) U^T y``
    where ``P`` projects onto the rest of the centred sample space (orthogonal
    to ``U`` and, with an intercept, to the constant vector), and the leverage
    complement is ``1 - H_ii = P_ii + sum_j U_ij^2 alpha / (s_j + alpha)``, a
    sum of non-negative terms. Neither is formed as a difference of nearly equal
    quantities (``y - yhat``, ``1 - H_ii``), so nothing cancels when ``H_ii`` is
    close to 1 (unscaled data with ``p > n``, small alphas).

    All arrays are float64 (:func:`loo_basis`) or the working dtype
    (:func:`cast_loo_basis`).

    Attributes
    ----------
    basis : array, shape (n_samples, r)
        ``U``.
    keep : array, shape (n_alphas, r)
        ``alpha / (s + alpha)``.
    null : array, shape (n_samples, k), or None
        Orthonormal basis of the range of ``P`` when the kernel was decomposed
        (``p > n``); ``None`` in Gram form, where ``P y = y - U U^T y``.
    scale : array, shape (n_alphas, n_samples)
        ``1 / (1 - H_ii)``, computed in float64.
    primal : bool
        Whether the Gram matrix (``p <= n``) was decomposed.
    """

    basis: Any
    keep: Any
    null: Any
    scale: Any
    primal: bool


def _constant_free(null: Any, fit_intercept: bool, bk: Backend) -> Any:
    """Orthonormal basis of the null space of a centred kernel, without the constant vector.

    ``null`` (n, k) spans a space that contains the constant vector when an
    intercept is fitted; the constant is projected out and the ``k - 1``
    remaining directions re-orthonormalised (those with singular value near 1).
    """
    if not fit_intercept or null.shape[1] == 0:
        return null
    centred = bk.to_numpy(null - null.mean(0))
    left, sing, _ = np.linalg.svd(centred, full_matrices=False)
    return bk.asarray(left[:, sing > 0.5], dtype=bk.float64)


def loo_basis(design: Design, decomp: Decomposition, alphas: np.ndarray,
              bk: Backend) -> LooBasis:
    """Prepare the target-independent part of efficient leave-one-out (float64).

    Parameters
    ----------
    design : Design
    decomp : Decomposition
        Must carry float64 eigenvectors (:func:`decompose` with ``keep64=True``).
    alphas : ndarray, shape (n_alphas,)
        Strictly positive regularisation values.
    bk : Backend

    Returns
    -------
    LooBasis
        In float64 (:func:`cast_loo_basis` converts it to the working dtype).
    """
    alphas64 = bk.asarray(np.asarray(alphas, dtype=np.float64), dtype=bk.float64)
    s = decomp.eigvals
    n_zero = int((bk.to_numpy(s) == 0).sum())  # eigh sorts ascending: zeros come first
    E = decomp.eigvecs64
    s_pos = s[n_zero:]
    if decomp.primal:
        basis = (design.X64 @ E[:, n_zero:]) / s_pos[None, :] ** 0.5
        null = None
        null_part = 1.0 - (basis * basis).sum(1)
        if design.fit_intercept:
            null_part = null_part - 1.0 / design.n_samples
        null_part = null_part.clip(min=0.0)
    else:
        basis = E[:, n_zero:]
        null = _constant_free(E[:, :n_zero], design.fit_intercept, bk)
        null_part = (null * null).sum(1)
    keep = alphas64[None, :] / (s_pos[:, None] + alphas64[None, :])  # (r, n_alphas)
    one_minus_h = (basis * basis) @ keep + null_part[:, None]  # (n_samples, n_alphas)
    return LooBasis(basis=basis, keep=keep.T, null=null, scale=1.0 / one_minus_h.T,
                    primal=decomp.primal)


def cast_loo_basis(loo: LooBasis, bk: Backend, dtype: Any = None) -> LooBasis:
    """A copy of ``loo`` in ``dtype`` (default: the working dtype).

    Parameters
    ----------
    loo : LooBasis
    bk : Backend
    dtype : backend dtype, optional

    Returns
    -------
    LooBasis
    """
    def conv(a: Any) -> Any:
        return None if a is None else bk.asarray(a, dtype=dtype)

    return LooBasis(basis=conv(loo.basis), keep=conv(loo.keep), null=conv(loo.null),
                    scale=conv(loo.scale), primal=loo.primal)


def loo_errors(loo: LooBasis, Yb: Any, bk: Backend) -> tuple[Any, Any]:
    """Mean squared leave-one-out error of every alpha for a batch of targets.

    The leave-one-out residual of sample ``i`` is ``r_i / (1 - H_ii)`` (exact for
    ridge regression, ``r`` the training residual); the error is its mean square
    over samples, as in :class:`sklearn.linear_model.RidgeCV` with ``cv=None``.

    Parameters
    ----------
    loo : LooBasis
    Yb : array, shape (n_samples, n_batch)
        Centred targets, in the dtype of ``loo``.
    bk : Backend

    Returns
    -------
    errors : array, shape (n_alphas, n_batch)
    coords : array, shape (r, n_batch)
        ``U^T Yb``, the targets in the basis (reused by :func:`loo_projection`).
    """
    n_samples = Yb.shape[0]
    coords = loo.basis.T @ Yb
    if loo.primal:
        rest = Yb - loo.basis @ coords
    elif loo.null is not None and loo.null.shape[1]:
        rest = loo.null @ (loo.null.T @ Yb)
    else:
        rest = None
    errors = bk.zeros((loo.keep.shape[0], Yb.shape[1]), dtype=Yb.dtype)
    for a in range(loo.keep.shape[0]):
        resid = loo.basis @ (loo.keep[a][:, None] * coords)
        if rest is not None:
            resid += rest
        resid *= loo.scale[a][:, None]
        errors[a] = bk.col_sumsq(resid) / n_samples
    return errors, coords


def loo_projection(decomp: Decomposition, coords: Any, bk: Backend) -> Any:
    """Targets in the eigenbasis (as :func:`project_targets`) from :func:`loo_errors`' coords.

    Directions of zero eigenvalue do not contribute to the ridge weights and get 0.

    Parameters
    ----------
    decomp : Decomposition
    coords : array, shape (r_pos, n_batch)
        ``U^T Yb`` for the ``r_pos`` non-zero eigenvalues.
    bk : Backend

    Returns
    -------
    array, shape (r, n_batch)
    """
    n_zero = decomp.eigvals.shape[0] - coords.shape[0]
    proj = bk.zeros((decomp.eigvals.shape[0], coords.shape[1]), dtype=coords.dtype)
    if decomp.primal:  # V^T Xc^T y = sqrt(s) U^T y
        coords = bk.asarray(decomp.eigvals[n_zero:] ** 0.5, dtype=coords.dtype)[:, None] * coords
    proj[n_zero:] = coords
    return proj


def _index(idx: np.ndarray, bk: Backend) -> Any:
    if bk.name == "torch":
        return bk.torch.as_tensor(idx, device=bk.device)
    return idx


def is_partition(splits: list[tuple[np.ndarray, np.ndarray]], n_samples: int) -> bool:
    """Whether validation sets partition the samples and each training set is the rest.

    Parameters
    ----------
    splits : list of (train, val) index arrays
    n_samples : int
    """
    vals = np.concatenate([val for _, val in splits])
    if vals.shape[0] != n_samples or not np.array_equal(np.sort(vals), np.arange(n_samples)):
        return False
    return all(train.shape[0] + val.shape[0] == n_samples
               and not np.intersect1d(train, val).size for train, val in splits)


#: Rows of a Gram matrix centred at a time by :func:`centre_fold_grams`.
CENTRE_ROWS = 128


def centre_fold_grams(train_gram: Any, val_gram: Any, mean: Any, sum_val: Any,
                      n_train: float, n_val: float) -> tuple[Any, Any]:
    """Centre a fold's training and validation Gram matrices on the training mean, in place.

    ``(X_tr - mu)^T (X_tr - mu) = G_tr - n_tr mu mu^T`` and
    ``(X_val - mu)^T (X_val - mu) = G_val - mu s^T - s mu^T + n_val mu mu^T`` with
    ``s`` the sum of the validation rows: both from sums, without the rows. The
    rank-one corrections are applied :data:`CENTRE_ROWS` rows at a time, so no
    ``p x p`` temporary is formed.

    Parameters
    ----------
    train_gram, val_gram : array, shape (n_features, n_features), float64
        Uncentred ``X^T X`` of the training and validation rows; **overwritten**
        (pass copies of matrices that must be kept).
    mean : array, shape (n_features,), float64
        Training mean ``mu``.
    sum_val : array, shape (n_features,), float64
        Sum of the validation rows.
    n_train, n_val : float

    Returns
    -------
    train_centred, val_centred : array, shape (n_features, n_features), float64
        ``train_gram`` and ``val_gram``, centred.
    """
    for start in range(0, mean.shape[0], CENTRE_ROWS):
        rows = slice(start, start + CENTRE_ROWS)
        mu = mean[rows, None]
        train_gram[rows] -= (n_train * mu) * mean[None, :]
        val_gram[rows] += ((n_val * mu) * mean[None, :] - mu * sum_val[None, :]
                           - sum_val[rows, None] * mean[None, :])
    return train_gram, val_gram


def fold_factor(eigvecs: Any, val_centred: Any, bk: Backend) -> tuple[Any, bool]:
    """Square factor ``F`` of a fold's validation Gram matrix in its training eigenbasis.

    ``F^T F = V^T G_val V`` (upper Cholesky factor when positive definite, see
    ``Backend.square_factor``), used by :func:`fold_errors` to get
    ``|X_val w|^2`` of every alpha without the validation rows.

    Parameters
    ----------
    eigvecs : array, shape (n_features, n_features)
        Training eigenvectors ``V`` (working dtype, or float64 for exact errors).
    val_centred : array, shape (n_features, n_features), float64
        Validation Gram matrix centred on the training mean.
    bk : Backend

    Returns
    -------
    factor : array, shape (m, n_features), float64
    upper : bool
    """
    q = eigvecs.T @ bk.asarray(val_centred, dtype=eigvecs.dtype) @ eigvecs
    return bk.square_factor(bk.asarray((q + q.T) / 2, dtype=bk.float64))


def decompose_folds(design: Design, splits: list[tuple[np.ndarray, np.ndarray]],
                    bk: Backend) -> tuple[list[Fold] | list[KernelFold], Decomposition]:
    """Decompose the training Gram (or kernel) matrix of every fold, and of all samples.

    Each fold is centred with its own training means, as if a separate ridge
    were fitted on it. When every training set has at least as many samples as
    features, the ``p x p`` Gram matrices are decomposed (:class:`Fold`); when
    the validation sets partition the samples, the Gram matrices of the training
    sets and of all samples are obtained by sums and differences of the
    validation Gram matrices. Otherwise the ``n_train x n_train`` kernel
    matrices are decomposed (:class:`KernelFold`, see :func:`decompose_kernel_folds`).
    Decompositions run in float64, in parallel
    (:meth:`~perceptogram.linear.backend.NumpyBackend.eigh_many`).

    Parameters
    ----------
    design : Design
    splits : list of (train, val) index arrays
    bk : Backend

    Returns
    -------
    folds : list of Fold or list of KernelFold
    full : Decomposition
        Decomposition of all samples, as :func:`decompose` returns it.
    """
    if max(train.shape[0] for train, _ in splits) < design.n_features:
        return decompose_kernel_folds(design, splits, bk)
    X64 = design.X64
    partition = is_partition(splits, design.n_samples)
    val_grams, val_sums = [], []
    for _, val in splits:
        Xv = X64[_index(val, bk)]
        val_grams.append(Xv.T @ Xv)
        val_sums.append(Xv.sum(0))
    total = sum(val_grams[1:], val_grams[0]) if partition else None
    total_sum = sum(val_sums[1:], val_sums[0]) if partition else None
    train_grams, val_centred, means, sums = [], [], [], []
    for (train, val), val_gram, sum_val in zip(splits, val_grams, val_sums):
        tr_idx = _index(train, bk)
        if partition:
            train_gram = total - val_gram
        else:
            Xt = X64[tr_idx]
            train_gram = Xt.T @ Xt
        if design.fit_intercept:
            # Training mean from sums (no copy of the training rows) when folds partition.
            mean = ((total_sum - sum_val) / train.shape[0] if partition
                    else X64[tr_idx].mean(0))
            train_gram, val_gram = centre_fold_grams(train_gram, val_gram, mean, sum_val,
                                                     train.shape[0], val.shape[0])
        else:
            mean = bk.zeros((design.n_features,), dtype=bk.float64)
        train_grams.append(train_gram)
        val_centred.append(val_gram)
        means.append(mean)
        sums.append(sum_val)
    reuse_total = partition and design.n_features <= design.n_samples
    decomps = bk.eigh_many(train_grams + ([total] if reuse_total else []))
    if reuse_total:
        eigvals, eigvecs = decomps.pop()
        full = Decomposition(eigvals=eigvals, eigvecs=bk.asarray(eigvecs), primal=True)
    else:
        full = decompose(design, bk)
    folds = []
    for f, (train, val) in enumerate(splits):
        eigvals, eigvecs = decomps[f]
        V = bk.asarray(eigvecs)
        factor, upper = fold_factor(V, val_centred[f], bk)
        folds.append(Fold(train=train, val=val, train_index=_index(train, bk),
                          val_index=_index(val, bk), eigvals=eigvals, eigvecs=V,
                          eigvecs64=eigvecs,
                          factor=bk.asarray(factor), upper=upper,
                          x_mean=bk.asarray(means[f]), x_sum_val=bk.asarray(sums[f]),
                          x_val=design.Xw[_index(val, bk)], complement=partition,
                          exact64={"val_gram": val_centred[f], "x_mean": means[f],
                                   "x_sum_val": sums[f]}))
    return folds, full


def decompose_kernel_folds(design: Design, splits: list[tuple[np.ndarray, np.ndarray]],
                           bk: Backend) -> tuple[list[KernelFold], Decomposition]:
    """Decompose the training kernel matrix of every fold, and of all samples (float64).

    One ``n x n`` kernel ``K = Xc Xc^T`` of the (globally centred) design is
    formed; each fold's training kernel and validation-by-training cross kernel,
    centred with the fold's training mean ``mu``, are read off it:
    ``(A - 1 mu^T)(B - 1 mu^T)^T = K_ab - K_at 1/n_t 1^T - 1 1^T K_tb/n_t + mean(K_tt)``.

    Parameters
    ----------
    design : Design
    splits : list of (train, val) index arrays
    bk : Backend

    Returns
    -------
    folds : list of KernelFold
    full : Decomposition
        Decomposition of all samples, as :func:`decompose` returns it.
    """
    X64 = design.X64
    kernel = X64 @ X64.T
    train_kernels, cross_kernels = [], []
    for train, val in splits:
        tr, va = _index(train, bk), _index(val, bk)
        k_tt = kernel[tr[:, None], tr[None, :]]
        k_vt = kernel[va[:, None], tr[None, :]]
        if design.fit_intercept:
            k_mean = k_tt.mean(0)  # X_tr mu
            grand = k_mean.mean()  # mu^T mu
            k_tt = k_tt - k_mean[:, None] - k_mean[None, :] + grand
            k_vt = k_vt - k_vt.mean(1)[:, None] - k_mean[None, :] + grand
        train_kernels.append(k_tt)
        cross_kernels.append(k_vt)
    dual_full = design.n_features > design.n_samples
    decomps = bk.eigh_many(train_kernels + ([kernel] if dual_full else []))
    if dual_full:
        eigvals, eigvecs = decomps.pop()
        full = Decomposition(eigvals=eigvals, eigvecs=bk.asarray(eigvecs), primal=False)
    else:
        full = decompose(design, bk)
    folds = [KernelFold(train=train, val=val, train_index=_index(train, bk),
                        val_index=_index(val, bk), eigvals=eigvals,
                        eigvecs=bk.asarray(eigvecs), eigvecs64=eigvecs,
                        cross=bk.asarray(k_vt @ eigvecs))
             for (train, val), (eigvals, eigvecs), k_vt
             in zip(splits, decomps, cross_kernels)]
    return folds, full


def kernel_fold_errors(design: Design, folds: list[KernelFold], Yb: Any,
                       alphas: np.ndarray, bk: Backend) -> Any:
    """Validation squared error of every alpha for a batch of targets, kernel form.

    For fold ``f`` with ``z = Q^T (y_tr - nu)`` (``nu`` the training mean of
    the targets, zero without intercept) the validation residuals
    ``cross @ (z / (s + alpha)) - (y_val - nu)`` are formed for each alpha:
    ``n_val x n_train`` by ``n_train x n_batch`` products.

    Parameters
    ----------
    design : Design
    folds : list of KernelFold
    Yb : array, shape (n_samples, n_batch)
        Targets (centred by the global mean when fitting an intercept).
    alphas : ndarray, shape (n_alphas,)
    bk : Backend

    Returns
    -------
    array, shape (n_alphas, n_batch)
        Sum over folds of the squared validation errors, divided by the total
        number of validation samples (pooled mean squared error).
    """
    alphas64 = bk.asarray(np.asarray(alphas, dtype=np.float64), dtype=bk.float64)
    errors = bk.zeros((alphas.shape[0], Yb.shape[1]))
    n_val_total = 0
    for fold in folds:
        n_val_total += fold.val.shape[0]
        Yt, Yv = Yb[fold.train_index], Yb[fold.val_index]
        if design.fit_intercept:
            nu = Yt.mean(0)
            Yt, Yv = Yt - nu, Yv - nu
        z = fold.eigvecs.T @ Yt
        inv = bk.asarray(_inverse_shift(fold.eigvals, alphas64, bk).T)  # (n_alphas, n_t)
        for a in range(alphas.shape[0]):
            resid = fold.cross @ (inv[a][:, None] * z)
            resid -= Yv
            errors[a] += bk.col_sumsq(resid)
    return errors / n_val_total


def kfold_errors(design: Design, folds: list[Fold] | list[KernelFold], Yb: Any,
                 alphas: np.ndarray, bk: Backend) -> tuple[Any, Any]:
    """Validation squared error of every alpha for a batch of targets.

    For fold ``f`` with training projections ``z = V^T Xc_tr^T y_tr`` and
    ``g = 1 / (s + alpha)``, the validation predictions are
    ``(X_val - mean_tr) V diag(g) z + mean_y_tr``; their squared error is
    expanded as ``|y_val|^2 - 2 (g * b) . z + |F (g * z)|^2`` with
    ``b = V^T (X_val - mean_tr)^T (y_val - mean_y_tr)`` and ``F^T F`` the
    validation Gram matrix, so no validation prediction is ever formed.
    Kernel folds (:class:`KernelFold`) go to :func:`kernel_fold_errors`.

    Parameters
    ----------
    design : Design
    folds : list of Fold or list of KernelFold
    Yb : array, shape (n_samples, n_batch)
        Targets (centred by the global mean when fitting an intercept).
    alphas : ndarray, shape (n_alphas,)
    bk : Backend

    Returns
    -------
    errors : array, shape (n_alphas, n_batch)
        Sum over folds of the squared validation errors, divided by the total
        number of validation samples (pooled mean squared error).
    xty : array, shape (n_features, n_batch) or None
        ``Xc^T Yb`` over all samples, a by-product when :class:`Fold` folds
        partition the samples (``None`` otherwise).
    """
    if isinstance(folds[0], KernelFold):
        return kernel_fold_errors(design, folds, Yb, alphas, bk), None
    Xw = design.Xw
    partition = folds[0].complement
    alphas64 = bk.asarray(np.asarray(alphas, dtype=np.float64), dtype=bk.float64)
    val_cross, val_sum, val_sumsq = [], [], []
    for fold in folds:
        Yv = Yb[fold.val_index]
        val_cross.append(fold.x_val.T @ Yv)
        val_sum.append(Yv.sum(0))
        val_sumsq.append(bk.col_sumsq(Yv))
    total_cross = sum(val_cross[1:], val_cross[0]) if partition else None
    if partition:
        total_sum = sum(val_sum[1:], val_sum[0])

    def one(job: tuple[int, slice]) -> Any:
        f, cols = job
        fold = folds[f]
        if partition:
            cross_tr = total_cross[:, cols] - val_cross[f][:, cols]
            sum_tr = total_sum[cols] - val_sum[f][cols]
        else:
            Yt = Yb[fold.train_index][:, cols]
            cross_tr, sum_tr = Xw[fold.train_index].T @ Yt, Yt.sum(0)
        return fold_errors(fold, fold.train.shape[0], fold.val.shape[0], cross_tr, sum_tr,
                           val_cross[f][:, cols], val_sum[f][cols], val_sumsq[f][cols],
                           alphas64, design.fit_intercept, bk)

    errors = sum_fold_jobs(one, len(folds), Yb.shape[1], alphas.shape[0], bk)
    n_val_total = sum(fold.val.shape[0] for fold in folds)
    return errors / n_val_total, total_cross


#: Fewest target columns in one job of :func:`sum_fold_jobs`.
MIN_JOB_COLUMNS = 32


def sum_fold_jobs(fold_error: Callable[[tuple[int, slice]], Any], n_folds: int,
                  n_columns: int, n_alphas: int, bk: Backend) -> Any:
    """Sum over folds of per-fold errors, computed in parallel on single-threaded BLAS.

    Jobs are (fold, columns) pairs: the columns of a batch are split so that
    every worker gets the same number of jobs (5 folds on 2 workers: 10 jobs of
    half the columns), and the jobs run through
    :meth:`~perceptogram.linear.backend.NumpyBackend.map_single_threaded`.
    Folds are summed in order, whatever the number of workers.

    Parameters
    ----------
    fold_error : callable
        ``fold_error((f, cols))`` returns the summed errors, shape
        (n_alphas, len(cols)), of fold ``f`` for the target columns ``cols``.
    n_folds, n_columns, n_alphas : int
    bk : Backend

    Returns
    -------
    array, shape (n_alphas, n_columns)
    """
    workers = bk.workers()
    parts = workers // math.gcd(n_folds, workers)
    parts = max(1, min(parts, n_columns // MIN_JOB_COLUMNS))
    bounds = np.linspace(0, n_columns, parts + 1).astype(int)
    column_parts = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    jobs = [(f, cols) for f in range(n_folds) for cols in column_parts]
    errors = None
    for (_, cols), err in zip(jobs, bk.map_single_threaded(fold_error, jobs)):
        if errors is None:
            errors = bk.zeros((n_alphas, n_columns), dtype=err.dtype)
        errors[:, cols] += err
    return errors


def fold_errors(fold: Any, n_train: float, n_val: float, cross_tr: Any, sum_tr: Any,
                cross_va: Any, sum_va: Any, sumsq_va: Any, alphas64: Any,
                fit_intercept: bool, bk: Backend) -> Any:
    """Summed squared validation error of one Gram-form fold, from cross-products only.

    The kernel of :func:`kfold_errors`, also used by the pooled (multi-subject)
    ridge of :mod:`perceptogram.linear.pooled`, which never holds the rows: with
    ``z = V^T (cross_tr - n_tr mu nu^T)`` and ``g = 1 / (s + alpha)`` the error is
    ``|y_val - nu|^2 - 2 (g * b) . z + |F (g * z)|^2`` where ``b`` is the centred
    validation cross-product in the eigenbasis and ``F^T F`` the validation Gram
    matrix (centred with the training mean ``mu``) in the eigenbasis.

    Parameters
    ----------
    fold : Fold or any object with ``eigvals``, ``eigvecs``, ``factor``, ``upper``, ``x_mean``, ``x_sum_val``
        The fold's eigendecomposition and validation factor (see :func:`fold_factor`).
    n_train, n_val : float
        Number of training and validation rows.
    cross_tr : array, shape (n_features, n_batch)
        ``X_tr^T Y_tr`` (uncentred, working dtype).
    sum_tr : array, shape (n_batch,)
        Sum of the training targets.
    cross_va : array, shape (n_features, n_batch)
        ``X_val^T Y_val``.
    sum_va, sumsq_va : array, shape (n_batch,)
        Sum and sum of squares of the validation targets.
    alphas64 : array, shape (n_alphas,), float64 (backend array)
    fit_intercept : bool
    bk : Backend

    Returns
    -------
    array, shape (n_alphas, n_batch)
        Sum over the validation rows of the squared errors of each alpha.
    """
    mu, yy = fold.x_mean, sumsq_va
    # Python floats: a NumPy float64 count would promote every product to float64
    # (NEP 50), and a float64 right-hand side takes the slow mixed-dtype product below.
    n_train, n_val = float(n_train), float(n_val)
    if fit_intercept:
        nu = sum_tr / n_train
        cross_tr = cross_tr - n_train * (mu[:, None] * nu[None, :])
        cross_va = (cross_va - mu[:, None] * sum_va[None, :]
                    - fold.x_sum_val[:, None] * nu[None, :]
                    + n_val * (mu[:, None] * nu[None, :]))
        yy = yy - 2 * nu * sum_va + n_val * nu * nu
    z = (cross_tr.T @ fold.eigvecs).T  # = V^T cross_tr, Fortran-ordered for trmm
    b = fold.eigvecs.T @ cross_va
    inv = bk.asarray(_inverse_shift(fold.eigvals, alphas64, bk).T)  # (n_alphas, p)
    linear = inv @ (b * z)
    errors = bk.zeros((alphas64.shape[0], cross_va.shape[1]), dtype=cross_va.dtype)
    for a in range(alphas64.shape[0]):
        quad = bk.col_sumsq(bk.factor_matmul(fold.factor, fold.upper, inv[a][:, None] * z,
                                             scratch=True))
        errors[a] = yy - 2 * linear[a] + quad
    return errors


#: Targets whose smallest cross-validated error in float32 is below this fraction of
#: their variance (or that have a non-finite error) are scored again in float64.
#: Measured float32 errors are off by about ``1.5e-6 * variance / error`` (relative),
#: so above this threshold they are within 5e-4 of the float64 values: the chosen
#: alpha's error is then within 0.1 % of the best.
RESCORE_RTOL = 3e-3


def needs_exact(errors: np.ndarray, y_var: np.ndarray) -> np.ndarray:
    """Which targets' float32 cross-validated errors cannot be trusted.

    Errors expanded as ``|y|^2 - 2 y.yhat + |yhat|^2``, or residuals ``y - yhat``
    formed in float32, carry absolute rounding errors of about ``1e-7 |y|^2``:
    for targets predicted almost perfectly they swamp the differences between
    alphas. Such targets, and any with a non-finite error, are flagged.

    Parameters
    ----------
    errors : ndarray, shape (n_alphas, n_batch)
    y_var : ndarray, shape (n_batch,)
        Variance of each target over the training samples.

    Returns
    -------
    ndarray of bool, shape (n_batch,)
    """
    finite = np.isfinite(errors)
    best = np.where(finite, errors, np.inf).min(axis=0)
    return ~finite.all(axis=0) | (best < RESCORE_RTOL * y_var)


def _float64_backend(bk: Backend) -> Backend:
    return get_backend(bk.name, "float64", str(bk.device) if bk.name == "torch" else None)


def exact_folds(design: Design, folds: list[Fold] | list[KernelFold], bk: Backend
                ) -> tuple[Design, list[Fold] | list[KernelFold]]:
    """Float64 copies of the design and folds, for :func:`exact_fold_errors`.

    Gram-form folds get float64 eigenvectors, validation rows, means and a
    square factor of the validation Gram matrix computed in float64 (one
    ``p x p`` product and factorisation per fold); kernel folds are used as
    they are (:func:`exact_fold_errors` forms their predictions directly).

    Parameters
    ----------
    design : Design
    folds : list of Fold or list of KernelFold
    bk : Backend

    Returns
    -------
    design64 : Design
        ``design`` with its working-dtype design replaced by the float64 one.
    folds64 : list of Fold or list of KernelFold
    """
    design64 = replace(design, Xw=design.X64)
    if isinstance(folds[0], KernelFold):
        return design64, folds
    bk64 = _float64_backend(bk)
    out = []
    for fold in folds:
        V, exact = fold.eigvecs64, fold.exact64
        factor, upper = fold_factor(V, exact["val_gram"], bk64)
        out.append(replace(fold, eigvecs=V, factor=factor, upper=upper,
                           x_mean=exact["x_mean"], x_sum_val=exact["x_sum_val"],
                           x_val=design.X64[fold.val_index]))
    return design64, out


def exact_fold_errors(design64: Design, folds64: list[Fold] | list[KernelFold], Yb: Any,
                      alphas: np.ndarray, bk: Backend) -> Any:
    """Validation squared errors computed entirely in float64.

    The counterpart of :func:`kfold_errors` for the few targets
    :func:`needs_exact` flags: Gram-form folds use the same expansion with
    float64 operands (its rounding, ``1e-16 |y|^2``, is then negligible);
    kernel-form folds form each validation prediction in float64 from the
    fold's float64 eigenvectors.

    Parameters
    ----------
    design64, folds64
        From :func:`exact_folds`.
    Yb : array, shape (n_samples, n_batch), float64
        Targets (centred by the global mean when fitting an intercept).
    alphas : ndarray, shape (n_alphas,)
    bk : Backend

    Returns
    -------
    array, shape (n_alphas, n_batch), float64
        Pooled mean squared validation error, as :func:`kfold_errors`.
    """
    bk64 = _float64_backend(bk)
    if not isinstance(folds64[0], KernelFold):
        return kfold_errors(design64, folds64, Yb, alphas, bk64)[0]
    X64 = design64.X64
    alphas64 = bk.asarray(np.asarray(alphas, dtype=np.float64), dtype=bk.float64)
    errors = bk64.zeros((alphas.shape[0], Yb.shape[1]))
    n_val_total = 0
    for fold in folds64:
        n_val_total += fold.val.shape[0]
        Xt, Xv = X64[fold.train_index], X64[fold.val_index]
        Yt, Yv = Yb[fold.train_index], Yb[fold.val_index]
        if design64.fit_intercept:
            mu, nu = Xt.mean(0), Yt.mean(0)
            Xt, Xv, Yt, Yv = Xt - mu, Xv - mu, Yt - nu, Yv - nu
        E = fold.eigvecs64
        z, cross = E.T @ Yt, Xv @ (Xt.T @ E)
        inv = _inverse_shift(fold.eigvals, alphas64, bk64)  # (r, n_alphas)
        for a in range(alphas.shape[0]):
            resid = cross @ (inv[:, a][:, None] * z)
            resid -= Yv
            errors[a] += bk64.col_sumsq(resid)
    return errors / n_val_total
