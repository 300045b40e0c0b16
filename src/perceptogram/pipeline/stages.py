"""The stages of a run: plain functions of ``(config, subject, space, run_dir)``.

data -> features -> fit -> predict -> reconstruct -> evaluate -> interpret -> report.
Each function reads its inputs from, and writes its outputs to, the run directory
(layout in :mod:`perceptogram.pipeline.artifacts`); the runner decides which
units are up to date. :data:`PIPELINE` ties them together.
"""

from __future__ import annotations

import inspect
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._io import write_json_atomic
from perceptogram.config import Config, config_to_dict
from perceptogram.errors import PerceptogramError
from perceptogram.linear.ridge import AlphaGridEdgeWarning
from perceptogram.pipeline.artifacts import (
    load_eeg_features,
    load_pngs,
    save_array,
    save_eeg_features,
    save_pngs,
    write_rows,
)
from perceptogram.pipeline.datasource import open_run_dataset, run_image_paths
from perceptogram.pipeline.rundir import RunDir, Unit
from perceptogram.pipeline.runner import Pipeline, Stage

__all__ = ["PIPELINE", "STAGE_NAMES", "run_subjects", "reconstruction_spaces"]

# The fit stage records AlphaGridEdgeWarning in each decoder's metadata
# (``alpha_grid_edge``); printed, it would repeat for every (subject, space) unit.
warnings.filterwarnings("ignore", category=AlphaGridEdgeWarning,
                        module=re.escape(__name__) + "$")

#: Reconstruction method -> the latent space whose decoded vectors drive it.
_METHOD_LABELS = {"pca": "pca decoding", "retrieval": "retrieval", "unclip": "unCLIP"}


def _method_space(config: Config, method: str) -> str:
    if method in ("pca", "retrieval"):
        return config.reconstruction.retrieval_space if method == "retrieval" else method
    from perceptogram.reconstruct.base import GENERATORS

    return GENERATORS.get(method).spaces[0]


def reconstruction_spaces(config: Config) -> dict[str, list[str]]:
    """Latent space -> the reconstruction methods it drives."""
    out: dict[str, list[str]] = {}
    for method in config.reconstruction.methods:
        out.setdefault(_method_space(config, method), []).append(method)
    return out


# --------------------------------------------------------------------------- data
def _dataset_signature(config: Config) -> list[list[Any]]:
    """(file, size, mtime_ns) of the dataset's EEG and metadata files ([] if none yet)."""
    from perceptogram.data.formats.base import DatasetNotFoundError

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
    return settings


def data_stage(config: Config, subject: int | None, space: str | None, run_dir: RunDir) -> None:
    """Simulate the dataset (``simulated``), then check and describe it (any format)."""
    from perceptogram.data.formats.base import summarize

    root = config.data_root()
    out = run_dir.unit_dir("data")
    info: dict[str, Any] = {}
    if config.dataset.kind == "simulated":
        from perceptogram.data.simulate.dataset import simulate_dataset
        from perceptogram.data.simulate.dataset import summarize as simulation_summary

        sim = config.dataset.simulation
        simulate_dataset(
            root, n_subjects=sim.n_subjects, n_train_concepts=sim.n_train_concepts,
            images_per_concept=sim.images_per_concept, n_test_concepts=sim.n_test_concepts,
            n_train_repetitions=sim.n_train_repetitions,
            n_test_repetitions=sim.n_test_repetitions, image_size=sim.image_size,
            seed=sim.seed,
        )
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


def run_subjects(config: Config, run_dir: RunDir) -> list[int]:
    """The run's subjects: ``config.subjects``, checked against the dataset, or all of them."""
    info = json.loads((run_dir.unit_dir("data") / "dataset.json").read_text(encoding="utf-8"))
    on_disk = info["subjects"]
    if not on_disk:
        raise PerceptogramError(f"no subject in {info['root']}")
    if config.subjects is None:
        return list(on_disk)
    missing = sorted(set(config.subjects) - set(on_disk))
    if missing:
        raise PerceptogramError(
            f"subjects {missing} are not in {info['root']} (it holds {on_disk})"
        )
    return list(config.subjects)


def memory_per_unit(config: Config, run_dir: RunDir) -> int:
    """Rough peak memory of one unit: a subject's EEG in float32, thrice, plus models."""
    info = json.loads((run_dir.unit_dir("data") / "dataset.json").read_text(encoding="utf-8"))
    eeg = [size for name, size, _ in info["files"] if "sub-" in Path(name).name
           or "sub-" in Path(name).parent.name]
    per_subject = (max(eeg) if eeg else 0) // 2  # float64 on disk -> float32 in memory
    return 3 * per_subject + (1 << 30)


# ----------------------------------------------------------------------- features
def features_settings(config: Config, subject: int | None, space: str | None) -> dict[str, Any]:
    if subject is not None:
        return {"tmin": config.tmin, "tmax": config.tmax, "repetitions": config.repetitions,
                "channels": config.channels}
    return {"space": space, "options": _latent_options(config, space),
            "batch_size": config.latents.batch_size}


def _latent_options(config: Config, name: str) -> dict[str, Any]:
    """Keyword arguments of a latent space: its options over the run's defaults.

    The unCLIP spaces default to the reconstruction's model (and, for
    ``unclip-vae``, its image size), so that the decoded latents are the ones
    that model reconstructs from.
    """
    unclip = config.reconstruction.unclip
    defaults: dict[str, Any] = {
        "unclip": {"model": unclip.model},
        "unclip-vae": {"model": unclip.model, "image_size": unclip.size},
    }.get(name, {})
    return {**defaults, **config.latents.options.get(name, {})}


def _latent_space(config: Config, name: str):
    from perceptogram.latents.base import get_latent_space

    options = _latent_options(config, name)
    space = get_latent_space(name, **options)
    if "device" in inspect.signature(type(space)).parameters and "device" not in options:
        space = get_latent_space(name, device=config.device, **options)
    return space


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
        from perceptogram.data.core.prepare import prepare

        train, test = open_run_dataset(config).load_subject(subject)
        train_f, test_f = prepare(train, test, tmin=config.tmin, tmax=config.tmax,
                                  channels=config.channels, n_repetitions=config.repetitions)
        save_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz", train_f, test_f)
        return
    from perceptogram.latents.cache import encode_cached

    out = run_dir.unit_dir("features", None, space)
    latent_space = _latent_space(config, space)
    train_paths = _image_paths(config, "train")
    if callable(getattr(latent_space, "fit", None)):
        latent_space.fit(train_paths)
        latent_space.save(out / "space.safetensors")
    cache_dir = run_dir.root / "cache" / "latents"
    for split, paths in (("train", train_paths), ("test", _image_paths(config, "test"))):
        latents = encode_cached(latent_space, paths, cache_dir,
                                batch_size=config.latents.batch_size)
        save_array(out / f"{split}.npy", np.asarray(latents, dtype=np.float32))


def _load_latents(run_dir: RunDir, space: str, split: str) -> np.ndarray:
    return np.load(run_dir.unit_dir("features", None, space) / f"{split}.npy")


def _retrieval_offset(config: Config, run_dir: RunDir, space: str) -> np.ndarray | None:
    """Mean of the training latents when ``metrics.center_latents`` is on, else None."""
    if not config.metrics.center_latents:
        return None
    return _load_latents(run_dir, space, "train").mean(axis=0)


def _load_space(config: Config, run_dir: RunDir, space: str):
    latent_space = _latent_space(config, space)
    saved = run_dir.unit_dir("features", None, space) / "space.safetensors"
    if saved.is_file():
        latent_space = type(latent_space).load(saved)
    return latent_space


# ---------------------------------------------------------------------------- fit
def fit_settings(config: Config, subject: int | None, space: str | None) -> dict[str, Any]:
    return {"decoder": config_to_dict(config)["decoder"], "seed": config.seed}


def fit_stage(config: Config, subject: int | None, space: str | None, run_dir: RunDir) -> None:
    """Fit the ridge decoder EEG -> latent, alpha chosen by CV on training data only."""
    from perceptogram.linear.io import save_model
    from perceptogram.linear.ridge import RidgeCV

    train, _ = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    Y = _load_latents(run_dir, space, "train")
    dec = config.decoder
    backend = {} if config.device == "cpu" else {"backend": "torch", "device": config.device}
    model = RidgeCV(alphas=dec.alphas, cv=dec.cv, n_splits=dec.n_splits,
                    alpha_per_target=dec.alpha_per_target, rescale=dec.rescale, **backend)
    _, groups = np.unique(np.asarray(train.concepts), return_inverse=True)
    # A grid-edge warning is recorded in the decoder's metadata instead of being
    # printed for every (subject, latent space) unit (filter above).
    model.fit(train.X, Y, groups=groups)
    grid_edge = model.alpha_grid_edge_
    save_model(model, run_dir.unit_dir("fit", subject, space) / "decoder.safetensors",
               ch_names=list(train.ch_names), times=train.times, latent_space=space,
               feature_mean=train.mean, feature_scale=train.scale, subject=subject,
               alpha_grid_edge=grid_edge)


# ------------------------------------------------------------------------ predict
def no_settings(config: Config, subject: int | None, space: str | None) -> dict[str, Any]:
    return {}


def predict_stage(config: Config, subject: int | None, space: str | None,
                  run_dir: RunDir) -> None:
    """Decode the test EEG into latents with the fitted decoder."""
    from perceptogram.linear.io import load_model

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
    if "retrieval" in methods:
        settings["center_latents"] = config.metrics.center_latents
    for method in methods:
        if method in ("pca", "retrieval"):
            continue
        settings[method] = config.reconstruction.generator_options(method)
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
    """The generator's optional latent spaces that this run decodes too."""
    from perceptogram.reconstruct.base import GENERATORS

    return [s for s in GENERATORS.get(method).optional_spaces if s in config.latents.spaces]


def reconstruct_stage(config: Config, subject: int | None, space: str | None,
                      run_dir: RunDir) -> None:
    """Turn decoded latents into images with every method this space drives.

    ``pca``: exact linear decoding through the fitted pixel space; ``retrieval``:
    the training image whose latent is nearest (cosine) to the decoded one; any
    other method is a registered generator (:mod:`perceptogram.reconstruct.base`),
    e.g. ``unclip``: Stable unCLIP conditioned on the decoded embedding.
    """
    decoded = np.load(run_dir.unit_dir("predict", subject, space) / "decoded.npy")
    out = run_dir.unit_dir("reconstruct", subject, space)
    for method in reconstruction_spaces(config)[space]:
        if method == "pca":
            from perceptogram.reconstruct.linear import decode_to_images

            images = decode_to_images(_load_space(config, run_dir, space), decoded)
        elif method == "retrieval":
            from perceptogram.data.core.image_files import load_images
            from perceptogram.reconstruct.retrieval import retrieve

            gallery = _load_latents(run_dir, space, "train")
            offset = _retrieval_offset(config, run_dir, space)
            centre = 0.0 if offset is None else offset
            nearest = retrieve(decoded - centre, gallery - centre, k=1)[:, 0]
            train_paths = _image_paths(config, "train")
            images = load_images([train_paths[i] for i in nearest])
            save_array(out / "retrieval" / "nearest_train.npy", nearest)
        else:
            for k, folder in enumerate(_seed_folders(out / method, config.metrics.n_seeds)):
                save_pngs(folder, _generated_images(config, subject, method, decoded, run_dir,
                                                    seed_offset=k * SEED_STRIDE))
            continue
        save_pngs(out / method, images)


#: Seed offset between the generation seeds of ``metrics.n_seeds`` (image *i* of seed
#: *k* uses ``seed + k * SEED_STRIDE + i``, so no two images of two seeds share one).
SEED_STRIDE = 1_000_003


def _seed_folders(folder: Path, n_seeds: int) -> list[Path]:
    """Where a generator's reconstructions go: ``folder`` itself for one seed, else
    ``folder/seed-0`` ... ``folder/seed-(n-1)`` (what the evaluate stage reads)."""
    return [folder] if n_seeds == 1 else [folder / f"seed-{k}" for k in range(n_seeds)]


def reconstruction_folder(config: Config, run_dir: RunDir, subject: int, space: str,
                          method: str) -> Path:
    """The folder of a method's reconstructions to show (the first seed's)."""
    folder = run_dir.unit_dir("reconstruct", subject, space) / method
    return folder if method in ("pca", "retrieval") else \
        _seed_folders(folder, config.metrics.n_seeds)[0]


def _generated_images(config: Config, subject: int | None, method: str, decoded: np.ndarray,
                      run_dir: RunDir, seed_offset: int = 0) -> np.ndarray:
    """Images of the registered generator ``method`` from the decoded latents of its
    space, plus those of its optional spaces that the run decodes (e.g. the
    ``unclip-vae`` latent as the img2img start of ``unclip``)."""
    from perceptogram.reconstruct.base import get_generator

    options = config.reconstruction.generator_options(method)
    options["seed"] = options.get("seed", 0) + seed_offset
    generator = get_generator(method, device=config.device, memory=config.reconstruction.memory,
                              **options)
    latents = {_method_space(config, method): decoded}
    for extra in _optional_spaces(config, method):
        latents[extra] = np.load(run_dir.unit_dir("predict", subject, extra) / "decoded.npy")
    return generator.generate(latents, image_ids=np.arange(len(decoded)))


# ----------------------------------------------------------------------- evaluate
def evaluate_settings(config: Config, subject: int | None, space: str | None
                      ) -> dict[str, Any]:
    return {"metrics": config_to_dict(config)["metrics"],
            "methods": reconstruction_spaces(config).get(space, [])}


def evaluate_stage(config: Config, subject: int | None, space: str | None,
                   run_dir: RunDir) -> None:
    """Score decoded latents (zero-shot retrieval) and the reconstructions they drive.

    Writes :class:`perceptogram.evaluate.tables.MetricRow` rows to
    ``metrics.{csv,json}``, per-image PixCorr/SSIM to ``per_image.{csv,json}``
    (to pick best, median and worst reconstructions) and the five best-ranked
    test candidates of every image to ``ranks.npy``. Latents are compared in
    training units (``metrics.standardize_latents``); reconstructions under
    ``metrics.protocol``, averaged over ``metrics.n_seeds`` generation seeds.
    """
    from perceptogram.evaluate import metrics as m
    from perceptogram.evaluate.protocols import get_protocol
    from perceptogram.evaluate.suite import (
        evaluate_latents,
        evaluate_reconstructions,
        pixel_scores,
    )
    from perceptogram.evaluate.tables import save_table

    out = run_dir.unit_dir("evaluate", subject, space)
    decoded = np.load(run_dir.unit_dir("predict", subject, space) / "decoded.npy")
    true = _load_latents(run_dir, space, "test")
    stats = {"n_boot": config.metrics.n_boot, "n_perm": config.metrics.n_permutations,
             "seed": config.seed}
    protocol = config.metrics.protocol
    train_mean, train_std = _latent_reference(config, run_dir, space)
    rows = list(evaluate_latents(decoded, true, subject=subject, method=latent_method(space),
                                 similarities=("cosine",), train_mean=train_mean,
                                 train_std=train_std, protocol=protocol, **stats))
    scaled_decoded, scaled_true, _ = m.standardize_latents(decoded, true, train_mean, train_std)
    ranks = np.argsort(-m.similarity_matrix(scaled_decoded, scaled_true, metric="cosine"), axis=1)
    save_array(out / "ranks.npy", ranks[:, : min(5, len(true))])

    per_image: list[dict[str, Any]] = []
    methods = reconstruction_spaces(config).get(space, [])
    if methods:
        from perceptogram.data.core.image_files import load_images

        truth = load_images(_image_paths(config, "test"))
        size = config.metrics.image_size or get_protocol(protocol).pixel_size
        for method in methods:
            seeds = _load_reconstruction_seeds(
                run_dir.unit_dir("reconstruct", subject, space) / method,
                1 if method in ("pca", "retrieval") else config.metrics.n_seeds)
            rows += evaluate_reconstructions(
                seeds, truth, networks=config.metrics.networks, subject=subject,
                method=reconstruction_method(config, method), protocol=protocol,
                image_size=size, device=config.device, cache=_feature_cache(run_dir), **stats)
            pix, ssim = pixel_scores(seeds, truth, size)
            per_image += [{"subject": subject, "method": method, "image": i,
                           "pixcorr": float(pix[i]), "ssim": float(ssim[i])}
                          for i in range(len(truth))]
    save_table(rows, out / "metrics")
    write_rows(out / "per_image", per_image)


def _feature_cache(run_dir: RunDir):
    """The run's store of evaluation-network features: the ground truths' features are
    computed once for every subject, space and method (content-addressed keys)."""
    from perceptogram.evaluate.features import FeatureCache

    return FeatureCache(run_dir.root / "cache" / "evaluate")


def _latent_reference(config: Config, run_dir: RunDir, space: str
                      ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Training-latent mean and SD for the latent metrics, as the metrics config asks."""
    from perceptogram.evaluate.metrics import latent_statistics

    if not (config.metrics.standardize_latents or config.metrics.center_latents):
        return None, None
    train = np.load(run_dir.unit_dir("features", None, space) / "train.npy", mmap_mode="r")
    mean, std = latent_statistics(train)
    return mean, (std if config.metrics.standardize_latents else None)


def _load_reconstruction_seeds(folder: Path, n_seeds: int) -> list[np.ndarray]:
    """One batch of reconstructions per generation seed.

    With one seed the PNGs sit in ``folder``; with ``n_seeds > 1`` the reconstruct
    stage writes them to ``folder/seed-0``, ``folder/seed-1``, ... (generators only: the
    offline ``pca`` and ``retrieval`` methods are deterministic, one batch).
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


def latent_method(space: str) -> str:
    """Method name of decoded-latent rows in the metrics tables."""
    return f"ridge → {space} latents"


def reconstruction_method(config: Config, method: str) -> str:
    """Method name of reconstruction rows in the metrics tables."""
    return f"ridge → {_METHOD_LABELS.get(method, method)} ({_method_space(config, method)})"


# ---------------------------------------------------------------------- interpret
def interpret_settings(config: Config, subject: int | None, space: str | None
                       ) -> dict[str, Any]:
    from perceptogram._hashing import file_digest

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
    from perceptogram.pipeline.attribute_maps import interpret_subject

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
    from perceptogram.pipeline.reporting import build_report

    build_report(config, run_dir)


def _encodes_stimuli(config: Config, subject: int | None, space: str | None) -> bool:
    """A features unit of a latent space runs its encoder (possibly a network)."""
    return subject is None and space is not None


def _runs_generator(config: Config, subject: int | None, space: str | None) -> bool:
    """A reconstruct unit runs a generator for any method but pca decoding and retrieval."""
    return any(m not in ("pca", "retrieval") for m in reconstruction_spaces(config).get(space, []))


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


PIPELINE = Pipeline(
    stages=(
        Stage("data", data_stage, _run_unit, data_settings, parallel=False),
        Stage("features", features_stage, _features_units, features_settings,
              requires=("data",), uses_device=_encodes_stimuli),
        Stage("fit", fit_stage, _subject_space_units, fit_settings, requires=("features",)),
        Stage("predict", predict_stage, _subject_space_units, no_settings,
              requires=("features", "fit")),
        Stage("reconstruct", reconstruct_stage, _reconstruct_units, reconstruct_settings,
              requires=("features", "predict"), uses_device=_runs_generator),
        Stage("evaluate", evaluate_stage, _subject_space_units, evaluate_settings,
              requires=("features", "predict", "reconstruct")),
        Stage("interpret", interpret_stage, _subject_units, interpret_settings,
              requires=("features", "fit", "predict")),
        Stage("report", report_stage, _run_unit, report_settings,
              requires=("data", "evaluate", "interpret"), parallel=False),
    ),
    subjects=run_subjects,
    memory_per_unit=memory_per_unit,
)

#: Stage names in execution order.
STAGE_NAMES = tuple(PIPELINE.names)
