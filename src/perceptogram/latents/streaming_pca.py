"""Exact PCA of rows streamed in batches, in bounded memory.

:class:`StreamingMoments` keeps the rows while there are no more of them than
columns, then folds them into a shifted cross-product matrix; :meth:`StreamingMoments.pca`
returns the same mean, components and variances as an SVD of all the rows (to
rounding). Used by the ``pca`` pixel space (:mod:`perceptogram.latents.pca`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["StreamingMoments", "flip_signs", "top_components_by_gram"]


class StreamingMoments:
    """Streaming summary of rows from which their exact PCA can be computed.

    While there are no more rows than columns the rows themselves are kept (the
    ``n × n`` Gram matrix's eigendecomposition is then cheaper than a ``p × p`` one);
    past that, they are folded into a cross-product matrix around the first batch's
    mean.
    """

    def __init__(self) -> None:
        self.n_samples = 0
        self.n_features = 0
        self.rows: list[np.ndarray] | None = []
        self.shift: np.ndarray | None = None
        self.total: np.ndarray | None = None
        self.cross: np.ndarray | None = None

    def update(self, X: np.ndarray) -> None:
        """Add rows ``X`` of shape (n_rows, n_features), float64."""
        self.n_samples += len(X)
        self.n_features = X.shape[1]
        if self.rows is not None:
            self.rows.append(X)
            if self.n_samples > X.shape[1]:
                buffered, self.rows = np.concatenate(self.rows), None
                self._accumulate(buffered)
        else:
            self._accumulate(X)

    def _accumulate(self, X: np.ndarray) -> None:
        from scipy.linalg.blas import dsyrk

        if self.shift is None:
            n_features = X.shape[1]
            self.shift = X.mean(axis=0)
            self.total = np.zeros(n_features)
            # Fortran order lets BLAS syrk accumulate the upper triangle in place.
            self.cross = np.zeros((n_features, n_features), order="F")
        Xc = X - self.shift
        self.total += Xc.sum(axis=0)
        dsyrk(1.0, Xc.T, beta=1.0, c=self.cross, trans=0, lower=0, overwrite_c=1)

    def pca(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Mean, top-``k`` components (rows), their variances and the total variance."""
        from scipy.linalg import eigh, svd

        n = self.n_samples
        if self.rows is not None:
            X = np.concatenate(self.rows)
            mean = X.mean(axis=0)
            X -= mean
            top = top_components_by_gram(X, k)
            if top is not None:
                singular, vt, total = top
                return mean, vt, singular**2 / (n - 1), total / (n - 1)
            _, singular, vt = svd(X, full_matrices=False, overwrite_a=True, check_finite=False)
            variance = singular**2 / (n - 1)
            return mean, vt[:k], variance[:k], float(variance.sum())
        centred_mean = self.total / n
        cov = self.cross
        cov -= n * np.outer(centred_mean, centred_mean)
        cov /= n - 1
        total_variance = float(np.trace(cov))
        n_features = cov.shape[0]
        subset = [n_features - k, n_features - 1] if k < n_features else None
        values, vectors = eigh(
            cov, lower=False, subset_by_index=subset, overwrite_a=True, check_finite=False,
            driver="evr" if subset else None,
        )
        return self.shift + centred_mean, vectors[:, ::-1].T, values[::-1], total_variance


def top_components_by_gram(X: np.ndarray, k: int
                            ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Top-``k`` singular values and right singular vectors of centred ``X`` (n <= p),
    from the eigendecomposition of its ``n × n`` Gram matrix.

    A sixth of the time of a full SVD for 1,600 × 3,072 pixels (only ``k`` eigenpairs
    are computed); the same vectors to rounding while the ``k``-th singular value is
    well above it.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
        Centred rows, ``n_samples <= n_features``.
    k : int

    Returns
    -------
    (singular, vt, total) or None
        ``singular`` shape (k,) in decreasing order, ``vt`` shape (k, n_features),
        ``total`` the sum of all squared singular values; None when the ``k``-th
        eigenvalue is too close to rounding for its vector to be recovered (rank
        below ``k``): the caller falls back to an SVD.
    """
    from scipy.linalg import eigh
    from scipy.linalg.blas import dsyrk

    n = len(X)
    k = min(k, n)
    gram = dsyrk(1.0, np.asarray(X, dtype=np.float64), trans=0, lower=0)
    total = float(np.trace(gram))
    values, vectors = eigh(gram, lower=False, subset_by_index=[n - k, n - 1],
                           overwrite_a=True, check_finite=False, driver="evr")
    values, vectors = values[::-1], vectors[:, ::-1]
    if values[-1] <= 1e-8 * max(values[0], np.finfo(float).tiny):
        return None
    singular = np.sqrt(values)
    return singular, (vectors.T @ X) / singular[:, None], total


def flip_signs(components: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each row positive (scikit-learn's convention)."""
    rows = np.arange(len(components))
    signs = np.sign(components[rows, np.argmax(np.abs(components), axis=1)])
    signs[signs == 0] = 1.0
    return components * signs[:, None]
