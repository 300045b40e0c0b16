"""Noise ceilings of a subject's test data and of a decoder, as metric rows.

- :func:`eeg_reliability`: split-half reliability of the test EEG per channel x
  time sample (:func:`~perceptogram.evaluate.noise_ceiling.split_half_reliability`),
  computed a block of channels at a time with the same random halves, so that
  memory stays bounded at THINGS-EEG2 size (200 pictures x 80 repetitions x 63
  channels x 100 samples); :func:`eeg_rows` summarises it over the decoding
  window (method ``"test EEG"``).
- :func:`decoder_ceiling`: the latent-r ceiling of a fitted linear decoder:
  its single-trial outputs' split-half reliability per decoded dimension,
  ``sqrt`` of the Spearman-Brown value, averaged over dimensions;
  :func:`ceiling_row` is its row (metric ``"latent r ceiling"``).

Used by :func:`perceptogram.cross_subject.evaluate_cross_subject` and by the
pipeline's ``reliability``, ``repetitions`` and ``cross-subject`` stages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from perceptogram.cross_subject.trials import decode_trials
from perceptogram.evaluate.noise_ceiling import (
    CEILING_METRICS,
    SplitHalfReliability,
    latent_r_ceiling,
    random_halves,
    repetition_counts,
    split_half_reliability,
)
from perceptogram.evaluate.tables import MetricRow

__all__ = ["ceiling_row", "decoder_ceiling", "eeg_reliability", "eeg_rows"]

#: Decoded latent dimensions computed at a time for the single-trial ceilings.
LATENT_BLOCK = 1024
#: Float64 values of one block of channels of the test EEG (256 MB).
EEG_BLOCK_FLOATS = 2**25


def eeg_reliability(data: np.ndarray, *, counts: np.ndarray | None = None,
                    n_splits: int = 100, seed: int = 0) -> SplitHalfReliability:
    """Split-half reliability of repeated test EEG, per channel and time sample.

    Parameters
    ----------
    data : ndarray, shape (n_pictures, n_repetitions, n_channels, n_times)
        Single trials (a memory map is read a block of channels at a time).
    counts : ndarray of int, shape (n_pictures,), or None
        Valid repetitions per picture (None: the leading finite ones).
    n_splits, seed
        Random split halves, shared by every block of channels.

    Returns
    -------
    SplitHalfReliability
        Arrays of shape (n_channels, n_times).
    """
    n_pictures, n_reps, n_channels, n_times = data.shape
    counts = repetition_counts(data[:, :, :1], counts)
    halves = random_halves(counts, n_reps, n_splits, seed)
    step = max(1, EEG_BLOCK_FLOATS // max(1, 2 * n_pictures * n_reps * n_times))
    parts = [split_half_reliability(np.asarray(data[:, :, start:start + step]), counts=counts,
                                    halves=halves)
             for start in range(0, n_channels, step)]
    if len(parts) == 1:
        return parts[0]
    joined = {name: np.concatenate([getattr(p, name) for p in parts])
              for name in ("split_half", "all_vs_half", "spearman_brown", "ceiling")}
    first = parts[0]
    return SplitHalfReliability(**joined, n_splits=first.n_splits, n_pictures=first.n_pictures,
                                min_repetitions=first.min_repetitions,
                                max_repetitions=first.max_repetitions)


def eeg_rows(subject: Any, reliability: SplitHalfReliability, window: np.ndarray,
             n_images: int, protocol: str = "") -> list[MetricRow]:
    """Rows summarising the test EEG's reliability over the decoding window.

    Parameters
    ----------
    subject : int or str
    reliability : SplitHalfReliability
        Of shape (n_channels, n_times).
    window : ndarray of bool, shape (n_times,)
        Samples of the decoding window.
    n_images : int
    protocol : str
        Evaluation protocol named in the rows (the run's).

    Returns
    -------
    list of MetricRow
        Method ``"test EEG"``: median and largest Spearman-Brown reliability,
        median uncorrected split-half r.
    """
    inside = reliability.spearman_brown[:, window]
    lower = reliability.split_half[:, window]
    common = (f"{reliability.n_splits} random split halves of the test repetitions "
              f"({reliability.min_repetitions}-{reliability.max_repetitions} per picture), "
              "channels x samples of the decoding window")
    rows = [("EEG reliability (median)", np.nanmedian(inside),
             "median Spearman-Brown reliability of the all-repetition average"),
            ("EEG reliability (max)", np.nanmax(inside), "largest Spearman-Brown reliability"),
            ("EEG split-half r (median)", np.nanmedian(lower),
             "median uncorrected split-half r (the dataset authors' lower bound)")]
    return [MetricRow(subject=subject, method="test EEG", metric=metric, value=float(value),
                      n_images=n_images, notes=f"{what}; {common}", protocol=protocol)
            for metric, value, what in rows]


def decoder_ceiling(model: Any, trials: np.ndarray, transform: Any = None,
                    counts: np.ndarray | None = None, *, n_splits: int = 100,
                    seed: int = 0, dims: np.ndarray | None = None) -> tuple[float, int]:
    """Latent-r ceiling of a linear decoder on one subject's test trials.

    Parameters
    ----------
    model : fitted Ridge, RidgeCV or PooledRidgeCV
        Its ``coef_`` and ``intercept_`` (the affine output) are used.
    trials : ndarray, shape (n_pictures, n_repetitions, n_features)
        Single-trial features, prepared as the decoder's training rows (NaN
        padding for uneven repetitions).
    transform : callable or None
        Applied to the features first (an affine ``FeatureMap``).
    counts : ndarray of int, shape (n_pictures,), or None
    n_splits, seed
        Random split halves (the same for every block of dimensions).
    dims : ndarray of int or None
        Decoded dimensions whose ceilings are averaged (all by default).

    Returns
    -------
    ceiling : float
        Mean over decoded dimensions of ``sqrt(Spearman-Brown reliability)``.
    n_excluded : int
        Dimensions without a ceiling (constant decoded values).
    """
    if dims is None:
        dims = np.arange(np.atleast_2d(model.coef_).shape[0])
    ceilings = []
    for start in range(0, len(dims), LATENT_BLOCK):
        decoded = decode_trials(model, trials, transform, dims[start:start + LATENT_BLOCK])
        ceilings.append(split_half_reliability(decoded, counts=counts, n_splits=n_splits,
                                               seed=seed).ceiling)
    return latent_r_ceiling(np.concatenate(ceilings))


def ceiling_row(subject: Any, method: str, value: float, excluded: int, n_images: int,
                n_splits: int, protocol: str = "") -> MetricRow:
    """The ``"latent r ceiling"`` row of a decoder (beside its ``"latent r"`` row)."""
    return MetricRow(
        subject=subject, method=method, metric=CEILING_METRICS["latent r"], value=value,
        n_images=n_images, protocol=protocol,
        notes=(f"mean over decoded dimensions of sqrt(Spearman-Brown split-half reliability) "
               f"of this decoder's single-trial outputs ({n_splits} random splits of the test "
               "repetitions): the latent r it cannot exceed given the test-EEG noise"
               + (f"; {excluded} constant dimensions excluded" if excluded else "")))
