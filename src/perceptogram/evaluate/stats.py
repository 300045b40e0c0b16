"""Statistics for the evaluation tables: bootstrap intervals, tests against chance, SEM.

- Confidence intervals: percentile bootstrap over **images** (resampling the
  test images with replacement), seeded.
- Two-way identification: permutation test that shuffles which ground truth is
  paired with which reconstruction; it keeps the dependence between the
  N × N comparisons that a binomial test would wrongly treat as independent.
- N-way retrieval: one-sided binomial test of the number of hits against
  chance ``k / N`` (each image is one trial).
- Across subjects: mean ± standard error of the mean (``ddof=1``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats as _scipy_stats

from perceptogram._stats import dimension_correlation, row_similarity
from perceptogram.errors import DataFormatError


def bootstrap_indices(n_images: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampling indices for a bootstrap over images.

    Parameters
    ----------
    n_images : int
    n_boot : int
        Number of bootstrap resamples.
    seed : int
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    indices : ndarray of int, shape (n_boot, n_images)
        Row *b* lists the images drawn (with replacement) for resample *b*.
    """
    return np.random.default_rng(seed).integers(0, n_images, size=(n_boot, n_images))


def bootstrap_ci(
    scores: np.ndarray, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of per-image scores.

    Parameters
    ----------
    scores : ndarray, shape (n_images,)
        One score per image (NaN scores are ignored).
    n_boot : int
        Number of resamples.
    ci : float
        Coverage of the interval, e.g. 0.95.
    seed : int
        Seed of the resampling.

    Returns
    -------
    low, high : float
    """
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if scores.size == 0:
        return float("nan"), float("nan")
    means = scores[bootstrap_indices(scores.size, n_boot, seed)].mean(axis=1)
    return _percentiles(means, ci)


def bootstrap_statistic_ci(
    statistic: Callable[[np.ndarray], float],
    n_images: int,
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic that is not a mean of per-image scores.

    Used for quantities recomputed from the resampled images as a whole (e.g.
    the mean over latent dimensions of the across-image correlation).

    Parameters
    ----------
    statistic : callable
        ``statistic(indices) -> float`` computed on the images ``indices``
        (shape ``(n_images,)``, drawn with replacement).
    n_images : int
    n_boot, ci, seed
        As in :func:`bootstrap_ci`.

    Returns
    -------
    low, high : float
    """
    draws = bootstrap_indices(n_images, n_boot, seed)
    values = np.array([statistic(idx) for idx in draws], dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    return _percentiles(values, ci)


def bootstrap_latent_ci(
    decoded: np.ndarray,
    true: np.ndarray,
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    chunk: int = 50,
) -> tuple[float, float]:
    """Bootstrap interval of the mean per-dimension Pearson r of decoded latents.

    Each resample redraws the images with replacement and recomputes, for every
    latent dimension, r across the drawn images; the statistic is their mean
    over the dimensions that have an r on the whole test set (the same set of
    dimensions in every resample, so every resample computes the same
    estimator; a dimension constant within one resample is left out of that
    resample only). Same resamples as :func:`bootstrap_statistic_ci` with the
    same seed, but vectorised: a resample is a vector of image counts, so all
    its moments come from matrix products (no loop over resamples or
    dimensions).

    The mean R² has a per-image decomposition
    (:func:`~perceptogram.evaluate.metrics.latent_r2_per_image`) and takes its
    interval from :func:`bootstrap_ci`.

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
    true : ndarray, shape (n_images, n_latent)
    n_boot, ci, seed
        As in :func:`bootstrap_ci`.
    chunk : int
        Resamples processed at a time (bounds memory to ``chunk × n_latent``).

    Returns
    -------
    low, high : float
    """
    x = np.asarray(decoded, dtype=np.float64)
    y = np.asarray(true, dtype=np.float64)
    defined = np.isfinite(dimension_correlation(y, x))
    x, y = x[:, defined], y[:, defined]
    n = len(x)
    # Centring changes no r; it avoids cancellation in the moments.
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    draws = bootstrap_indices(n, n_boot, seed)
    means = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for start in range(0, n_boot, chunk):
            idx = draws[start : start + chunk]
            w = np.zeros((len(idx), n))
            np.add.at(w, (np.arange(len(idx))[:, None], idx), 1.0)
            w /= n
            mx, my = w @ x, w @ y
            vx = w @ (x * x) - mx**2
            vy = w @ (y * y) - my**2
            cov = w @ (x * y) - mx * my
            # A dimension constant within the resample has no r there.
            const = (vx <= 1e-12 * (w @ (x * x))) | (vy <= 1e-12 * (w @ (y * y)))
            means.append(_nanmean_rows(np.where(const, np.nan, cov / np.sqrt(vx * vy))))
    values = np.concatenate(means) if means else np.empty(0)
    values = values[np.isfinite(values)]
    return _percentiles(values, ci) if values.size else (float("nan"), float("nan"))


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    finite = np.isfinite(a)
    counts = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(finite, a, 0.0).sum(axis=1) / counts


def _percentiles(values: np.ndarray, ci: float) -> tuple[float, float]:
    if not 0 < ci < 1:
        raise ValueError(f"ci must be between 0 and 1; got {ci}")
    tail = 100 * (1 - ci) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def two_way_permutation_test(
    recon_features: np.ndarray,
    gt_features: np.ndarray,
    *,
    n_perm: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Two-way identification and its permutation p-value against chance.

    Under the null hypothesis a reconstruction carries no information about
    which ground truth it came from, so its pairing with the ground truths is
    exchangeable. Each permutation π pairs reconstruction *i* with ground truth
    π(i) and recomputes the mean two-way identification; the p-value is
    ``(1 + #{permuted ≥ observed}) / (1 + n_perm)`` (one-sided).

    Vectorised: each row of the correlation matrix is ranked once (number of
    strictly smaller entries), after which a permutation costs O(N). With
    several generation seeds, the ranks are averaged over seeds and every seed
    shares the permutation (the test of the seed-averaged score).

    Parameters
    ----------
    recon_features : ndarray, shape (n_images, ...), or list of them
        Features of the reconstructions (flattened per image); a list holds one
        array per generation seed.
    gt_features : ndarray, shape (n_images, ...)
    n_perm : int
        Number of random permutations.
    seed : int
        Seed of the permutations.

    Returns
    -------
    score : float
        Mean two-way identification (as :func:`~.metrics.two_way_identification`,
        averaged over seeds).
    p_value : float
    """
    b = np.asarray(gt_features)
    b = b.reshape(len(b), -1)
    seeds = recon_features if isinstance(recon_features, (list, tuple)) else [recon_features]
    stack = [np.asarray(a).reshape(len(a), -1) for a in seeds]
    if not stack or any(a.shape != b.shape for a in stack) or len(b) < 2:
        raise DataFormatError(
            f"features must have matching shapes with at least 2 images; got "
            f"{[a.shape for a in stack]} and {b.shape}"
        )
    n = len(b)
    lower = np.mean([_scipy_stats.rankdata(row_similarity(a_seed, b, "correlation"), axis=1,
                                           method="min") - 1 for a_seed in stack], axis=0)
    rows = np.arange(n)
    observed = lower[rows, rows].mean() / (n - 1)
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((n_perm, n)), axis=1)
    null = lower[rows, perms].mean(axis=1) / (n - 1)
    p = (1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + n_perm)
    return float(observed), float(p)


def binomial_pvalue(n_hits: int, n_trials: int, chance: float) -> float:
    """One-sided binomial test of ``n_hits`` successes against a chance rate.

    Parameters
    ----------
    n_hits : int
        Number of correct retrievals.
    n_trials : int
        Number of test images.
    chance : float
        Success probability under the null (``k / N`` for top-``k`` of N).

    Returns
    -------
    p_value : float
        ``scipy.stats.binomtest(n_hits, n_trials, chance, alternative="greater")``.
    """
    return float(
        _scipy_stats.binomtest(int(n_hits), int(n_trials), chance, alternative="greater").pvalue
    )


def mean_sem(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the mean (``std(ddof=1) / sqrt(n)``).

    Parameters
    ----------
    values : ndarray, shape (n_subjects,)

    Returns
    -------
    mean, sem : float
        ``sem`` is NaN for fewer than two values.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    mean = float(values.mean())
    if values.size < 2:
        return mean, float("nan")
    return mean, float(values.std(ddof=1) / np.sqrt(values.size))
