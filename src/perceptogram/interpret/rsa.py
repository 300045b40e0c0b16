"""Representational similarity analysis: EEG over time vs a latent space.

A representational dissimilarity matrix (RDM) holds the dissimilarity of every
pair of images. The EEG RDM at each time point (channels as features) is
compared with the RDM of a latent space by Spearman correlation, giving a time
course of how much that latent's geometry is present in the EEG.
"""

from __future__ import annotations

import numpy as np

from perceptogram.errors import DataFormatError


def rdm(patterns: np.ndarray, metric: str = "correlation") -> np.ndarray:
    """Condensed representational dissimilarity matrix.

    Parameters
    ----------
    patterns : ndarray, shape (n_images, n_features)
        One pattern per image.
    metric : str
        Any :func:`scipy.spatial.distance.pdist` metric (``"correlation"`` is
        1 − Pearson r).

    Returns
    -------
    ndarray, shape (n_images * (n_images - 1) / 2,)
        Upper triangle of the RDM, row by row (``squareform`` gives the matrix).
    """
    from scipy.spatial.distance import pdist

    patterns = np.asarray(patterns, dtype=np.float64)
    if patterns.ndim != 2 or patterns.shape[0] < 3:
        raise DataFormatError(
            f"rdm: patterns must have shape (n_images >= 3, n_features), got {patterns.shape}"
        )
    return pdist(patterns, metric=metric)


def rsa_timecourse(
    eeg: np.ndarray,
    latents: np.ndarray,
    *,
    eeg_metric: str = "correlation",
    latent_metric: str = "correlation",
    window: int = 1,
) -> np.ndarray:
    """Spearman correlation between the EEG RDM at each time and a latent RDM.

    Parameters
    ----------
    eeg : ndarray, shape (n_images, n_channels, n_times)
        EEG (or pattern) per image.
    latents : ndarray, shape (n_images, n_latent)
        Latent vector per image, same image order.
    eeg_metric, latent_metric : str
        :func:`scipy.spatial.distance.pdist` metrics of the two RDMs.
    window : int
        Number of consecutive samples (centred on each time point, truncated
        at the edges) whose channels are concatenated into the EEG pattern.

    Returns
    -------
    ndarray, shape (n_times,)
        Spearman rho per time point.
    """
    from scipy.stats import spearmanr

    eeg = np.asarray(eeg, dtype=np.float64)
    latents = np.asarray(latents, dtype=np.float64)
    if eeg.ndim != 3:
        raise DataFormatError(
            f"rsa_timecourse: eeg must have shape (n_images, n_channels, n_times), got {eeg.shape}"
        )
    if latents.ndim != 2 or latents.shape[0] != eeg.shape[0]:
        raise DataFormatError(
            f"rsa_timecourse: latents must have shape ({eeg.shape[0]}, n_latent), "
            f"got {latents.shape}"
        )
    if window < 1:
        raise ValueError(f"rsa_timecourse: window must be >= 1, got {window}")
    target = rdm(latents, latent_metric)
    n_times = eeg.shape[2]
    half = window // 2
    rho = np.empty(n_times)
    for t in range(n_times):
        lo, hi = max(0, t - half), min(n_times, t - half + window)
        rho[t] = spearmanr(rdm(eeg[:, :, lo:hi].reshape(eeg.shape[0], -1), eeg_metric),
                           target).statistic
    return rho
