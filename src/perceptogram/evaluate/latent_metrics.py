"""The built-in latent metrics: zero-shot retrieval, per-dimension r and R², two-way.

Each is a :class:`~perceptogram.evaluate.metric_registry.LatentMetric` registered
here; :func:`perceptogram.evaluate.suite.evaluate_latents` computes every
registered latent metric on one :class:`~perceptogram.evaluate.metric_registry.
LatentScoring`. Comparisons across dimensions (retrieval, two-way identification)
use the latents in training units; per-dimension r and R² are invariant to the
units of each dimension and use them as they are.
"""

from __future__ import annotations

import numpy as np

from perceptogram._stats import nanmean_count
from perceptogram.evaluate import metrics as M
from perceptogram.evaluate import stats
from perceptogram.evaluate.metric_registry import LatentMetric, LatentScoring, register_metric
from perceptogram.evaluate.tables import MetricRow


def retrieval_rows(scoring: LatentScoring) -> list[MetricRow]:
    """Zero-shot N-way top-k retrieval for every similarity and k (binomial p-values)."""
    rows = scoring.rows
    n = rows.n_images
    out = []
    for similarity in scoring.similarities:
        ranks = M.retrieval_ranks(scoring.scaled_decoded, scoring.scaled_true, similarity)
        for k in scoring.ks:
            hits = (ranks < k).astype(np.float64)
            chance = min(k / n, 1.0)
            out.append(rows.mean_row(
                f"top-{k} ({similarity})", hits, chance=chance,
                p_value=stats.binomial_pvalue(int(hits.sum()), n, chance),
                notes=f"{n}-way zero-shot retrieval, {similarity} similarity, ties count as "
                      f"misses; p: one-sided binomial test against {k}/{n}; {rows.boot_note}"
                      f"{scoring.units}",
            ))
    return out


def correlation_rows(scoring: LatentScoring) -> list[MetricRow]:
    """Mean over dimensions of the Pearson r across images."""
    rows = scoring.rows
    r = M.latent_correlation(scoring.decoded, scoring.true)
    interval = stats.bootstrap_latent_ci(scoring.decoded, scoring.true, n_boot=rows.n_boot,
                                         ci=rows.ci, seed=rows.seed)
    return [rows.make("latent r", nanmean_count(r)[0], interval, notes=(
        f"mean over dimensions of the Pearson r across images"
        f"{_excluded(r, scoring.n_dropped)}; "
        f"{rows.boot_note} (recomputed per resample over the same dimensions)"))]


def r2_rows(scoring: LatentScoring) -> list[MetricRow]:
    """Mean over dimensions of the R² across images."""
    rows = scoring.rows
    r2 = M.latent_r2(scoring.decoded, scoring.true)
    scores = M.latent_r2_per_image(scoring.decoded, scoring.true)
    interval = stats.bootstrap_ci(scores, n_boot=rows.n_boot, ci=rows.ci, seed=rows.seed)
    return [rows.make("latent R2", nanmean_count(r2)[0], interval, notes=(
        f"mean over dimensions of the R² across images{_excluded(r2, scoring.n_dropped)}; "
        f"{rows.boot_note} (of each image's share of the R², the test set's per-dimension "
        "variance held fixed)"))]


def _excluded(values: np.ndarray, dropped: int) -> str:
    """How many dimensions the mean leaves out, and why (the NaN policy)."""
    constant = np.count_nonzero(~np.isfinite(values))
    parts = [f"{values.size + dropped} dimensions"]
    if dropped:
        parts.append(f"{dropped} constant in training excluded")
    if constant:
        parts.append(f"{constant} constant in the test set excluded")
    return " (" + "; ".join(parts) + ")"


def two_way_rows(scoring: LatentScoring) -> list[MetricRow]:
    """Two-way identification of decoded vs true latents (permutation p-value)."""
    rows = scoring.rows
    decoded, true = scoring.scaled_decoded, scoring.scaled_true
    score, p = stats.two_way_permutation_test(decoded, true, n_perm=scoring.n_perm,
                                              seed=rows.seed)
    interval = stats.bootstrap_ci(M.two_way_identification(decoded, true), n_boot=rows.n_boot,
                                  ci=rows.ci, seed=rows.seed)
    return [rows.make("latent two-way", score, interval, p_value=p, chance=0.5, notes=(
        f"two-way identification of decoded vs true latents; p: permutation test of the "
        f"pairing ({scoring.n_perm} permutations); {rows.boot_note}{scoring.units}"))]


register_metric(LatentMetric("latent-retrieval", retrieval_rows,
                             "zero-shot top-k retrieval among the test images", order=0))
register_metric(LatentMetric("latent-r", correlation_rows,
                             "mean per-dimension Pearson r", order=1))
register_metric(LatentMetric("latent-r2", r2_rows, "mean per-dimension R²", order=2))
register_metric(LatentMetric("latent-two-way", two_way_rows,
                             "two-way identification in latent space", order=3))
