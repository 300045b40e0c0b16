"""Clusters of a channel × time statistic map: the connected supra-threshold samples
of one map (:func:`find_clusters`, as MNE's cluster tests label them) and the largest
cluster masses of many maps of one adjacency in one pass (:class:`ClusterGraph`), the
null statistic of the permutation tests in :mod:`~perceptogram.interpret.effects`,
:mod:`~perceptogram.interpret.significance` and :mod:`~perceptogram.interpret.joint`.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["PERMUTATION_BLOCK", "ClusterGraph", "find_clusters"]

#: Permutations whose statistics are computed in one matrix product.
PERMUTATION_BLOCK = 64


def find_clusters(statistic: np.ndarray, threshold: float, adjacency, *, tail: int = 0
                  ) -> tuple[list[np.ndarray], np.ndarray]:
    """Connected supra-threshold clusters of a channel × time map.

    Samples with ``statistic > threshold`` (positive clusters) or
    ``statistic < -threshold`` (negative clusters) are grouped by the
    adjacency, as MNE's cluster tests do.

    Parameters
    ----------
    statistic : ndarray, shape (n_channels, n_times)
    threshold : float
        Positive cluster-forming threshold.
    adjacency : scipy.sparse matrix, shape (n_times * n_channels, n_times * n_channels)
        Time-major adjacency (:func:`~perceptogram.interpret.significance.channel_time_adjacency`).
    tail : {0, 1, -1}
        Both signs, positive only, or negative only.

    Returns
    -------
    clusters : list of ndarray of bool, each shape (n_channels, n_times)
    masses : ndarray, shape (n_clusters,)
        Sum of the statistic over each cluster (signed).
    """
    flat = np.asarray(statistic, dtype=float).T.ravel()  # time-major, as the adjacency
    adjacency = sparse.csr_matrix(adjacency)
    clusters, masses = [], []
    signs = {0: (1, -1), 1: (1,), -1: (-1,)}[tail]
    for sign in signs:
        above = np.flatnonzero(sign * flat > threshold)
        if not len(above):
            continue
        _, labels = connected_components(adjacency[above][:, above], directed=False)
        for label in range(labels.max() + 1):
            members = above[labels == label]
            mask = np.zeros(flat.shape, dtype=bool)
            mask[members] = True
            clusters.append(mask.reshape(statistic.shape[::-1]).T.copy())
            masses.append(float(flat[members].sum()))
    return clusters, np.asarray(masses, dtype=float)


class ClusterGraph:
    """Edge list of a channel × time adjacency, for the cluster search on many maps of
    one graph (a block of permutations) at once.

    Parameters
    ----------
    adjacency : scipy.sparse matrix, shape (n, n)
        Time-major adjacency (:func:`~perceptogram.interpret.significance.channel_time_adjacency`).
    """

    def __init__(self, adjacency) -> None:
        coo = sparse.coo_matrix(adjacency)
        off = coo.row != coo.col
        self.rows, self.cols, self.n = coo.row[off], coo.col[off], coo.shape[0]

    def max_masses(self, statistics: np.ndarray, threshold: float, tail: int) -> np.ndarray:
        """Largest (absolute) cluster mass of each of many time-major statistic maps.

        Parameters
        ----------
        statistics : ndarray, shape (k, n)
        threshold : float
            Positive cluster-forming threshold.
        tail : {0, 1, -1}
            Clusters above ``threshold``, below ``-threshold``, or both.

        Returns
        -------
        masses : ndarray, shape (k,)
            0 for a map without any cluster.
        """
        best = np.zeros(len(statistics))
        for sign in {0: (1, -1), 1: (1,), -1: (-1,)}[tail]:
            largest, _, _ = self.mass_range(sign * statistics, threshold)
            best = np.maximum(best, largest)
        return best

    def mass_range(self, statistics: np.ndarray, threshold: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Largest and smallest mass of the clusters above ``threshold`` of each map.

        The maps are the disjoint copies of one graph: a block of ``k`` maps is one
        graph of ``k * n`` nodes whose edges join supra-threshold neighbours of the
        same map, labelled by a single connected-components pass.

        Parameters
        ----------
        statistics : ndarray, shape (k, n)
            Time-major maps.
        threshold : float

        Returns
        -------
        largest, smallest : ndarray, shape (k,)
            Of the cluster masses (sums of the statistic) of each map; 0 where a
            map has no cluster.
        found : ndarray of bool, shape (k,)
            Whether the map has a cluster.
        """
        k, n = statistics.shape
        values = statistics.ravel()
        above = values > threshold
        largest, smallest = np.zeros(k), np.zeros(k)
        found = above.reshape(k, n).any(axis=1)
        if not found.any():
            return largest, smallest, found
        block = above.reshape(k, n)
        which, edge = np.nonzero(block[:, self.rows] & block[:, self.cols])
        offset = which * n
        graph = sparse.csr_matrix(
            (np.ones(len(edge), dtype=np.int8), (self.rows[edge] + offset,
                                                 self.cols[edge] + offset)),
            shape=(k * n, k * n))
        _, labels = connected_components(graph, directed=False)
        nodes = np.flatnonzero(above)
        clusters, first = np.unique(labels[nodes], return_index=True)
        masses = np.bincount(labels[nodes], weights=values[nodes])[clusters]
        owner = nodes[first] // n  # the map each cluster lies in
        largest[found] = -np.inf
        smallest[found] = np.inf
        np.maximum.at(largest, owner, masses)
        np.minimum.at(smallest, owner, masses)
        return largest, smallest, found
