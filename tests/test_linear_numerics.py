"""Numerical robustness of RidgeCV: exact LOO on hard designs, float32 K-fold at high SNR.

References: scikit-learn's exact leave-one-out errors (``RidgeCV`` with
``store_cv_results=True``, float64) and brute-force K-fold loops of
scikit-learn ``Ridge`` fits in float64.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge as SkRidge
from sklearn.linear_model import RidgeCV as SkRidgeCV

from perceptogram.linear.cv import make_splits
from perceptogram.linear.ridge import AlphaGridEdgeWarning, RidgeCV, _select

ALPHAS = np.logspace(-1, 5, 13)


def hard_design(name, seed=0, n_targets=24):
    """Designs from issue 14: unscaled p > n, offset, and a well-posed control."""
    rng = np.random.default_rng(seed)
    n, p = {"unscaled p>n": (100, 1360), "offset": (40, 200), "well-posed": (300, 30)}[name]
    Z = rng.standard_normal((n, p))
    X = {"unscaled p>n": 20 * Z, "offset": 100 * (Z + 2), "well-posed": Z}[name]
    W = rng.standard_normal((p, n_targets)) / np.sqrt(p)
    Y = Z @ W + rng.standard_normal((n, n_targets)) * np.logspace(-2, 1, n_targets) + 5.0
    return X, Y


def sklearn_loo(X, Y):
    """Exact leave-one-out mean squared errors, shape (n_alphas, n_targets)."""
    ref = SkRidgeCV(ALPHAS, alpha_per_target=True, store_cv_results=True).fit(X, Y)
    return ref.cv_results_.mean(axis=0).T


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["unscaled p>n", "offset", "well-posed"])
def test_loo_matches_sklearn_exact_errors(name, dtype):
    X, Y = hard_design(name)
    ref = sklearn_loo(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlphaGridEdgeWarning)
        ours = RidgeCV(ALPHAS, cv="loo", dtype=dtype).fit(X.astype(dtype), Y.astype(dtype))
    errors = ours.cv_errors_.astype(np.float64)
    assert np.all(np.isfinite(errors))
    rtol = 1e-4 if dtype == "float32" else 1e-7
    np.testing.assert_allclose(errors, ref, rtol=rtol)
    # The chosen alpha's exact error is within 0.1 % of the best on the grid.
    chosen = np.searchsorted(ALPHAS, ours.alpha_)
    chosen_ref = ref[chosen, np.arange(Y.shape[1])]
    assert np.all(chosen_ref <= ref.min(axis=0) * 1.001)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loo_without_intercept_p_greater_than_n(dtype):
    X, Y = hard_design("unscaled p>n")
    ref = SkRidgeCV(ALPHAS, alpha_per_target=True, store_cv_results=True,
                    fit_intercept=False).fit(X, Y - 5.0)
    ref_err = ref.cv_results_.mean(axis=0).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlphaGridEdgeWarning)
        ours = RidgeCV(ALPHAS, cv="loo", dtype=dtype, fit_intercept=False).fit(
            X.astype(dtype), (Y - 5.0).astype(dtype))
    np.testing.assert_allclose(ours.cv_errors_, ref_err, rtol=1e-4)


def brute_force_kfold(X, Y, splits):
    errors = np.zeros((ALPHAS.size, Y.shape[1]))
    for a, alpha in enumerate(ALPHAS):
        for train, val in splits:
            fit = SkRidge(alpha=alpha).fit(X[train], Y[train])
            errors[a] += ((fit.predict(X[val]) - Y[val]) ** 2).sum(axis=0)
    return errors / X.shape[0]


@pytest.mark.parametrize("shape", [(400, 40), (60, 120)], ids=["gram", "kernel"])
def test_grouped_kfold_float32_high_snr(shape):
    """Targets predicted almost perfectly (noise 1e-3): float32 selection as in float64."""
    rng = np.random.default_rng(1)
    n, p = shape
    rank = min(p, 20)  # a kernel-form fold (n_train < p) predicts well only on low rank
    X = 3 * rng.standard_normal((n, rank)) @ rng.standard_normal((rank, p)) + 1.0
    Y = X @ rng.standard_normal((p, 32)) + 1e-3 * rng.standard_normal((n, 32))
    X, Y = X.astype(np.float32), Y.astype(np.float32)  # the reference sees the same input
    groups = np.arange(n) // 4
    splits = make_splits("group", 5, n, groups)
    ref = brute_force_kfold(X.astype(np.float64), Y.astype(np.float64), splits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlphaGridEdgeWarning)
        ours = RidgeCV(ALPHAS, cv="group", n_splits=5).fit(X, Y, groups=groups)
    chosen = np.searchsorted(ALPHAS, ours.alpha_)
    assert np.all(ref[chosen, np.arange(Y.shape[1])] <= ref.min(axis=0) * 1.001)
    np.testing.assert_allclose(ours.cv_errors_, ref, rtol=1e-3)
    assert ours.n_rescored_ == Y.shape[1]  # all flagged, scored again in float64


def test_no_rescoring_for_ordinary_targets():
    X, Y = hard_design("well-posed")
    Y = Y + np.random.default_rng(3).standard_normal(Y.shape)  # error >> 0.3 % of variance
    model = RidgeCV(ALPHAS, cv="kfold").fit(X.astype(np.float32), Y.astype(np.float32))
    assert model.n_rescored_ == 0


def test_non_finite_errors_are_never_selected():
    errors = np.array([[np.nan, 1.0, np.inf], [2.0, np.nan, np.nan], [3.0, 0.5, np.nan]])
    np.testing.assert_array_equal(_select(errors), [1, 2, 0])


def test_grid_edge_warning_once_with_count():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 10))
    W = rng.standard_normal((10, 6))
    Y = X @ W + 1e-2 * rng.standard_normal((200, 6))  # wants alpha -> 0
    Y[:, 0] = 5.0  # a constant target prefers nothing and is not counted
    Y[:, 1] = rng.standard_normal(200)  # pure noise wants alpha -> inf
    with pytest.warns(AlphaGridEdgeWarning) as record:
        RidgeCV((1.0, 10.0, 100.0), cv="loo").fit(X, Y)
    assert len(record) == 1
    assert str(record[0].message).startswith("5 of 6 targets chose an alpha on the edge")
    assert "4 the smallest" in str(record[0].message)
    with warnings.catch_warnings():  # a grid wide enough for every target: silent
        warnings.simplefilter("error", AlphaGridEdgeWarning)
        RidgeCV(np.logspace(-6, 6, 13), cv="loo").fit(X, Y[:, 2:] + rng.standard_normal((200, 4)))


def test_centred_kernel_null_eigenvalue_is_exactly_zero():
    from perceptogram.linear import solvers
    from perceptogram.linear.backend import get_backend

    X, _ = hard_design("offset", seed=1)  # eigh returns +2.4e-9 for the zero eigenvalue
    bk = get_backend("numpy", "float64")
    decomp = solvers.decompose(solvers.prepare_design(X, True, bk), bk)
    assert not decomp.primal
    assert np.sum(decomp.eigvals == 0) == 1  # the constant direction, and nothing else
    assert np.sum(decomp.eigvals < 1e-6 * decomp.eigvals.max()) == 1


def test_fold_errors_stay_in_the_working_dtype_with_numpy_counts():
    """Counts given as NumPy float64 scalars (the pooled ridge's) must not promote the
    float32 products to float64 (NEP 50): that took a slow mixed-dtype product path."""
    from perceptogram.linear import solvers
    from perceptogram.linear.backend import get_backend

    bk = get_backend("numpy", "float32", None)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 12))
    Y = rng.standard_normal((200, 3)).astype(np.float32)
    splits = make_splits("kfold", 4, 200, None)
    design = solvers.prepare_design(X, True, bk)
    folds, _ = solvers.decompose_folds(design, splits, bk)
    fold, (train, val) = folds[0], splits[0]
    Xc = design.Xw
    args = (Xc[train].T @ Y[train], Y[train].sum(0), Xc[val].T @ Y[val], Y[val].sum(0),
            (Y[val] ** 2).sum(0), np.array([0.1, 10.0]), True, bk)
    as_ints = solvers.fold_errors(fold, train.size, val.size, *args)
    as_numpy = solvers.fold_errors(fold, np.float64(train.size), np.float64(val.size), *args)
    assert as_ints.dtype == as_numpy.dtype == np.float32
    np.testing.assert_array_equal(as_ints, as_numpy)


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
def test_fold_jobs_sum_like_one_fold_after_another(workers, monkeypatch):
    """Errors split into (fold, columns) jobs over any number of workers equal the
    fold-by-fold sum computed without jobs."""
    from perceptogram.linear import solvers
    from perceptogram.linear.backend import NumpyBackend, get_backend

    bk = get_backend("numpy", "float32", None)
    rng = np.random.default_rng(1)
    per_fold = rng.standard_normal((5, 4, 200)).astype(np.float32)
    calls = []

    def fold_error(job):
        f, cols = job
        calls.append(job)
        return per_fold[f][:, cols]

    monkeypatch.setattr(NumpyBackend, "workers", lambda self: workers)
    got = solvers.sum_fold_jobs(fold_error, 5, 200, 4, bk)
    expected = per_fold[0].copy()
    for f in range(1, 5):
        expected += per_fold[f]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert len(calls) % 5 == 0 and len(calls) // 5 == (workers // np.gcd(5, workers))
