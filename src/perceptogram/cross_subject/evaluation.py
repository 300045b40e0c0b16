"""Within-subject, across-subject and aligned across-subject decoding, side by side.

The field reports decoders under two protocols: *within* (train and test on one
subject) and *leave-one-subject-out* (train on the other subjects, test on one
never seen). :func:`evaluate_cross_subject` runs, for every subject ``h``:

- ``within``: :class:`~perceptogram.linear.ridge.RidgeCV` on ``h``'s training
  pictures (alpha per target by grouped cross-validation over concepts), tested
  on ``h``'s test pictures;
- ``across``: :class:`~perceptogram.linear.pooled.PooledRidgeCV` on the other
  subjects' training rows (folds group a concept's pictures across every
  subject), tested on ``h``'s test pictures;
- ``aligned``: the same after mapping every subject to a shared space
  (:class:`~perceptogram.linear.alignment.SharedSpace`) built from the other
  subjects' responses to the training pictures they all saw; ``h``'s own map
  is fitted on ``h``'s *training* responses only.

Every subject's features are averaged and windowed
(:func:`perceptogram.data.core.prepare.prepare`) and standardised with its own
training statistics (:class:`FeatureMap`: centred, aligned when aligning, then
scaled). Nothing of a held-out subject's test epochs enters any fit (tested).

Scores are the latent metrics of :func:`perceptogram.evaluate.suite.evaluate_latents`
(retrieval top-k, latent r and R², latent two-way identification, with
intervals and p-values) as :class:`~perceptogram.evaluate.tables.MetricRow`,
plus the noise ceilings of :mod:`perceptogram.evaluate.noise_ceiling`: the
latent-r ceiling of each decoder (reliability of its single-trial outputs over
split halves of the test repetitions) and the reliability of the test EEG.
:meth:`CrossSubjectResult.table` lays them out with mean ± SEM over subjects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from perceptogram._progress import track
from perceptogram.cross_subject.ceilings import (
    ceiling_row,
    decoder_ceiling,
    eeg_reliability,
    eeg_rows,
)
from perceptogram.cross_subject.trials import (
    average_trials,
    picture_index,
    trial_features,
)
from perceptogram.data.core.containers import EEGEpochs
from perceptogram.data.core.prepare import prepare
from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.evaluate.metrics import latent_statistics
from perceptogram.evaluate.noise_ceiling import SplitHalfReliability
from perceptogram.evaluate.suite import evaluate_latents
from perceptogram.evaluate.tables import (
    MetricRow,
    SubjectSummary,
    side_by_side,
    summarize_subjects,
)
from perceptogram.linear.alignment import AlignmentMap, SharedSpace
from perceptogram.linear.pooled import (
    MomentAccumulator,
    PooledRidgeCV,
    fold_of_pictures,
)
from perceptogram.linear.ridge import DEFAULT_ALPHAS, RidgeCV

#: The protocols, in table order.
PROTOCOLS = ("within", "across", "aligned")
#: Default alignment: the method and space that won on held-out simulated subjects
#: (see docs/cross-subject.md for the numbers).
DEFAULT_ALIGNMENT = "procrustes"
DEFAULT_ALIGNMENT_SPACE = "channels"


@dataclass(frozen=True)
class SubjectEpochs:
    """One subject's epochs for cross-subject evaluation.

    Attributes
    ----------
    subject : int or str
    train, test : EEGEpochs
        ``data`` of shape (n_images, n_repetitions, n_channels, n_times).
    test_counts : ndarray of int, shape (n_test_images,), or None
        Valid test repetitions per picture when they are uneven (the first
        ``test_counts[i]`` along the repetition axis); None: the test epochs'
        own ``repetition_counts`` when they carry them, else the repetitions
        whose values are all finite (NaN padding).
    """

    subject: int | str
    train: EEGEpochs
    test: EEGEpochs
    test_counts: np.ndarray | None = None

    @property
    def counts(self) -> np.ndarray | None:
        """Valid test repetitions per picture (see ``test_counts``), or None to infer."""
        if self.test_counts is not None:
            return np.asarray(self.test_counts)
        return getattr(self.test, "repetition_counts", None)


@dataclass(frozen=True)
class FeatureMap:
    """How one subject's averaged features reach a decoder: centre, align, scale.

    ``((X - mean) @ alignment) / scale`` (``alignment`` applied per time sample
    for channel maps; none within a subject and across without alignment). The
    mean and scale are the subject's own *training* statistics; with an
    alignment the scale is taken after it, so every subject enters the pooled
    decoder standardised in the shared space. Aligning centred rather than
    z-scored features keeps a channel map one map at every time sample (a
    per-feature scaling would differ between time samples).

    Attributes
    ----------
    mean : ndarray, shape (n_features,)
    scale : ndarray, shape (n_features,)
    alignment : AlignmentMap or None
    """

    mean: np.ndarray
    scale: np.ndarray
    alignment: AlignmentMap | None = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Map raw averaged (or single-trial) features, shape (n, n_features)."""
        centred = np.asarray(X, dtype=np.float32) - self.mean
        if self.alignment is not None:
            centred = self.alignment.transform(centred)
        return (centred / self.scale).astype(np.float32, copy=False)

    @classmethod
    def fit(cls, X: np.ndarray, alignment: AlignmentMap | None = None) -> FeatureMap:
        """Statistics from a subject's training features ``X`` (n_pictures, n_features)."""
        X = np.asarray(X, dtype=np.float64)
        mean = X.mean(axis=0)
        centred = X - mean
        if alignment is not None:
            centred = alignment.transform(centred)
        scale = centred.std(axis=0)
        scale[scale == 0] = 1.0
        return cls(mean.astype(np.float32), scale.astype(np.float32), alignment)


@dataclass
class CrossSubjectResult:
    """Scores of every protocol for every subject, with noise ceilings.

    Attributes
    ----------
    rows : list of MetricRow
        One per subject x method x metric; methods are named by
        :func:`method_name`; metric ``"latent r ceiling"`` holds each decoder's
        ceiling and method ``"test EEG"`` the reliability of the test data.
    summary : list of SubjectSummary
        Mean ± SEM over subjects of every (method, metric).
    eeg_reliability : dict
        Subject -> :class:`SplitHalfReliability` of its test EEG, per channel x
        time sample (the whole epoch of the selected channels).
    ch_names : tuple of str
    times : ndarray, shape (n_times,)
        Axes of ``eeg_reliability``.
    alignment, alignment_space : str
    models : dict
        ``(protocol, subject) -> fitted decoder`` when ``keep_models``.
    maps : dict
        ``subject -> FeatureMap`` of each held-out subject in the aligned
        protocol when ``keep_models``.
    """

    rows: list[MetricRow]
    summary: list[SubjectSummary]
    eeg_reliability: dict[Any, SplitHalfReliability]
    ch_names: tuple[str, ...]
    times: np.ndarray
    alignment: str
    alignment_space: str
    models: dict[tuple[str, Any], Any] = field(default_factory=dict)
    maps: dict[Any, FeatureMap] = field(default_factory=dict)

    def table(self, metrics: Sequence[str] = ("top-1 (cosine)", "top-5 (cosine)",
                                              "latent two-way", "latent r")
              ) -> list[dict[str, Any]]:
        """Within, across and aligned side by side, each beside its ceiling: one record per metric.

        Parameters
        ----------
        metrics : sequence of str

        Returns
        -------
        list of dict
            :func:`perceptogram.evaluate.tables.side_by_side` records, one column
            set per method present (``<method>``, ``<method> SEM``,
            ``<method> ceiling``, ...), with ``chance`` and ``n_subjects``.
        """
        methods = [s.method for s in self.summary if s.method != "test EEG"]
        return side_by_side(self.rows, {m: m for m in dict.fromkeys(methods)}, metrics)


def method_name(protocol: str, alignment: str = DEFAULT_ALIGNMENT,
                space: str = DEFAULT_ALIGNMENT_SPACE) -> str:
    """Name of a protocol's rows: ``"within-subject"``, ``"across-subject"``, ...

    Parameters
    ----------
    protocol : {"within", "across", "aligned"}
    alignment, space : str
        Of the aligned protocol.

    Returns
    -------
    str
    """
    if protocol == "within":
        return "within-subject"
    if protocol == "across":
        return "across-subject (no alignment)"
    if protocol == "aligned":
        return f"across-subject ({alignment} on {space})"
    raise DataFormatError(f"protocol must be one of {PROTOCOLS}; got {protocol!r}")



@dataclass
class HeldOutFit:
    """Decoders of one held-out subject, fitted on the other subjects only.

    Attributes
    ----------
    protocol : {"across", "aligned"}
    models : dict of str to PooledRidgeCV
        One pooled decoder per target set (e.g. per latent space), all from one
        accumulation of the training subjects' rows.
    feature_map : FeatureMap
        How the held-out subject's features reach the decoders: its own
        training mean and scale (and, aligned, its map fitted on its own
        training responses).
    training_maps : list of FeatureMap
        The training subjects' maps, in the order given.
    """

    protocol: str
    models: dict[str, PooledRidgeCV]
    feature_map: FeatureMap
    training_maps: list[FeatureMap]


def fit_held_out(
    train_X: Sequence[np.ndarray],
    pictures: Sequence[np.ndarray],
    held_out: int,
    targets: Mapping[str, np.ndarray],
    groups: np.ndarray,
    *,
    protocol: str = "aligned",
    alignment: str = DEFAULT_ALIGNMENT,
    alignment_space: str = DEFAULT_ALIGNMENT_SPACE,
    n_channels: int = 1,
    alphas: Any = DEFAULT_ALPHAS,
    n_splits: int = 5,
    alpha_per_target: bool = True,
    backend: str = "numpy",
    device: str | None = None,
) -> HeldOutFit:
    """Fit the leave-one-subject-out decoders of one held-out subject.

    Every other subject's training rows are mapped (z-scored with its own
    training statistics; ``"aligned"``: centred, mapped to the shared space
    built from the other subjects' responses to the pictures they all saw,
    then scaled) and streamed once into the pooled moments; one
    :class:`~perceptogram.linear.pooled.PooledRidgeCV` per target set is fitted
    from them (folds group a concept's pictures across subjects). The held-out
    subject contributes its *training* features only, to its own feature map.

    Parameters
    ----------
    train_X : sequence of ndarray, shape (n_rows_s, n_channels * n_times)
        Every subject's repetition-averaged training features, unscaled.
    pictures : sequence of ndarray of int, shape (n_rows_s,)
        Picture (row of the targets) of every training row of each subject.
    held_out : int
        Position of the held-out subject in ``train_X``.
    targets : mapping of str to ndarray, shape (n_pictures, n_targets)
        Target sets (latents of every training picture), fitted from the same
        moments.
    groups : ndarray, shape (n_pictures,)
        Group (concept) of every picture, for the folds and the alignment's
        cross-validation.
    protocol : {"across", "aligned"}
    alignment, alignment_space
        Map of the aligned protocol (:class:`~perceptogram.linear.alignment.SharedSpace`).
    n_channels : int
        Channels of the channel-major features.
    alphas, n_splits, alpha_per_target, backend, device
        Of every pooled decoder.

    Returns
    -------
    HeldOutFit
    """
    if protocol not in ("across", "aligned"):
        raise DataFormatError(f"a held-out fit is 'across' or 'aligned'; got {protocol!r}")
    others = [k for k in range(len(train_X)) if k != held_out]
    if not others:
        raise DataFormatError("across-subject decoding needs at least 2 subjects")
    own = FeatureMap.fit(train_X[held_out])
    if protocol == "across" or alignment == "none":
        maps = [FeatureMap.fit(train_X[k]) for k in others]
        feature_map = own
    else:
        space = SharedSpace(alignment, alignment_space, n_channels=n_channels).fit(
            [train_X[k] - FeatureMap.fit(train_X[k]).mean for k in others],
            [pictures[k] for k in others], groups=groups)
        maps = [FeatureMap.fit(train_X[k], m) for m, k in zip(space.maps_, others)]
        feature_map = FeatureMap.fit(train_X[held_out], space.map_subject(
            train_X[held_out] - own.mean, pictures[held_out]))
    accumulator = MomentAccumulator(np.shape(train_X[held_out])[1],
                                    fold_of_pictures(groups, n_splits))
    for m, k in zip(maps, others):
        accumulator.add(m(train_X[k]), pictures[k])
    models = {name: PooledRidgeCV(alphas, n_splits=n_splits, alpha_per_target=alpha_per_target,
                                  backend=backend, device=device).fit_moments(
                                      accumulator.moments, Y)
              for name, Y in targets.items()}
    return HeldOutFit(protocol, models, feature_map, maps)


def evaluate_cross_subject(
    subjects: Sequence[SubjectEpochs],
    train_latents: np.ndarray,
    test_latents: np.ndarray,
    *,
    train_files: Sequence[str] | None = None,
    test_files: Sequence[str] | None = None,
    protocols: Sequence[str] = PROTOCOLS,
    alignment: str = DEFAULT_ALIGNMENT,
    alignment_space: str = DEFAULT_ALIGNMENT_SPACE,
    tmin: float = 0.0,
    tmax: float = 0.8,
    channels: Sequence[str] | None = None,
    alphas: Any = DEFAULT_ALPHAS,
    n_splits: int = 5,
    standardize: bool = True,
    ceilings: bool = True,
    n_ceiling_splits: int = 100,
    n_boot: int = 1000,
    n_perm: int = 1000,
    seed: int = 0,
    keep_models: bool = False,
) -> CrossSubjectResult:
    """Decode every subject within, across and aligned across subjects; score all.

    Parameters
    ----------
    subjects : sequence of SubjectEpochs
        At least 2 for the across-subject protocols; all with the same channels
        and sample times after selection.
    train_latents : ndarray, shape (n_train_pictures, n_latent)
        Latent of every training picture, in the order of ``train_files``.
    test_latents : ndarray, shape (n_test_pictures, n_latent)
    train_files, test_files : sequence of str or None
        Image file of every latent row; default: the first subject's
        ``image_files`` (every subject's rows are matched by file name).
    protocols : sequence of {"within", "across", "aligned"}
    alignment : {"procrustes", "ridge", "none"}
        Map of the ``aligned`` protocol (:mod:`perceptogram.linear.alignment`).
    alignment_space : {"channels", "features"}
    tmin, tmax, channels
        Feature window and channels (:func:`~perceptogram.data.core.prepare.prepare`).
    alphas : sequence of float
        Candidate regularisations of every decoder.
    n_splits : int
        Grouped folds (by concept) of every decoder's cross-validation.
    standardize : bool
        Compare latents in training units (see ``evaluate_latents``).
    ceilings : bool
        Compute the latent-r ceilings and the test-EEG reliability.
    n_ceiling_splits : int
        Random split halves of the test repetitions.
    n_boot, n_perm, seed
        Of the metric intervals and tests.
    keep_models : bool
        Keep the fitted decoders and held-out alignment maps in the result.

    Returns
    -------
    CrossSubjectResult
    """
    protocols = tuple(protocols)
    for p in protocols:
        method_name(p)
    if len(subjects) < 2 and set(protocols) - {"within"}:
        raise DataFormatError("across-subject decoding needs at least 2 subjects")
    if len({str(s.subject) for s in subjects}) != len(subjects):
        raise DataFormatError("every subject must have its own identifier")
    train_latents = np.asarray(train_latents).reshape(len(train_latents), -1)
    test_latents = np.asarray(test_latents).reshape(len(test_latents), -1)
    train_files = tuple(subjects[0].train.image_files if train_files is None else train_files)
    test_files = tuple(subjects[0].test.image_files if test_files is None else test_files)
    for latents, files, what in ((train_latents, train_files, "training"),
                                 (test_latents, test_files, "test")):
        if len(latents) != len(files):
            raise DataFormatError(f"{len(latents)} {what} latents for {len(files)} pictures")
        if len(set(files)) != len(files):
            raise DataFormatError(f"the {what} picture list repeats a file")
    train_table = {f: i for i, f in enumerate(train_files)}
    test_table = {f: i for i, f in enumerate(test_files)}

    prepared = []
    for s in subjects:
        train_x, test_x = prepare(s.train, s.test, tmin=tmin, tmax=tmax, channels=channels,
                                  zscore=False)
        test_x = replace(test_x, X=average_trials(trial_features(s.test, test_x),
                                                  s.counts))
        prepared.append((train_x, test_x,
                         picture_index(s.train.image_files, train_table, "training"),
                         picture_index(s.test.image_files, test_table, "test")))
    first = prepared[0][0]
    for s, (train_x, *_rest) in zip(subjects, prepared):
        if train_x.ch_names != first.ch_names or not np.allclose(train_x.times, first.times):
            raise ChannelMismatchError(
                f"subject {s.subject} has other channels or sample times than subject "
                f"{subjects[0].subject}; select common channels and one window")
    concept_of = {}
    for s, (_, _, pics, _) in zip(subjects, prepared):
        for i, c in zip(pics, s.train.concepts):
            concept_of.setdefault(int(i), c)
    codes = {c: k for k, c in enumerate(dict.fromkeys(concept_of.values()))}
    groups = np.array([codes.get(concept_of.get(i), len(codes) + i)
                       for i in range(len(train_files))])
    mean, std = latent_statistics(train_latents) if standardize else (None, None)
    n_channels = len(first.ch_names)

    rows: list[MetricRow] = []
    reliability: dict[Any, SplitHalfReliability] = {}
    models: dict[tuple[str, Any], Any] = {}
    maps: dict[Any, FeatureMap] = {}
    units = [(p, h) for h in range(len(subjects)) for p in protocols]
    train_X = [train_x.X for train_x, *_ in prepared]
    train_pictures = [pics for _, _, pics, _ in prepared]
    for protocol, h in track(units, "cross-subject decoding"):
        s = subjects[h]
        train_x, test_x, train_pics, test_pics = prepared[h]
        if protocol == "within":
            feature_map = FeatureMap.fit(train_x.X)
            model = RidgeCV(alphas, cv="group", n_splits=n_splits).fit(
                feature_map(train_x.X), train_latents[train_pics], groups=groups[train_pics])
        else:
            fitted = fit_held_out(train_X, train_pictures, h, {"latents": train_latents},
                                  groups, protocol=protocol, alignment=alignment,
                                  alignment_space=alignment_space, n_channels=n_channels,
                                  alphas=alphas, n_splits=n_splits)
            model, feature_map = fitted.models["latents"], fitted.feature_map
        name = method_name(protocol, alignment, alignment_space)
        rows += evaluate_latents(model.predict(feature_map(test_x.X)), test_latents[test_pics],
                                 subject=s.subject, method=name, train_mean=mean,
                                 train_std=std, n_boot=n_boot, n_perm=n_perm, seed=seed)
        if ceilings:
            trials = trial_features(s.test, test_x)
            value, excluded = decoder_ceiling(model, trials, feature_map, s.counts,
                                              n_splits=n_ceiling_splits, seed=seed)
            rows.append(ceiling_row(s.subject, name, value, excluded, len(test_pics),
                                    n_ceiling_splits))
            if s.subject not in reliability:
                picks = [s.test.ch_names.index(c) for c in first.ch_names]
                reliability[s.subject] = eeg_reliability(
                    s.test.data[:, :, picks], counts=s.counts, n_splits=n_ceiling_splits,
                    seed=seed)
                window = np.isin(np.round(s.test.times, 9), np.round(first.times, 9))
                rows += eeg_rows(s.subject, reliability[s.subject], window, len(test_pics))
        if keep_models:
            models[(protocol, s.subject)] = model
            if protocol == "aligned":
                maps[s.subject] = feature_map
    return CrossSubjectResult(
        rows=rows, summary=summarize_subjects(rows), eeg_reliability=reliability,
        ch_names=first.ch_names, times=subjects[0].test.times.copy(), alignment=alignment,
        alignment_space=alignment_space, models=models, maps=maps)
