"""How scores grow with the number of averaged test repetitions (the repetition curve).

A lab planning an experiment trades pictures against repetitions. The curve
answers "what would my scores be with only k repetitions per test picture?":
for each ``k`` in 1, 2, 4, ... all, ``k`` of each picture's repetitions are
drawn at random (``min(k, available)`` for pictures with fewer), averaged, and
scored; this is repeated ``n_draws`` times.

Anything linear in the EEG can be averaged *after* it is computed: a ridge
decoder's single-trial outputs, averaged over ``k`` trials, are exactly the
decoding of the ``k``-trial average. So the caller passes single-trial responses
(EEG, decoded latents or latent-filtered maps) and a ``score`` function of the
averaged ones; nothing here knows about decoders.

Bands (``ci`` percentile): a score returned per picture (shape ``(n_pictures,)``,
e.g. two-way identification, top-k hits) gets a bootstrap over pictures *and*
repetition draws (each resample picks one draw and resamples pictures with
replacement), like every other interval of :mod:`perceptogram.evaluate.stats`;
a score returned as one number (e.g. the mean latent r across pictures) gets
the spread over repetition draws only (stated in :attr:`RepetitionCurve.bands`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from perceptogram.errors import DataFormatError
from perceptogram.evaluate.noise_ceiling import repetition_counts
from perceptogram.evaluate.stats import bootstrap_indices

Score = Callable[[np.ndarray], Mapping[str, "np.ndarray | float"]]


@dataclass(frozen=True)
class RepetitionCurve:
    """Scores as a function of the number of averaged repetitions.

    Attributes
    ----------
    n_repetitions : ndarray of int, shape (n_levels,)
        Repetitions asked for at each level.
    mean_used : ndarray, shape (n_levels,)
        Mean over pictures of the repetitions actually averaged
        (``min(k, available)``).
    values : dict of str to ndarray, shape (n_levels,)
        Each score, mean over draws (and pictures, for per-picture scores).
    low, high : dict of str to ndarray, shape (n_levels,)
        Band of each score.
    bands : dict of str to str
        What each band covers: ``"pictures and draws"`` or ``"draws"``.
    n_draws, n_boot : int
    ci : float
    """

    n_repetitions: np.ndarray
    mean_used: np.ndarray
    values: dict[str, np.ndarray]
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    bands: dict[str, str]
    n_draws: int
    n_boot: int
    ci: float

    def records(self) -> list[dict[str, float | int | str]]:
        """One plain record per level and score (for CSV/JSON tables)."""
        return [{"metric": name, "n_repetitions": int(k), "mean_used": float(u),
                 "value": float(self.values[name][i]), "ci_low": float(self.low[name][i]),
                 "ci_high": float(self.high[name][i]), "band": self.bands[name]}
                for name in self.values
                for i, (k, u) in enumerate(zip(self.n_repetitions, self.mean_used))]


def repetition_levels(max_repetitions: int) -> np.ndarray:
    """1, 2, 4, ... up to and including ``max_repetitions``.

    Parameters
    ----------
    max_repetitions : int

    Returns
    -------
    ndarray of int
    """
    if max_repetitions < 1:
        raise DataFormatError("there must be at least one repetition")
    levels = [1 << k for k in range(int(np.log2(max_repetitions)) + 1)]
    if levels[-1] != max_repetitions:
        levels.append(int(max_repetitions))
    return np.asarray(levels)


def draw_average(trials: np.ndarray, counts: np.ndarray, k: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Average ``min(k, counts[i])`` random valid repetitions of every picture.

    Parameters
    ----------
    trials : ndarray, shape (n_pictures, n_repetitions, *feature_shape)
    counts : ndarray of int, shape (n_pictures,)
        Valid (leading) repetitions of each picture, at least 1.
    k : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_pictures, *feature_shape), float64
    """
    n_pictures, n_reps = trials.shape[:2]
    valid = np.arange(n_reps)[None, :] < counts[:, None]
    keys = np.where(valid, rng.random((n_pictures, n_reps)), np.inf)
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    weights = (ranks < np.minimum(k, counts)[:, None]).astype(np.float64)
    weights /= weights.sum(axis=1, keepdims=True)
    flat = np.where(valid[:, :, None], trials.reshape(n_pictures, n_reps, -1), 0.0)
    return np.einsum("ir,irf->if", weights, flat).reshape((n_pictures,) + trials.shape[2:])


def repetition_curve(trials: np.ndarray, score: Score, *,
                     counts: np.ndarray | None = None,
                     n_repetitions: Sequence[int] | None = None, n_draws: int = 10,
                     n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> RepetitionCurve:
    """Score averages of 1, 2, 4, ... repetitions, with bands.

    Parameters
    ----------
    trials : ndarray, shape (n_pictures, n_repetitions, *feature_shape)
        Single-trial responses (e.g. decoded latents ``(n_pictures, n_reps,
        n_latent)``).
    score : callable
        ``score(averaged) -> {name: per-picture scores (n_pictures,) or float}``
        with ``averaged`` of shape ``(n_pictures, *feature_shape)``.
    counts : array-like of int, shape (n_pictures,), or None
        Valid repetitions per picture (None: leading finite repetitions, see
        :func:`~perceptogram.evaluate.noise_ceiling.repetition_counts`).
    n_repetitions : sequence of int or None
        Levels (default :func:`repetition_levels` of the most repetitions).
    n_draws : int
        Random draws of repetitions per level (one at the level that takes
        every repetition of every picture).
    n_boot : int
    ci : float
    seed : int

    Returns
    -------
    RepetitionCurve
    """
    trials = np.asarray(trials)
    if trials.ndim < 3:
        raise DataFormatError(f"trials must have shape (n_pictures, n_repetitions, "
                              f"*features); got {trials.shape}")
    counts = repetition_counts(trials, counts)
    if counts.min() < 1:
        raise DataFormatError(f"{int((counts < 1).sum())} pictures have no valid repetition")
    levels = repetition_levels(int(counts.max())) if n_repetitions is None \
        else np.asarray(sorted(set(int(k) for k in n_repetitions)))
    if levels.size == 0 or levels.min() < 1:
        raise DataFormatError("repetition levels must be positive integers")
    rng = np.random.default_rng(seed)
    per_level: list[dict[str, np.ndarray]] = []
    for k in levels:
        draws = 1 if k >= counts.max() else n_draws
        collected: dict[str, list] = {}
        for _ in range(draws):
            for name, value in score(draw_average(trials, counts, int(k), rng)).items():
                collected.setdefault(name, []).append(np.asarray(value, dtype=np.float64))
        per_level.append({name: np.stack(v) for name, v in collected.items()})
    names = list(per_level[0])
    values, low, high, bands = {}, {}, {}, {}
    tail = 100 * (1 - ci) / 2
    for name in names:
        v, lo, hi = [], [], []
        for level, scores in enumerate(per_level):
            s = scores[name]  # (draws,) or (draws, n_pictures)
            if s.ndim == 2:
                picks = bootstrap_indices(s.shape[1], n_boot, seed + level)
                which = np.random.default_rng(seed + level).integers(0, s.shape[0], n_boot)
                boot = np.nanmean(s[which[:, None], picks], axis=1)
                bands[name] = "pictures and draws"
            else:
                boot = s
                bands[name] = "draws"
            v.append(float(np.nanmean(s)))
            lo_hi = np.nanpercentile(boot, [tail, 100 - tail]) if np.isfinite(boot).any() \
                else (np.nan, np.nan)
            lo.append(float(lo_hi[0]))
            hi.append(float(lo_hi[1]))
        values[name], low[name], high[name] = np.array(v), np.array(lo), np.array(hi)
    return RepetitionCurve(n_repetitions=levels,
                           mean_used=np.array([np.minimum(k, counts).mean() for k in levels]),
                           values=values, low=low, high=high, bands=bands, n_draws=n_draws,
                           n_boot=n_boot, ci=ci)
