"""Noise ceilings from split-half reliability of repeated test responses.

Every test picture was shown several times (THINGS-EEG2: 80). Splitting a
picture's repetitions at random into two halves and averaging each gives two
independent estimates of its response; their agreement across pictures, per
channel x time sample (or per decoded latent dimension), measures how much of
the averaged response is signal. Repeated over many random splits
(:func:`split_half_reliability`):

- ``split_half`` — mean over splits of the Pearson r, across pictures, between
  the two half-averages: the reliability of an average of *half* the
  repetitions. The dataset authors' **lower bound** (THINGS-EEG2's
  ``eeg_encoding``), used there without correction.
- ``all_vs_half`` — mean over splits of the r between the average of *all*
  repetitions and one half-average: the authors' **upper bound** (the two
  share half their trials, so it overstates agreement; no correction either).
- ``spearman_brown`` — ``2 r / (1 + r)`` of ``split_half``: the Spearman-Brown
  estimate of the reliability of the average of *all* repetitions, i.e. the
  expected r between two independent all-repetition averages.
- ``ceiling`` — ``sqrt(spearman_brown)``: the highest Pearson r any model
  (a perfect prediction of the noise-free response) can reach against the
  observed all-repetition average. This is the ceiling Perceptogram puts beside
  a correlation score.

The same function applied to single-trial *decoded latents* (a linear decoder
commutes with averaging) gives the reliability of each decoded dimension, whose
``ceiling`` bounds that dimension's latent r: the latent-r ceiling of the
decoder (:func:`latent_r_ceiling`). Two-way identification and retrieval have no
such ceiling: they are rank statistics of a whole similarity matrix, whose noise-
free value cannot be derived from second moments (see ``docs/cross-subject.md``;
the repetition curve of :mod:`perceptogram.evaluate.repetitions` shows how they
grow with repetitions instead).

Uneven repetitions: give ``counts`` (valid repetitions per picture, the first
``counts[i]`` along axis 1), or leave it None to count the repetitions whose
values are all finite (NaN padding). Each split puts ``floor(c / 2)`` random
repetitions of a picture in each half (one left out when ``c`` is odd); pictures
with fewer than 2 repetitions are left out of the correlations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perceptogram._stats import dimension_correlation, nanmean_count
from perceptogram.errors import DataFormatError

#: Float64 values of the two half-averages of one block of splits (64 MB).
_BLOCK_FLOATS = 2**23

#: The metric rows that hold a score's noise ceiling, by the score's metric.
CEILING_METRICS = {"latent r": "latent r ceiling"}
#: What tables say beside a score whose ceiling cannot be derived (two-way, retrieval).
NO_CEILING = "no ceiling derivable"
#: Why (shown with :data:`NO_CEILING`).
NO_CEILING_REASON = ("rank statistics of the whole decoded-vs-true similarity matrix: whether "
                     "each noise-free comparison is won cannot be recovered from split-half "
                     "second moments (docs/cross-subject.md); the repetition curve shows how "
                     "they grow with repetitions instead")


@dataclass(frozen=True)
class SplitHalfReliability:
    """Split-half reliability of repeated responses, per feature.

    Attributes
    ----------
    split_half : ndarray, shape feature_shape
        Mean over splits of r(half A, half B) across pictures (lower bound of
        THINGS-EEG2's ``eeg_encoding``; reliability of a half-average).
    all_vs_half : ndarray, shape feature_shape
        Mean over splits of r(all repetitions, half A) (that code's upper bound).
    spearman_brown : ndarray, shape feature_shape
        ``2 r / (1 + r)`` of ``split_half``: reliability of the all-repetition average.
    ceiling : ndarray, shape feature_shape
        ``sqrt(max(spearman_brown, 0))``: the highest r a model can reach against
        the all-repetition average.
    n_splits : int
    n_pictures : int
        Pictures with at least 2 repetitions (those correlated).
    min_repetitions, max_repetitions : int
        Fewest and most repetitions of those pictures.
    """

    split_half: np.ndarray
    all_vs_half: np.ndarray
    spearman_brown: np.ndarray
    ceiling: np.ndarray
    n_splits: int
    n_pictures: int
    min_repetitions: int
    max_repetitions: int


def spearman_brown(r: np.ndarray, factor: float = 2.0) -> np.ndarray:
    """Spearman-Brown prophecy: reliability of an average ``factor`` times longer.

    Parameters
    ----------
    r : ndarray
        Reliability of the shorter average.
    factor : float
        Length ratio (2 for split halves).

    Returns
    -------
    ndarray
        ``factor * r / (1 + (factor - 1) * r)``.
    """
    r = np.asarray(r, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return factor * r / (1.0 + (factor - 1.0) * r)


def repetition_counts(trials: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
    """Valid repetitions of each picture.

    Parameters
    ----------
    trials : ndarray, shape (n_pictures, n_repetitions, ...)
    counts : array-like of int, shape (n_pictures,), or None
        Given counts (the first ``counts[i]`` repetitions are valid), checked;
        None counts the leading repetitions whose values are all finite.

    Returns
    -------
    counts : ndarray of int, shape (n_pictures,)
    """
    n_pictures, n_reps = trials.shape[:2]
    if counts is not None:
        counts = np.asarray(counts)
        if counts.shape != (n_pictures,) or not np.issubdtype(counts.dtype, np.integer) \
                or counts.min(initial=0) < 0 or counts.max(initial=0) > n_reps:
            raise DataFormatError(f"counts must be {n_pictures} integers in [0, {n_reps}], "
                                  "the valid repetitions of each picture")
        return counts.astype(np.intp)
    finite = np.isfinite(trials.reshape(n_pictures, n_reps, -1)).all(axis=2)
    # Leading run of finite repetitions (padding comes last).
    return np.where(finite.all(axis=1), n_reps, np.argmin(finite, axis=1)).astype(np.intp)


def _valid_mask(counts: np.ndarray, n_reps: int) -> np.ndarray:
    return np.arange(n_reps)[None, :] < counts[:, None]


def random_halves(counts: np.ndarray, n_repetitions: int, n_splits: int = 100,
                  seed: int = 0) -> np.ndarray:
    """Random split-half assignments of every picture's valid repetitions.

    Parameters
    ----------
    counts : ndarray of int, shape (n_pictures,)
        Valid (leading) repetitions of each picture.
    n_repetitions : int
        Size of the repetition axis.
    n_splits : int
    seed : int

    Returns
    -------
    halves : ndarray of int8, shape (n_splits, n_pictures, n_repetitions)
        1 for half A, 2 for half B, 0 for neither (invalid, or the odd one out);
        each half holds ``floor(counts[i] / 2)`` repetitions of picture ``i``.
    """
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts)
    valid = _valid_mask(counts, n_repetitions)
    half = (counts // 2)[None, :, None]
    keys = np.where(valid, rng.random((n_splits, counts.size, n_repetitions)), np.inf)
    ranks = np.argsort(np.argsort(keys, axis=2), axis=2)
    return np.where(ranks < half, 1, np.where(ranks < 2 * half, 2, 0)).astype(np.int8)


def _correlate_pictures(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r across pictures (axis 0) at every other position; NaN when constant."""
    shape = a.shape[1:]
    r = dimension_correlation(a.reshape(len(a), -1), b.reshape(len(b), -1))
    return r.reshape(shape)


def split_half_reliability(trials: np.ndarray, *, counts: np.ndarray | None = None,
                           n_splits: int = 100, seed: int = 0,
                           halves: np.ndarray | None = None) -> SplitHalfReliability:
    """Split-half reliability of repeated responses, per feature, over many random splits.

    Parameters
    ----------
    trials : ndarray, shape (n_pictures, n_repetitions, *feature_shape)
        Single-trial responses (EEG: ``(n_pictures, n_repetitions, n_channels,
        n_times)``; decoded latents: ``(n_pictures, n_repetitions, n_latent)``).
    counts : array-like of int, shape (n_pictures,), or None
        Valid repetitions per picture (see :func:`repetition_counts`).
    n_splits : int, default=100
        Random splits averaged.
    seed : int, default=0
    halves : ndarray of int8, shape (n_splits, n_pictures, n_repetitions), optional
        Explicit assignments (:func:`random_halves`); overrides ``n_splits`` and ``seed``.

    Returns
    -------
    SplitHalfReliability
        Arrays of shape ``feature_shape``; NaN where a feature is constant
        across pictures.
    """
    trials = np.asarray(trials)
    if trials.ndim < 3:
        raise DataFormatError("trials must have shape (n_pictures, n_repetitions, "
                              f"*features); got {trials.shape}")
    n_pictures, n_reps = trials.shape[:2]
    feature_shape = trials.shape[2:]
    counts = repetition_counts(trials, counts)
    used = counts >= 2
    if used.sum() < 3:
        raise DataFormatError(f"split-half reliability needs at least 3 pictures with 2 or "
                              f"more repetitions; {int(used.sum())} have them")
    if halves is None:
        halves = random_halves(counts, n_reps, n_splits, seed)
    halves = np.asarray(halves)
    if halves.ndim != 3 or halves.shape[1:] != (n_pictures, n_reps):
        raise DataFormatError(f"halves must have shape (n_splits, {n_pictures}, {n_reps})")
    valid = _valid_mask(counts, n_reps)
    flat = np.where(valid[:, :, None], trials.reshape(n_pictures, n_reps, -1), 0.0)
    flat = flat[used].astype(np.float64)  # (n_used, n_reps, n_features)
    halves = halves[:, used]
    everything = flat.sum(axis=1) / counts[used][:, None]
    n_features = flat.shape[2]
    chunk = max(1, _BLOCK_FLOATS // max(1, 2 * flat.shape[0] * n_features))
    sums = {"split_half": np.zeros(n_features), "all_vs_half": np.zeros(n_features)}
    for start in range(0, halves.shape[0], chunk):
        part = halves[start:start + chunk].transpose(1, 0, 2)  # (n_used, s, n_reps)
        weights = [(part == h).astype(np.float64) for h in (1, 2)]
        means = [np.matmul(w / np.maximum(w.sum(axis=2, keepdims=True), 1.0), flat)
                 for w in weights]  # (n_used, s, n_features) each
        sums["split_half"] += _correlate_pictures(means[0], means[1]).sum(axis=0)
        sums["all_vs_half"] += _correlate_pictures(
            np.broadcast_to(everything[:, None], means[0].shape), means[0]).sum(axis=0)
    split_half = (sums["split_half"] / halves.shape[0]).reshape(feature_shape)
    all_vs_half = (sums["all_vs_half"] / halves.shape[0]).reshape(feature_shape)
    corrected = spearman_brown(split_half)
    return SplitHalfReliability(
        split_half=split_half, all_vs_half=all_vs_half, spearman_brown=corrected,
        ceiling=np.sqrt(np.clip(corrected, 0.0, None)), n_splits=int(halves.shape[0]),
        n_pictures=int(used.sum()), min_repetitions=int(counts[used].min()),
        max_repetitions=int(counts[used].max()))


def latent_r_ceiling(ceiling: np.ndarray) -> tuple[float, int]:
    """Ceiling of the mean latent r implied by decoded-dimension reliabilities.

    With :func:`split_half_reliability` computed on single-trial decoded
    latents, dimension ``k``'s r with the true latent cannot exceed
    ``ceiling[k]`` (attenuation by test noise: ``r_obs = r_noise_free *
    sqrt(reliability_k)``); the mean latent r cannot exceed the mean ceiling.

    Parameters
    ----------
    ceiling : ndarray, shape (n_latent,)
        :attr:`SplitHalfReliability.ceiling` of the decoded latents.

    Returns
    -------
    ceiling : float
        Mean over dimensions (NaN dimensions excluded).
    n_excluded : int
        Dimensions without a ceiling (constant decoded values).
    """
    return nanmean_count(np.ravel(ceiling))
