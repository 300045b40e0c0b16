"""Decoding and map quality against the number of averaged test repetitions, for one subject.

The subject's within-subject decoder (:class:`~perceptogram.linear.ridge.RidgeCV`)
and latent encoder (:class:`~perceptogram.linear.patterns.LatentEncoder`, the
latent-filtered patterns of the published maps) are fitted on its training data
once; every test trial is decoded once; averages of ``k`` decoded trials are the
decoding of ``k``-trial averages (the decoder is affine), so
:func:`perceptogram.evaluate.repetitions.repetition_curve` only redraws and
rescores them.

Scores at each level: top-1 and top-5 retrieval hits, latent two-way
identification (per picture), the mean latent r (one number: band over draws
only), and **map r**: per picture, the correlation over channels x times of its
latent-filtered pattern with a reference pattern (default: the pattern from all
repetitions, which shares the trials it is compared with and reaches 1 at the
last level; give the planted truth of a simulation instead when known).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from perceptogram.cross_subject.evaluation import SubjectEpochs
from perceptogram.cross_subject.trials import (
    decode_trials,
    picture_index,
    trial_features,
)
from perceptogram.data.core.prepare import prepare
from perceptogram.errors import DataFormatError
from perceptogram.evaluate import metrics as M
from perceptogram.evaluate.metrics import latent_statistics
from perceptogram.evaluate.repetitions import RepetitionCurve, repetition_curve
from perceptogram.linear.patterns import LatentEncoder
from perceptogram.linear.ridge import DEFAULT_ALPHAS, RidgeCV


def repetition_scores(
    subject: SubjectEpochs,
    train_latents: np.ndarray,
    test_latents: np.ndarray,
    *,
    train_files: Sequence[str] | None = None,
    test_files: Sequence[str] | None = None,
    tmin: float = 0.0,
    tmax: float = 0.8,
    channels: Sequence[str] | None = None,
    alphas: Any = DEFAULT_ALPHAS,
    n_splits: int = 5,
    encoder_alpha: float = 1e3,
    reference_maps: np.ndarray | None = None,
    n_repetitions: Sequence[int] | None = None,
    n_draws: int = 10,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> RepetitionCurve:
    """Repetition curve of one subject's within-subject decoding and maps.

    Parameters
    ----------
    subject : SubjectEpochs
    train_latents : ndarray, shape (n_train_pictures, n_latent)
    test_latents : ndarray, shape (n_test_pictures, n_latent)
    train_files, test_files : sequence of str or None
        Image file of every latent row (default: the subject's own order).
    tmin, tmax, channels
        Feature window and channels.
    alphas, n_splits
        Of the decoder's grouped cross-validation.
    encoder_alpha : float
        Regularisation of the latent encoder (1e3 as published).
    reference_maps : ndarray, shape (n_test_images, n_channels, n_times), or None
        Reference pattern of every test row (in the subject's row order, z-scored
        feature units); None uses the all-repetition pattern.
    n_repetitions, n_draws, n_boot, ci, seed
        As in :func:`~perceptogram.evaluate.repetitions.repetition_curve`.

    Returns
    -------
    RepetitionCurve
        Metrics ``"top-1"``, ``"top-5"``, ``"latent two-way"``, ``"latent r"``,
        ``"map r"``.
    """
    train_latents = np.asarray(train_latents).reshape(len(train_latents), -1)
    test_latents = np.asarray(test_latents).reshape(len(test_latents), -1)
    train_files = subject.train.image_files if train_files is None else tuple(train_files)
    test_files = subject.test.image_files if test_files is None else tuple(test_files)
    train_pics = picture_index(subject.train.image_files,
                               {f: i for i, f in enumerate(train_files)}, "training")
    test_pics = picture_index(subject.test.image_files,
                              {f: i for i, f in enumerate(test_files)}, "test")
    train_x, test_x = prepare(subject.train, subject.test, tmin=tmin, tmax=tmax,
                              channels=channels)
    concepts = np.unique(np.asarray(subject.train.concepts), return_inverse=True)[1]
    Y = train_latents[train_pics]
    decoder = RidgeCV(alphas, cv="group", n_splits=n_splits).fit(train_x.X, Y, groups=concepts)
    encoder = LatentEncoder(alpha=encoder_alpha).fit(Y, train_x)
    decoded = decode_trials(decoder, trial_features(subject.test, test_x))
    if reference_maps is not None:
        reference_maps = np.asarray(reference_maps, dtype=np.float64)
        shape = (len(test_pics), len(test_x.ch_names), len(test_x.times))
        if reference_maps.shape != shape:
            raise DataFormatError(f"reference_maps must have shape {shape}; got "
                                  f"{reference_maps.shape}")
    return decoded_repetition_curve(decoded, test_latents[test_pics], train_latents, encoder,
                                    counts=subject.counts, reference_maps=reference_maps,
                                    n_repetitions=n_repetitions, n_draws=n_draws,
                                    n_boot=n_boot, ci=ci, seed=seed)


def decoded_repetition_curve(
    decoded: np.ndarray,
    true: np.ndarray,
    train_latents: np.ndarray,
    encoder: LatentEncoder | None = None,
    *,
    counts: np.ndarray | None = None,
    reference_maps: np.ndarray | None = None,
    n_repetitions: Sequence[int] | None = None,
    n_draws: int = 10,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> RepetitionCurve:
    """Repetition curve of a decoder's single-trial outputs.

    Parameters
    ----------
    decoded : ndarray, shape (n_pictures, n_repetitions, n_latent)
        Every test trial decoded (NaN for padding), e.g. by
        :func:`~perceptogram.cross_subject.trials.decode_trials`.
    true : ndarray, shape (n_pictures, n_latent)
        True latent of every test picture.
    train_latents : ndarray, shape (n_train_pictures, n_latent)
        Training latents: their mean and SD standardise the comparison.
    encoder : LatentEncoder or None
        Fitted latent encoder (training latents -> z-scored EEG): gives the
        ``"map r"`` score; None leaves it out.
    counts : ndarray of int, shape (n_pictures,), or None
    reference_maps : ndarray, shape (n_pictures, n_channels, n_times), or None
        Reference pattern of every picture (None: the all-repetition pattern).
    n_repetitions, n_draws, n_boot, ci, seed
        As in :func:`~perceptogram.evaluate.repetitions.repetition_curve`.

    Returns
    -------
    RepetitionCurve
        Metrics ``"top-1"``, ``"top-5"``, ``"latent two-way"``, ``"latent r"``
        and, with an encoder, ``"map r"``.
    """
    train_latents = np.asarray(train_latents).reshape(len(train_latents), -1)
    true = np.asarray(true).reshape(len(true), -1)
    mean, std = latent_statistics(train_latents)
    _, true_std, kept = M.standardize_latents(true, true, mean, std)
    reference = None
    if encoder is not None:
        if reference_maps is None:
            counts_ok = np.isfinite(decoded).all(axis=2)
            all_average = np.nansum(decoded, axis=1) / counts_ok.sum(axis=1)[:, None]
            reference_maps = encoder.project(all_average).data
        reference = np.asarray(reference_maps, dtype=np.float64).reshape(len(true), -1)

    def score(averaged: np.ndarray) -> dict[str, Any]:
        dec_std, _, _ = M.standardize_latents(averaged, true, mean, std)
        ranks = M.retrieval_ranks(dec_std, true_std, "cosine")
        scores = {
            "top-1": (ranks < 1).astype(float),
            "top-5": (ranks < 5).astype(float),
            "latent two-way": M.two_way_identification(dec_std, true_std),
            "latent r": float(np.nanmean(M.latent_correlation(averaged[:, kept],
                                                               true[:, kept]))),
        }
        if encoder is not None:
            maps = encoder.project(averaged).data.reshape(len(averaged), -1)
            scores["map r"] = M.paired_correlation(maps, reference)
        return scores

    return repetition_curve(decoded, score, counts=counts, n_repetitions=n_repetitions,
                            n_draws=n_draws, n_boot=n_boot, ci=ci, seed=seed)
