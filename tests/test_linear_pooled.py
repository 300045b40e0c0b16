"""Pooled ridge over subjects from accumulated moments == ridge on the concatenated rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV as SkRidgeCV

from perceptogram.errors import DataFormatError, PerceptogramError
from perceptogram.linear.pooled import (
    MomentAccumulator,
    PooledRidgeCV,
    fit_pooled_ridge,
    fold_of_pictures,
)
from perceptogram.linear.ridge import AlphaGridEdgeWarning, RidgeCV

ALPHAS = np.logspace(-2, 4, 9)
pytestmark = pytest.mark.filterwarnings("ignore::perceptogram.linear.ridge.AlphaGridEdgeWarning")


class FixedSplits:
    """A scikit-learn splitter yielding fixed (train, val) pairs."""

    def __init__(self, splits):
        self.splits = splits

    def split(self, X, y=None, groups=None):
        yield from self.splits

    def get_n_splits(self, X=None, y=None, groups=None):
        return len(self.splits)


def make_subjects(n_subjects=3, n_pictures=60, p=7, n_targets=5, seed=0, offset=0.0):
    """Shared latents, per-subject mixing and noise; targets of varied noisiness."""
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((n_pictures, n_targets)) * [1, 2, 0.5, 3, 1][:n_targets] + 0.3
    subjects = []
    for _ in range(n_subjects):
        A = rng.standard_normal((n_targets, p))
        X = Y @ A + rng.standard_normal((n_pictures, p)) * rng.uniform(0.5, 4, p) + offset
        subjects.append(X)
    return subjects, Y


def concatenated(subjects, Y, pictures, folds):
    """Rows, targets and the row-level splits of the pooled problem."""
    X = np.concatenate([X_s for X_s in subjects])
    rows = np.concatenate(pictures)
    fold_of_row = folds[rows]
    splits = [(np.flatnonzero(fold_of_row != f), np.flatnonzero(fold_of_row == f))
              for f in range(folds.max() + 1)]
    return X, Y[rows], splits


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_pooled_equals_ridgecv_on_concatenated_rows(fit_intercept):
    subjects, Y = make_subjects(offset=2.0)
    groups = np.arange(60) // 3
    folds = fold_of_pictures(groups, 4)
    pictures = [np.arange(60)] * 3
    ours = PooledRidgeCV(ALPHAS, fit_intercept=fit_intercept, dtype="float64").fit(
        subjects, Y, folds=folds)
    X, Yc, splits = concatenated(subjects, Y, pictures, folds)
    ref = RidgeCV(ALPHAS, cv=FixedSplits(splits), fit_intercept=fit_intercept,
                  dtype="float64").fit(X, Yc)
    np.testing.assert_allclose(ours.cv_errors_, ref.cv_errors_, rtol=1e-9)
    np.testing.assert_array_equal(ours.alpha_, ref.alpha_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    assert ours.n_rows_ == 180 and ours.n_subjects_ == 3 and ours.n_splits_ == 4


def test_pooled_equals_sklearn_ridgecv_per_target():
    """Same alphas and same predictions as scikit-learn's RidgeCV, one target at a time.

    Folds hold equal numbers of rows, so scikit-learn's mean of per-fold MSEs
    ranks alphas as the pooled error does.
    """
    subjects, Y = make_subjects(n_subjects=3, n_pictures=80, p=6, n_targets=4, seed=3)
    folds = fold_of_pictures(np.arange(80) // 4, 4)  # 20 concepts, 5 per fold
    pictures = [np.arange(80)] * 3
    X, Yc, splits = concatenated(subjects, Y, pictures, folds)
    assert len({len(val) for _, val in splits}) == 1
    ours = PooledRidgeCV(ALPHAS, dtype="float64").fit(subjects, Y, folds=folds)
    X_new = np.random.default_rng(9).standard_normal((10, 6))
    for j in range(Y.shape[1]):
        ref = SkRidgeCV(alphas=ALPHAS, cv=splits, scoring="neg_mean_squared_error").fit(
            X, Yc[:, j])
        assert ours.alpha_[j] == ref.alpha_
        np.testing.assert_allclose(ours.predict(X_new)[:, j], ref.predict(X_new), rtol=1e-8)


def test_pooled_shared_alpha_equals_sklearn_multioutput():
    subjects, Y = make_subjects(n_subjects=2, n_pictures=80, p=6, n_targets=3, seed=5)
    folds = fold_of_pictures(np.arange(80) // 4, 4)
    X, Yc, splits = concatenated(subjects, Y, [np.arange(80)] * 2, folds)
    ours = PooledRidgeCV(ALPHAS, alpha_per_target=False, dtype="float64").fit(
        subjects, Y, folds=folds)
    ref = SkRidgeCV(alphas=ALPHAS, cv=splits, scoring="neg_mean_squared_error").fit(X, Yc)
    np.testing.assert_array_equal(ours.alpha_, np.full(3, ref.alpha_))
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X[:7]), ref.predict(X[:7]), rtol=1e-8)


def test_streamed_subjects_with_shuffled_and_missing_pictures():
    """A generator of subjects whose rows come in their own order and lack pictures."""
    subjects, Y = make_subjects(n_subjects=3, n_pictures=60, seed=7)
    rng = np.random.default_rng(1)
    pictures = [rng.permutation(60), rng.permutation(60)[:45], np.r_[np.arange(50), 3, 3]]
    rows = [subjects[s][pictures[s]] for s in range(3)]
    folds = fold_of_pictures(np.arange(60) // 3, 5)

    def stream():
        yield from rows

    ours = PooledRidgeCV(ALPHAS, dtype="float64").fit(stream(), Y, pictures=pictures,
                                                      folds=folds)
    X, Yc, splits = concatenated(rows, Y, pictures, folds)
    ref = RidgeCV(ALPHAS, cv=FixedSplits(splits), dtype="float64").fit(X, Yc)
    np.testing.assert_allclose(ours.cv_errors_, ref.cv_errors_, rtol=1e-9)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    assert ours.n_rows_ == 60 + 45 + 52


def test_float32_close_to_float64_and_rescale_train():
    subjects, Y = make_subjects(n_subjects=2, n_pictures=90, seed=2)
    groups = np.arange(90) // 3
    f64 = PooledRidgeCV(ALPHAS, dtype="float64", rescale="train").fit(subjects, Y,
                                                                     groups=groups)
    f32 = PooledRidgeCV(ALPHAS, rescale="train").fit([s.astype(np.float32) for s in subjects],
                                                     Y.astype(np.float32), groups=groups)
    np.testing.assert_array_equal(f32.alpha_, f64.alpha_)
    np.testing.assert_allclose(f32.coef_, f64.coef_, rtol=2e-4, atol=1e-5)
    # train_pred statistics from the Gram equal those of the predictions themselves
    X = np.concatenate(subjects)
    raw = X @ f64.coef_.T + f64.intercept_
    np.testing.assert_allclose(f64.train_pred_mean_, raw.mean(0), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f64.train_pred_scale_, raw.std(0), rtol=1e-8)


def test_rescoring_of_almost_perfect_targets():
    """Targets predicted almost exactly get float64 errors (same alpha as float64)."""
    rng = np.random.default_rng(4)
    Y = rng.standard_normal((120, 3))
    subjects = [np.c_[Y @ rng.standard_normal((3, 5)), rng.standard_normal((120, 2))]
                + 1e-4 * rng.standard_normal((120, 7)) for _ in range(2)]
    groups = np.arange(120) // 4
    alphas = np.logspace(-6, 2, 9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlphaGridEdgeWarning)
        f32 = PooledRidgeCV(alphas).fit([s.astype(np.float32) for s in subjects], Y,
                                        groups=groups)
        f64 = PooledRidgeCV(alphas, dtype="float64").fit(subjects, Y, groups=groups)
    assert f32.n_rescored_ >= 1
    np.testing.assert_array_equal(f32.alpha_, f64.alpha_)
    np.testing.assert_allclose(f32.cv_errors_, f64.cv_errors_, rtol=1e-5)


def test_accumulator_refuses_bad_input():
    folds = fold_of_pictures(np.arange(20) // 2, 2)
    acc = MomentAccumulator(3, folds)
    with pytest.raises(DataFormatError, match="shape"):
        acc.add(np.zeros((20, 4)))
    with pytest.raises(DataFormatError, match="pass pictures="):
        acc.add(np.zeros((19, 3)))
    with pytest.raises(DataFormatError, match=r"\[0, 20\)"):
        acc.add(np.zeros((2, 3)), pictures=[0, 20])
    with pytest.raises(DataFormatError, match="NaN"):
        acc.add(np.full((20, 3), np.nan))
    with pytest.raises(PerceptogramError, match="GiB"):
        MomentAccumulator(20000, folds)
    with pytest.raises(DataFormatError, match="Y must have shape"):
        fit_pooled_ridge(acc.moments, np.zeros((3, 2)))
    with pytest.raises(DataFormatError, match="no subject"):
        PooledRidgeCV().fit([], np.zeros((20, 2)))


@pytest.mark.parametrize("name", ["perceptogram.linear.pooled", "perceptogram.linear.alignment"])
def test_docstring_examples_pass(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
