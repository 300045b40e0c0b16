"""Single test trials: prepared like the averaged features, averaged, decoded.

A ridge decoder is affine, so decoding every single trial and averaging equals
decoding the average. The noise ceilings and the repetition curve use that:
they decode each test trial once (:func:`decode_trials`) and then only average
and correlate. These helpers prepare the trials exactly like the averaged
features (:func:`trial_features`), average valid repetitions
(:func:`average_trials`) and match rows to pictures (:func:`picture_index`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from perceptogram.data.core.containers import EEGEpochs, EEGFeatures
from perceptogram.errors import DataFormatError
from perceptogram.evaluate.noise_ceiling import repetition_counts

__all__ = ["average_trials", "decode_trials", "picture_index", "trial_features"]


def picture_index(files: Sequence[str], table: dict[str, int], what: str) -> np.ndarray:
    """Row of every file in a picture table.

    Parameters
    ----------
    files : sequence of str
        Image file of every EEG row.
    table : dict of str to int
        File -> picture index.
    what : str
        Name of the split, for the error message.

    Returns
    -------
    ndarray of int, shape (len(files),)
    """
    missing = [f for f in files if f not in table]
    if missing:
        raise DataFormatError(f"{len(missing)} {what} pictures have no latent (first: "
                              f"{missing[0]!r}); give latents for every picture shown")
    return np.fromiter((table[f] for f in files), dtype=np.intp, count=len(files))


def trial_features(epochs: EEGEpochs, like: EEGFeatures) -> np.ndarray:
    """Single-trial features prepared like ``like`` (same channels, window, z-score if any).

    Averaging these over repetitions gives ``like``'s rows exactly, so a linear
    decoder's single-trial outputs average to its output on the average.

    Parameters
    ----------
    epochs : EEGEpochs
        ``data`` of shape (n_images, n_repetitions, n_channels, n_times).
    like : EEGFeatures
        Features of the same split (or of the training split) from
        :func:`~perceptogram.data.core.prepare.prepare`.

    Returns
    -------
    ndarray, shape (n_images, n_repetitions, n_selected_channels * n_selected_times), float32
        NaN repetitions (padding) stay NaN.
    """
    channels = [epochs.ch_names.index(c) for c in like.ch_names]
    samples = [int(np.argmin(np.abs(epochs.times - t))) for t in like.times]
    data = epochs.data[:, :, channels][:, :, :, samples].astype(np.float32)
    flat = data.reshape(epochs.n_images, epochs.n_repetitions, -1)
    if like.mean is not None:
        flat = (flat - like.mean) / like.scale
    return flat.astype(np.float32, copy=False)


def average_trials(trials: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Mean of every picture's valid repetitions (uneven counts or NaN padding).

    Parameters
    ----------
    trials : ndarray, shape (n_images, n_repetitions, n_features)
    counts : ndarray of int, shape (n_images,), or None
        Valid (leading) repetitions per picture; None: those whose values are all finite.

    Returns
    -------
    ndarray, shape (n_images, n_features), float32
    """
    counts = repetition_counts(trials, counts)
    if counts.min() < 1:
        raise DataFormatError(f"{int((counts < 1).sum())} test pictures have no valid "
                              "repetition")
    valid = np.arange(trials.shape[1])[None, :] < counts[:, None]
    total = np.where(valid[:, :, None], trials, 0.0).sum(axis=1, dtype=np.float64)
    return (total / counts[:, None]).astype(np.float32)


def decode_trials(model: Any, trials: np.ndarray, transform: Any = None,
                  dims: slice | np.ndarray | None = None) -> np.ndarray:
    """Decode every single trial (NaN trials give NaN rows).

    Parameters
    ----------
    model : fitted Ridge, RidgeCV or PooledRidgeCV
        With ``rescale="none"`` (the output is affine in the features).
    trials : ndarray, shape (n_images, n_repetitions, n_features)
    transform : callable or None
        Applied to the features first (e.g. a :class:`FeatureMap`); must be
        affine, so that decoded trials average to the decoded average.
    dims : slice, ndarray of int, or None
        Latent dimensions to decode (all by default).

    Returns
    -------
    ndarray, shape (n_images, n_repetitions, n_dims), float32
    """
    n, r, p = trials.shape
    flat = trials.reshape(n * r, p)
    ok = np.isfinite(flat).all(axis=1)
    coef = np.atleast_2d(model.coef_)
    intercept = np.atleast_1d(model.intercept_)
    if dims is not None:
        coef, intercept = coef[dims], intercept[dims]
    out = np.full((n * r, coef.shape[0]), np.nan, dtype=np.float32)
    rows = flat[ok] if transform is None else transform(flat[ok])
    out[ok] = rows @ coef.T.astype(np.float32) + intercept.astype(np.float32)
    return out.reshape(n, r, -1)

