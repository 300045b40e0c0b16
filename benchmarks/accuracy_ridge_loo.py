"""Accuracy of ``RidgeCV(cv="loo")`` against scikit-learn's exact leave-one-out errors.

Three designs that stress the leave-one-out formula (issue 14): unscaled data with
more features than samples (``X = 20 * N(0, 1)``, 100 x 1,360), offset data
(``X = 100 * (N(0, 1) + 2)``, 40 x 200) and a well-posed reference (400 x 50,
unit scale), each in float32 and float64, 64 targets of varying noise, one alpha
per target, 13 alphas log-spaced in [1e-1, 1e5]. For each case it prints

- the fraction of targets with a non-finite leave-one-out error,
- the fraction of targets whose chosen alpha equals scikit-learn's,
- the fraction whose chosen alpha's exact (scikit-learn, float64) LOO error is
  within 0.1 % of the best on the grid,
- the largest relative difference of our LOO errors from scikit-learn's.

Usage::

    python benchmarks/accuracy_ridge_loo.py
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import RidgeCV as SkRidgeCV

from perceptogram._progress import set_quiet
from perceptogram.linear.ridge import RidgeCV

ALPHAS = np.logspace(-1, 5, 13)


def make_case(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Design and targets (float64) of one named case."""
    rng = np.random.default_rng(seed)
    shapes = {"unscaled p>n": (100, 1360), "offset": (40, 200), "well-posed": (400, 50)}
    n, p = shapes[name]
    Z = rng.standard_normal((n, p))
    X = {"unscaled p>n": 20 * Z, "offset": 100 * (Z + 2), "well-posed": Z}[name]
    W = rng.standard_normal((p, 64)) / np.sqrt(p)
    noise = np.logspace(-2, 1, 64)
    Y = Z @ W + rng.standard_normal((n, 64)) * noise + 5.0
    return X, Y


def sklearn_loo_errors(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Exact LOO mean squared errors, shape (n_alphas, n_targets), float64."""
    kwargs = {"store_cv_results": True}
    try:
        model = SkRidgeCV(ALPHAS, alpha_per_target=True, **kwargs)
    except TypeError:  # scikit-learn < 1.5
        model = SkRidgeCV(ALPHAS, alpha_per_target=True, store_cv_values=True)
    model.fit(X, Y)
    values = getattr(model, "cv_results_", None)
    if values is None:
        values = model.cv_values_
    return values.mean(axis=0).T


def main() -> None:
    set_quiet(True)
    print(f"{'case':<14s} {'dtype':<8s} {'non-finite':>10s} {'alpha=sk':>9s} "
          f"{'<=0.1%':>7s} {'max rel err':>12s}")
    for name in ("unscaled p>n", "offset", "well-posed"):
        X, Y = make_case(name)
        ref = sklearn_loo_errors(X, Y)
        best_ref = ref.min(axis=0)
        sk_alpha = ALPHAS[np.argmin(ref, axis=0)]
        for dtype in ("float32", "float64"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = RidgeCV(ALPHAS, cv="loo", dtype=dtype).fit(X.astype(dtype),
                                                                    Y.astype(dtype))
            errors = model.cv_errors_.astype(np.float64)
            nonfinite = np.mean(~np.all(np.isfinite(errors), axis=0))
            chosen = np.searchsorted(ALPHAS, model.alpha_)
            chosen_ref = ref[chosen.clip(0, ALPHAS.size - 1), np.arange(Y.shape[1])]
            within = np.mean(chosen_ref <= best_ref * 1.001)
            with np.errstate(invalid="ignore"):
                rel = np.nanmax(np.where(np.isfinite(errors), np.abs(errors - ref) / ref,
                                         np.inf))
            print(f"{name:<14s} {dtype:<8s} {nonfinite:10.3f} "
                  f"{np.mean(model.alpha_ == sk_alpha):9.3f} {within:7.3f} {rel:12.2e}")


if __name__ == "__main__":
    main()
