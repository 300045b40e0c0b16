"""Pooled ridge over subjects (leave-one-subject-out) at THINGS-EEG2 size: memory and time.

Fits one decoder on 10 simulated subjects x 16,540 pictures x 1,360 features
(17 channels x 80 samples) to 1,280 targets (an EfficientNet-sized latent),
13 alphas, one per target, grouped 5-fold cross-validation over concepts of
10 pictures, float32:

1. ``perceptogram RidgeCV`` on **one** subject (the reference: the memory and
   time of a within-subject fit);
2. ``perceptogram PooledRidgeCV`` on all subjects, streamed one at a time into
   the accumulated moments (each subject generated when needed, as if read from
   disk); its time is split into the Gram accumulation (every ``add``) and the
   rest (decompositions, cross-validation, weights);
3. ``sklearn.linear_model.RidgeCV(alpha_per_target=True)`` on the concatenated
   rows of ``--sklearn-subjects`` subjects (its efficient leave-one-out: the only
   per-target scikit-learn variant; grouped K-fold would be 65 separate fits).
   At full size the default is 2 subjects: on all 10 (165,400 rows) it needs more
   than 16 GiB (float64 copies of X and Y and several 165,400 x 1,360 temporaries).

The "sum of the Gram accumulations" the goal refers to is measured as ``S``
times one subject's ``X^T X`` (float64) plus ``X^T Y`` (float32); the pooled fit
forms ``X^T Y`` once on per-picture sums instead, so its own accumulation is
only the ``X^T X`` part.

Same process; peak memory per phase from :mod:`tracemalloc` (sees NumPy
buffers), next to the size of one subject's data (X and Y in float32). The
goals: pooled peak under 2x one subject's, pooled time within 1.5x of its Gram
accumulation.

Data: a rank-20 latent structure shared by the subjects, each subject's own
mixing of it into the features plus noise; generated in blocks from seeds.

Usage::

    python benchmarks/bench_pooled.py                 # full size (minutes)
    python benchmarks/bench_pooled.py --quick         # 3 subjects x 2,000 x 340 (seconds)
    python benchmarks/bench_pooled.py --sklearn-subjects 0   # skip scikit-learn
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
import warnings

import numpy as np

from perceptogram._progress import set_quiet
from perceptogram.linear.pooled import MomentAccumulator, PooledRidgeCV, fold_of_pictures
from perceptogram.linear.ridge import AlphaGridEdgeWarning, RidgeCV

ALPHAS = np.logspace(-1, 5, 13)
RANK = 20
BLOCK = 4096
SUBJECT_BLOCK = 1024


def latents(n: int, n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    """Sources (n, RANK) and targets (n, n_targets) shared by every subject, float32."""
    rng = np.random.default_rng(0)
    sources = rng.standard_normal((n, RANK)).astype(np.float32)
    weights = rng.standard_normal((RANK, n_targets)).astype(np.float32)
    noise_sd = np.logspace(-1, 1, n_targets).astype(np.float32)
    Y = np.empty((n, n_targets), dtype=np.float32)
    for start in range(0, n, BLOCK):
        rows = slice(start, start + BLOCK)
        Y[rows] = sources[rows] @ weights + noise_sd * rng.standard_normal(
            (sources[rows].shape[0], n_targets), dtype=np.float32)
    return sources, Y


def subject(sources: np.ndarray, p: int, s: int) -> np.ndarray:
    """Subject ``s``'s z-scored features (n, p), float32, generated in row blocks.

    Stands in for reading a subject's file: blocks of :data:`SUBJECT_BLOCK` rows
    keep the temporaries small next to the subject's own array.
    """
    rng = np.random.default_rng(1000 + s)
    mixing = rng.standard_normal((RANK, p)).astype(np.float32) / np.sqrt(RANK)
    X = np.empty((sources.shape[0], p), dtype=np.float32)
    blocks = [slice(start, start + SUBJECT_BLOCK)
              for start in range(0, sources.shape[0], SUBJECT_BLOCK)]
    for rows in blocks:
        np.matmul(sources[rows], mixing, out=X[rows])
        X[rows] += 2.0 * rng.standard_normal((X[rows].shape[0], p), dtype=np.float32)
    mean = X.mean(axis=0, dtype=np.float64)
    squares = np.zeros(p)
    for rows in blocks:  # z-score in blocks: no full-size temporary
        squares += ((X[rows] - mean) ** 2).sum(axis=0)
    scale = np.sqrt(squares / X.shape[0])
    for rows in blocks:
        X[rows] = (X[rows] - mean) / scale
    return X


def measured(label: str, fn):
    """Run ``fn`` under tracemalloc; print and return (result, seconds, peak bytes)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  {label:<58s} {elapsed:8.1f} s  peak {peak / 2**20:7.0f} MiB", flush=True)
    return out, elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 subjects x 2,000 pictures x 340 features, 256 targets")
    parser.add_argument("--subjects", type=int, default=None)
    parser.add_argument("--sklearn-subjects", type=int, default=None,
                        help="subjects concatenated for scikit-learn (default: all; 0 skips)")
    args = parser.parse_args()
    set_quiet(True)
    warnings.simplefilter("ignore", AlphaGridEdgeWarning)  # timing, not model selection
    n, p, t, n_subjects = (2000, 340, 256, 3) if args.quick else (16540, 1360, 1280, 10)
    n_subjects = args.subjects or n_subjects
    if args.sklearn_subjects is None:
        n_sk = n_subjects if args.quick else min(n_subjects, 2)
    else:
        n_sk = args.sklearn_subjects
    groups = np.arange(n) // 10
    print(f"== {n_subjects} subjects x {n} pictures x {p} features -> {t} targets, "
          f"{ALPHAS.size} alphas, grouped 5-fold, float32; load: {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores ==")
    sources, Y = latents(n, t)
    X1 = subject(sources, p, 0)
    one = X1.nbytes + Y.nbytes
    print(f"  one subject's data: X {X1.nbytes / 2**20:.0f} MiB + Y {Y.nbytes / 2**20:.0f} MiB"
          f" = {one / 2**20:.0f} MiB")
    _, t_one, peak_one = measured("perceptogram RidgeCV, one subject", lambda X=X1: RidgeCV(
        ALPHAS, cv="group").fit(X, Y, groups=groups))
    t0, c0 = time.perf_counter(), time.process_time()
    X64 = X1.astype(np.float64)
    _ = X64.T @ X64
    _ = X1.T @ Y
    t_naive = n_subjects * (time.perf_counter() - t0)
    c_naive = n_subjects * (time.process_time() - c0)
    del X1, X64

    folds = fold_of_pictures(groups, 5)
    timings = {"accumulate": 0.0, "generate": 0.0, "accumulate cpu": 0.0}

    def pooled():
        accumulator = MomentAccumulator(p, folds)
        for s in range(n_subjects):
            t0 = time.perf_counter()
            X = subject(sources, p, s)
            t1, c1 = time.perf_counter(), time.process_time()
            accumulator.add(X)
            timings["generate"] += t1 - t0
            timings["accumulate"] += time.perf_counter() - t1
            timings["accumulate cpu"] += time.process_time() - c1
            del X
        t0, c0 = time.perf_counter(), time.process_time()
        model = PooledRidgeCV(ALPHAS).fit_moments(accumulator.moments, Y)
        timings["fit"] = time.perf_counter() - t0
        timings["fit cpu"] = time.process_time() - c0
        return model

    model, t_pooled, peak_pooled = measured(f"perceptogram PooledRidgeCV, {n_subjects} "
                                            "subjects streamed", pooled)
    work = timings["accumulate"] + timings["fit"]
    print(f"    Gram accumulation {timings['accumulate']:.1f} s, fit from the moments "
          f"{timings['fit']:.1f} s (data generation {timings['generate']:.1f} s not counted): "
          f"total / own accumulation = {work / timings['accumulate']:.2f}; total / sum of "
          f"per-subject X^T X + X^T Y ({t_naive:.1f} s) = {work / t_naive:.2f} (goal <= 1.5)")
    cpu = timings["accumulate cpu"] + timings["fit cpu"]
    print(f"    CPU time (all threads; steadier on a shared machine): accumulation "
          f"{timings['accumulate cpu']:.1f} s, fit {timings['fit cpu']:.1f} s, total / sum of "
          f"per-subject X^T X + X^T Y ({c_naive:.1f} s) = {cpu / c_naive:.2f}")
    print(f"    peak / one subject's data = {peak_pooled / one:.2f} (goal < 2); "
          f"peak / one subject's RidgeCV fit = {peak_pooled / peak_one:.2f}; "
          f"time / one subject's fit = {work / t_one:.2f}")
    if n_sk:
        from sklearn.linear_model import RidgeCV as SkRidgeCV

        def concatenated():
            X = np.concatenate([subject(sources, p, s) for s in range(n_sk)])
            return SkRidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X, np.tile(Y, (n_sk, 1)))

        sk, t_sk, peak_sk = measured(f"sklearn RidgeCV (LOO) on {n_sk} concatenated subjects",
                                     concatenated)
        scale = "" if n_sk == n_subjects else f" (scikit-learn on {n_sk} of {n_subjects})"
        print(f"    sklearn / pooled: time {t_sk / t_pooled:.1f}x, peak memory "
              f"{peak_sk / peak_pooled:.1f}x{scale}; scikit-learn's time includes "
              "generating its data")
        if n_sk == n_subjects:
            X_new = subject(sources, p, 99)[:200]
            diff = np.abs(model.predict(X_new) - sk.predict(X_new)).max()
            print(f"    max |prediction difference| on a new subject: {diff:.3f} (different "
                  "cross-validation: grouped 5-fold vs leave-one-row-out)")
    print(f"  process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.0f}"
          " MiB")


if __name__ == "__main__":
    main()
