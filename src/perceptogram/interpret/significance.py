"""Cluster-based permutation tests over channel × time maps (MNE).

Two tests cover the two questions of a perceptogram:

- between groups of images (:func:`group_cluster_test`): do images of group A
  and group B give different maps? Group labels are shuffled over images;
- across subjects (:func:`subjects_cluster_test`): is a per-subject contrast
  map different from zero? Signs are flipped per subject.

Both are MNE's cluster permutation tests with a channel × time adjacency built
from the montage, so a map can show only the clusters that survive; the group
test runs MNE's permutations vectorised over blocks of permutations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perceptogram.data.core.neighbours import channel_neighbours
from perceptogram.errors import DataFormatError
from perceptogram.interpret.clusters import PERMUTATION_BLOCK, ClusterGraph, find_clusters
from perceptogram.interpret.groupings import Grouping


@dataclass(frozen=True)
class ClusterResult:
    """Outcome of a cluster permutation test over channel × time.

    Parameters
    ----------
    statistic : ndarray, shape (n_channels, n_times)
        Observed t statistic.
    clusters : list of ndarray of bool, each shape (n_channels, n_times)
        Every supra-threshold cluster.
    p_values : ndarray, shape (n_clusters,)
        Cluster-level permutation p-value of each cluster.
    alpha : float
        Significance level defining :attr:`mask`.
    ch_names : tuple of str
    times : ndarray, shape (n_times,)
    """

    statistic: np.ndarray
    clusters: list[np.ndarray]
    p_values: np.ndarray
    alpha: float
    ch_names: tuple[str, ...]
    times: np.ndarray

    @property
    def significant(self) -> list[np.ndarray]:
        """Masks of the clusters with ``p < alpha``."""
        return [c for c, p in zip(self.clusters, self.p_values) if p < self.alpha]

    @property
    def mask(self) -> np.ndarray:
        """Boolean mask, shape (n_channels, n_times), of significant samples."""
        mask = np.zeros(self.statistic.shape, dtype=bool)
        for c in self.significant:
            mask |= c
        return mask

    @property
    def min_p(self) -> float:
        """Smallest cluster p-value (1.0 when there is no cluster)."""
        return float(self.p_values.min()) if len(self.p_values) else 1.0


def channel_time_adjacency(ch_names: Sequence[str], n_times: int, *,
                           positions: np.ndarray | None = None,
                           max_distance: float = 0.07):
    """Adjacency of channel × time samples for MNE's cluster tests.

    Channels are neighbours as
    :func:`~perceptogram.data.core.neighbours.channel_neighbours` finds them (any
    montage: triangulation, distance fallback, or none with 1-3 channels);
    consecutive time samples are neighbours (:func:`mne.stats.combine_adjacency`).

    Parameters
    ----------
    ch_names : sequence of str, length n_channels
    n_times : int
    positions : ndarray, shape (n_channels, 3) or None
        Positions stored in the recording (NaN rows: none); None: templates.
    max_distance : float
        Longest neighbour edge kept, in metres (3-D distance).

    Returns
    -------
    scipy.sparse matrix, shape (n_times * n_channels, n_times * n_channels)
        Ordered time-major, as MNE expects for data of shape
        ``(n_observations, n_times, n_channels)``.
    """
    import mne
    from scipy import sparse

    neighbours = channel_neighbours(ch_names, positions, max_distance=max_distance)
    return mne.stats.combine_adjacency(n_times, sparse.csr_matrix(neighbours.adjacency))


def _t_threshold(alpha: float, df: int, tail: int) -> float:
    from scipy import stats

    q = 1.0 - alpha / 2.0 if tail == 0 else 1.0 - alpha
    t = float(stats.t.ppf(q, df))
    return -t if tail == -1 else t


def _check_maps(data: np.ndarray, ch_names: Sequence[str], times: np.ndarray, what: str):
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 3 or data.shape[1:] != (len(ch_names), len(times)):
        raise DataFormatError(
            f"{what}: data must have shape (n, {len(ch_names)} channels, "
            f"{len(times)} times), got {data.shape}"
        )
    if not np.all(np.isfinite(data)):
        raise DataFormatError(f"{what}: data contain NaN or inf")
    return data


def _result(t_obs, clusters, p_values, alpha, ch_names, times) -> ClusterResult:
    # MNE returns time-major (n_times, n_channels) statistics and masks.
    return ClusterResult(
        statistic=np.asarray(t_obs).T.copy(),
        clusters=[np.asarray(c).T.copy() for c in clusters],
        p_values=np.asarray(p_values, dtype=float),
        alpha=alpha,
        ch_names=tuple(ch_names),
        times=np.asarray(times, dtype=float),
    )


def group_cluster_test(
    data: np.ndarray,
    grouping: Grouping,
    group_a: str | int,
    group_b: str | int,
    *,
    ch_names: Sequence[str],
    times: np.ndarray,
    n_permutations: int = 1000,
    cluster_alpha: float = 0.05,
    alpha: float = 0.05,
    tail: int = 0,
    seed: int = 0,
    n_jobs: int | None = None,
    positions: np.ndarray | None = None,
) -> ClusterResult:
    """Cluster permutation test of group A vs group B over images.

    The statistic is Student's t (A − B, equal variances) per channel × time;
    samples beyond the t threshold of ``cluster_alpha`` form clusters over the
    channel × time adjacency; the null distribution of the largest cluster
    mass comes from shuffling the group labels over images: the test of
    :func:`mne.stats.permutation_cluster_test`, with its permutations and
    p-values, vectorised over blocks of permutations.

    Parameters
    ----------
    data : ndarray, shape (n_images, n_channels, n_times)
        One map per image (EEG features or latent-filtered patterns).
    grouping : Grouping
        Groups of the same images, in the same order.
    group_a, group_b : str or int
        The two groups compared (A − B).
    ch_names : sequence of str, length n_channels
    times : ndarray, shape (n_times,)
        Sample times in seconds.
    n_permutations : int
        Number of label shuffles.
    cluster_alpha : float
        Two-sided (or one-sided, see ``tail``) level of the cluster-forming
        t threshold.
    alpha : float
        Cluster-level significance for :attr:`ClusterResult.mask`.
    tail : {0, 1, -1}
        Two-sided, A > B, or A < B.
    seed : int
        Seed of the permutations.
    n_jobs : int or None
        Unused: the permutations run vectorised in this process (the argument
        stays for callers of the MNE-based version).
    positions : ndarray, shape (n_channels, 3) or None
        Electrode positions of the recording (NaN rows: none) for the channel
        adjacency (:func:`~perceptogram.data.core.neighbours.channel_neighbours`); None: templates.

    Returns
    -------
    ClusterResult
    """
    data = _check_maps(data, ch_names, times, "group_cluster_test")
    if grouping.n_images != data.shape[0]:
        raise DataFormatError(
            f"group_cluster_test: grouping has {grouping.n_images} images, data "
            f"has {data.shape[0]}"
        )
    xa = data[grouping.mask(group_a)]
    xb = data[grouping.mask(group_b)]
    if len(xa) < 2 or len(xb) < 2:
        raise DataFormatError(
            f"group_cluster_test: need at least 2 images per group, got "
            f"{len(xa)} and {len(xb)}"
        )
    threshold = _t_threshold(cluster_alpha, len(xa) + len(xb) - 2, tail)
    return _shuffled_groups_test(xa, xb, threshold=threshold, n_permutations=n_permutations,
                                 tail=tail, seed=seed, alpha=alpha, ch_names=ch_names,
                                 times=times, positions=positions)


def _shuffled_groups_test(a: np.ndarray, b: np.ndarray, *, threshold: float,
                          n_permutations: int, tail: int, seed: int, alpha: float,
                          ch_names: Sequence[str], times: np.ndarray,
                          positions: np.ndarray | None) -> ClusterResult:
    """:func:`mne.stats.permutation_cluster_test` (Student's t, no step-down), vectorised
    over permutations.

    The same test as MNE's, to the permutation: MNE's generator
    (``default_rng(seed)``) and draws (``n_permutations - 1`` shuffles of the pooled
    images, the observed labelling counted as one), its null statistic
    (:func:`_largest_signed_mass`), the same clusters, masses and p-values. Instead of one t map and one cluster search per shuffle, a block of
    :data:`~perceptogram.interpret.clusters.PERMUTATION_BLOCK` shuffles gives its group
    sums and sums of squares in two matrix products, and its largest cluster masses in
    one connected-components pass (:class:`~perceptogram.interpret.clusters.ClusterGraph`).

    Parameters
    ----------
    a, b : ndarray, shape (n_a, n_channels, n_times) and (n_b, n_channels, n_times)
    threshold : float
        Cluster-forming t (negative for ``tail=-1``, as MNE takes it).
    n_permutations, tail, seed, alpha, ch_names, times, positions
        As in :func:`group_cluster_test`.

    Returns
    -------
    ClusterResult
    """
    n_a, n_b = len(a), len(b)
    pooled = np.concatenate([a, b]).reshape(n_a + n_b, -1)  # channel-major samples
    pooled = pooled - pooled.mean(axis=0)  # sums of squares without cancellation
    squares = pooled**2
    total_sq = squares.sum(axis=0)
    df = n_a + n_b - 2.0
    scale = 1.0 / n_a + 1.0 / n_b

    def t_values(members: np.ndarray) -> np.ndarray:
        """t (A - B) of each labelling; ``members``: (k, n) indicators of group A."""
        sum_a = members @ pooled
        sq_a = members @ squares
        sum_b = -sum_a  # the pooled samples are centred
        within = (sq_a - sum_a**2 / n_a) + (total_sq - sq_a - sum_b**2 / n_b)
        return (sum_a / n_a - sum_b / n_b) / np.sqrt(np.maximum(within, 0.0) / df * scale)

    observed = _ttest_ind(a, b)
    adjacency = channel_time_adjacency(ch_names, len(times), positions=positions)
    clusters, masses = find_clusters(observed, abs(threshold), adjacency, tail=tail)
    if not clusters:
        return ClusterResult(statistic=observed, clusters=[], p_values=np.array([]),
                             alpha=alpha, ch_names=tuple(ch_names),
                             times=np.asarray(times, dtype=float))
    rng = np.random.default_rng(seed)  # what MNE (>= 1.13) makes of ``rng=seed``
    orders = np.array([rng.permutation(n_a + n_b) for _ in range(n_permutations - 1)],
                      dtype=np.intp).reshape(-1, n_a + n_b)
    edges = ClusterGraph(adjacency)
    n_ch, n_t = observed.shape
    null = [np.abs(masses).max() if tail == 0 else masses.max() if tail == 1
            else masses.min()]  # the observed labelling, as MNE includes it
    for start in range(0, len(orders), PERMUTATION_BLOCK):
        block = orders[start : start + PERMUTATION_BLOCK]
        members = np.zeros((len(block), n_a + n_b))
        members[np.arange(len(block))[:, None], block[:, :n_a]] = 1.0
        t = t_values(members).reshape(len(block), n_ch, n_t).transpose(0, 2, 1)
        null.extend(_largest_signed_mass(edges, t.reshape(len(block), -1), abs(threshold),
                                         tail))
    null = np.asarray(null)
    if tail == 1:
        p_values = np.array([np.mean(null >= m) for m in masses])
    elif tail == -1:
        p_values = np.array([np.mean(null <= m) for m in masses])
    else:
        p_values = np.array([np.mean(np.abs(null) >= abs(m)) for m in masses])
    return ClusterResult(statistic=observed, clusters=clusters, p_values=p_values, alpha=alpha,
                         ch_names=tuple(ch_names), times=np.asarray(times, dtype=float))


def _run_cluster_test(test: Callable[..., tuple], X: Any, *, threshold: float,
                      n_permutations: int, tail: int, seed: int, n_jobs: int | None,
                      alpha: float, ch_names: Sequence[str], times: np.ndarray,
                      positions: np.ndarray | None = None, **extra: Any) -> ClusterResult:
    """Run an MNE cluster permutation test over channel x time adjacency."""
    t_obs, clusters, p_values, _ = test(
        X,
        threshold=threshold,
        n_permutations=n_permutations,
        tail=tail,
        adjacency=channel_time_adjacency(ch_names, len(times), positions=positions),
        rng=seed,
        out_type="mask",
        n_jobs=n_jobs,
        verbose=False,
        **extra,
    )
    return _result(t_obs, clusters, p_values, alpha, ch_names, times)


def _largest_signed_mass(edges, t: np.ndarray, threshold: float, tail: int) -> np.ndarray:
    """MNE's null statistic of a two-sample permutation: the largest *signed* cluster
    mass (``np.max`` of the signed sums in ``mne.stats.cluster_level._do_permutations``),
    0 without a cluster. With ``tail=0`` a map whose clusters are all negative thus
    counts its weakest one, not its strongest.

    Parameters
    ----------
    edges : perceptogram.interpret.clusters.ClusterGraph
    t : ndarray, shape (k, n)
        Time-major t maps.
    threshold : float
        Positive cluster-forming threshold.
    tail : {0, 1, -1}

    Returns
    -------
    null : ndarray, shape (k,)
    """
    out = np.zeros(len(t))
    if tail in (0, -1):
        _, weakest, found = edges.mass_range(-t, threshold)  # negative clusters, as masses > 0
        out[found] = -weakest[found]
    if tail in (0, 1):
        largest, _, found = edges.mass_range(t, threshold)
        out[found] = largest[found]
    return out


def _ttest_ind(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import mne

    return mne.stats.ttest_ind_no_p(a, b, equal_var=True)


def subjects_cluster_test(
    data: np.ndarray,
    *,
    ch_names: Sequence[str],
    times: np.ndarray,
    n_permutations: int = 1000,
    cluster_alpha: float = 0.05,
    alpha: float = 0.05,
    tail: int = 0,
    seed: int = 0,
    n_jobs: int | None = None,
    positions: np.ndarray | None = None,
) -> ClusterResult:
    """One-sample cluster permutation test of per-subject maps against zero.

    Parameters
    ----------
    data : ndarray, shape (n_subjects, n_channels, n_times)
        One map per subject (e.g. each subject's A − B perceptogram).
    ch_names, times, n_permutations, cluster_alpha, alpha, tail, seed, n_jobs, positions
        As in :func:`group_cluster_test`; permutations flip the sign of whole
        subject maps (:func:`mne.stats.permutation_cluster_1samp_test`).

    Returns
    -------
    ClusterResult
    """
    import mne

    data = _check_maps(data, ch_names, times, "subjects_cluster_test")
    if data.shape[0] < 2:
        raise DataFormatError("subjects_cluster_test: need at least 2 subjects")
    threshold = _t_threshold(cluster_alpha, data.shape[0] - 1, tail)
    return _run_cluster_test(
        mne.stats.permutation_cluster_1samp_test, data.transpose(0, 2, 1),
        threshold=threshold, n_permutations=n_permutations, tail=tail, seed=seed,
        n_jobs=n_jobs, alpha=alpha, ch_names=ch_names, times=times, positions=positions,
    )
