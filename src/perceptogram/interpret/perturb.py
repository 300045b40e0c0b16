"""Presumptive electrode preference: how decoding depends on each channel.

Three views of a channel's role:

- removal (:func:`channel_removal_importance`): refit the decoder without the
  channel; what is lost is information no other channel carries;
- scrambling (:func:`channel_scramble_importance`): keep the fitted decoder
  and shuffle the channel over test images; what is lost is what the decoder
  uses from that channel;
- mirroring (:func:`mirror_features`): swap left and right channels at test
  time; lateralised information is lost, symmetric information is not.

Plus decoding from named channel subsets (:func:`subset_quality`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from perceptogram._progress import track
from perceptogram.data.core.containers import EEGFeatures
from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.interpret.electrodes import channel_indices, mirror_permutation
from perceptogram.interpret.quality import DecoderFit, Quality, fit_ridge, mean_correlation


@dataclass(frozen=True)
class ChannelImportance:
    """Decoding quality with each channel perturbed.

    Parameters
    ----------
    ch_names : tuple of str, length n_channels
    baseline : float or ndarray
        Quality with every channel intact.
    perturbed : ndarray, shape (n_channels,) or (n_channels, n_scores)
        Quality with channel ``i`` perturbed.
    """

    ch_names: tuple[str, ...]
    baseline: float | np.ndarray
    perturbed: np.ndarray

    @property
    def drop(self) -> np.ndarray:
        """Loss of quality per channel, ``baseline - perturbed``."""
        return np.asarray(self.baseline) - self.perturbed

    def as_dict(self) -> dict[str, float]:
        """Channel name → drop (mean over scores when the quality is a vector)."""
        drop = self.drop.reshape(len(self.ch_names), -1).mean(axis=1)
        return {c: float(d) for c, d in zip(self.ch_names, drop)}


def _check_pair(train: EEGFeatures, test: EEGFeatures) -> None:
    if train.ch_names != test.ch_names or not np.allclose(train.times, test.times):
        raise ChannelMismatchError(
            "training and test features have different channels or times: "
            f"{train.ch_names} vs {test.ch_names}"
        )


def _check_targets(features: EEGFeatures, Y: np.ndarray, what: str) -> np.ndarray:
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[0] != features.X.shape[0]:
        raise DataFormatError(
            f"{what}: latents must have shape ({features.X.shape[0]}, n_latent), got {Y.shape}"
        )
    return Y


def with_channel_time(features: EEGFeatures, data: np.ndarray) -> EEGFeatures:
    """Copy of ``features`` whose X is ``data`` of shape (n_images, n_channels, n_times)."""
    return dataclasses.replace(features, X=np.ascontiguousarray(data).reshape(data.shape[0], -1))


def select_channels(features: EEGFeatures, channels: str | Sequence[str]) -> EEGFeatures:
    """Features restricted to a named or listed channel subset.

    Parameters
    ----------
    features : EEGFeatures
    channels : str or sequence of str
        A named subset (see :data:`perceptogram.interpret.electrodes.CHANNEL_SUBSETS`)
        or channel names.

    Returns
    -------
    EEGFeatures
        With ``X`` of shape (n_images, n_selected * n_times) and matching
        ``ch_names``, ``mean`` and ``scale``.
    """
    idx = channel_indices(channels, features.ch_names)
    cols = (idx[:, None] * features.n_times + np.arange(features.n_times)).ravel()
    return dataclasses.replace(
        features,
        X=features.X[:, cols],
        ch_names=tuple(features.ch_names[i] for i in idx),
        mean=None if features.mean is None else features.mean[cols],
        scale=None if features.scale is None else features.scale[cols],
        positions=None if features.positions is None else features.positions[idx],
    )


def mirror_features(features: EEGFeatures, perm: np.ndarray | None = None) -> EEGFeatures:
    """Swap left and right channels (test-time perturbation).

    Parameters
    ----------
    features : EEGFeatures
    perm : ndarray of int, shape (n_channels,) or None
        Mirror partner of each channel; default computed from the montage by
        :func:`perceptogram.interpret.electrodes.mirror_permutation`.

    Returns
    -------
    EEGFeatures
        Same channel labels; the data of each channel replaced by its partner's.
    """
    if perm is None:
        perm = mirror_permutation(features.ch_names)
    return with_channel_time(features, features.as_channel_time()[:, perm, :])


def scramble_channel(features: EEGFeatures, channel: int, seed: int = 0) -> EEGFeatures:
    """Shuffle one channel's time series over images (test-time perturbation)."""
    data = features.as_channel_time().copy()
    order = np.random.default_rng(seed).permutation(data.shape[0])
    data[:, channel, :] = data[order, channel, :]
    return with_channel_time(features, data)


def evaluate(decoder, test: EEGFeatures, Y_test: np.ndarray,
             quality: Quality = mean_correlation) -> float | np.ndarray:
    """Quality of a fitted decoder on (possibly perturbed) test features."""
    return quality(Y_test, decoder.predict(test.X))


def channel_scramble_importance(
    decoder,
    test: EEGFeatures,
    Y_test: np.ndarray,
    *,
    quality: Quality = mean_correlation,
    n_repeats: int = 5,
    seed: int = 0,
) -> ChannelImportance:
    """Drop in quality when one channel is shuffled over test images.

    Parameters
    ----------
    decoder : fitted model with ``predict``
        Trained on all channels of ``test.ch_names``.
    test : EEGFeatures
        Held-out features.
    Y_test : ndarray, shape (n_images, n_latent)
        True latents of the test images.
    quality : callable
        ``quality(Y_true, Y_pred)``.
    n_repeats : int
        Shuffles per channel, averaged.
    seed : int

    Returns
    -------
    ChannelImportance
    """
    Y_test = _check_targets(test, Y_test, "channel_scramble_importance")
    baseline = evaluate(decoder, test, Y_test, quality)
    rng = np.random.default_rng(seed)
    scores = []
    for ch in track(range(test.n_channels), "scrambling channels"):
        seeds = rng.integers(0, 2**31, n_repeats)
        scores.append(np.mean([np.asarray(evaluate(decoder, scramble_channel(test, ch, int(s)),
                                                   Y_test, quality)) for s in seeds], axis=0))
    return ChannelImportance(test.ch_names, baseline, np.asarray(scores))


def channel_removal_importance(
    train: EEGFeatures,
    Y_train: np.ndarray,
    test: EEGFeatures,
    Y_test: np.ndarray,
    *,
    fit_decoder: DecoderFit = fit_ridge,
    quality: Quality = mean_correlation,
) -> ChannelImportance:
    """Drop in quality when the decoder is refitted without one channel.

    Parameters
    ----------
    train, test : EEGFeatures
        Training and held-out features with the same channels and times.
    Y_train : ndarray, shape (n_train, n_latent)
    Y_test : ndarray, shape (n_test, n_latent)
    fit_decoder : callable
        ``fit_decoder(X, Y, groups)``; groups are the training concepts.
    quality : callable
        ``quality(Y_true, Y_pred)``.

    Returns
    -------
    ChannelImportance
    """
    _check_pair(train, test)
    Y_train = _check_targets(train, Y_train, "channel_removal_importance")
    Y_test = _check_targets(test, Y_test, "channel_removal_importance")
    groups = np.asarray(train.concepts)
    baseline = evaluate(fit_decoder(train.X, Y_train, groups), test, Y_test, quality)
    scores = []
    for ch in track(train.ch_names, "refitting without each channel"):
        keep = [c for c in train.ch_names if c != ch]
        tr, te = select_channels(train, keep), select_channels(test, keep)
        scores.append(evaluate(fit_decoder(tr.X, Y_train, groups), te, Y_test, quality))
    return ChannelImportance(train.ch_names, baseline, np.asarray(scores))


def subset_quality(
    train: EEGFeatures,
    Y_train: np.ndarray,
    test: EEGFeatures,
    Y_test: np.ndarray,
    subsets: Mapping[str, str | Sequence[str]],
    *,
    fit_decoder: DecoderFit = fit_ridge,
    quality: Quality = mean_correlation,
) -> dict[str, float | np.ndarray]:
    """Quality of decoders refitted on each channel subset.

    Parameters
    ----------
    train, test, Y_train, Y_test, fit_decoder, quality
        As in :func:`channel_removal_importance`.
    subsets : mapping of str to (str or sequence of str)
        Label → named subset (``"10-20"``, ``"consumer-4"``) or channel list.

    Returns
    -------
    dict
        Label → quality.
    """
    _check_pair(train, test)
    Y_train = _check_targets(train, Y_train, "subset_quality")
    Y_test = _check_targets(test, Y_test, "subset_quality")
    groups = np.asarray(train.concepts)
    out = {}
    for label, channels in track(list(subsets.items()), "channel subsets"):
        tr, te = select_channels(train, channels), select_channels(test, channels)
        out[label] = evaluate(fit_decoder(tr.X, Y_train, groups), te, Y_test, quality)
    return out
