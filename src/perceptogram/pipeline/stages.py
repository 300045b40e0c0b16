"""The stages of a run: plain functions of ``(config, subject, space, run_dir)``.

data -> features -> fit -> predict -> reconstruct -> evaluate -> reliability ->
repetitions -> cross-subject -> interpret -> report.
Each function reads its inputs from, and writes its outputs to, the run directory
(layout in :mod:`perceptogram.pipeline.artifacts`); the runner decides which
units are up to date. :data:`PIPELINE` ties them together.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._hashing import file_digest
from perceptogram._io import write_json_atomic
from perceptogram.config import Config, config_to_dict
from perceptogram.data.core.image_files import load_images
from perceptogram.data.core.prepare import prepare
from perceptogram.data.formats.base import DatasetNotFoundError, summarize
from perceptogram.data.simulate.dataset import LABEL_TABLE, simulate_dataset
from perceptogram.data.simulate.dataset import summarize as simulation_summary
from perceptogram.errors import MissingWeightsError, PerceptogramError
from perceptogram.evaluate import metrics as m
from perceptogram.evaluate.features import FeatureCache
from perceptogram.evaluate.protocols import get_protocol
from perceptogram.evaluate.suite import evaluate_latents, score_reconstructions
from perceptogram.evaluate.tables import save_table
from perceptogram.latents.base import LATENT_SPACES, capabilities, missing_requirements
from perceptogram.latents.cache import encode_cached
from perceptogram.linear.cv import decoder_folds
from perceptogram.linear.io import load_model, save_model
from perceptogram.linear.ridge import AlphaGridEdgeWarning, RidgeCV
from perceptogram.pipeline.across_subjects import check_subjects, held_out_unit
from perceptogram.pipeline.artifacts import (
    load_eeg_features,
    load_pngs,
    save_array,
    save_eeg_features,
    save_pngs,
    write_rows,
)
from perceptogram.pipeline.attribute_maps import interpret_subject
from perceptogram.pipeline.datasource import (
    open_run_dataset,
    pool_by_image,
    run_image_paths,
    subject_rows,
)
from perceptogram.pipeline.plan import (
    SEED_STRIDE,
    STAGE_NAMES,
    latent_method,
    latent_reference,
    method_seeds,
    reconstruction_method,
    reconstruction_spaces,
    run_subjects,
    seed_folders,
)
from perceptogram.pipeline.reliability import (
    eeg_reliability_unit,
    repetitions_unit,
    subject_trials,
)
from perceptogram.pipeline.reporting import build_report
from perceptogram.pipeline.rundir import RunDir, Unit
from perceptogram.pipeline.runner import Pipeline, Stage
from perceptogram.reconstruct.base import RunInputs, method_artifacts, method_spec

__all__ = ["PIPELINE", "STAGE_NAMES", "check_requirements", "run_subjects",
           "reconstruction_spaces"]

# The fit stage records AlphaGridEdgeWarning in each decoder's metadata
# (``alpha_grid_edge``); printed, it would repeat for every (subject, space) unit.
warnings.filterwarnings("ignore", category=AlphaGridEdgeWarning,
                        module=re.escape(__name__) + "$")

def check_requirements(config: Config, stages: list[str]) -> None:
    """Refuse, before anything runs, a run whose models are missing on this machine.

    Every latent space to encode (``features``) and every reconstruction method
    (``reconstruct``) is asked what it lacks for its options (weights in the local
    cache or folder, an optional extra); the first gap is one sentence naming what
    to download. A space or method whose results the run directory already holds,
    sealed with the same settings, is not asked: re-rendering a finished run needs
    no weights.

    Raises
    ------
    perceptogram.errors.MissingWeightsError
    """
    run_dir = RunDir(config.output)
    if "features" in stages:
        for space in config.latents.spaces:
            if not _sealed(config, run_dir, [Unit("features", None, space)], features_settings):
                _require(f"latent space {space!r}",
                         missing_requirements(space, config.latent_options(space)))
    if "reconstruct" in stages:
        subjects = config.subjects or [int(folder.name[4:]) for folder in sorted(
            run_dir.unit_dir("reconstruct").glob("sub-[0-9]*")) if folder.name[4:].isdigit()]
        for space, methods in reconstruction_spaces(config).items():
            units = [Unit("reconstruct", subject, space) for subject in subjects]
            if _sealed(config, run_dir, units, reconstruct_settings):
                continue
            for method in methods:
                _require(f"reconstruction method {method!r}", method_spec(method).missing(
                    config.reconstruction.method_options(method)))


def _sealed(config: Config, run_dir: RunDir, units: list[Unit], settings) -> bool:
    """Whether every unit was completed with the settings this configuration gives it."""
    manifests = [run_dir.read_manifest(unit) for unit in units]
    return bool(units) and all(
        manifest is not None
        and manifest.get("settings") == settings(config, unit.subject, unit.space)
        for unit, manifest in zip(units, manifests))


def _require(what: str, gap: str | None) -> None:
    if gap is not None:
        raise MissingWeightsError(f"the {what} cannot run on this machine: {gap}")


# --------------------------------------------------------------------------- data
def _dataset_signature(config: Config) -> list[list[Any]]:
    """(file, size, mtime_ns) of the dataset's EEG and metadata files ([] if none yet)."""
    try:
        files = open_run_dataset(config).files()
    except DatasetNotFoundError:
        return []
    root = config.data_root()
    return [[f.relative_to(root).as_posix() if f.is_relative_to(root) else str(f),
             f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]


def data_settings(config: Config, subject: int | None, space: str | None) -> dict[str, Any]:
    settings = config_to_dict(config)["dataset"]
    if config.dataset.kind != "simulated":
        settings["files"] = _dataset_signature(config)
    else:  # a simulation written before its label table existed is completed by a rerun
        settings["label_table"] = LABEL_TABLE
    return settings


def data_stage(config: Config, subject: int | None, space: str | None, run_dir: RunDir) -> None:
    """Simulate the dataset (``simulated``), then check and describe it (any format)."""
    root = config.data_root()
    out = run_dir.unit_dir("data")
    info: dict[str, Any] = {}
    if config.dataset.kind == "simulated":
        # SimulationConfig's fields are simulate_dataset's keyword arguments.
        simulate_dataset(root, **config.dataset.simulation.model_dump())
        info["simulation"] = simulation_summary(root)
    elif not root.is_dir():
        raise FileNotFoundError(
            f"dataset folder {root} does not exist; get it with: "
            f"perceptogram data download {root}"
        )
    dataset = open_run_dataset(config)
    summary = summarize(dataset)
    write_json_atomic(out / "dataset.json", {
        **info, "kind": config.dataset.kind, "format": dataset.kind, "summary": summary,
        "root": str(root), "subjects": [s["subject"] for s in summary["subjects"]],
        "notes": summary["notes"], "files": _dataset_signature(config),
    })


def memory_per_unit(config: Config, run_dir: RunDir) -> int:
    """Rough peak memory of one unit: a subject's EEG in float32, thrice, plus models.

    A cross-subject unit holds every subject's averaged training features (and the
    alignment their per-picture means in float64): with ``evaluation.cross_subject``
    on, about one subject's EEG in float32 per subject.
    """
    info = json.loads((run_dir.unit_dir("data") / "dataset.json").read_text(encoding="utf-8"))
    eeg = [size for name, size, _ in info["files"] if "sub-" in Path(name).name
           or "sub-" in Path(name).parent.name]
    per_subject = (max(eeg) if eeg else 0) // 2  # float64 on disk -> float32 in memory
    per_unit = 3 * per_subject
    if config.evaluation.cross_subject.enabled:
        per_unit = max(per_unit, len(info.get("subjects", [])) * per_subject)
    return per_unit + (1 << 30)


# ----------------------------------------------------------------------- features
def features_settings(config: Config, subject: int | None, space: str | None) -> dict[str, Any]:
    if subject is not None:
        return {"tmin": config.tmin, "tmax": config.tmax, "repetitions": config.repetitions,
                "channels": config.channels}
    return {"space": space, "options": config.latent_options(space),
            "batch_size": config.latents.batch_size}


def _latent_space(config: Config, name: str):
    """The latent space of the run, on ``config.device`` when its factory takes one."""
    options = config.latent_options(name)
    factory = LATENT_SPACES.get(name)
    if capabilities(factory).accepts_device and "device" not in options:
        options["device"] = config.device
    return factory(**options)


def _image_paths(config: Config, split: str) -> list[Path]:
    return run_image_paths(config, split)


def features_stage(config: Config, subject: int | None, space: str | None,
                   run_dir: RunDir) -> None:
    """EEG features of one subject, or stimulus latents of one latent space.

    A subject unit averages, windows and z-scores the EEG
    (:func:`perceptogram.data.core.prepare.prepare`). A latent-space unit fits the
    space on the training images when it needs fitting (pixel PCA/ICA), then
    encodes training and test images through the content-addressed feature cache.
    """
    if subject is not None:
        train, test = open_run_dataset(config).load_subject(subject)
        train_f, test_f = prepare(train, test, tmin=config.tmin, tmax=config.tmax,
                                  channels=config.channels, n_repetitions=config.repetitions)
        save_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz", train_f, test_f)
        return

    out = run_dir.unit_dir("features", None, space)
    latent_space = _latent_space(config, space)
    train_paths = _image_paths(config, "train")
    can = capabilities(latent_space)
    if can.fittable:
        latent_space.fit(list(dict.fromkeys(train_paths)))
    if can.fittable and can.persistable:
        latent_space.save(out / "space.safetensors")
    cache_dir = run_dir.root / "cache" / "latents"
    for split, paths in (("train", train_paths), ("test", _image_paths(config, "test"))):
        # pictures that show one image (groups of its epochs) share its latent
        unique = list(dict.fromkeys(paths))
        latents = encode_cached(latent_space, unique, cache_dir,
                                batch_size=config.latents.batch_size)
        row = {path: i for i, path in enumerate(unique)}
        save_array(out / f"{split}.npy",
                   np.asarray(latents, dtype=np.float32)[[row[p] for p in paths]])


def _load_latents(run_dir: RunDir, space: str, split: str) -> np.ndarray:
    return np.load(run_dir.unit_dir("features", None, space) / f"{split}.npy")


def _latent_offset(config: Config, run_dir: RunDir, space: str) -> np.ndarray | None:
    """Mean of the training latents when ``metrics.center_latents`` is on, else None."""
    if not config.metrics.center_latents:
        return None
    return _load_latents(run_dir, space, "train").mean(axis=0)


def _load_space(config: Config, run_dir: RunDir, space: str):
    """The latent space as the features stage left it (fitted and saved, if it was)."""
    latent_space = _latent_space(config, space)
    saved = run_dir.unit_dir("features", None, space) / "space.safetensors"
    if capabilities(latent_space).persistable and saved.is_file():
        latent_space = type(latent_space).load(saved)
    return latent_space


# ---------------------------------------------------------------------------- fit
def fit_settings(config: Config, subject: int | None, space: str | None) -> dict[str, Any]:
    return {"decoder": config_to_dict(config)["decoder"], "seed": config.seed,
            "spaces": list(config.latents.spaces)}


def fit_stage(config: Config, subject: int | None, space: str | None, run_dir: RunDir) -> None:
    """Fit the ridge decoders EEG -> each latent space of one subject.

    Alpha is chosen by cross-validation on training data only. The subject's EEG
    design is decomposed once for all its latent spaces (:meth:`RidgeCV.decompose`);
    each space's decoder lands in ``fit/sub-XX/<space>/``.
    """
    train, _ = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    dec = config.decoder
    backend = {} if config.device == "cpu" else {"backend": "torch", "device": config.device}
    cv, n_splits, groups, cv_note = dec.cv, dec.n_splits, None, None
    if dec.cv == "group":  # concepts, else images, else rows (fewer concepts than folds)
        folds = decoder_folds(train.concepts, train.image_files, dec.n_splits)
        cv, n_splits, groups, cv_note = folds.cv, folds.n_splits, folds.groups, folds.note

    def decoder() -> RidgeCV:
        return RidgeCV(alphas=dec.alphas, cv=cv, n_splits=n_splits,
                       alpha_per_target=dec.alpha_per_target, rescale=dec.rescale, **backend)

    basis = decoder().decompose(train.X, groups)
    for name in config.latents.spaces:
        Y = subject_rows(_load_latents(run_dir, name, "train"), train)
        # A grid-edge warning is recorded in the decoder's metadata instead of being
        # printed for every (subject, latent space) decoder (filter above).
        model = decoder().fit(train.X, Y, groups=groups, basis=basis)
        save_model(model, run_dir.unit_dir("fit", subject, name) / "decoder.safetensors",
                   ch_names=list(train.ch_names), times=train.times, latent_space=name,
                   feature_mean=train.mean, feature_scale=train.scale, subject=subject,
                   alpha_grid_edge=model.alpha_grid_edge_,
                   alpha_grid_extension=model.alpha_grid_extension_, alphas=model.alphas_,
                   cv_note=cv_note)


# ------------------------------------------------------------------------ predict
def no_settings(config: Config, subject: int | None, space: str | None) -> dict[str, Any]:
    return {}


def predict_stage(config: Config, subject: int | None, space: str | None,
                  run_dir: RunDir) -> None:
    """Decode the test EEG into latents with the fitted decoder."""
    _, test = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    model = load_model(run_dir.unit_dir("fit", subject, space) / "decoder.safetensors",
                       ch_names=test.ch_names, times=test.times)
    decoded = np.asarray(model.predict(test.X), dtype=np.float32)
    save_array(run_dir.unit_dir("predict", subject, space) / "decoded.npy", decoded)


# -------------------------------------------------------------------- reconstruct
def reconstruct_settings(config: Config, subject: int | None, space: str | None
                         ) -> dict[str, Any]:
    methods = reconstruction_spaces(config).get(space, [])
    settings: dict[str, Any] = {"methods": methods}
    if methods:  # the run's latent offset (metrics.center_latents) is offered to all
        settings["center_latents"] = config.metrics.center_latents
    for method in methods:
        settings[method] = config.reconstruction.method_options(method)
        if method_spec(method).deterministic:
            continue
        settings["device"] = config.device
        settings["n_seeds"] = config.metrics.n_seeds
        # Optional starts (e.g. the unclip-vae latent) are read from other spaces'
        # units, which the runner does not count among this unit's inputs: their
        # digests make them inputs.
        settings[f"{method}_inputs"] = {
            extra: RunDir(config.output).digest(Unit("predict", subject, extra))
            for extra in _optional_spaces(config, method)
        }
    return settings


def _optional_spaces(config: Config, method: str) -> list[str]:
    """The method's optional latent spaces that this run decodes too."""
    return [s for s in method_spec(method).optional_spaces if s in config.latents.spaces]


def _run_inputs(config: Config, run_dir: RunDir, space: str):
    """What the run offers a reconstruction method driven by ``space`` (read lazily)."""
    return RunInputs(
        space=space, device=config.device, memory=config.reconstruction.memory,
        train_latents=lambda name: _load_latents(run_dir, name, "train"),
        train_images=lambda: _image_paths(config, "train"),
        fitted_space=lambda name: _load_space(config, run_dir, name),
        latent_offset=lambda name: _latent_offset(config, run_dir, name),
    )


def reconstruct_stage(config: Config, subject: int | None, space: str | None,
                      run_dir: RunDir) -> None:
    """Turn decoded latents into images with every method this space drives.

    Each method is a registered :mod:`perceptogram.reconstruct.base` entry, e.g.
    ``pca`` (exact linear decoding through the fitted pixel space), ``retrieval``
    (the nearest training image) or a generator such as ``unclip`` (Stable unCLIP
    conditioned on the decoded embedding). A seeded method writes one folder per
    generation seed (``metrics.n_seeds``).
    """
    decoded = np.load(run_dir.unit_dir("predict", subject, space) / "decoded.npy")
    out = run_dir.unit_dir("reconstruct", subject, space)
    for method in reconstruction_spaces(config)[space]:
        spec = method_spec(method)
        latents = {space: decoded}
        for extra in _optional_spaces(config, method):
            latents[extra] = np.load(run_dir.unit_dir("predict", subject, extra) / "decoded.npy")
        options = config.reconstruction.method_options(method)
        seed = options.get("seed", 0)
        for k, folder in enumerate(seed_folders(out / method, method_seeds(config, method))):
            if not spec.deterministic:
                options["seed"] = seed + k * SEED_STRIDE
            built = spec.build(_run_inputs(config, run_dir, space), options)
            save_pngs(folder, built.generate(latents, image_ids=np.arange(len(decoded))))
            for name, array in method_artifacts(built).items():
                save_array(out / method / name, array)


# ----------------------------------------------------------------------- evaluate
def evaluate_settings(config: Config, subject: int | None, space: str | None
                      ) -> dict[str, Any]:
    return {"metrics": config_to_dict(config)["metrics"],
            "methods": reconstruction_spaces(config).get(space, [])}


def evaluate_stage(config: Config, subject: int | None, space: str | None,
                   run_dir: RunDir) -> None:
    """Score decoded latents (zero-shot retrieval) and the reconstructions they drive.

    Writes :class:`perceptogram.evaluate.tables.MetricRow` rows to
    ``metrics.{csv,json}``, the per-image score of every image metric to
    ``per_image.{csv,json}``
    (to pick best, median and worst reconstructions) and the five best-ranked
    test candidates of every image to ``ranks.npy``. Latents are compared in
    training units (``metrics.standardize_latents``); reconstructions under
    ``metrics.protocol``, averaged over ``metrics.n_seeds`` generation seeds.
    """
    out = run_dir.unit_dir("evaluate", subject, space)
    decoded = np.load(run_dir.unit_dir("predict", subject, space) / "decoded.npy")
    _, test = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    true = subject_rows(_load_latents(run_dir, space, "test"), test)
    stats = {"n_boot": config.metrics.n_boot, "n_perm": config.metrics.n_permutations,
             "seed": config.seed}
    protocol = config.metrics.protocol
    train_mean, train_std = latent_reference(config, run_dir, space)
    # rows that show one image (groups of its epochs) are compared as that image
    rows = list(evaluate_latents(*pool_by_image(decoded, true, subject_rows(
                                     _image_paths(config, "test"), test)),
                                 subject=subject, method=latent_method(space),
                                 similarities=("cosine",), train_mean=train_mean,
                                 train_std=train_std, protocol=protocol, **stats))
    scaled_decoded, scaled_true, _ = m.standardize_latents(decoded, true, train_mean, train_std)
    ranks = np.argsort(-m.similarity_matrix(scaled_decoded, scaled_true, metric="cosine"), axis=1)
    save_array(out / "ranks.npy", ranks[:, : min(5, len(true))])

    per_image: list[dict[str, Any]] = []
    methods = reconstruction_spaces(config).get(space, [])
    if methods:
        truth = load_images(subject_rows(_image_paths(config, "test"), test))
        size = config.metrics.image_size or get_protocol(protocol).pixel_size
        for method in methods:
            seeds = _load_reconstruction_seeds(
                run_dir.unit_dir("reconstruct", subject, space) / method,
                method_seeds(config, method))
            scores = score_reconstructions(
                seeds, truth, networks=config.metrics.networks, subject=subject,
                method=reconstruction_method(config, method), protocol=protocol,
                image_size=size, device=config.device, cache=_feature_cache(run_dir),
                **stats)
            rows += scores.rows
            per_image += [{"subject": subject, "method": method, "image": i,
                           **{name: float(values[i]) for name, values in scores.per_image.items()}}
                          for i in range(len(truth))]
    save_table(rows, out / "metrics")
    write_rows(out / "per_image", per_image)


def _feature_cache(run_dir: RunDir):
    """The run's store of evaluation-network features: the ground truths' features are
    computed once for every subject, space and method (content-addressed keys)."""
    return FeatureCache(run_dir.root / "cache" / "evaluate")


def _load_reconstruction_seeds(folder: Path, n_seeds: int) -> list[np.ndarray]:
    """One batch of reconstructions per generation seed.

    With one seed the PNGs sit in ``folder``; with ``n_seeds > 1`` the reconstruct
    stage writes them to ``folder/seed-0``, ``folder/seed-1``, ... (seeded methods only: a
    deterministic method writes one batch).
    """
    if n_seeds == 1:
        return [load_pngs(folder)]
    missing = [k for k in range(n_seeds) if not (folder / f"seed-{k}").is_dir()]
    if missing:
        raise PerceptogramError(
            f"metrics.n_seeds is {n_seeds} but {folder} has no seed-{missing[0]} folder; "
            "the reconstruct stage must write one folder of reconstructions per seed"
        )
    return [load_pngs(folder / f"seed-{k}") for k in range(n_seeds)]


# ------------------------------------------------- reliability, repetitions, cross-subject
def reliability_settings(config: Config, subject: int | None, space: str | None
                         ) -> dict[str, Any]:
    return {"channels": config.channels, "tmin": config.tmin, "tmax": config.tmax,
            "repetitions": config.repetitions, "seed": config.seed,
            "ceiling_splits": config.evaluation.ceiling_splits,
            "protocol": config.metrics.protocol,
            "figure_formats": config.interpretability.figure_formats}


def reliability_stage(config: Config, subject: int | None, space: str | None,
                      run_dir: RunDir) -> None:
    """Split-half reliability of one subject's test EEG over its repetitions, and its figure."""
    eeg_reliability_unit(config, subject, run_dir)


def repetitions_settings(config: Config, subject: int | None, space: str | None
                         ) -> dict[str, Any]:
    evaluation = config_to_dict(config)["evaluation"]
    evaluation.pop("cross_subject")
    return {"evaluation": evaluation, "repetitions": config.repetitions, "seed": config.seed,
            "n_boot": config.metrics.n_boot, "protocol": config.metrics.protocol,
            "encoder_alpha": config.interpretability.encoder_alpha,
            "figure_formats": config.interpretability.figure_formats}


def repetitions_stage(config: Config, subject: int | None, space: str | None,
                      run_dir: RunDir) -> None:
    """Each decoder's latent-r ceiling and its scores against the number of test repetitions.

    One unit per subject: its single test trials are prepared once for every latent
    space (``repetitions/sub-XX/<space>/``).
    """
    trials = subject_trials(config, run_dir, subject)
    for name in config.latents.spaces:
        repetitions_unit(config, subject, name, run_dir, trials)


def cross_subject_settings(config: Config, subject: int | None, space: str | None
                           ) -> dict[str, Any]:
    run_dir = RunDir(config.output)
    # The unit reads every other subject's features too (the runner counts only its own
    # subject's among its inputs): their digests make them inputs.
    training = {Unit("features", s).label: run_dir.digest(Unit("features", s))
                for s in run_subjects(config, run_dir) if s != subject}
    evaluation = config_to_dict(config)["evaluation"]
    return {"evaluation": evaluation, "decoder": config_to_dict(config)["decoder"],
            "metrics": config_to_dict(config)["metrics"], "repetitions": config.repetitions,
            "seed": config.seed, "device": config.device, "training_subjects": training}


def cross_subject_stage(config: Config, subject: int | None, space: str | None,
                        run_dir: RunDir) -> None:
    """Decode one subject with decoders fitted on the other subjects (and aligned to them)."""
    held_out_unit(config, subject, run_dir,
                  lambda name: latent_reference(config, run_dir, name))


# ---------------------------------------------------------------------- interpret
def interpret_settings(config: Config, subject: int | None, space: str | None
                       ) -> dict[str, Any]:
    tables = {key: file_digest(path) if path is not None and Path(path).is_file() else None
              for key, path in (("labels", config.interpretability.labels),
                                ("covariates", config.interpretability.covariates))}
    return {"interpretability": config_to_dict(config)["interpretability"],
            "seed": config.seed, "tables": tables}


def interpret_stage(config: Config, subject: int | None, space: str | None,
                    run_dir: RunDir) -> None:
    """Attribute maps of one subject, and probes of its decoder.

    Attributes of the test images are measured on their pixels (brightness,
    texture, hue) and labels (semantic: a user table, else the ImageNet
    classifier's super-category). By default every attribute's map is its
    partial effect, estimated jointly from the test EEG and, separately, from
    the perceptograms (decoded latents pushed through an encoding ridge),
    with Freedman-Lane cluster tests and peaks only inside significant
    clusters (:mod:`perceptogram.pipeline.attribute_maps`); figures are drawn by
    :mod:`perceptogram.pipeline.attribute_map_figures`. The fitted decoder is also
    probed: channel scrambling at test time, left/right mirroring and channel
    subsets (presumptive electrode preference), and decoding quality against
    window length and for sliding windows.
    """
    interpret_subject(config, subject, run_dir)


# ------------------------------------------------------------------------- report
def report_settings(config: Config, subject: int | None, space: str | None) -> dict[str, Any]:
    settings = config_to_dict(config)
    for key in ("jobs", "output"):  # a moved run directory stays up to date
        settings.pop(key)
    return settings


def report_stage(config: Config, subject: int | None, space: str | None,
                 run_dir: RunDir) -> None:
    """Collect every subject's tables and figures into ``report/report.html``."""
    build_report(config, run_dir)


def _encodes_stimuli(config: Config, subject: int | None, space: str | None) -> bool:
    """A features unit of a latent space runs its encoder (possibly a network)."""
    return subject is None and space is not None


def _runs_generator(config: Config, subject: int | None, space: str | None) -> bool:
    """A reconstruct unit runs a generator (a model) for any method not deterministic."""
    return any(not method_spec(m).deterministic
               for m in reconstruction_spaces(config).get(space, []))


def _run_unit(config: Config, subjects: list[int]) -> list[tuple[None, None]]:
    return [(None, None)]


def _features_units(config: Config, subjects: list[int]) -> list[tuple[Any, Any]]:
    return [(s, None) for s in subjects] + [(None, sp) for sp in config.latents.spaces]


def _subject_space_units(config: Config, subjects: list[int]) -> list[tuple[int, str]]:
    return [(s, sp) for s in subjects for sp in config.latents.spaces]


def _reconstruct_units(config: Config, subjects: list[int]) -> list[tuple[int, str]]:
    spaces = reconstruction_spaces(config)
    return [(s, sp) for s in subjects for sp in config.latents.spaces if sp in spaces]


def _subject_units(config: Config, subjects: list[int]) -> list[tuple[int, None]]:
    return [(s, None) for s in subjects]


def _reliability_units(config: Config, subjects: list[int]) -> list[tuple[int, None]]:
    return _subject_units(config, subjects) if config.evaluation.noise_ceilings else []


def _repetitions_units(config: Config, subjects: list[int]) -> list[tuple[int, str]]:
    wanted = config.evaluation.noise_ceilings or config.evaluation.repetition_curve
    return _subject_units(config, subjects) if wanted else []


def _cross_subject_units(config: Config, subjects: list[int]) -> list[tuple[int, None]]:
    if not config.evaluation.cross_subject.enabled:
        return []

    check_subjects(subjects)
    return _subject_units(config, subjects)


PIPELINE = Pipeline(
    stages=(
        Stage("data", data_stage, _run_unit, data_settings, parallel=False),
        Stage("features", features_stage, _features_units, features_settings,
              requires=("data",), uses_device=_encodes_stimuli),
        Stage("fit", fit_stage, _subject_units, fit_settings, requires=("features",),
              folder_per_space=True),
        Stage("predict", predict_stage, _subject_space_units, no_settings,
              requires=("features", "fit")),
        Stage("reconstruct", reconstruct_stage, _reconstruct_units, reconstruct_settings,
              requires=("features", "predict"), uses_device=_runs_generator),
        Stage("evaluate", evaluate_stage, _subject_space_units, evaluate_settings,
              requires=("features", "predict", "reconstruct"), cost=2.0),
        Stage("reliability", reliability_stage, _reliability_units, reliability_settings,
              requires=("data",)),
        Stage("repetitions", repetitions_stage, _repetitions_units, repetitions_settings,
              folder_per_space=True, requires=("data", "features", "fit"), cost=3.0),
        Stage("cross-subject", cross_subject_stage, _cross_subject_units,
              cross_subject_settings, requires=("data", "features"), cost=4.0),
        Stage("interpret", interpret_stage, _subject_units, interpret_settings,
              requires=("features", "fit", "predict"), cost=4.0),
        Stage("report", report_stage, _run_unit, report_settings,
              requires=("data", "evaluate", "reliability", "repetitions", "cross-subject",
                        "interpret"), parallel=False),
    ),
    subjects=run_subjects,
    memory_per_unit=memory_per_unit,
    preflight=check_requirements,
)

if tuple(PIPELINE.names) != STAGE_NAMES:  # pragma: no cover - a developer's slip
    raise RuntimeError(f"pipeline.plan.STAGE_NAMES must list {PIPELINE.names}")
