"""Side-by-side timing of the partial-effect maps and their cluster permutation test.

One process, THINGS-EEG2 test size by default: 200 images, 17 channels x 80 times,
a design of 7 columns (intercept, hue as two axes, brightness, texture, two
semantic groups). Times

- ``fit_effects`` against ``mne.stats.linear_regression`` (same coefficients and
  t values; the largest absolute difference is printed);
- ``freedman_lane_test`` (projection of permuted residuals onto the design, one
  connected-components pass per permutation) against a brute-force Freedman-Lane
  that refits the full model with ``numpy.linalg.lstsq`` for every permutation
  and labels clusters with MNE's own cluster search inside
  ``mne.stats.permutation_cluster_1samp_test`` (statistic function returning the
  refitted t map). The brute force is run for fewer permutations and its time
  scaled to the same number;
- ``group_cluster_test`` (label shuffles, vectorised over blocks of permutations)
  against ``mne.stats.permutation_cluster_test`` with the same seed (the p-values
  must be identical).

Usage::

    python benchmarks/bench_effects.py            # 200 images, 1000 permutations
    python benchmarks/bench_effects.py --quick    # 60 images, 100 permutations
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from perceptogram.data.core.montage import make_info
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS
from perceptogram.interpret.effects import fit_effects, freedman_lane_test
from perceptogram.interpret.significance import channel_time_adjacency


def _data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    times = np.arange(80) / 100.0
    design = np.column_stack([np.ones(n), rng.standard_normal((n, 4)),
                              rng.integers(0, 2, (n, 2))]).astype(float)
    names = ("intercept", "hue: red-blue axis", "hue: green-magenta axis", "brightness",
             "texture", "semantic: animal", "semantic: food")
    pattern = np.zeros((len(THINGS_CHANNELS), len(times)))
    pattern[3:6, 8:14] = 0.5
    data = (design[:, 3, None, None] * pattern
            + rng.standard_normal((n, len(THINGS_CHANNELS), len(times))))
    return data, design, names, times


def _brute_force(data, design, names, column, times, n_permutations, seed):
    import mne
    from scipy import stats

    j = names.index(column)
    Y = data.reshape(len(data), -1)
    reduced = np.delete(design, j, axis=1)
    fitted = reduced @ np.linalg.lstsq(reduced, Y, rcond=None)[0]
    residuals = Y - fitted
    adjacency = channel_time_adjacency(THINGS_CHANNELS, len(times))
    threshold = stats.t.ppf(0.975, len(data) - design.shape[1])
    rng = np.random.default_rng(seed)
    for _ in range(n_permutations):
        star = fitted + residuals[rng.permutation(len(data))]
        t = fit_effects(star.reshape(data.shape), design, names).t[j]
        flat = t.T.ravel().copy()
        mne.stats.permutation_cluster_1samp_test(
            np.zeros((2, len(times), len(THINGS_CHANNELS))), threshold=threshold,
            n_permutations=1, adjacency=adjacency, stat_fun=lambda x, f=flat: f,
            buffer_size=None,
            verbose=False)


def main() -> None:
    import mne

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, n_perm, n_brute = (60, 100, 10) if args.quick else (200, 1000, 20)
    data, design, names, times = _data(n)

    start = time.perf_counter()
    ours = fit_effects(data, design, names)
    t_ours = time.perf_counter() - start
    epochs = mne.EpochsArray(data, make_info(THINGS_CHANNELS, 100.0), verbose=False)
    start = time.perf_counter()
    theirs = mne.stats.linear_regression(epochs, design, names)
    t_mne = time.perf_counter() - start
    diff = max(np.abs(ours.t[k] - theirs[name].t_val.data).max()
               for k, name in enumerate(names))
    print(f"OLS maps, {n} images: ours {t_ours * 1e3:.1f} ms, mne.stats.linear_regression "
          f"{t_mne * 1e3:.1f} ms, ratio {t_mne / t_ours:.1f}x; max |t difference| {diff:.2e}")

    start = time.perf_counter()
    freedman_lane_test(data, design, names, "brightness", ch_names=THINGS_CHANNELS,
                       times=times, n_permutations=n_perm, seed=0)
    t_fl = time.perf_counter() - start
    start = time.perf_counter()
    _brute_force(data, design, names, "brightness", times, n_brute, 0)
    t_brute = (time.perf_counter() - start) * n_perm / n_brute
    print(f"Freedman-Lane cluster test, {n_perm} permutations: ours {t_fl:.2f} s, brute force "
          f"(lstsq refit + MNE clusters, scaled from {n_brute}) {t_brute:.2f} s, ratio "
          f"{t_brute / t_fl:.1f}x")
    _group_test(data, times, n_perm)


def _group_test(data, times, n_perm: int) -> None:
    """Group cluster test (label shuffles) against mne.stats.permutation_cluster_test."""
    import mne

    from perceptogram.interpret.groupings import Grouping
    from perceptogram.interpret.significance import (
        _t_threshold,
        _ttest_ind,
        group_cluster_test,
    )

    labels = np.arange(len(data)) % 2
    grouping = Grouping("half", labels, ("a", "b"))
    start = time.perf_counter()
    ours = group_cluster_test(data, grouping, "a", "b", ch_names=THINGS_CHANNELS, times=times,
                              n_permutations=n_perm, seed=0)
    t_ours = time.perf_counter() - start
    xa, xb = (data[labels == k].transpose(0, 2, 1) for k in (0, 1))
    start = time.perf_counter()
    _, _, p_mne, _ = mne.stats.permutation_cluster_test(
        [xa, xb], threshold=_t_threshold(0.05, len(data) - 2, 0), n_permutations=n_perm,
        stat_fun=_ttest_ind, adjacency=channel_time_adjacency(THINGS_CHANNELS, len(times)),
        rng=0, out_type="mask", verbose=False)
    t_mne = time.perf_counter() - start
    same = np.array_equal(ours.p_values, p_mne)
    print(f"group cluster test (label shuffles), {n_perm} permutations: ours {t_ours:.2f} s, "
          f"mne.stats.permutation_cluster_test {t_mne:.2f} s, ratio {t_mne / t_ours:.1f}x; "
          f"p-values of all {len(p_mne)} clusters {'identical' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
