"""Leave-one-subject-out decoding in a run: the ``cross-subject`` units.

One unit per held-out subject *h* (every latent space at once: the training
subjects' rows are accumulated once, the shared space is fitted once, and one
pooled decoder per space is fitted from the same moments):

- ``across``: a ridge decoder pooled over the other subjects' training rows
  (each z-scored with its own training statistics;
  :func:`perceptogram.cross_subject.fit_held_out`);
- ``aligned`` (unless ``evaluation.cross_subject.alignment`` is ``none``): the
  same after mapping every subject onto a shared space built from the other
  subjects' responses to the training pictures; *h*'s own map is fitted on its
  *training* responses only.

Inputs are the ``features`` stage's averaged training features of every subject
(unscaled again with their stored training statistics) and latents; *h*'s test
features are only decoded and scored, and *h*'s single test trials (read from the
dataset, as the ``repetitions`` stage reads them) only give the decoders'
latent-r ceilings. Nothing of *h*'s test data enters a fit (a pipeline test
changes them and compares the decoder files byte for byte).

Writes, in ``cross-subject/sub-XX/``: ``<protocol>/feature_map.npz`` (how *h*'s
features reach the decoders: mean, scale and, aligned, the alignment matrix),
``<protocol>/<space>/decoder.safetensors`` (+ ``.json``; a
:class:`~perceptogram.linear.pooled.PooledRidgeCV` that
:func:`~perceptogram.linear.io.load_model` reads), ``<protocol>/<space>/decoded.npy``
(*h*'s decoded test latents) and ``metrics.{csv,json}`` (the latent metrics of
every protocol and space, as the evaluate stage computes them, and each
decoder's ``"latent r ceiling"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from perceptogram.config import Config
from perceptogram.cross_subject import fit_held_out
from perceptogram.data.core.containers import EEGFeatures
from perceptogram.errors import ChannelMismatchError, PerceptogramError
from perceptogram.evaluate.suite import evaluate_latents
from perceptogram.evaluate.tables import save_table
from perceptogram.linear.io import save_model
from perceptogram.linear.ridge import DEFAULT_ALPHAS, AlphaGridEdgeWarning
from perceptogram.pipeline.artifacts import load_eeg_features, save_array, save_npz
from perceptogram.pipeline.datasource import (
    open_run_dataset,
    pool_by_image,
    run_image_paths,
    subject_rows,
)
from perceptogram.pipeline.plan import cross_subject_method, cross_subject_protocols, run_subjects
from perceptogram.pipeline.reliability import decoder_ceiling_row, subject_trials
from perceptogram.pipeline.rundir import RunDir, subject_label

__all__ = ["MIN_SUBJECTS", "check_subjects", "held_out_unit", "unscaled"]

#: Subjects a leave-one-subject-out run needs (train on one, test on another).
MIN_SUBJECTS = 2


def check_subjects(subjects: list[int]) -> None:
    """Refuse a leave-one-subject-out run with fewer than :data:`MIN_SUBJECTS` subjects."""
    if len(subjects) < MIN_SUBJECTS:
        raise PerceptogramError(
            f"evaluation.cross_subject needs at least {MIN_SUBJECTS} subjects who saw the same "
            f"training pictures (it trains on the others and tests on one never seen); this "
            f"run has {len(subjects)}: add subjects, or turn it off")


def unscaled(features: EEGFeatures) -> np.ndarray:
    """Averaged features in the data's units (the features stage stores them z-scored)."""
    X = np.asarray(features.X, dtype=np.float32)
    if features.mean is None:
        return X
    return (X * features.scale + features.mean).astype(np.float32)


def held_out_unit(config: Config, subject: int, run_dir: RunDir,
                  latent_reference: Callable[[str], tuple[Any, Any]]) -> None:
    """Fit and score the leave-one-subject-out decoders of one held-out subject.

    Parameters
    ----------
    config : Config
    subject : int
        The held-out subject.
    run_dir : RunDir
    latent_reference : callable
        ``latent_reference(space) -> (train_mean, train_std)``: how the evaluate
        stage standardises latents before comparing them (same scores here).
    """
    subjects = run_subjects(config, run_dir)
    check_subjects(subjects)
    h = subjects.index(subject)
    train, test = zip(*(load_eeg_features(run_dir.unit_dir("features", s) / "eeg.npz")
                        for s in subjects))
    _check_axes(subjects, train)
    train_X = [unscaled(t) for t in train]
    pictures = [np.asarray(t.image_index) for t in train]
    _, groups = np.unique(np.asarray(open_run_dataset(config).images().concepts["train"]),
                          return_inverse=True)
    spaces = list(config.latents.spaces)
    targets = {}
    for space in spaces:
        table = np.load(run_dir.unit_dir("features", None, space) / "train.npy")
        targets[space] = table.reshape(len(table), -1)
    decoder = config.decoder
    backend = {} if config.device == "cpu" else {"backend": "torch", "device": config.device}
    settings = config.evaluation
    trials = subject_trials(config, run_dir, subject, zscored=False) \
        if settings.noise_ceilings else None
    test_X = unscaled(test[h])
    test_images = [str(p) for p in subject_rows(run_image_paths(config, "test"), test[h])]
    stats = {"n_boot": config.metrics.n_boot, "n_perm": config.metrics.n_permutations,
             "seed": config.seed}
    out = run_dir.unit_dir("cross-subject", subject)
    rows = []
    for protocol in cross_subject_protocols(config):
        with warnings.catch_warnings():
            # Recorded in each decoder's metadata (alpha_grid_edge), as the fit stage does.
            warnings.simplefilter("ignore", AlphaGridEdgeWarning)
            fitted = fit_held_out(
                train_X, pictures, h, targets, groups, protocol=protocol,
                alignment=settings.cross_subject.alignment,
                alignment_space=settings.cross_subject.alignment_space,
                n_channels=len(train[h].ch_names),
                alphas=DEFAULT_ALPHAS if decoder.alphas is None else decoder.alphas,
                n_splits=decoder.n_splits, alpha_per_target=decoder.alpha_per_target, **backend)
        _save_feature_map(out / protocol / "feature_map.npz", fitted.feature_map)
        mapped_test = fitted.feature_map(test_X)
        for space in spaces:
            model = fitted.models[space]
            method = cross_subject_method(config, space, protocol)
            save_model(model, out / protocol / space / "decoder.safetensors",
                       ch_names=list(train[h].ch_names), times=train[h].times,
                       latent_space=space, held_out_subject=subject,
                       training_subjects=[s for s in subjects if s != subject],
                       protocol=method, alpha_grid_edge=model.alpha_grid_edge_)
            decoded = np.asarray(model.predict(mapped_test), dtype=np.float32)
            save_array(out / protocol / space / "decoded.npy", decoded)
            table = np.load(run_dir.unit_dir("features", None, space) / "test.npy")
            true = subject_rows(table.reshape(len(table), -1), test[h])
            train_mean, train_std = latent_reference(space)
            rows += evaluate_latents(*pool_by_image(decoded, true, test_images),
                                     subject=subject, method=method, similarities=("cosine",),
                                     train_mean=train_mean, train_std=train_std,
                                     protocol=config.metrics.protocol, **stats)
            if trials is not None:
                rows.append(decoder_ceiling_row(config, subject, method, model, trials,
                                                fitted.feature_map))
    save_table(rows, out / "metrics")


def _check_axes(subjects: list[int], train: tuple[EEGFeatures, ...]) -> None:
    for s, t in zip(subjects[1:], train[1:]):
        if t.ch_names != train[0].ch_names or not np.allclose(t.times, train[0].times):
            raise ChannelMismatchError(
                f"{subject_label(s)} has other channels or sample times than "
                f"{subject_label(subjects[0])}; leave-one-subject-out decoding needs the same "
                "features for every subject (select common channels with 'channels')")


def _save_feature_map(path: Any, feature_map: Any) -> None:
    alignment = feature_map.alignment
    save_npz(path, mean=feature_map.mean, scale=feature_map.scale,
             matrix=np.zeros((0, 0)) if alignment is None else alignment.matrix,
             method="none" if alignment is None else alignment.method,
             space="" if alignment is None else alignment.space,
             n_channels=0 if alignment is None else alignment.n_channels)
