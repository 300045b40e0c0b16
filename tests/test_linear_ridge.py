"""Ridge and RidgeCV against scikit-learn, brute-force CV loops and planted models."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import Ridge as SkRidge
from sklearn.linear_model import RidgeCV as SkRidgeCV
from sklearn.model_selection import GroupKFold, ShuffleSplit

from perceptogram.errors import DataFormatError
from perceptogram.linear.cv import make_splits
from perceptogram.linear.ridge import Ridge, RidgeCV

ALPHAS = np.logspace(-2, 4, 13)


def make_problem(n=120, p=15, n_targets=6, seed=0, offset=3.0):
    """Correlated features with offsets, targets with very different noise levels
    so that the best alpha differs between targets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) @ (np.eye(p) + 0.3 * rng.standard_normal((p, p)))
    X += offset
    W = rng.standard_normal((p, n_targets))
    noise = rng.standard_normal((n, n_targets)) * np.logspace(-1, 1.3, n_targets)
    Y = X @ W + noise - offset
    return X, Y


def brute_force_errors(X, Y, alphas, splits, fit_intercept=True):
    """Pooled squared validation error of sklearn Ridge fits on the given folds."""
    errors = np.zeros((len(alphas), Y.shape[1]))
    for a, alpha in enumerate(alphas):
        for train, val in splits:
            model = SkRidge(alpha=alpha, fit_intercept=fit_intercept).fit(X[train], Y[train])
            errors[a] += ((model.predict(X[val]) - Y[val]) ** 2).sum(axis=0)
    return errors / sum(len(val) for _, val in splits)


# ----------------------------------------------------------------- fixed alpha
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("shape", [(80, 12), (20, 40)], ids=["n>p", "p>n"])
def test_ridge_matches_sklearn(fit_intercept, shape):
    X, Y = make_problem(*shape)
    alpha = np.array([0.5, 3.0, 10.0, 0.1, 50.0, 1.0])
    ours = Ridge(alpha=alpha, fit_intercept=fit_intercept, dtype="float64").fit(X, Y)
    ref = SkRidge(alpha=alpha, fit_intercept=fit_intercept).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-9)


def test_ridge_single_target_and_float32():
    X, Y = make_problem(n=100, p=10, n_targets=1)
    y = Y[:, 0]
    ref = SkRidge(alpha=2.0).fit(X, y)
    ours = Ridge(alpha=2.0).fit(X.astype(np.float32), y.astype(np.float32))
    assert ours.coef_.shape == (10,) and np.ndim(ours.intercept_) == 0
    assert ours.coef_.dtype == np.float32
    pred = ours.predict(X.astype(np.float32))
    assert pred.shape == (100,) and pred.dtype == np.float32
    np.testing.assert_allclose(pred, ref.predict(X), rtol=1e-4, atol=1e-3)


def test_ridge_alpha_zero_is_least_squares():
    X, Y = make_problem(n=60, p=8)
    ours = Ridge(alpha=0.0, dtype="float64").fit(X, Y)
    coef, *_ = np.linalg.lstsq(np.c_[X, np.ones(len(X))], Y, rcond=None)
    np.testing.assert_allclose(ours.coef_, coef[:-1].T, rtol=1e-7, atol=1e-9)


def test_target_batches_give_the_same_result():
    X, Y = make_problem(n_targets=7)
    groups = np.arange(len(X)) // 4
    one = RidgeCV(ALPHAS, dtype="float64").fit(X, Y, groups=groups)
    batched = RidgeCV(ALPHAS, dtype="float64", batch_size=3).fit(X, Y, groups=groups)
    np.testing.assert_array_equal(one.alpha_, batched.alpha_)
    np.testing.assert_allclose(one.coef_, batched.coef_, rtol=1e-10)


# ------------------------------------------------------------------ leave-one-out
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("shape", [(120, 15), (30, 50)], ids=["n>p", "p>n"])
def test_loo_matches_sklearn_ridgecv(fit_intercept, shape):
    X, Y = make_problem(*shape, n_targets=8)
    ref = SkRidgeCV(alphas=ALPHAS, alpha_per_target=True, fit_intercept=fit_intercept).fit(X, Y)
    ours = RidgeCV(ALPHAS, cv="loo", fit_intercept=fit_intercept, dtype="float64").fit(X, Y)
    assert len(np.unique(ref.alpha_)) > 2, "the problem must select different alphas"
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(-ours.cv_errors_.min(axis=0), ref.best_score_, rtol=1e-7)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_loo_single_target_and_shared_alpha(fit_intercept):
    X, Y = make_problem(n_targets=5, seed=3)
    ref = SkRidgeCV(alphas=ALPHAS, fit_intercept=fit_intercept).fit(X, Y[:, 2])
    ours = RidgeCV(ALPHAS, cv="loo", fit_intercept=fit_intercept, dtype="float64").fit(X, Y[:, 2])
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-8)
    ref = SkRidgeCV(alphas=ALPHAS, alpha_per_target=False, fit_intercept=fit_intercept).fit(X, Y)
    ours = RidgeCV(ALPHAS, cv="loo", alpha_per_target=False, fit_intercept=fit_intercept,
                   dtype="float64").fit(X, Y)
    np.testing.assert_array_equal(ours.alpha_, np.full(5, ref.alpha_))
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-8)


def test_loo_ties_go_to_the_first_alpha():
    X, Y = make_problem()
    Y[:, 1] = 4.0  # constant target: every alpha has zero error
    ref = SkRidgeCV(alphas=ALPHAS[::-1], alpha_per_target=True).fit(X, Y)
    ours = RidgeCV(ALPHAS[::-1], cv="loo", dtype="float64").fit(X, Y)
    assert ours.alpha_[1] == ref.alpha_[1] == ALPHAS[-1]
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)


def test_loo_float32_close_to_sklearn():
    X, Y = make_problem(n=200, p=20, n_targets=10)
    ref = SkRidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X, Y)
    ours = RidgeCV(ALPHAS, cv="loo").fit(X.astype(np.float32), Y.astype(np.float32))
    assert np.mean(ours.alpha_ == ref.alpha_) >= 0.9
    scale = np.abs(Y).max()
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-3 * scale)


# ---------------------------------------------------------------- grouped K-fold
def test_group_folds_keep_groups_together():
    rng = np.random.default_rng(0)
    groups = rng.permutation(np.repeat(np.arange(23), 5))
    splits = make_splits("group", 5, groups.size, groups)
    assert len(splits) == 5
    seen = np.concatenate([val for _, val in splits])
    np.testing.assert_array_equal(np.sort(seen), np.arange(groups.size))
    for train, val in splits:
        assert not set(groups[train]) & set(groups[val])
        assert train.size + val.size == groups.size


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("shape", [(120, 15), (40, 60)], ids=["n>p", "p>n"])
def test_group_kfold_matches_brute_force(fit_intercept, shape):
    X, Y = make_problem(*shape, n_targets=8, seed=1)
    groups = np.arange(len(X)) // 4
    ours = RidgeCV(ALPHAS, cv="group", n_splits=5, fit_intercept=fit_intercept,
                   dtype="float64").fit(X, Y, groups=groups)
    splits = list(GroupKFold(5).split(X, Y, groups))
    errors = brute_force_errors(X, Y, ALPHAS, splits, fit_intercept)
    np.testing.assert_allclose(ours.cv_errors_, errors, rtol=1e-6)
    np.testing.assert_array_equal(ours.alpha_, ALPHAS[np.argmin(errors, axis=0)])
    assert len(np.unique(ours.alpha_)) > 2
    refit = SkRidge(alpha=ours.alpha_, fit_intercept=fit_intercept).fit(X, Y)
    np.testing.assert_allclose(ours.predict(X), refit.predict(X), rtol=1e-8, atol=1e-8)
    assert ours.n_splits_ == 5


def test_custom_splitter_and_shared_alpha_match_brute_force():
    X, Y = make_problem(n_targets=5, seed=2)
    splitter = ShuffleSplit(n_splits=4, test_size=0.2, random_state=0)  # not a partition
    ours = RidgeCV(ALPHAS, cv=splitter, alpha_per_target=False, dtype="float64").fit(X, Y)
    errors = brute_force_errors(X, Y, ALPHAS, list(splitter.split(X)))
    np.testing.assert_allclose(ours.cv_errors_, errors, rtol=1e-6)
    np.testing.assert_array_equal(ours.alpha_, np.full(5, ALPHAS[np.argmin(errors.sum(1))]))


def test_int_cv_uses_groups_when_given():
    X, Y = make_problem(n_targets=3)
    groups = np.arange(len(X)) // 6
    ours = RidgeCV(ALPHAS, cv=4, dtype="float64").fit(X, Y, groups=groups)
    errors = brute_force_errors(X, Y, ALPHAS, list(GroupKFold(4).split(X, Y, groups)))
    np.testing.assert_allclose(ours.cv_errors_, errors, rtol=1e-6)


# ------------------------------------------------------------------ ground truth
def test_recovers_planted_weights():
    rng = np.random.default_rng(5)
    n, p, n_targets = 3000, 20, 4
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((n_targets, p))
    Y = X @ W.T + 0.1 * rng.standard_normal((n, n_targets)) + 2.0
    model = RidgeCV(cv="group").fit(X, Y, groups=np.arange(n) // 10)
    np.testing.assert_allclose(model.coef_, W, atol=0.02)
    np.testing.assert_allclose(model.intercept_, 2.0, atol=0.02)


# ------------------------------------------------------------------ backends
@pytest.mark.parametrize("cv", ["loo", "group"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_and_torch_cpu_agree(cv, dtype):
    pytest.importorskip("torch")
    X, Y = make_problem(n=100, p=12, n_targets=6)
    groups = np.arange(100) // 5
    kw = dict(cv=cv, dtype=dtype, rescale="train")
    a = RidgeCV(ALPHAS, backend="numpy", **kw).fit(X, Y, groups=groups)
    b = RidgeCV(ALPHAS, backend="torch", device="cpu", **kw).fit(X, Y, groups=groups)
    rtol = 1e-3 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(a.cv_errors_, b.cv_errors_, rtol=rtol)
    np.testing.assert_array_equal(a.alpha_, b.alpha_)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=rtol, atol=rtol)
    fixed_a = Ridge(3.0, backend="numpy", dtype=dtype).fit(X, Y)
    fixed_b = Ridge(3.0, backend="torch", dtype=dtype).fit(X, Y)
    np.testing.assert_allclose(fixed_a.coef_, fixed_b.coef_, rtol=rtol, atol=rtol)


def test_numpy_path_does_not_import_torch():
    code = ("import sys, numpy as np; from perceptogram.linear import RidgeCV; "
            "X = np.random.rand(30, 4); RidgeCV(cv='loo').fit(X, X @ np.ones((4, 2))); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ rescaling
def test_rescale_train_uses_training_prediction_statistics():
    X, Y = make_problem(n_targets=4)
    X_test = X[:30] + 0.5
    raw = Ridge(alpha=10.0, dtype="float64").fit(X, Y)
    model = Ridge(alpha=10.0, dtype="float64", rescale="train").fit(X, Y)
    train_pred = raw.predict(X)
    expected = ((raw.predict(X_test) - train_pred.mean(0)) / train_pred.std(0)
                * Y.std(0) + Y.mean(0))
    np.testing.assert_allclose(model.predict(X_test), expected, rtol=1e-10)
    np.testing.assert_allclose(model.train_pred_scale_, train_pred.std(0), rtol=1e-10)


def test_rescale_transductive_uses_the_predicted_batch():
    X, Y = make_problem(n_targets=4)
    model = Ridge(alpha=10.0, dtype="float64", rescale="transductive").fit(X, Y)
    raw = Ridge(alpha=10.0, dtype="float64").fit(X, Y)
    batch = X[:25] * 0.5
    pred = model.predict(batch)
    np.testing.assert_allclose(pred.mean(0), Y.mean(0), rtol=1e-10)
    np.testing.assert_allclose(pred.std(0), Y.std(0), rtol=1e-10)
    np.testing.assert_allclose(np.corrcoef(pred[:, 0], raw.predict(batch)[:, 0])[0, 1], 1.0)
    # each prediction depends on the rest of the batch
    assert not np.allclose(model.predict(batch[:10]), pred[:10])
    with pytest.raises(ValueError, match="at least 2 samples"):
        model.predict(batch[:1])


# ------------------------------------------------------------------ bad input
def test_bad_input_errors():
    X, Y = make_problem()
    groups = np.arange(len(X)) // 4
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RidgeCV(cv="loo").fit(X_nan, Y)
    Y_inf = Y.copy()
    Y_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="inf"):
        Ridge().fit(X, Y_inf)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        Ridge().fit(X, Y[:-1])
    with pytest.raises(DataFormatError, match="one label per sample"):
        RidgeCV().fit(X, Y, groups=groups[:-1])
    with pytest.warns(UserWarning, match="no groups: using plain 5-fold"):
        assert RidgeCV().fit(X, Y).n_splits_ == 5  # scikit-learn style: works, says so
    with pytest.raises(DataFormatError, match="3 groups"):
        RidgeCV(n_splits=5).fit(X, Y, groups=np.arange(len(X)) % 3)
    with pytest.raises(DataFormatError, match="4 samples"):
        RidgeCV(cv="kfold", n_splits=5).fit(X[:4], Y[:4])
    with pytest.raises(ValueError, match="non-empty"):
        RidgeCV(alphas=[], cv="loo").fit(X, Y)
    with pytest.raises(ValueError, match="strictly positive"):
        RidgeCV(alphas=[1.0, 0.0], cv="loo").fit(X, Y)
    with pytest.raises(ValueError, match="non-negative"):
        Ridge(alpha=-1.0).fit(X, Y)
    with pytest.raises(ValueError, match="one per target"):
        Ridge(alpha=[1.0, 2.0]).fit(X, Y)
    with pytest.raises(ValueError, match="rescale"):
        Ridge(rescale="test").fit(X, Y)
    with pytest.raises(ValueError, match="backend"):
        Ridge(backend="jax").fit(X, Y)
    with pytest.raises(ValueError, match="cv must be"):
        RidgeCV(cv="gcv").fit(X, Y)
    model = Ridge().fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :-1])


@pytest.mark.parametrize("cv,n_features", [("group", 8), ("group", 60), ("loo", 8), ("kfold", 60)])
def test_shared_basis_fits_equal_separate_fits(cv, n_features):
    """Several target sets fitted with one decomposition (``basis=``) give what
    separate fits give, in the Gram (p < n), kernel (p > n) and leave-one-out forms."""
    from perceptogram.linear.ridge import RidgeCV

    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, n_features))
    groups = np.arange(50) // 5
    targets = [X[:, :3] @ rng.standard_normal((3, k)) + rng.standard_normal((50, k))
               for k in (4, 1, 7)]
    template = RidgeCV(alphas=np.logspace(-2, 3, 6), cv=cv)
    basis = template.decompose(X, groups)
    for Y in targets:
        alone = RidgeCV(alphas=np.logspace(-2, 3, 6), cv=cv).fit(X, Y, groups=groups)
        shared = RidgeCV(alphas=np.logspace(-2, 3, 6), cv=cv).fit(X, Y, groups=groups,
                                                                   basis=basis)
        np.testing.assert_array_equal(shared.alpha_, alone.alpha_)
        np.testing.assert_allclose(shared.cv_errors_, alone.cv_errors_, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(shared.coef_, alone.coef_, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(shared.intercept_, alone.intercept_, rtol=1e-5, atol=1e-6)


def test_shared_basis_refuses_another_design():
    from perceptogram.linear.ridge import RidgeCV

    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((40, 5)), rng.standard_normal((40, 2))
    groups = np.arange(40) // 4
    basis = RidgeCV(cv="group").decompose(X, groups)
    with pytest.raises(ValueError, match="another X"):
        RidgeCV(cv="group").fit(X + 1.0, Y, groups=groups, basis=basis)
    with pytest.raises(ValueError, match="other groups"):
        RidgeCV(cv="group").fit(X, Y, groups=groups[::-1], basis=basis)
    with pytest.raises(ValueError, match="other settings"):
        RidgeCV(cv="group", fit_intercept=False).fit(X, Y, groups=groups, basis=basis)
