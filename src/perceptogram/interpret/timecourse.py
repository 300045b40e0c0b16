"""When the EEG carries what: time windows and the time-swap probe.

- :func:`window_length_curve`: decoders refitted on the first *k* ms;
- :func:`sliding_window_curve`: decoders refitted on short sliding windows;
- :func:`time_swap_probe`: the paper's probe — replace a 50 ms window of image
  B's EEG with image A's, slide the window in 10 ms steps, and measure how far
  the decoded latent moves from B's towards A's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perceptogram._progress import track
from perceptogram.data.core.containers import EEGFeatures
from perceptogram.errors import DataFormatError
from perceptogram.interpret.perturb import _check_pair, _check_targets, evaluate
from perceptogram.interpret.quality import DecoderFit, Quality, fit_ridge, mean_correlation


@dataclass(frozen=True)
class QualityCurve:
    """Decoding quality as a function of a time parameter.

    Parameters
    ----------
    x : ndarray, shape (n_points,)
        Window end (window-length curve) or window centre (sliding windows), in
        seconds.
    values : ndarray, shape (n_points,) or (n_points, n_scores)
        Quality at each point (several scores when ``quality`` returns a vector,
        e.g. one correlation per latent dimension).
    """

    x: np.ndarray
    values: np.ndarray


def select_times(features: EEGFeatures, tmin: float, tmax: float) -> EEGFeatures:
    """Features restricted to samples with ``tmin <= t < tmax`` (seconds)."""
    keep = (features.times >= tmin - 1e-9) & (features.times < tmax - 1e-9)
    if not keep.any():
        raise DataFormatError(
            f"no samples between {tmin * 1000:.0f} and {tmax * 1000:.0f} ms; data cover "
            f"{features.times[0] * 1000:.0f}..{features.times[-1] * 1000:.0f} ms"
        )
    cols = (np.arange(features.n_channels)[:, None] * features.n_times
            + np.flatnonzero(keep)).ravel()
    return dataclasses.replace(
        features,
        X=features.X[:, cols],
        times=features.times[keep],
        mean=None if features.mean is None else features.mean[cols],
        scale=None if features.scale is None else features.scale[cols],
    )


def _windowed_quality(train, Y_train, test, Y_test, windows, fit_decoder, quality, what):
    _check_pair(train, test)
    Y_train = _check_targets(train, Y_train, what)
    Y_test = _check_targets(test, Y_test, what)
    groups = np.asarray(train.concepts)
    values = []
    for lo, hi in track(windows, what):
        tr, te = select_times(train, lo, hi), select_times(test, lo, hi)
        values.append(evaluate(fit_decoder(tr.X, Y_train, groups), te, Y_test, quality))
    return np.asarray(values)


def window_length_curve(
    train: EEGFeatures,
    Y_train: np.ndarray,
    test: EEGFeatures,
    Y_test: np.ndarray,
    lengths: Sequence[float],
    *,
    start: float = 0.0,
    fit_decoder: DecoderFit = fit_ridge,
    quality: Quality = mean_correlation,
) -> QualityCurve:
    """Quality of decoders refitted on ``[start, start + length)`` for each length.

    Parameters
    ----------
    train, test : EEGFeatures
    Y_train : ndarray, shape (n_train, n_latent)
    Y_test : ndarray, shape (n_test, n_latent)
    lengths : sequence of float
        Window lengths in seconds.
    start : float
        Window start in seconds.
    fit_decoder, quality : callable
        See :mod:`perceptogram.interpret.quality`.

    Returns
    -------
    QualityCurve
        ``x`` = window ends.
    """
    ends = start + np.asarray(lengths, dtype=float)
    values = _windowed_quality(train, Y_train, test, Y_test, [(start, e) for e in ends],
                               fit_decoder, quality, "window lengths")
    return QualityCurve(ends, values)


def sliding_window_curve(
    train: EEGFeatures,
    Y_train: np.ndarray,
    test: EEGFeatures,
    Y_test: np.ndarray,
    *,
    width: float = 0.05,
    step: float = 0.01,
    fit_decoder: DecoderFit = fit_ridge,
    quality: Quality = mean_correlation,
) -> QualityCurve:
    """Quality of decoders refitted on sliding windows of ``width`` seconds.

    Returns
    -------
    QualityCurve
        ``x`` = window centres (seconds).
    """
    starts = _window_starts(train.times, width, step)
    values = _windowed_quality(train, Y_train, test, Y_test,
                               [(s, s + width) for s in starts], fit_decoder, quality,
                               "sliding windows")
    return QualityCurve(starts + width / 2, values)


def _window_starts(times: np.ndarray, width: float, step: float) -> np.ndarray:
    dt = times[1] - times[0]
    if width < dt - 1e-9 or step <= 0:
        raise ValueError(
            f"window width {width * 1000:.0f} ms must cover at least one sample "
            f"({dt * 1000:.0f} ms) and step must be positive"
        )
    last = times[-1] + dt - width
    return times[0] + np.arange(0.0, last - times[0] + 1e-9, step)


@dataclass(frozen=True)
class TimeSwapResult:
    """How far a swapped window moves the decoded latent from B towards A.

    Parameters
    ----------
    starts : ndarray, shape (n_windows,)
        Start of each swapped window, in seconds.
    width : float
        Window width in seconds.
    progress : ndarray, shape (n_pairs, n_windows)
        Projection of ``decoded_swapped - decoded_B`` onto
        ``decoded_A - decoded_B``, divided by ``|decoded_A - decoded_B|^2``:
        0 = still B, 1 = fully A.
    pairs : ndarray of int, shape (n_pairs, 2)
        ``(a, b)`` image indices.
    """

    starts: np.ndarray
    width: float
    progress: np.ndarray
    pairs: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        """Window centres in seconds."""
        return self.starts + self.width / 2


def time_swap_probe(
    decoder,
    features: EEGFeatures,
    pairs: Sequence[tuple[int, int]] | np.ndarray,
    *,
    width: float = 0.05,
    step: float = 0.01,
    dims: Sequence[int] | None = None,
) -> TimeSwapResult:
    """Swap a sliding window of image B's EEG for image A's and decode.

    Parameters
    ----------
    decoder : fitted model with ``predict``
        Trained on features laid out like ``features``.
    features : EEGFeatures
        Held-out features; ``pairs`` index its rows.
    pairs : sequence of (int, int) or ndarray, shape (n_pairs, 2)
        ``(a, b)``: A's EEG is pasted into B's.
    width, step : float
        Window width and step in seconds (paper: 50 ms, 10 ms).
    dims : sequence of int or None
        Latent dimensions in which the movement is measured (default all).

    Returns
    -------
    TimeSwapResult
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.size == 0 or pairs.min() < 0 or pairs.max() >= features.X.shape[0]:
        raise DataFormatError(
            f"time_swap_probe: pairs must index the {features.X.shape[0]} images"
        )
    data = features.as_channel_time()
    starts = _window_starts(features.times, width, step)
    sel = slice(None) if dims is None else np.asarray(dims)
    decoded = decoder.predict(features.X)[:, sel]
    a, b = pairs[:, 0], pairs[:, 1]
    direction = decoded[a] - decoded[b]
    norm2 = np.einsum("ij,ij->i", direction, direction)
    if np.any(norm2 <= 0):
        raise DataFormatError("time_swap_probe: a pair decodes to identical latents")
    progress = np.empty((len(pairs), len(starts)))
    for w, s in enumerate(track(starts, "time-swap windows")):
        window = (features.times >= s - 1e-9) & (features.times < s + width - 1e-9)
        swapped = data[b].copy()
        swapped[:, :, window] = data[a][:, :, window]
        moved = decoder.predict(swapped.reshape(len(pairs), -1))[:, sel] - decoded[b]
        progress[:, w] = np.einsum("ij,ij->i", moved, direction) / norm2
    return TimeSwapResult(starts, float(width), progress, pairs)
