"""Partial-effect maps: every attribute's effect estimated jointly, per channel × time.

The regression-ERP approach (Smith & Kutas, 2015; ``mne.stats.linear_regression``):
each image's map (its EEG, or its perceptogram) is modelled as

    map_i = b_0 + sum_k design[i, k] * b_k + noise_i

independently at every channel and time. The coefficient map ``b_k`` of an
attribute is its effect with all the other attributes held fixed, so two
attributes that go together in the images (red images more often animals) do
not borrow each other's effects, as the difference of two group means does.

Significance is a cluster permutation test of one column (Freedman & Lane, 1983;
Winkler et al., 2014): the data are reduced to the model without the column,
the residuals of that reduced model are permuted over images, and the largest
cluster mass of supra-threshold t values over the channel × time adjacency
(:func:`perceptogram.interpret.significance.channel_time_adjacency`) builds the
null distribution. The permuted t maps need only the projection of the
permuted residuals onto the design (``n_columns`` numbers per sample), so a
thousand permutations of a 200-image, 1,360-sample map take about a second.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from perceptogram.errors import DataFormatError
from perceptogram.interpret.clusters import PERMUTATION_BLOCK, ClusterGraph, find_clusters
from perceptogram.interpret.significance import ClusterResult, _t_threshold, channel_time_adjacency

__all__ = ["EffectFit", "fit_effects", "freedman_lane_test", "freedman_lane_null",
           "cluster_p_values", "weighted_rows"]

@dataclass(frozen=True)
class EffectFit:
    """Least-squares fit of channel × time maps on a design matrix.

    Parameters
    ----------
    coef : ndarray, shape (n_columns, n_channels, n_times)
        Coefficient map of every design column (column 0 is the intercept).
    t : ndarray, shape (n_columns, n_channels, n_times)
        t value of every coefficient (``coef / stderr``).
    stderr : ndarray, shape (n_columns, n_channels, n_times)
    names : tuple of str, length n_columns
    df : int
        Residual degrees of freedom, ``n_images - n_columns``.
    """

    coef: np.ndarray
    t: np.ndarray
    stderr: np.ndarray
    names: tuple[str, ...]
    df: int

    def index(self, name: str) -> int:
        """Position of the column called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no design column {name!r}; columns: {list(self.names)}") from None


def _check(data: np.ndarray, design: np.ndarray, names: Sequence[str]
           ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    data = np.asarray(data, dtype=np.float64)
    design = np.asarray(design, dtype=np.float64)
    names = tuple(str(n) for n in names)
    if data.ndim != 3:
        raise DataFormatError(
            f"effect maps need data of shape (n_images, n_channels, n_times), got {data.shape}")
    if design.ndim != 2 or design.shape[0] != data.shape[0]:
        raise DataFormatError(
            f"the design matrix has shape {design.shape}; it needs one row per image "
            f"({data.shape[0]})")
    if len(names) != design.shape[1] or len(set(names)) != len(names):
        raise DataFormatError(f"{len(names)} column names {list(names)} for "
                              f"{design.shape[1]} design columns (names must be unique)")
    if not (np.all(np.isfinite(data)) and np.all(np.isfinite(design))):
        raise DataFormatError("effect maps: the data or the design contain NaN or inf")
    if design.shape[0] <= design.shape[1]:
        raise DataFormatError(
            f"effect maps: {design.shape[0]} images cannot estimate {design.shape[1]} "
            "design columns (need more images than columns)")
    rank = np.linalg.matrix_rank(design)
    if rank < design.shape[1]:
        raise DataFormatError(
            f"effect maps: the design columns {list(names)} are linearly dependent (rank "
            f"{rank} of {design.shape[1]}); drop an attribute that another one determines")
    return data, design, names


def fit_effects(data: np.ndarray, design: np.ndarray, names: Sequence[str], *,
                sample_weight: np.ndarray | None = None) -> EffectFit:
    """Ordinary (or weighted) least squares of every channel × time sample on the design.

    Parameters
    ----------
    data : ndarray, shape (n_images, n_channels, n_times)
        One map per image.
    design : ndarray, shape (n_images, n_columns)
        Design matrix, including the intercept column if one is wanted (it is
        not added here, as in :func:`mne.stats.linear_regression`).
    names : sequence of str, length n_columns
    sample_weight : ndarray, shape (n_images,), optional
        Positive weight of each image (e.g. its number of averaged repetitions,
        whose noise variance is inversely proportional to it): weighted least
        squares, with t values under ``Var(noise_i) = sigma^2 / weight_i``.

    Returns
    -------
    EffectFit
    """
    data, design, names = _check(data, design, names)
    data, design = weighted_rows(data, design, sample_weight)
    n, p = design.shape
    Y = data.reshape(n, -1)
    q, r = np.linalg.qr(design)
    projected = q.T @ Y  # (p, n_samples)
    coef = np.linalg.solve(r, projected)
    sse = np.maximum(np.einsum("ij,ij->j", Y, Y) - np.einsum("ij,ij->j", projected,
                                                             projected), 0.0)
    df = n - p
    r_inv = np.linalg.inv(r)
    unscaled = np.einsum("ij,ij->i", r_inv, r_inv)  # diag((D^T D)^-1)
    stderr = np.sqrt(np.outer(unscaled, sse / df))
    t = np.divide(coef, stderr, out=np.zeros_like(coef), where=stderr > 0)
    shape = (p, *data.shape[1:])
    return EffectFit(coef.reshape(shape), t.reshape(shape), stderr.reshape(shape), names, df)


def freedman_lane_test(data: np.ndarray, design: np.ndarray, names: Sequence[str],
                       column: str, *, ch_names: Sequence[str], times: np.ndarray,
                       n_permutations: int = 1000, cluster_alpha: float = 0.05,
                       alpha: float = 0.05, tail: int = 0, seed: int = 0,
                       sample_weight: np.ndarray | None = None,
                       positions: np.ndarray | None = None) -> ClusterResult:
    """Cluster permutation test of one design column, Freedman-Lane.

    Parameters
    ----------
    data : ndarray, shape (n_images, n_channels, n_times)
    design : ndarray, shape (n_images, n_columns)
        Full design (with intercept).
    names : sequence of str, length n_columns
    column : str
        The column tested; every other column is a nuisance regressor.
    ch_names : sequence of str, length n_channels
    times : ndarray, shape (n_times,)
    n_permutations : int
        Permutations of the reduced model's residuals over images.
    cluster_alpha : float
        Level of the cluster-forming t threshold (two-sided when ``tail=0``).
    alpha : float
        Cluster-level significance of :attr:`ClusterResult.mask`.
    tail : {0, 1, -1}
    seed : int
    sample_weight : ndarray, shape (n_images,), optional
        As in :func:`fit_effects`; the weighted residuals are permuted.
    positions : ndarray, shape (n_channels, 3) or None
        Electrode positions of the recording (NaN rows: none) for the channel
        adjacency; None: templates by name.

    Returns
    -------
    ClusterResult
        ``statistic`` is the column's t map; ``p_values`` are cluster-level
        (``(1 + #permutations at least as extreme) / (1 + n_permutations)``).
    """
    data, design, names = _check(data, design, names)
    data, design = weighted_rows(data, design, sample_weight)
    if column not in names:
        raise KeyError(f"no design column {column!r}; columns: {list(names)}")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    if data.shape[1:] != (len(ch_names), len(times)):
        raise DataFormatError(f"data of shape {data.shape} for {len(ch_names)} channels and "
                              f"{len(times)} times")
    n, p = design.shape
    j = names.index(column)
    # put the tested column last: its t value then needs only the last row of R
    order = [k for k in range(p) if k != j] + [j]
    full = design[:, order]
    Y = data.reshape(n, -1)
    reduced = full[:, :-1]
    q_red, _ = np.linalg.qr(reduced)
    residuals = Y - q_red @ (q_red.T @ Y)  # Freedman-Lane: permute these
    q, r = np.linalg.qr(full)
    df = n - p
    threshold = abs(_t_threshold(cluster_alpha, df, tail))
    adjacency = sparse.csr_matrix(channel_time_adjacency(ch_names, len(times),
                                                         positions=positions))
    # Y* = fitted_reduced + P e: the tested coefficient and the full-model residual
    # variance depend on P e only (the reduced fit lies in the span of the design), and
    # Q^T (P e) = (P^T Q)^T e: permuting the n x p basis instead of the n x F residuals
    # turns each block of permutations into one matrix product.
    sum_sq = np.einsum("ij,ij->j", residuals, residuals)  # invariant under permutation
    unscaled = 1.0 / abs(r[-1, -1])  # unscaled standard error of the tested coefficient

    def statistic(projected: np.ndarray) -> np.ndarray:
        """t of the tested column from projections of permuted residuals, (k, p, F) -> (k, F)."""
        sse = np.maximum(sum_sq - np.einsum("kpf,kpf->kf", projected, projected), 1e-300)
        return projected[:, -1] / r[-1, -1] / (unscaled * np.sqrt(sse / df))

    observed = fit_effects(data, design, names).t[j]
    clusters, masses = find_clusters(observed, threshold, adjacency, tail=tail)
    null = freedman_lane_null(residuals, q, statistic, threshold, tail, adjacency,
                              data.shape[1:], n_permutations, seed)
    return ClusterResult(statistic=observed, clusters=clusters,
                         p_values=cluster_p_values(null, masses), alpha=alpha,
                         ch_names=tuple(ch_names), times=np.asarray(times, dtype=float))


def freedman_lane_null(residuals: np.ndarray, basis: np.ndarray,
                       statistic: Callable[[np.ndarray], np.ndarray], threshold: float,
                       tail: int, adjacency, shape: tuple[int, int], n_permutations: int,
                       seed: int) -> np.ndarray:
    """Largest cluster mass of each permutation of the reduced model's residuals.

    Permuting the residuals ``P e`` changes the full model's fit only through
    ``Q^T (P e) = (P^T Q)^T e``: each block of :data:`PERMUTATION_BLOCK`
    permutations permutes the rows of the ``n x p`` orthonormal basis instead of the
    ``n x F`` residuals, projects them in one matrix product, and labels the clusters
    of the whole block in one pass (:class:`~perceptogram.interpret.clusters.ClusterGraph`).

    Parameters
    ----------
    residuals : ndarray, shape (n_images, n_channels * n_times)
        Residuals of the reduced model (without the tested columns), channel-major.
    basis : ndarray, shape (n_images, n_columns)
        Orthonormal basis of the full design, tested columns last.
    statistic : callable
        Projections ``(k, n_columns, n_samples)`` -> statistic maps ``(k, n_samples)``.
    threshold : float
        Positive cluster-forming threshold.
    tail : {0, 1, -1}
    adjacency : scipy.sparse matrix, shape (n_times * n_channels, n_times * n_channels)
        Time-major channel x time adjacency.
    shape : tuple of int
        ``(n_channels, n_times)``.
    n_permutations : int
    seed : int
        Seed of the permutations (the same seed gives the same permutations in
        every Freedman-Lane test).

    Returns
    -------
    null : ndarray, shape (n_permutations,)
    """
    n, p = basis.shape
    n_ch, n_t = shape
    rng = np.random.default_rng(seed)
    graph = ClusterGraph(adjacency)
    null = np.empty(n_permutations)
    for start in range(0, n_permutations, PERMUTATION_BLOCK):
        block = [np.argsort(rng.permutation(n))
                 for _ in range(min(PERMUTATION_BLOCK, n_permutations - start))]
        bases = np.concatenate([basis[inverse].T for inverse in block])  # (k * p, n)
        values = statistic((bases @ residuals).reshape(len(block), p, -1))
        time_major = values.reshape(len(block), n_ch, n_t).transpose(0, 2, 1)
        null[start:start + len(block)] = graph.max_masses(
            time_major.reshape(len(block), -1), threshold, tail)
    return null


def cluster_p_values(null: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """``(1 + #permutations at least as extreme) / (1 + n_permutations)`` per cluster.

    Ties with the observed mass count as "at least as extreme" despite rounding.
    """
    return np.array([(1 + np.sum(null >= abs(m) * (1 - 1e-9))) / (1 + len(null))
                     for m in masses])


def weighted_rows(data: np.ndarray, design: np.ndarray, sample_weight: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Rows multiplied by the square root of their weight (weighted least squares).

    Ordinary least squares on the returned arrays is weighted least squares on
    the inputs; their residuals are exchangeable when the noise variance of
    image ``i`` is ``sigma^2 / weight_i``.

    Parameters
    ----------
    data : ndarray, shape (n_images, ...)
    design : ndarray, shape (n_images, n_columns)
    sample_weight : ndarray, shape (n_images,) or None
        Positive, finite weights; None returns the inputs unchanged.

    Returns
    -------
    data, design : ndarray
        Same shapes as the inputs.
    """
    if sample_weight is None:
        return data, design
    weight = np.asarray(sample_weight, dtype=np.float64)
    if weight.shape != (design.shape[0],) or not np.all(np.isfinite(weight)) or not np.all(
            weight > 0):
        raise DataFormatError(
            f"sample weights must be {design.shape[0]} positive finite numbers (one per "
            f"image), got shape {weight.shape}")
    root = np.sqrt(weight)
    return data * root.reshape(-1, *([1] * (data.ndim - 1))), design * root[:, None]
