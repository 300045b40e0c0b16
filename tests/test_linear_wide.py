"""Ridge and RidgeCV with fewer samples than features (kernel form), on both backends.

References: scikit-learn's Ridge and RidgeCV, and brute-force K-fold loops of
scikit-learn Ridge fits. A spy on the backends checks that the decompositions
are ``n x n`` (kernel) rather than ``p x p`` when ``p > n``.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge as SkRidge
from sklearn.linear_model import RidgeCV as SkRidgeCV
from sklearn.model_selection import GroupKFold

from perceptogram.linear.backend import NumpyBackend, TorchBackend
from perceptogram.linear.ridge import Ridge, RidgeCV

ALPHAS = np.logspace(-2, 4, 13)
BACKENDS = ["numpy", pytest.param("torch", marks=pytest.mark.filterwarnings("ignore"))]


def make_wide(n=40, p=90, n_targets=8, seed=0, offset=2.0):
    """Correlated features with offsets and targets of very different noise levels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) @ (np.eye(p) + 0.3 * rng.standard_normal((p, p))) + offset
    W = rng.standard_normal((p, n_targets)) / np.sqrt(p)
    noise = rng.standard_normal((n, n_targets)) * np.logspace(-1, 0.7, n_targets)
    return X, X @ W + noise - offset


def brute_force_errors(X, Y, alphas, splits, fit_intercept):
    errors = np.zeros((len(alphas), Y.shape[1]))
    for a, alpha in enumerate(alphas):
        for train, val in splits:
            model = SkRidge(alpha=alpha, fit_intercept=fit_intercept).fit(X[train], Y[train])
            errors[a] += ((model.predict(X[val]) - Y[val]) ** 2).sum(axis=0)
    return errors / sum(len(val) for _, val in splits)


@pytest.fixture
def eigh_sizes(monkeypatch):
    """Record the size of every eigendecomposition and Cholesky factorisation."""
    sizes = {"eigh": [], "cholesky": []}
    for cls in (NumpyBackend, TorchBackend):
        for method, key in (("eigh", "eigh"), ("cho_factor", "cholesky")):
            original = getattr(cls, method)

            def spy(self, a, *args, _original=original, _key=key):
                sizes[_key].append(tuple(a.shape))
                return _original(self, a, *args)

            monkeypatch.setattr(cls, method, spy)
    return sizes


def _skip_without_torch(backend):
    if backend == "torch":
        pytest.importorskip("torch")


# ----------------------------------------------------------------- fixed alpha
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("alpha", [3.0, "per-target"])
def test_wide_ridge_matches_sklearn(backend, fit_intercept, alpha, eigh_sizes):
    _skip_without_torch(backend)
    X, Y = make_wide()
    alpha = np.linspace(0.5, 40.0, Y.shape[1]) if alpha == "per-target" else alpha
    ours = Ridge(alpha=alpha, fit_intercept=fit_intercept, backend=backend,
                 dtype="float64").fit(X, Y)
    ref = SkRidge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-9)
    used = eigh_sizes["cholesky"] if np.ndim(alpha) == 0 else eigh_sizes["eigh"]
    assert used == [(40, 40)], eigh_sizes
    assert not eigh_sizes["eigh" if np.ndim(alpha) == 0 else "cholesky"], eigh_sizes


@pytest.mark.parametrize("shape", [(40, 90), (90, 12)], ids=["p>n", "n>p"])
def test_shared_alpha_too_small_to_factor_gives_minimum_norm(shape, eigh_sizes):
    X, Y = make_wide(*shape)
    ours = Ridge(alpha=1e-300, dtype="float64").fit(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    np.testing.assert_allclose(ours.coef_, (np.linalg.pinv(Xc) @ Yc).T, rtol=1e-6, atol=1e-8)
    assert eigh_sizes["eigh"] == [(min(shape),) * 2] and not eigh_sizes["cholesky"]


def test_wide_ridge_float32_close_to_float64():
    X, Y = make_wide(n=60, p=150)
    ref = SkRidge(alpha=5.0).fit(X, Y)
    ours = Ridge(alpha=5.0).fit(X.astype(np.float32), Y.astype(np.float32))
    assert ours.coef_.dtype == np.float32
    scale = np.abs(ref.predict(X)).max()
    np.testing.assert_allclose(ours.predict(X.astype(np.float32)), ref.predict(X),
                               atol=1e-4 * scale)


# ------------------------------------------------------------------ leave-one-out
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_wide_loo_matches_sklearn(backend, fit_intercept, eigh_sizes):
    _skip_without_torch(backend)
    X, Y = make_wide(n=36, p=80, seed=1)
    ref = SkRidgeCV(alphas=ALPHAS, alpha_per_target=True, fit_intercept=fit_intercept).fit(X, Y)
    ours = RidgeCV(ALPHAS, cv="loo", fit_intercept=fit_intercept, backend=backend,
                   dtype="float64").fit(X, Y)
    assert len(np.unique(ref.alpha_)) > 2, "the problem must select different alphas"
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
    np.testing.assert_allclose(-ours.cv_errors_.min(axis=0), ref.best_score_, rtol=1e-7)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-7, atol=1e-8)
    assert eigh_sizes["eigh"] == [(36, 36)]


# ---------------------------------------------------------------- grouped K-fold
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("shape", [(60, 150), (60, 55)], ids=["p>n", "n_train<p<=n"])
def test_wide_group_kfold_matches_brute_force(backend, fit_intercept, shape, eigh_sizes):
    _skip_without_torch(backend)
    n, p = shape
    X, Y = make_wide(n, p, seed=2)
    groups = np.arange(n) // 3
    ours = RidgeCV(ALPHAS, cv="group", n_splits=5, fit_intercept=fit_intercept,
                   backend=backend, dtype="float64").fit(X, Y, groups=groups)
    splits = list(GroupKFold(5).split(X, Y, groups))
    errors = brute_force_errors(X, Y, ALPHAS, splits, fit_intercept)
    np.testing.assert_allclose(ours.cv_errors_, errors, rtol=1e-6)
    np.testing.assert_array_equal(ours.alpha_, ALPHAS[np.argmin(errors, axis=0)])
    assert len(np.unique(ours.alpha_)) > 2
    refit = SkRidge(alpha=ours.alpha_, fit_intercept=fit_intercept).fit(X, Y)
    np.testing.assert_allclose(ours.predict(X), refit.predict(X), rtol=1e-8, atol=1e-8)
    # one n_train x n_train kernel per fold, then min(n, p) for the refit
    fold_sizes = sorted((len(train),) * 2 for train, _ in splits)
    assert sorted(eigh_sizes["eigh"][:-1]) == fold_sizes
    assert eigh_sizes["eigh"][-1] == (min(n, p),) * 2


def test_wide_group_kfold_float32_and_shared_alpha():
    X, Y = make_wide(n=50, p=120, seed=3)
    groups = np.arange(50) // 5
    ref = RidgeCV(ALPHAS, cv="group", dtype="float64", alpha_per_target=False
                  ).fit(X, Y, groups=groups)
    errors = brute_force_errors(X, Y, ALPHAS, list(GroupKFold(5).split(X, Y, groups)), True)
    assert np.all(ref.alpha_ == ALPHAS[np.argmin(errors.sum(1))])
    ours = RidgeCV(ALPHAS, cv="group", alpha_per_target=False).fit(
        X.astype(np.float32), Y.astype(np.float32), groups=groups)
    np.testing.assert_allclose(ours.cv_errors_, errors, rtol=1e-4)
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)


def test_wide_custom_splitter_not_a_partition():
    X, Y = make_wide(n=45, p=100, seed=4)
    rng = np.random.default_rng(0)
    splits = []
    for _ in range(3):  # overlapping validation sets, training sets not complements
        perm = rng.permutation(45)
        splits.append((np.sort(perm[:30]), np.sort(perm[30:40])))
    ours = RidgeCV(ALPHAS, cv=FixedSplits(splits), dtype="float64").fit(X, Y)
    np.testing.assert_allclose(ours.cv_errors_, brute_force_errors(X, Y, ALPHAS, splits, True),
                               rtol=1e-6)


class FixedSplits:
    """A minimal scikit-learn splitter yielding fixed (train, val) pairs."""

    def __init__(self, splits):
        self.splits = splits

    def split(self, X, y=None, groups=None):
        yield from self.splits
