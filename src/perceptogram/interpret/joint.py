"""Joint (omnibus) test of several design columns: an F-type Freedman-Lane cluster test.

When attributes go together in the pictures (collinear design columns), each
partial effect has a large standard error and its own test may find nothing,
although the attributes *together* clearly change the EEG. The joint test asks
the question these pictures can answer: does any of the columns ``S`` have an
effect, the other columns held fixed?

At every channel and time the statistic is the extra-sum-of-squares F of the
columns ``S`` (``q`` of them),

    F = ((SSE_reduced - SSE_full) / q) / (SSE_full / (n - p)),

where the reduced model is the design without ``S``. Samples above the
``1 - cluster_alpha`` quantile of ``F(q, n - p)`` form clusters over the
channel × time adjacency; a cluster's mass is the sum of its F values; the
null distribution of the largest mass comes from permuting the reduced model's
residuals over images (Freedman & Lane, 1983; Winkler et al., 2014, who
recommend it for F as for t). With one column, F is the square of the partial
t and the clusters are those of
:func:`perceptogram.interpret.effects.freedman_lane_test`.

As there, the permuted statistics need only the projection of the permuted
residuals on the design's orthonormal basis: with ``Q = [Q_reduced, Q_S]``
(reduced columns first) and ``e*`` the permuted residuals,
``SSE_reduced - SSE_full = |Q_S^T e*|^2`` and
``SSE_full = |e|^2 - |Q^T e*|^2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse, stats

from perceptogram.errors import DataFormatError
from perceptogram.interpret.clusters import find_clusters
from perceptogram.interpret.effects import (
    _check,
    cluster_p_values,
    freedman_lane_null,
    weighted_rows,
)
from perceptogram.interpret.significance import ClusterResult, channel_time_adjacency

__all__ = ["f_map", "joint_freedman_lane_test"]


def _ordered(design: np.ndarray, names: tuple[str, ...], columns: Sequence[str]
             ) -> tuple[np.ndarray, int]:
    """Design with the tested columns last, and how many they are."""
    columns = list(dict.fromkeys(str(c) for c in columns))
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise KeyError(f"no design column {unknown[0]!r}; columns: {list(names)}")
    if not columns:
        raise ValueError("the joint test needs at least one column")
    tested = [names.index(c) for c in columns]
    if len(tested) == len(names):
        raise ValueError("the joint test needs a reduced model: keep at least one column "
                         "(the intercept) out of the tested set")
    order = [k for k in range(len(names)) if k not in tested] + tested
    return design[:, order], len(tested)


def f_map(data: np.ndarray, design: np.ndarray, names: Sequence[str],
          columns: Sequence[str], *, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Extra-sum-of-squares F of ``columns`` at every channel and time.

    Parameters
    ----------
    data : ndarray, shape (n_images, n_channels, n_times)
    design : ndarray, shape (n_images, n_columns)
        Full design (with intercept).
    names : sequence of str, length n_columns
    columns : sequence of str
        The tested columns (every other column is a nuisance regressor).
    sample_weight : ndarray, shape (n_images,), optional
        Weighted least squares, as in :func:`~perceptogram.interpret.effects.fit_effects`.

    Returns
    -------
    ndarray, shape (n_channels, n_times)
        ``F(q, n - p)`` values.
    """
    data, design, names = _check(data, design, names)
    data, design = weighted_rows(data, design, sample_weight)
    full, q = _ordered(design, names, columns)
    n, p = full.shape
    Y = data.reshape(n, -1)
    basis, _ = np.linalg.qr(full)
    projected = basis.T @ Y
    sse = np.maximum(np.einsum("ij,ij->j", Y, Y)
                     - np.einsum("ij,ij->j", projected, projected), 1e-300)
    extra = np.einsum("ij,ij->j", projected[-q:], projected[-q:])
    return ((extra / q) / (sse / (n - p))).reshape(data.shape[1:])


def joint_freedman_lane_test(data: np.ndarray, design: np.ndarray, names: Sequence[str],
                             columns: Sequence[str], *, ch_names: Sequence[str],
                             times: np.ndarray, n_permutations: int = 1000,
                             cluster_alpha: float = 0.05, alpha: float = 0.05, seed: int = 0,
                             sample_weight: np.ndarray | None = None,
                             positions: np.ndarray | None = None) -> ClusterResult:
    """Cluster permutation test of several design columns together (F, Freedman-Lane).

    Parameters
    ----------
    data : ndarray, shape (n_images, n_channels, n_times)
    design : ndarray, shape (n_images, n_columns)
        Full design (with intercept).
    names : sequence of str, length n_columns
    columns : sequence of str
        The columns tested together; the others are nuisance regressors.
    ch_names : sequence of str, length n_channels
    times : ndarray, shape (n_times,)
    n_permutations : int
        Permutations of the reduced model's residuals over images.
    cluster_alpha : float
        Level of the cluster-forming F threshold (upper tail).
    alpha : float
        Cluster-level significance of :attr:`ClusterResult.mask`.
    seed : int
        Seed of the permutations (the same permutations as
        :func:`~perceptogram.interpret.effects.freedman_lane_test` draws with it).
    sample_weight : ndarray, shape (n_images,), optional
        Weighted least squares; the weighted residuals are permuted.
    positions : ndarray, shape (n_channels, 3) or None
        Electrode positions of the recording (NaN rows: none) for the channel
        adjacency; None: templates by name.

    Returns
    -------
    ClusterResult
        ``statistic`` is the F map; clusters are of large F (an F map has no
        sign: read the direction from the partial and marginal maps);
        ``p_values`` are cluster-level, ``(1 + #permutations at least as
        extreme) / (1 + n_permutations)``.
    """
    data, design, names = _check(data, design, names)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    if data.shape[1:] != (len(ch_names), len(times)):
        raise DataFormatError(f"data of shape {data.shape} for {len(ch_names)} channels and "
                              f"{len(times)} times")
    data, design = weighted_rows(data, design, sample_weight)
    full, q = _ordered(design, names, columns)
    n, p = full.shape
    df = n - p
    Y = data.reshape(n, -1)
    q_reduced, _ = np.linalg.qr(full[:, :-q])
    residuals = Y - q_reduced @ (q_reduced.T @ Y)  # Freedman-Lane: permute these
    basis, _ = np.linalg.qr(full)
    sum_sq = np.einsum("ij,ij->j", residuals, residuals)  # invariant under permutation
    threshold = float(stats.f.ppf(1.0 - cluster_alpha, q, df))
    adjacency = sparse.csr_matrix(channel_time_adjacency(ch_names, len(times),
                                                         positions=positions))
    n_ch, n_t = data.shape[1:]

    def statistic(projected: np.ndarray) -> np.ndarray:
        """F from projections of (permuted) residuals, shape (k, p, F) -> (k, F)."""
        extra = np.einsum("kpf,kpf->kf", projected[:, -q:], projected[:, -q:])
        sse = np.maximum(sum_sq - np.einsum("kpf,kpf->kf", projected, projected), 1e-300)
        return (extra / q) / (sse / df)

    observed = statistic((basis.T @ residuals)[None])[0].reshape(n_ch, n_t)
    clusters, masses = find_clusters(observed, threshold, adjacency, tail=1)
    null = freedman_lane_null(residuals, basis, statistic, threshold, 1, adjacency,
                              (n_ch, n_t), n_permutations, seed)
    p_values = cluster_p_values(null, masses)
    return ClusterResult(statistic=observed, clusters=clusters, p_values=p_values,
                         alpha=alpha, ch_names=tuple(ch_names),
                         times=np.asarray(times, dtype=float))
