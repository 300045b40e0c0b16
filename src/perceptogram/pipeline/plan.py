"""What a run computes and where it is: stage names, subjects, methods per latent space,
the training reference of the latent metrics.

Read by the stages (:mod:`perceptogram.pipeline.stages`) and by the report
(:mod:`perceptogram.pipeline.reporting`), which therefore do not import each other.
Every reconstruction method is looked up in the one registry
(:func:`perceptogram.reconstruct.base.method_spec`): nothing here knows a method
by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from perceptogram.config import Config
from perceptogram.evaluate.metrics import latent_statistics
from perceptogram.errors import PerceptogramError
from perceptogram.pipeline.rundir import RunDir
from perceptogram.reconstruct.base import method_spec

__all__ = ["SEED_STRIDE", "STAGE_NAMES", "cross_subject_method", "cross_subject_protocols",
           "latent_method", "latent_reference", "method_seeds", "reconstruction_folder",
           "reconstruction_method", "reconstruction_spaces", "run_subjects", "seed_folders"]

#: Stage names in execution order (:data:`perceptogram.pipeline.stages.PIPELINE`).
STAGE_NAMES = ("data", "features", "fit", "predict", "reconstruct", "evaluate", "reliability",
               "repetitions", "cross-subject", "interpret", "report")

#: Seed offset between the generation seeds of ``metrics.n_seeds`` (image *i* of seed
#: *k* uses ``seed + k * SEED_STRIDE + i``, so no two images of two seeds share one).
SEED_STRIDE = 1_000_003


def reconstruction_spaces(config: Config) -> dict[str, list[str]]:
    """Latent space -> the reconstruction methods it drives."""
    out: dict[str, list[str]] = {}
    for method in config.reconstruction.methods:
        out.setdefault(config.reconstruction.method_space(method), []).append(method)
    return out


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


def seed_folders(folder: Path, n_seeds: int) -> list[Path]:
    """Where a seeded method's reconstructions go: ``folder`` itself for one seed, else
    ``folder/seed-0`` ... ``folder/seed-(n-1)`` (what the evaluate stage reads)."""
    return [folder] if n_seeds == 1 else [folder / f"seed-{k}" for k in range(n_seeds)]


def method_seeds(config: Config, method: str) -> int:
    """Generation seeds of a method: ``metrics.n_seeds``, or 1 for a deterministic one."""
    return 1 if method_spec(method).deterministic else config.metrics.n_seeds


def reconstruction_folder(config: Config, run_dir: RunDir, subject: int, space: str,
                          method: str) -> Path:
    """The folder of a method's reconstructions to show (the first seed's)."""
    folder = run_dir.unit_dir("reconstruct", subject, space) / method
    return seed_folders(folder, method_seeds(config, method))[0]


def latent_method(space: str) -> str:
    """Method name of decoded-latent rows in the metrics tables."""
    return f"ridge → {space} latents"


def reconstruction_method(config: Config, method: str) -> str:
    """Method name of reconstruction rows in the metrics tables."""
    return f"ridge → {method_spec(method).label} ({config.reconstruction.method_space(method)})"


def latent_reference(config: Config, run_dir: RunDir, space: str
                     ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Training-latent mean and SD the latent metrics compare latents with.

    As ``metrics.standardize_latents`` / ``metrics.center_latents`` ask: both, the
    mean only, or neither (``(None, None)``). Read by the evaluate stage and by the
    report's retrieval examples, so both rank in the same units.

    Returns
    -------
    mean, std : ndarray, shape (dim,), or None
    """
    if not (config.metrics.standardize_latents or config.metrics.center_latents):
        return None, None
    train = np.load(run_dir.unit_dir("features", None, space) / "train.npy", mmap_mode="r")
    mean, std = latent_statistics(train)
    return mean, (std if config.metrics.standardize_latents else None)


def cross_subject_protocols(config: Config) -> list[str]:
    """Leave-one-subject-out protocols of the run: ``across`` (no alignment) and, unless
    ``evaluation.cross_subject.alignment`` is ``none``, ``aligned``; none when it is off."""
    settings = config.evaluation.cross_subject
    if not settings.enabled:
        return []
    return ["across"] + (["aligned"] if settings.alignment != "none" else [])


def cross_subject_method(config: Config, space: str, protocol: str) -> str:
    """Method name of a leave-one-subject-out decoder's rows in the metrics tables.

    ``"ridge → effnet latents, leave-one-subject-out (no alignment)"`` or
    ``"... (procrustes on channels)"``; the within-subject rows are
    :func:`latent_method`'s.
    """
    settings = config.evaluation.cross_subject
    how = ("no alignment" if protocol == "across"
           else f"{settings.alignment} on {settings.alignment_space}")
    return f"{latent_method(space)}, leave-one-subject-out ({how})"
