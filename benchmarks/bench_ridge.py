"""Side-by-side timing of Perceptogram's ridge against scikit-learn and himalaya.

One process, same data, THINGS-EEG2 size by default: n = 16,540 samples,
p = 1,360 features, float32, 13 alphas log-spaced in [1e-1, 1e5], one alpha per
target. Part 1 (T = 1,024 targets, the CLIP embedding size) times

- ``perceptogram RidgeCV(cv="loo")`` (exact leave-one-out),
- ``perceptogram RidgeCV(cv="group")`` (grouped 5-fold, 10 samples per group),
- ``sklearn.linear_model.RidgeCV(alpha_per_target=True)`` (exact leave-one-out,
  float64 internally),
- ``himalaya.ridge.RidgeCV(cv=5)`` (numpy backend, 5-fold),

and prints wall times, ratios and the largest absolute difference of test
predictions from scikit-learn's. Part 2 (T = 36,864, the SD-VAE latent size)
times the grouped 5-fold fit and reports its peak memory (tracemalloc, which
sees NumPy buffers) next to the size of the target matrix itself.

The data have real structure: targets are a rank-20 linear function of the
features plus noise of varying strength per target, so the selected alphas
spread over the grid.

Usage::

    python benchmarks/bench_ridge.py            # full size
    python benchmarks/bench_ridge.py --quick    # reduced size (a few seconds)
    python benchmarks/bench_ridge.py --skip-large --skip-himalaya
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np

from perceptogram._progress import set_quiet
from perceptogram.linear.ridge import AlphaGridEdgeWarning, RidgeCV

ALPHAS = np.logspace(-1, 5, 13)


def make_data(n: int, p: int, n_targets: int, n_test: int, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Correlated features, rank-20 signal, per-target noise levels (float32)."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((p, p)) / np.sqrt(p) + np.eye(p)
    X = rng.standard_normal((n + n_test, p)) @ mixing
    rank = 20
    loadings = rng.standard_normal((p, rank)) / np.sqrt(p)
    sources = X @ loadings
    weights = rng.standard_normal((rank, n_targets))
    noise_sd = np.logspace(-1, 1.5, n_targets)
    Y = np.empty((n + n_test, n_targets), dtype=np.float32)
    for start in range(0, n_targets, 4096):  # bounded float64 temporaries
        cols = slice(start, start + 4096)
        Y[:, cols] = sources @ weights[:, cols] + rng.standard_normal(
            (n + n_test, noise_sd[cols].size)) * noise_sd[cols]
    X = X.astype(np.float32)
    return X[:n], Y[:n], X[n:], Y[n:]


def timed(label: str, fn):
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    print(f"  {label:<42s} {elapsed:8.2f} s", flush=True)
    return out, elapsed


def part_one(n: int, p: int, n_targets: int, skip_himalaya: bool) -> float:
    """Run part 1 and return scikit-learn's wall time."""
    from sklearn.linear_model import RidgeCV as SkRidgeCV

    X, Y, X_test, _ = make_data(n, p, n_targets, n_test=200)
    groups = np.arange(n) // 10
    print(f"\n== Part 1: n={n}, p={p}, T={n_targets}, {ALPHAS.size} alphas, float32 ==")
    ours_loo, t_loo = timed("perceptogram RidgeCV(cv='loo')",
                            lambda: RidgeCV(ALPHAS, cv="loo").fit(X, Y))
    ours_grp, t_grp = timed("perceptogram RidgeCV(cv='group', 5 folds)",
                            lambda: RidgeCV(ALPHAS, cv="group").fit(X, Y, groups=groups))
    sk, t_sk = timed("sklearn RidgeCV(alpha_per_target=True)",
                     lambda: SkRidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X, Y))
    t_hi = None
    if not skip_himalaya:
        from himalaya.backend import set_backend
        from himalaya.ridge import RidgeCV as HiRidgeCV

        set_backend("numpy")
        hi, t_hi = timed("himalaya RidgeCV(cv=5), numpy backend",
                         lambda: HiRidgeCV(alphas=ALPHAS, cv=5).fit(X, Y))
    ref = sk.predict(X_test)
    scale = float(np.abs(ref).max())
    print("\n  ratios (sklearn time / ours; higher is faster):")
    print(f"    loo   : {t_sk / t_loo:6.1f}x   group 5-fold: {t_sk / t_grp:6.1f}x")
    if t_hi is not None:
        print(f"    himalaya time / ours: loo {t_hi / t_loo:6.1f}x, group {t_hi / t_grp:6.1f}x"
              f"   (sklearn / himalaya: {t_sk / t_hi:.2f}x)")
    same = ours_loo.alpha_ == sk.alpha_
    abs_diff = np.abs(ours_loo.predict(X_test) - ref)
    print(f"\n  loo vs sklearn: same alpha for {same.sum()} of {same.size} targets; "
          f"max |pred diff| = {abs_diff[:, same].max():.2e} on those "
          f"(max |pred| = {scale:.2f}), {abs_diff.max():.2e} over all targets")
    if not same.all():
        errors = ours_loo.cv_errors_[:, ~same].astype(np.float64)
        cols = np.arange(errors.shape[1])
        ours_err = errors[np.searchsorted(ALPHAS, ours_loo.alpha_[~same]), cols]
        sk_err = errors[np.searchsorted(ALPHAS, sk.alpha_[~same]), cols]
        gap = np.abs(sk_err - ours_err) / ours_err
        print(f"    where the alphas differ, the two alphas' LOO errors differ by at most "
              f"{gap.max():.1e} (relative): near-ties that float32 and float64 rounding "
              "break differently")
    diff_grp = float(np.abs(ours_grp.predict(X_test) - ref).max())
    print(f"  group 5-fold vs sklearn loo (different CV, for scale): "
          f"max |pred diff| = {diff_grp:.2e}")
    if t_hi is not None:
        diff_hi = float(np.abs(np.asarray(hi.predict(X_test)) - ref).max())
        print(f"  himalaya 5-fold vs sklearn loo (different CV, for scale): "
              f"max |pred diff| = {diff_hi:.2e}")
    return t_sk


def part_two(n: int, p: int, n_targets: int, sklearn_rate: float) -> None:
    """Run part 2; ``sklearn_rate`` is scikit-learn's part-1 time per target."""
    X, Y, _, _ = make_data(n, p, n_targets, n_test=0, seed=1)
    groups = np.arange(n) // 10
    print(f"\n== Part 2: n={n}, p={p}, T={n_targets}, grouped 5-fold, float32 ==")
    print(f"  target matrix Y itself: {Y.nbytes / 2**20:.0f} MiB; "
          f"coef_ output: {n_targets * p * 4 / 2**20:.0f} MiB")
    tracemalloc.start()
    _, t = timed("perceptogram RidgeCV(cv='group', 5 folds)",
                 lambda: RidgeCV(ALPHAS, cv="group", n_splits=5).fit(X, Y, groups=groups))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  peak memory allocated during fit (tracemalloc): {peak / 2**20:.0f} MiB "
          f"(includes the {n_targets * p * 4 / 2**20:.0f} MiB coef_ and a float64 copy of X)")
    gib = n * n_targets * 8 / 2**30
    print(f"  sklearn RidgeCV at this size: not run. It casts to float64 and processes all "
          f"targets at once: the float64 copy of Y and each n x T temporary of its "
          f"leave-one-out loop take {gib:.1f} GiB apiece (several alive at once), and its "
          f"time grows linearly in T: about {sklearn_rate * n_targets:.0f} s "
          f"extrapolated from part 1, if memory allowed.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced size (n=4000, p=400)")
    parser.add_argument("--skip-himalaya", action="store_true")
    parser.add_argument("--skip-large", action="store_true", help="skip part 2")
    args = parser.parse_args()
    set_quiet(True)
    warnings.simplefilter("ignore", AlphaGridEdgeWarning)  # timing, not model selection
    if args.quick:
        n, p, t1, t2 = 4000, 400, 256, 4096
    else:
        n, p, t1, t2 = 16540, 1360, 1024, 36864
    t_sk = part_one(n, p, t1, args.skip_himalaya)
    if not args.skip_large:
        part_two(n, p, t2, t_sk / t1)


if __name__ == "__main__":
    main()
