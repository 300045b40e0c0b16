"""Ridge estimators with a scikit-learn API: fixed alpha and per-target cross-validation.

Nothing here is specific to EEG: the same estimators decode (EEG -> latent) and
encode (latent -> EEG). The numerical work lives in
:mod:`perceptogram.linear.solvers`; these classes validate input, loop over
batches of targets and store the learned attributes.

Output rescaling (``rescale``), applied by ``predict`` after the linear map,
per target dimension:

- ``"none"``: the ridge predictions as they are.
- ``"train"`` (non-transductive): ``(yhat - m_pred) / s_pred * s_y + m_y`` where
  ``m_pred``, ``s_pred`` are the mean and standard deviation of the model's
  predictions *on its training samples* (``train_pred_mean_``,
  ``train_pred_scale_``) and ``m_y``, ``s_y`` those of the training targets
  (``target_mean_``, ``target_scale_``). Uses training data only.
- ``"transductive"``: ``(yhat - mean(yhat)) / std(yhat) * s_y + m_y`` where the
  mean and standard deviation are taken over *the batch of samples being
  predicted* (the reference implementation's trick). Each prediction then
  depends on the other test samples: report it as transductive.

All standard deviations use ``ddof=0``; a dimension whose predictions are
constant is mapped to ``m_y``.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from perceptogram._progress import track
from perceptogram.linear import solvers
from perceptogram.linear.backend import Backend, get_backend
from perceptogram.linear.cv import CV_NAMES, make_splits

RESCALE_MODES = ("none", "train", "transductive")

#: The default grid of :class:`RidgeCV` (``alphas=None``) and of the pipeline's decoder:
#: one value per decade from 1e-1 to 1e7.
DEFAULT_ALPHAS = tuple(10.0 ** k for k in range(-1, 8))

#: The default grid is extended when more than this share of the (non-constant)
#: targets choose its smallest, or its largest, value.
GRID_EDGE_SHARE = 0.05

#: How far beyond that edge the default grid is extended, in decades (one value per
#: decade, or per step of the grid when it is finer).
GRID_EXTENSION_DECADES = 2


def check_alphas(alphas: Any, *, allow_zero: bool, name: str = "alphas") -> np.ndarray:
    """Validate regularisation values.

    Parameters
    ----------
    alphas : float or array-like
    allow_zero : bool
        Whether ``0`` (ordinary least squares) is allowed.
    name : str
        Parameter name for the error message.

    Returns
    -------
    ndarray, shape (n_alphas,), float64
    """
    values = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got {alphas!r}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite, got {values.tolist()}")
    bad = values < 0 if allow_zero else values <= 0
    if np.any(bad):
        bound = "non-negative" if allow_zero else "strictly positive"
        raise ValueError(f"{name} must be {bound}, got {values.tolist()}")
    return values


class _BaseRidge(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Validation, target batching, intercept and rescaling shared by the estimators."""

    def __init__(self, *, fit_intercept: bool, backend: str, device: str | None,
                 dtype: str, rescale: str, batch_size: int | None) -> None:
        self.fit_intercept = fit_intercept
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.rescale = rescale
        self.batch_size = batch_size

    def _backend(self) -> Backend:
        if self.rescale not in RESCALE_MODES:
            raise ValueError(f"rescale must be one of {RESCALE_MODES}, got {self.rescale!r}")
        return get_backend(self.backend, self.dtype, self.device)

    def _validate_fit(self, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray, int]:
        X, Y = validate_data(self, X, Y, multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32], ensure_min_samples=2)
        y_ndim = Y.ndim
        if Y.ndim == 1:
            Y = Y[:, None]
        return X, Y, y_ndim

    def _batches(self, n_targets: int, n_samples: int) -> list[slice]:
        if self.batch_size is not None and (
            not isinstance(self.batch_size, numbers.Integral) or self.batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive int or None, got {self.batch_size!r}")
        return solvers.target_batches(n_targets, n_samples, self.batch_size)

    def _store(self, coef: np.ndarray, alpha: np.ndarray, design: solvers.Design,
               y_mean: np.ndarray, y_var: np.ndarray, y_ndim: int, bk: Backend) -> None:
        """Set ``alpha_``, ``coef_``, ``intercept_`` and the rescaling statistics."""
        self.alpha_ = np.array(alpha) if y_ndim == 2 else float(alpha[0])
        dtype = np.dtype(self.dtype)
        intercept = (y_mean - coef.astype(np.float64) @ design.x_mean
                     if self.fit_intercept else np.zeros(coef.shape[0]))
        self.target_mean_ = y_mean.astype(dtype)
        self.target_scale_ = np.sqrt(np.clip(y_var, 0.0, None)).astype(dtype)
        if self.rescale == "train":
            self.train_pred_mean_, self.train_pred_scale_ = self._train_prediction_stats(
                coef, design, y_mean, bk)
        self.coef_ = coef.astype(dtype, copy=False)
        self.intercept_ = intercept.astype(dtype)
        if y_ndim == 1:
            self.coef_ = self.coef_[0]
            self.intercept_ = dtype.type(self.intercept_[0])

    def _train_prediction_stats(self, coef: np.ndarray, design: solvers.Design,
                                y_mean: np.ndarray, bk: Backend
                                ) -> tuple[np.ndarray, np.ndarray]:
        dtype = np.dtype(self.dtype)
        mean = np.empty(coef.shape[0], dtype=dtype)
        scale = np.empty(coef.shape[0], dtype=dtype)
        for batch in self._batches(coef.shape[0], design.n_samples):
            pred = design.Xw @ bk.asarray(coef[batch]).T
            m = pred.mean(0)
            centered = pred - m
            mean[batch] = bk.to_numpy(m) + (y_mean[batch] if self.fit_intercept else 0.0)
            scale[batch] = np.sqrt(bk.to_numpy(bk.col_sumsq(centered)) / design.n_samples)
        return mean, scale

    def predict(self, X: Any) -> np.ndarray:
        """Predict targets (decoded latents, or EEG for an encoder).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_targets) or (n_samples,)
            Rescaled according to ``rescale``; float32 for float32 input,
            float64 otherwise (as scikit-learn estimators preserve dtypes).
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        coef = np.atleast_2d(self.coef_).astype(X.dtype, copy=False)
        pred = X @ coef.T + np.atleast_1d(self.intercept_).astype(X.dtype, copy=False)
        if self.rescale == "train":
            pred = _affine_rescale(pred, self.train_pred_mean_, self.train_pred_scale_,
                                   self.target_mean_, self.target_scale_)
        elif self.rescale == "transductive":
            if pred.shape[0] < 2:
                raise ValueError("rescale='transductive' needs at least 2 samples to predict")
            pred = _affine_rescale(pred, pred.mean(0), pred.std(0),
                                   self.target_mean_, self.target_scale_)
        return pred[:, 0] if np.ndim(self.coef_) == 1 else pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


class AlphaGridEdgeWarning(UserWarning):
    """Chosen regularisation values sit on the edge of the candidate grid.

    The best alpha of those targets may lie outside the grid: widen ``alphas``.
    """


def _select(errors: np.ndarray) -> np.ndarray:
    """Index of the best alpha of each target; non-finite errors are never chosen.

    Parameters
    ----------
    errors : ndarray, shape (n_alphas, n_targets)

    Returns
    -------
    ndarray of int, shape (n_targets,)
        First index of the smallest finite error (0 when no error is finite).
    """
    return np.argmin(np.where(np.isfinite(errors), errors, np.inf), axis=0)


def _edge_counts(alpha: np.ndarray, alphas: np.ndarray, y_var: np.ndarray
                 ) -> tuple[int, int, int]:
    """Targets that chose the smallest and the largest alpha, and the non-constant targets."""
    varying = y_var > 0  # a constant target has no preferred alpha
    low = int(np.sum(varying & (alpha == alphas.min())))
    high = int(np.sum(varying & (alpha == alphas.max())))
    return low, high, int(np.count_nonzero(varying))


def _grid_extension(alpha: np.ndarray, alphas: np.ndarray, y_var: np.ndarray
                    ) -> tuple[np.ndarray, str | None]:
    """New alphas beyond each edge chosen by more than :data:`GRID_EDGE_SHARE` of the targets.

    Returns
    -------
    added : ndarray, shape (n_added,)
        Values beyond the crowded edge(s), :data:`GRID_EXTENSION_DECADES` decades
        out, one per decade (or per step of a finer grid); empty when no edge is
        crowded.
    note : str or None
        What was extended and why.
    """
    low, high, n_varying = _edge_counts(alpha, alphas, y_var)
    if alphas.size < 2 or n_varying == 0:
        return np.empty(0), None
    logs = np.log10(np.sort(alphas))
    step = min(1.0, float(np.min(np.diff(logs)))) if np.all(np.diff(logs) > 0) else 1.0
    offsets = step * np.arange(1, int(np.ceil(GRID_EXTENSION_DECADES / step - 1e-9)) + 1)
    added, parts = [], []
    for count, edge, sign, which in ((low, logs[0], -1.0, "smallest"),
                                     (high, logs[-1], 1.0, "largest")):
        if count > GRID_EDGE_SHARE * n_varying:
            new = 10.0 ** (edge + sign * offsets)
            added.append(new)
            parts.append(f"{count} of {n_varying} targets chose its {which} value, "
                         f"{10.0 ** edge:g}: added {', '.join(f'{a:g}' for a in new)}")
    if not added:
        return np.empty(0), None
    return np.concatenate(added), ("alpha grid extended once (more than "
                                   f"{GRID_EDGE_SHARE:.0%} of the targets on an edge): "
                                   + "; ".join(parts))


def _grid_edge_message(alpha: np.ndarray, alphas: np.ndarray, y_var: np.ndarray) -> str | None:
    """How many targets chose the smallest or largest alpha (None when none did)."""
    if alphas.size < 2:
        return None
    low, high, _ = _edge_counts(alpha, alphas, y_var)
    if not (low or high):
        return None
    return (f"{low + high} of {alpha.size} targets chose an alpha on the edge of the grid "
            f"({low} the smallest, {alphas.min():g}; {high} the largest, {alphas.max():g}): "
            "their best regularisation may lie outside it; widen alphas")


def _affine_rescale(pred: np.ndarray, src_mean: Any, src_scale: Any, dst_mean: Any,
                    dst_scale: Any) -> np.ndarray:
    src_scale = np.asarray(src_scale)
    ratio = np.divide(dst_scale, src_scale, out=np.zeros_like(src_scale),
                      where=src_scale > 0)
    return ((pred - src_mean) * ratio + dst_mean).astype(pred.dtype, copy=False)


def _prepare_fit(est: _BaseRidge, X: np.ndarray, Y: np.ndarray, bk: Backend,
                 description: str, design: solvers.Design | None = None):
    """Prepare a fit: the centred design, target means, and a target-block iterator.

    Returns ``(design, y_mean, y_var, blocks)`` where ``blocks()`` yields
    ``(batch, block)`` pairs of target slices and their (centred) values on the
    backend, with a progress bar, and fills ``y_var`` (target variances) as a
    side effect. A ``design`` prepared before (from the same ``X``) is reused.
    """
    if design is None:
        design = solvers.prepare_design(X, est.fit_intercept, bk)
    y_mean = np.mean(Y, axis=0, dtype=np.float64)
    batches = est._batches(Y.shape[1], Y.shape[0])
    y_var = np.empty(Y.shape[1])

    def blocks():
        for batch in track(batches, description):
            block = solvers.target_block(Y, batch, y_mean if est.fit_intercept else None, bk)
            mean_b = block.mean(0)
            y_var[batch] = bk.to_numpy(bk.col_sumsq(block - mean_b)) / Y.shape[0]
            yield batch, block

    return design, y_mean, y_var, blocks


def _fixed_alpha_coef(design: solvers.Design, decomp: solvers.Decomposition, block: Any,
                      alpha: np.ndarray, bk: Backend) -> np.ndarray:
    """Ridge weights of a block of targets with given alphas, from the eigendecomposition."""
    proj = solvers.project_targets(design, decomp, block)
    return bk.to_numpy(solvers.ridge_coef(design, decomp, proj, alpha, bk))


class Ridge(_BaseRidge):
    """Ridge regression with a fixed regularisation (the published setting).

    Minimises ``||Y - X W^T - b||^2 + alpha ||W||^2`` for every target, the
    intercept ``b`` unpenalised. Works on the centred ``p x p`` Gram matrix, or
    on the ``n x n`` kernel matrix when ``p > n`` (e.g. an encoder from a
    36,864-d latent), in batches of targets: one Cholesky factorisation of the
    shifted matrix when all targets share a positive ``alpha``, otherwise one
    eigendecomposition (per-target alphas, ``alpha=0``, or a shift too small to
    factor). The Cholesky factorisation is about 15 times faster; both are
    ``O(min(n, p)^3)``, and forming an ``n x n`` kernel costs ``O(n^2 p)``.

    Parameters
    ----------
    alpha : float or array-like of shape (n_targets,), default=1.0
        Regularisation, ``>= 0`` (``0``: minimum-norm least squares).
    fit_intercept : bool, default=True
    backend : {"numpy", "torch"}, default="numpy"
    device : str or None, default=None
        Torch device (``"cpu"``, ``"cuda"``) for ``backend="torch"``.
    dtype : {"float32", "float64"}, default="float32"
        Working precision and dtype of the learned attributes (decompositions
        always run in float64).
    rescale : {"none", "train", "transductive"}, default="none"
        Output rescaling applied by :meth:`predict` (see the module docstring).
    batch_size : int or None, default=None
        Targets per batch (``None``: about 128 MiB per block of targets).

    Attributes
    ----------
    coef_ : ndarray, shape (n_targets, n_features) or (n_features,)
    intercept_ : ndarray, shape (n_targets,) or float
    alpha_ : ndarray, shape (n_targets,) or float
    target_mean_, target_scale_ : ndarray, shape (n_targets,)
        Mean and standard deviation of the training targets.
    train_pred_mean_, train_pred_scale_ : ndarray, shape (n_targets,)
        Mean and standard deviation of the predictions on the training samples
        (only with ``rescale="train"``).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge as SkRidge
    >>> from perceptogram.linear import Ridge
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 8))
    >>> Y = X @ rng.standard_normal((8, 3)) + 0.1 * rng.standard_normal((50, 3))
    >>> model = Ridge(alpha=10.0, dtype="float64").fit(X, Y)
    >>> model.coef_.shape, model.predict(X[:4]).shape
    ((3, 8), (4, 3))
    >>> bool(np.allclose(model.coef_, SkRidge(alpha=10.0).fit(X, Y).coef_))
    True
    """

    def __init__(self, alpha: Any = 1.0, *, fit_intercept: bool = True,
                 backend: str = "numpy", device: str | None = None,
                 dtype: str = "float32", rescale: str = "none",
                 batch_size: int | None = None) -> None:
        super().__init__(fit_intercept=fit_intercept, backend=backend, device=device,
                         dtype=dtype, rescale=rescale, batch_size=batch_size)
        self.alpha = alpha

    def fit(self, X: Any, Y: Any, groups: Any = None) -> Ridge:
        """Fit the ridge weights.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)
        groups : ignored
            Accepted for API symmetry with :class:`RidgeCV`.

        Returns
        -------
        self
        """
        bk = self._backend()
        X, Y, y_ndim = self._validate_fit(X, Y)
        alpha = check_alphas(self.alpha, allow_zero=True, name="alpha")
        if alpha.size not in (1, Y.shape[1]):
            raise ValueError(
                f"alpha has {alpha.size} values for {Y.shape[1]} targets; give one value "
                "or one per target"
            )
        alpha = np.broadcast_to(alpha, (Y.shape[1],))
        design, y_mean, y_var, blocks = _prepare_fit(self, X, Y, bk, "ridge: fitting")
        shared = np.all(alpha == alpha[0])
        shifted = solvers.factor_shifted(design, float(alpha[0]), bk) if shared else None
        decomp = solvers.decompose(design, bk) if shifted is None else None
        coef = np.empty((Y.shape[1], X.shape[1]), dtype=np.dtype(self.dtype))
        for batch, block in blocks():
            if shifted is None:
                coef[batch] = _fixed_alpha_coef(design, decomp, block, alpha[batch], bk)
            else:
                coef[batch] = bk.to_numpy(solvers.shifted_coef(design, shifted, block, bk))
        self._store(coef, alpha, design, y_mean, y_var, y_ndim, bk)
        return self


class RidgeCV(_BaseRidge):
    """Ridge regression with alpha chosen by cross-validation on the training data.

    Parameters
    ----------
    alphas : sequence of float or None, default=None
        Candidate regularisation values, strictly positive, searched as given.
        None: :data:`DEFAULT_ALPHAS` (1e-1 to 1e7, one per decade), adapted to the
        data: when more than :data:`GRID_EDGE_SHARE` of the targets choose its
        smallest or largest value, the grid is extended
        :data:`GRID_EXTENSION_DECADES` decades beyond that edge and only the new
        values are scored (once; ``alpha_grid_extension_`` says so).
    cv : {"group", "kfold", "loo"}, int or scikit-learn splitter, default="group"
        ``"group"``: grouped K-fold (``n_splits`` folds,
        :class:`~sklearn.model_selection.GroupKFold`) where ``groups`` passed to
        :meth:`fit` (e.g. THINGS concepts) never straddle folds; without
        ``groups``, plain K-fold with a warning saying so. ``"kfold"``: unshuffled
        K-fold. ``"loo"``: efficient
        exact leave-one-out, numerically equivalent to
        :class:`sklearn.linear_model.RidgeCV` with ``cv=None`` (mean squared
        error per target, ties to the first best alpha of the grid). An int
        ``K``: ``GroupKFold(K)`` if groups are given, else ``KFold(K)``. A
        splitter: its ``split(X, Y, groups)``.
    n_splits : int, default=5
        Folds for ``cv="group"`` and ``cv="kfold"``.
    alpha_per_target : bool, default=True
        Choose one alpha per target (``True``) or one alpha shared by all
        targets, minimising the error summed over targets (``False``).
    fit_intercept, backend, device, dtype, rescale, batch_size
        As in :class:`Ridge`.

    Attributes
    ----------
    alpha_ : ndarray, shape (n_targets,) or float
        Selected regularisation.
    cv_errors_ : ndarray, shape (n_alphas, n_targets)
        Cross-validated mean squared error of each alpha and target (K-fold:
        squared validation errors pooled over folds, divided by the number of
        samples; leave-one-out: mean squared leave-one-out residual).
    n_splits_ : int
        Number of folds used (``n_samples`` for leave-one-out).
    n_rescored_ : int
        Number of targets whose float32 cross-validated errors were unreliable
        (non-finite, or the best below 0.3 % of the target variance) and were
        computed again in float64.
    alphas_ : ndarray, shape (n_alphas,)
        The grid searched (the given one; with ``alphas=None``, the default grid
        and any extension, in increasing order).
    alpha_grid_extension_ : str or None
        How the default grid was extended and why, or None when it was not
        (always None for a given grid).
    alpha_grid_edge_ : str or None
        How many targets chose the smallest or largest alpha of the searched
        grid (also issued as an :class:`AlphaGridEdgeWarning`), or None when
        none did.
    coef_, intercept_, target_mean_, target_scale_, train_pred_mean_,
    train_pred_scale_, n_features_in_
        As in :class:`Ridge`, refitted on all training samples with ``alpha_``.

    Notes
    -----
    All fold and full-data decompositions are computed once (float64) and
    reused for every alpha and batch of targets; the form is chosen by shape,
    as scikit-learn's ``gcv_mode="auto"`` does. When every training set has at
    least as many samples as features, K-fold validation errors are computed
    from ``p x p`` Gram decompositions without forming validation predictions:
    per fold and alpha the cost is one ``p x p`` by ``p x n_targets``
    (triangular) product, independent of ``n_samples``. They expand the squared
    error as ``|y|^2 - 2 y.yhat + |yhat|^2``, whose float32 rounding swamps the
    differences between alphas for targets predicted almost perfectly: with
    ``dtype="float32"``, targets whose best error is below 0.3 % of their variance
    (or non-finite) are scored again in float64 from explicit validation
    predictions (``n_rescored_``). With fewer
    training samples than features, each fold decomposes its
    ``n_train x n_train`` kernel matrix instead (read off one ``n x n`` kernel
    of all samples) and forms the validation residuals directly, one
    ``n_val x n_train`` by ``n_train x n_targets`` product per fold and alpha.
    Leave-one-out costs one ``n x r`` by ``r x n_targets`` product per alpha
    (``r = min(n, p)``), as in scikit-learn, but in the working dtype; its
    leverage complements ``1 - H_ii`` (float64) are sums of non-negative terms
    ``U_ij^2 alpha / (s_j + alpha)`` and the training residuals are formed as
    ``alpha / (s + alpha)``-weighted projections, never as ``y - yhat`` (no
    cancellation when ``H_ii`` is close to 1, as on unscaled data with
    ``p > n``), eigenvalues below the numerical rank
    tolerance are set to zero, and a non-finite error is never selected.
    Targets whose chosen alpha is the smallest or largest of the grid trigger
    one :class:`AlphaGridEdgeWarning` per fit, with their count.

    Examples
    --------
    >>> import numpy as np
    >>> from perceptogram.linear import RidgeCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 30))           # e.g. 200 images x 30 EEG features
    >>> Y = X @ rng.standard_normal((30, 4)) + rng.standard_normal((200, 4)) * [1, 2, 4, 8]
    >>> concepts = np.arange(200) // 10              # 10 images per concept
    >>> model = RidgeCV(alphas=np.logspace(-1, 4, 11), cv="group").fit(X, Y, groups=concepts)
    >>> model.alpha_.shape, model.cv_errors_.shape   # one alpha per target
    ((4,), (11, 4))
    >>> bool(np.all(np.diff(model.alpha_) >= 0))     # noisier targets: stronger ridge
    True
    """

    def __init__(self, alphas: Any = None, *, cv: Any = "group",
                 n_splits: int = 5, alpha_per_target: bool = True,
                 fit_intercept: bool = True, backend: str = "numpy",
                 device: str | None = None, dtype: str = "float32",
                 rescale: str = "none", batch_size: int | None = None) -> None:
        super().__init__(fit_intercept=fit_intercept, backend=backend, device=device,
                         dtype=dtype, rescale=rescale, batch_size=batch_size)
        self.alphas = alphas
        self.cv = cv
        self.n_splits = n_splits
        self.alpha_per_target = alpha_per_target

    def fit(self, X: Any, Y: Any, groups: Any = None, *,
            basis: CVBasis | None = None) -> RidgeCV:
        """Select alpha per target by cross-validation, then refit on all samples.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)
        groups : array-like, shape (n_samples,) or None
            Group of each sample (THINGS: the concept of each image); required
            for ``cv="group"``.
        basis : CVBasis or None
            The decompositions of this ``X`` and ``groups`` from :meth:`decompose`
            (an estimator with the same settings): several target sets, e.g. the
            latent spaces one EEG design is decoded into, are then fitted with one
            decomposition. Results equal a fit without it.

        Returns
        -------
        self
        """
        bk = self._backend()
        adaptive = self.alphas is None
        alphas = np.asarray(DEFAULT_ALPHAS) if adaptive else check_alphas(self.alphas,
                                                                           allow_zero=False)
        X, Y, y_ndim = self._validate_fit(X, Y)
        if basis is None:
            basis = self._decompose(X, groups, bk)
        else:
            basis.check(self, X, groups)
        loo = basis.splits is None
        design, y_mean, y_var, blocks = _prepare_fit(self, X, Y, bk,
                                                     "ridge: choosing alpha per target",
                                                     design=basis.design)
        search = _Search(self, basis, bk, Y, y_mean, y_var)
        self.n_rescored_ = 0
        coef = np.empty((Y.shape[1], X.shape[1]), dtype=np.dtype(self.dtype))
        errors = search.run(alphas, blocks, coef)
        alpha = self._chosen(alphas, errors)
        self.alpha_grid_extension_ = None
        if adaptive:
            added, self.alpha_grid_extension_ = _grid_extension(alpha, alphas, y_var)
            if added.size:
                errors = search.run(added, blocks, coef, errors, alphas)
                alphas = np.concatenate([alphas, added])
                order = np.argsort(alphas, kind="stable")
                alphas, errors = alphas[order], errors[order]
                alpha = self._chosen(alphas, errors)
        if not self.alpha_per_target:
            for batch, block in blocks():
                coef[batch] = _fixed_alpha_coef(
                    design, search.decomp, block, np.full(batch.stop - batch.start, alpha[0]), bk)
        self.alphas_ = alphas
        self.alpha_grid_edge_ = _grid_edge_message(alpha, alphas, y_var)
        if self.alpha_grid_edge_ is not None:
            warnings.warn(self.alpha_grid_edge_, AlphaGridEdgeWarning, stacklevel=2)
        self.cv_errors_ = errors
        self.n_splits_ = X.shape[0] if loo else len(basis.splits)
        self._store(coef, alpha, design, y_mean, y_var, y_ndim, bk)
        return self

    def decompose(self, X: Any, groups: Any = None) -> CVBasis:
        """Decompose ``X`` once for the cross-validation of several fits.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        groups : array-like, shape (n_samples,) or None
            As in :meth:`fit`.

        Returns
        -------
        CVBasis
            For :meth:`fit` (``basis=``) of this estimator or of any with the
            same settings, on the same ``X`` and ``groups``.
        """
        bk = self._backend()
        X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        return self._decompose(X, groups, bk)

    def _decompose(self, X: np.ndarray, groups: Any, bk: Backend) -> CVBasis:
        if isinstance(self.cv, str) and self.cv not in CV_NAMES:
            raise ValueError(
                f"cv must be one of {CV_NAMES}, an int or a splitter; got {self.cv!r}"
            )
        loo = isinstance(self.cv, str) and self.cv == "loo"
        splits = None if loo else make_splits(self.cv, self.n_splits, X.shape[0], groups)
        design = solvers.prepare_design(X, self.fit_intercept, bk)
        if loo:
            folds, decomp = None, solvers.decompose(design, bk, keep64=True)
        else:
            folds, decomp = solvers.decompose_folds(design, splits, bk)
        return CVBasis(X=X, groups=None if groups is None else np.asarray(groups),
                       settings=_basis_settings(self), design=design, splits=splits,
                       folds=folds, decomp=decomp)

    def _chosen(self, alphas: np.ndarray, errors: np.ndarray) -> np.ndarray:
        """The alpha of every target: its own best, or the best of the summed errors."""
        if self.alpha_per_target:
            return alphas[_select(errors)]
        total = np.where(np.isfinite(errors), errors, np.inf).astype(np.float64).sum(axis=1)
        return np.full(errors.shape[1], alphas[int(np.argmin(total))])



def _basis_settings(est: RidgeCV) -> tuple:
    """The settings a :class:`CVBasis` depends on (a splitter object by identity)."""
    cv = est.cv if isinstance(est.cv, (str, numbers.Integral)) else id(est.cv)
    return (cv, est.n_splits, est.fit_intercept, est.backend, est.device, est.dtype)


@dataclass
class CVBasis:
    """The cross-validation decompositions of one design, shared by several fits.

    Made by :meth:`RidgeCV.decompose`. Fitting a :class:`RidgeCV` costs mostly
    these decompositions (every fold's and the full data's, float64) when the
    targets are few; an EEG design decoded into several latent spaces needs them
    once.

    Attributes
    ----------
    X : ndarray, shape (n_samples, n_features)
        The design decomposed (checked against the ``X`` of each fit).
    groups : ndarray, shape (n_samples,), or None
    settings : tuple
        The estimator settings it was made with.
    design : Design
    splits : list of (train, val) index arrays, or None (leave-one-out)
    folds : list of Fold or KernelFold, or None (leave-one-out)
    decomp : Decomposition
    exact : dict
        Float64 folds for rescoring, built on first need and shared.
    """

    X: np.ndarray
    groups: np.ndarray | None
    settings: tuple
    design: solvers.Design
    splits: list[tuple[np.ndarray, np.ndarray]] | None
    folds: list | None
    decomp: solvers.Decomposition
    exact: dict = field(default_factory=dict)

    def check(self, est: RidgeCV, X: np.ndarray, groups: Any) -> None:
        """Refuse a basis made with other settings, another ``X`` or other groups."""
        if _basis_settings(est) != self.settings:
            raise ValueError("this basis was made by an estimator with other settings (cv, "
                             "n_splits, fit_intercept, backend, device or dtype)")
        if X.shape != self.X.shape or not (X is self.X or np.array_equal(X, self.X)):
            raise ValueError("this basis was made from another X; decompose this X")
        same_groups = (groups is None and self.groups is None) or (
            groups is not None and self.groups is not None
            and np.array_equal(np.asarray(groups), self.groups))
        if not same_groups:
            raise ValueError("this basis was made with other groups; decompose with these")


class _Search:
    """The decompositions of one :meth:`RidgeCV.fit`, reused to score any alphas.

    Folds (or the leave-one-out eigendecomposition) are computed once; scoring a
    set of alphas costs one pass over the target batches, so an extension of the
    grid scores only its new values.
    """

    def __init__(self, est: RidgeCV, basis: CVBasis, bk: Backend, Y: np.ndarray,
                 y_mean: np.ndarray, y_var: np.ndarray) -> None:
        self.est, self.design, self.bk = est, basis.design, bk
        self.Y, self.y_mean, self.y_var = Y, y_mean, y_var
        self.loo = basis.splits is None
        self.folds, self.decomp = basis.folds, basis.decomp
        self._exact = basis.exact

    def run(self, alphas: np.ndarray, blocks: Callable, coef: np.ndarray,
            prior_errors: np.ndarray | None = None,
            prior_alphas: np.ndarray | None = None) -> np.ndarray:
        """Errors of ``alphas``, after ``prior_errors`` of ``prior_alphas`` (rows stacked).

        With ``alpha_per_target``, ``coef`` (n_targets, n_features) is filled with the
        weights of each target's best alpha of the whole grid; after a prior pass,
        only the targets whose best alpha is a new one are refitted.

        Returns
        -------
        errors : ndarray, shape (n_prior + n_alphas, n_targets)
        """
        est, design, bk = self.est, self.design, self.bk
        if prior_alphas is None:
            prior_alphas, prior_errors = np.empty(0), np.empty((0, self.Y.shape[1]))
        grid = np.concatenate([prior_alphas, alphas])
        # Ties go to the first alpha of the grid as the caller will order it (an
        # extended grid in increasing order).
        order = np.argsort(grid, kind="stable") if prior_alphas.size else np.arange(grid.size)
        errors = np.empty((grid.size, self.Y.shape[1]), dtype=np.dtype(est.dtype))
        errors[:prior_alphas.size] = prior_errors
        if self.loo:
            basis64 = solvers.loo_basis(design, self.decomp, alphas, bk)
            basis = solvers.cast_loo_basis(basis64, bk)
        for batch, block in blocks():
            if self.loo:
                err, coords = solvers.loo_errors(basis, block, bk)
            else:
                err, xty = solvers.kfold_errors(design, self.folds, block, alphas, bk)
            err = bk.to_numpy(err)
            if est.dtype == "float32":
                err = self._rescore(err, batch, basis64 if self.loo else self.folds, alphas)
            errors[prior_alphas.size:, batch] = err
            if not est.alpha_per_target:
                continue
            best = order[_select(errors[:, batch][order])]
            refit = np.flatnonzero(best >= prior_alphas.size).tolist()
            if not refit:
                continue
            if self.loo:
                proj = solvers.loo_projection(self.decomp, coords[:, refit], bk)
            else:
                proj = solvers.project_targets(design, self.decomp, block[:, refit],
                                               None if xty is None else xty[:, refit])
            rows = np.arange(batch.start, batch.stop)[refit]
            coef[rows] = bk.to_numpy(solvers.ridge_coef(design, self.decomp, proj,
                                                        grid[best[refit]], bk))
        return errors

    def _rescore(self, err: np.ndarray, batch: slice, prepared: Any,
                 alphas: np.ndarray) -> np.ndarray:
        """Score again in float64 the targets of a batch whose float32 errors are unreliable.

        The float64 folds are built once per fit, on first need.
        """
        bk = self.bk
        flagged = np.flatnonzero(solvers.needs_exact(err, self.y_var[batch]))
        if flagged.size == 0:
            return err
        cols = np.arange(batch.start, batch.stop)[flagged]
        Y64 = self.Y[:, cols].astype(np.float64)
        if self.est.fit_intercept:
            Y64 = Y64 - self.y_mean[cols]
        Y64 = bk.asarray(Y64, dtype=bk.float64)
        if isinstance(prepared, solvers.LooBasis):
            exact = solvers.loo_errors(prepared, Y64, bk)[0]
        else:
            if "folds" not in self._exact:
                self._exact["design"], self._exact["folds"] = solvers.exact_folds(
                    self.design, prepared, bk)
            exact = solvers.exact_fold_errors(self._exact["design"], self._exact["folds"],
                                              Y64, alphas, bk)
        err = err.copy()
        err[:, flagged] = bk.to_numpy(exact)
        self.est.n_rescored_ += int(flagged.size)
        return err
