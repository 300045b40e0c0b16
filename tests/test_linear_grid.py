"""The one default alpha grid, and how it adapts when targets sit on its edge."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from perceptogram.linear.ridge import (
    DEFAULT_ALPHAS,
    GRID_EDGE_SHARE,
    AlphaGridEdgeWarning,
    RidgeCV,
)


def edge_problem(scale=1e3, noise=3.0, n=200, p=10, n_targets=40, seed=0):
    """Targets whose best alpha lies one to two decades above 1e7.

    Scaling X by ``scale`` scales every target's best alpha by ``scale**2``: on the
    unscaled problem most targets choose 10 or 100, here 1e7 (the default grid's
    largest value) or beyond.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * scale
    Y = X @ (rng.standard_normal((p, n_targets)) * 0.3 / scale)
    return X, Y + noise * rng.standard_normal((n, n_targets)), np.arange(n) // 4


def quiet_fit(model, X, Y, groups=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlphaGridEdgeWarning)
        return model.fit(X, Y, groups=groups)


def test_one_default_grid_for_the_estimator_and_the_pipeline():
    from perceptogram.config import make_config

    assert DEFAULT_ALPHAS == tuple(10.0 ** k for k in range(-1, 8))
    assert RidgeCV().alphas is None and make_config().decoder.alphas is None


@pytest.mark.parametrize("kw", [dict(cv="loo", dtype="float64"), dict(dtype="float32"),
                                dict(cv="group", alpha_per_target=False, dtype="float64")],
                         ids=["loo", "group-float32", "shared-alpha"])
def test_targets_on_the_edge_extend_the_grid_once(kw):
    X, Y, groups = edge_problem()
    default = quiet_fit(RidgeCV(alphas=DEFAULT_ALPHAS, **kw), X, Y, groups)
    on_edge = np.mean(default.alpha_ == DEFAULT_ALPHAS[-1])
    assert on_edge > GRID_EDGE_SHARE and default.alpha_grid_extension_ is None

    model = quiet_fit(RidgeCV(**kw), X, Y, groups)
    np.testing.assert_array_equal(model.alphas_, [*DEFAULT_ALPHAS, 1e8, 1e9])
    assert "largest value, 1e+07: added 1e+08, 1e+09" in model.alpha_grid_extension_
    assert np.mean(model.alpha_ > 1e7) > GRID_EDGE_SHARE
    # Scoring only the new values equals a search of the whole extended grid.
    full = quiet_fit(RidgeCV(alphas=model.alphas_, **kw), X, Y, groups)
    np.testing.assert_array_equal(model.alpha_, full.alpha_)
    np.testing.assert_allclose(model.cv_errors_, full.cv_errors_, rtol=1e-6)
    np.testing.assert_allclose(model.coef_, full.coef_, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(model.predict(X), full.predict(X), rtol=1e-5, atol=1e-6)


def test_no_extension_inside_the_grid_nor_for_a_given_grid():
    X, Y, groups = edge_problem(scale=1.0, noise=0.5)
    model = quiet_fit(RidgeCV(cv="loo"), X, Y)
    assert model.alpha_grid_extension_ is None
    np.testing.assert_array_equal(model.alphas_, DEFAULT_ALPHAS)
    X, Y, groups = edge_problem()
    with pytest.warns(AlphaGridEdgeWarning, match="largest"):
        given = RidgeCV(alphas=[1.0, 10.0], cv="loo").fit(X, Y)
    assert given.alpha_grid_extension_ is None and given.alphas_.tolist() == [1.0, 10.0]


def test_the_extension_is_saved_with_the_decoder(tmp_path):
    from perceptogram.linear.io import load_model, save_model

    X, Y, _ = edge_problem()
    model = quiet_fit(RidgeCV(cv="loo"), X, Y)
    save_model(model, tmp_path / "decoder", alpha_grid_extension=model.alpha_grid_extension_)
    again = load_model(tmp_path / "decoder")
    np.testing.assert_array_equal(again.alphas_, model.alphas_)
    assert again.metadata_["metadata"]["alpha_grid_extension"] == model.alpha_grid_extension_
