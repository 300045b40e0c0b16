"""Noise ceilings and repetition curves of a run: the ``reliability`` and ``repetitions`` units.

- ``reliability`` (one unit per subject): split-half reliability of the subject's
  test EEG over its repetitions, per channel x time sample over the whole epoch
  (:func:`perceptogram.cross_subject.eeg_reliability`), summarised over the
  decoding window as rows of method ``"test EEG"``, and drawn over time.
- ``repetitions`` (one unit per subject x latent space): the within-subject
  decoder of the ``fit`` stage decodes every single test trial once; split
  halves of those trials give the decoder's latent-r ceiling (metric
  ``"latent r ceiling"`` beside its ``"latent r"``), and averages of 1, 2, 4,
  ... of them its repetition curve (retrieval, two-way, latent r and map r
  against the number of averaged repetitions, with bootstrap bands).

Single trials are read from the dataset and prepared exactly like the
``features`` stage's averages (channels, window, first ``repetitions``, the
training z-score), so that they average to the features the decoder was tested
on. Rows that show one image (groups of its epochs) are pooled into one picture,
as the evaluate stage pools them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from perceptogram.config import Config
from perceptogram.cross_subject import (
    ceiling_row,
    decoded_repetition_curve,
    decoder_ceiling,
    eeg_reliability,
    eeg_rows,
)
from perceptogram.cross_subject.trials import decode_trials, trial_features
from perceptogram.data.core.channels import resolve_channels
from perceptogram.data.core.containers import EEGFeatures
from perceptogram.data.core.prepare import time_mask
from perceptogram.errors import DataFormatError
from perceptogram.evaluate.tables import MetricRow, save_table
from perceptogram.linear.io import load_model
from perceptogram.linear.patterns import LatentEncoder
from perceptogram.pipeline.artifacts import load_eeg_features, save_npz, write_rows
from perceptogram.pipeline.datasource import (
    open_run_dataset,
    run_image_paths,
    subject_rows,
)
from perceptogram.pipeline.plan import latent_method
from perceptogram.pipeline.rundir import RunDir, subject_label
from perceptogram.viz.figure import pyplot, save_figure
from perceptogram.viz.reliability import plot_reliability_over_time, plot_repetition_curve

__all__ = [
    "MAX_CEILING_DIMS",
    "MAX_CURVE_DIMS",
    "SubjectTrials",
    "decoder_ceiling_row",
    "eeg_reliability_unit",
    "pool_trials",
    "repetitions_unit",
    "subject_trials",
]

#: Latent spaces with more dimensions get no repetition curve (every draw averages
#: all decoded trials: a 36,864-dimensional VAE latent would need gigabytes per draw).
MAX_CURVE_DIMS = 4096
#: Latent dimensions whose ceilings are averaged; larger spaces use a seeded random
#: subset of this many (an unbiased estimate of the mean ceiling, noted in the row).
MAX_CEILING_DIMS = 4096
#: Fewest test pictures with 2 or more repetitions a ceiling needs.
_MIN_PICTURES = 3


@dataclass(frozen=True)
class SubjectTrials:
    """One subject's single test trials, prepared like its averaged test features.

    Attributes
    ----------
    trials : ndarray, shape (n_pictures, n_repetitions, n_features), float32
        Z-scored with the training statistics when ``zscored`` (as the decoder's
        inputs), else in the data's units; NaN after each picture's count.
    counts : ndarray of int, shape (n_pictures,)
        Valid repetitions per picture.
    images : list of str
        The image (path) each picture shows.
    test : EEGFeatures
        The averaged test features of the ``features`` stage.
    """

    trials: np.ndarray
    counts: np.ndarray
    images: list[str]
    test: EEGFeatures


def subject_trials(config: Config, run_dir: RunDir, subject: int, *,
                   zscored: bool = True) -> SubjectTrials:
    """Single test trials of ``subject`` prepared like its ``features`` (and pooled by image).

    Parameters
    ----------
    config : Config
    run_dir : RunDir
    subject : int
    zscored : bool
        Apply the training z-score of the features (the inputs of the ``fit``
        stage's decoder); False keeps the data's units (the inputs of a
        cross-subject feature map).

    Returns
    -------
    SubjectTrials
    """
    _, test_x = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    _, test = open_run_dataset(config).load_subject(subject)
    if test.n_images != len(test_x.X) or not np.array_equal(test.image_index,
                                                            test_x.image_index):
        raise DataFormatError(
            f"{subject_label(subject)}'s test epochs no longer match its features; "
            "recompute them with --force features")
    counts = test.used_counts(config.repetitions)
    test = replace(test, data=test.data[:, :int(counts.max())],
                   repetition_counts=counts)
    like = test_x if zscored else replace(test_x, mean=None, scale=None)
    trials = trial_features(test, like)
    trials[np.arange(trials.shape[1])[None, :] >= counts[:, None]] = np.nan
    images = [str(p) for p in subject_rows(run_image_paths(config, "test"), test_x)]
    trials, counts, images = pool_trials(trials, counts, images)
    return SubjectTrials(trials, counts, images, test_x)


def pool_trials(trials: np.ndarray, counts: np.ndarray, images: list[str]
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Merge the rows that show one image into one picture with all their repetitions.

    Parameters
    ----------
    trials : ndarray, shape (n_rows, n_repetitions, n_features)
    counts : ndarray of int, shape (n_rows,)
    images : list of str, length n_rows

    Returns
    -------
    trials : ndarray, shape (n_images, max_repetitions, n_features)
        NaN after each image's count; the inputs themselves when every row shows
        its own image.
    counts : ndarray of int, shape (n_images,)
    images : list of str
        In order of first appearance (as ``pool_by_image`` orders them).
    """
    order = list(dict.fromkeys(images))
    if len(order) == len(images):
        return trials, counts, images
    rows = {image: [i for i, name in enumerate(images) if name == image] for image in order}
    pooled_counts = np.array([sum(int(counts[i]) for i in rows[image]) for image in order])
    pooled = np.full((len(order), int(pooled_counts.max()), trials.shape[2]), np.nan,
                     dtype=trials.dtype)
    for k, image in enumerate(order):
        pooled[k, :pooled_counts[k]] = np.concatenate([trials[i, :counts[i]]
                                                       for i in rows[image]])
    return pooled, pooled_counts, order


def _skipped(subject: int, method: str, metric: str, reason: str, n_images: int,
             protocol: str) -> Any:
    return MetricRow(subject=subject, method=method, metric=metric, value=float("nan"),
                     n_images=n_images, status=f"skipped: {reason}", protocol=protocol)


def _too_few_repetitions(counts: np.ndarray) -> str | None:
    usable = int(np.sum(counts >= 2))
    if usable >= _MIN_PICTURES:
        return None
    return (f"split halves need at least {_MIN_PICTURES} test pictures with 2 or more "
            f"repetitions; this subject has {usable}")


def decoder_ceiling_row(config: Config, subject: int, method: str, model: Any,
                        trials: SubjectTrials, transform: Any = None) -> Any:
    """The ``"latent r ceiling"`` row of a decoder on one subject's single test trials.

    Parameters
    ----------
    config : Config
    subject : int
    method : str
        The decoder's method name in the tables.
    model : fitted ridge decoder
    trials : SubjectTrials
        Prepared as the decoder's inputs (z-scored for the ``fit`` stage's
        decoders; in the data's units with ``transform`` a cross-subject map).
    transform : callable or None
        Affine map applied to the trials first.

    Returns
    -------
    MetricRow
        Skipped, with the reason, when too few pictures have 2 or more repetitions.
    """
    n_images = len(trials.images)
    protocol = config.metrics.protocol
    reason = _too_few_repetitions(trials.counts)
    if reason is not None:
        return _skipped(subject, method, "latent r ceiling", reason, n_images, protocol)
    n_dims = np.atleast_2d(model.coef_).shape[0]
    dims = None if n_dims <= MAX_CEILING_DIMS else np.sort(
        np.random.default_rng(config.seed).choice(n_dims, MAX_CEILING_DIMS, replace=False))
    splits = config.evaluation.ceiling_splits
    value, excluded = decoder_ceiling(model, trials.trials, transform, trials.counts,
                                      n_splits=splits, seed=config.seed, dims=dims)
    row = ceiling_row(subject, method, value, excluded, n_images, splits, protocol)
    if dims is not None:
        row = replace(row, notes=row.notes + f"; estimated from {MAX_CEILING_DIMS} of the "
                      f"{n_dims} dimensions, chosen at random")
    return row


# ---------------------------------------------------------------- reliability units
def eeg_reliability_unit(config: Config, subject: int, run_dir: RunDir) -> None:
    """Split-half reliability of one subject's test EEG: arrays, rows and a figure.

    Writes ``eeg_reliability.npz`` (``split_half``, ``all_vs_half``,
    ``spearman_brown``, ``ceiling`` of shape (n_channels, n_times) over the
    whole epoch, with ``ch_names``, ``times``, ``window``),
    ``metrics.{csv,json}`` (method ``"test EEG"``: median and largest
    Spearman-Brown reliability and median split-half r over the decoding
    window) and ``reliability.png`` (over time: median over channels, range,
    peak).
    """
    out = run_dir.unit_dir("reliability", subject)
    protocol = config.metrics.protocol
    _, test = open_run_dataset(config).load_subject(subject)
    picks = resolve_channels(test.ch_names, config.channels)
    counts = test.used_counts(config.repetitions)
    data = test.data[:, :int(counts.max())]
    if len(picks) != len(test.ch_names):
        data = data[:, :, picks]
    images = [str(p) for p in subject_rows(run_image_paths(config, "test"), test)]
    if len(set(images)) < len(images):  # rows that show one image: one picture
        shape = data.shape
        pooled, counts, images = pool_trials(
            np.where(np.arange(shape[1])[None, :, None, None] < counts[:, None, None, None],
                     data, np.nan).reshape(shape[0], shape[1], -1), counts, images)
        data = pooled.reshape(len(images), -1, *shape[2:])
    window = time_mask(test.times, config.tmin, config.tmax)
    reason = _too_few_repetitions(counts)
    if reason is not None:
        save_table([_skipped(subject, "test EEG", "EEG reliability (median)", reason,
                             len(images), protocol)], out / "metrics")
        return
    reliability = eeg_reliability(data, counts=counts, n_splits=config.evaluation.ceiling_splits,
                                  seed=config.seed)
    ch_names = [test.ch_names[i] for i in picks]
    save_npz(out / "eeg_reliability.npz", split_half=reliability.split_half,
             all_vs_half=reliability.all_vs_half, spearman_brown=reliability.spearman_brown,
             ceiling=reliability.ceiling, ch_names=np.array(ch_names), times=test.times,
             window=window, n_splits=reliability.n_splits, counts=counts)
    save_table(eeg_rows(subject, reliability, window, len(images), protocol), out / "metrics")
    _reliability_figure(config, subject, reliability, ch_names, test.times, out)


def _reliability_figure(config: Config, subject: int, reliability: Any, ch_names: list[str],
                        times: np.ndarray, out: Any) -> None:
    fig = plot_reliability_over_time(
        times, {"noise ceiling (sqrt of Spearman-Brown)": reliability.ceiling,
                "split-half r (lower bound)": reliability.split_half}, ch_names,
        title=(f"{subject_label(subject)} only: test-EEG reliability over "
               f"{reliability.min_repetitions}-{reliability.max_repetitions} repetitions "
               f"({reliability.n_splits} random split halves; band: range over channels)"))
    ax = fig.axes[0]
    ax.axvspan(config.tmin * 1000, config.tmax * 1000, color="0.9", zorder=0, lw=0)
    save_figure(fig, out / "reliability.png", formats=config.interpretability.figure_formats)
    pyplot().close(fig)


# ---------------------------------------------------------------- repetition units
def repetitions_unit(config: Config, subject: int, space: str, run_dir: RunDir,
                     trials: SubjectTrials | None = None) -> None:
    """Latent-r ceiling and repetition curve of one subject's decoder into ``space``.

    Writes ``metrics.{csv,json}`` (the ``"latent r ceiling"`` row of the
    within-subject decoder, when ``evaluation.noise_ceilings``) and, when
    ``evaluation.repetition_curve``, ``curve.{csv,json}`` (one record per score
    and number of repetitions: value, band, what the band covers) and
    ``curve.png``. ``trials``: the subject's :func:`subject_trials`, when prepared
    already (they do not depend on the space).
    """
    out = run_dir.unit_dir("repetitions", subject, space)
    settings = config.evaluation
    if trials is None:
        trials = subject_trials(config, run_dir, subject)
    model = load_model(run_dir.unit_dir("fit", subject, space) / "decoder.safetensors",
                       ch_names=trials.test.ch_names, times=trials.test.times)
    method = latent_method(space)
    n_images = len(trials.images)
    rows = [decoder_ceiling_row(config, subject, method, model, trials)] \
        if settings.noise_ceilings else []
    save_table(rows, out / "metrics")
    if not settings.repetition_curve or np.atleast_2d(model.coef_).shape[0] > MAX_CURVE_DIMS:
        return

    train_x, test_x = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    table = np.load(run_dir.unit_dir("features", None, space) / "train.npy")
    train_latents = table.reshape(len(table), -1)
    encoder = LatentEncoder(alpha=config.interpretability.encoder_alpha).fit(
        subject_rows(train_latents, train_x), train_x)
    true = _true_latents(config, run_dir, space, test_x, trials.images)
    curve = decoded_repetition_curve(
        decode_trials(model, trials.trials), true, train_latents, encoder,
        counts=trials.counts, n_draws=settings.repetition_draws, n_boot=config.metrics.n_boot,
        seed=config.seed)
    write_rows(out / "curve", [{"subject": subject, "space": space, **record}
                               for record in curve.records()])
    _curve_figure(config, subject, space, curve, n_images, out)


def _true_latents(config: Config, run_dir: RunDir, space: str, test_x: EEGFeatures,
                  images: list[str]) -> np.ndarray:
    """True test latent of every (pooled) picture, in ``images`` order."""
    table = np.load(run_dir.unit_dir("features", None, space) / "test.npy")
    rows = subject_rows(table.reshape(len(table), -1), test_x)
    paths = [str(p) for p in subject_rows(run_image_paths(config, "test"), test_x)]
    first = {}
    for i, path in enumerate(paths):
        first.setdefault(path, i)
    return rows[[first[image] for image in images]]


def _curve_figure(config: Config, subject: int, space: str, curve: Any, n_images: int,
                  out: Any) -> None:
    chance = {"top-1": min(1.0, 1 / n_images), "top-5": min(1.0, 5 / n_images),
              "latent two-way": 0.5, "latent r": 0.0}
    fig = plot_repetition_curve(
        curve.n_repetitions, curve.values, curve.low, curve.high, chance=chance,
        ylabel="score",
        title=(f"{subject_label(subject)} only, {space} latents: scores against averaged "
               f"test repetitions ({n_images}-way; bands: {int(curve.ci * 100)} % bootstrap)"))
    save_figure(fig, out / "curve.png", formats=config.interpretability.figure_formats)
    pyplot().close(fig)
