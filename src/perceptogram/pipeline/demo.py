"""``perceptogram demo``: the whole pipeline offline, on simulated or real EEG.

``--data simulated`` (default) simulates a THINGS-EEG2-style dataset with planted
ground truth, encodes the stimuli in the offline latent spaces (EfficientNet-Lite0,
pixel PCA, image attributes), fits ridge decoders with grouped cross-validation,
reconstructs by PCA decoding and retrieval, evaluates, draws perceptograms and
writes the report.

``--data p300`` runs the same pipeline on a real recording shipped with the package
(:mod:`perceptogram.examples`: 4-channel Muse EEG, rare cat pictures among dogs),
imported with ``perceptogram data import``'s code into ``out/imported/p300``. Only the
class (target / non-target) of each trial was logged, so each class's trials are
assigned to its 4 pictures in turn: decoding can tell targets from non-targets, not
one cat from another, and the pictures' brightness, texture and hue, random within a
class, are null controls beside the target − non-target map.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perceptogram.config import Config, make_config
from perceptogram.data.simulate.dataset import LABEL_TABLE
from perceptogram.examples import import_example
from perceptogram.pipeline.rundir import RunDir
from perceptogram.pipeline.runner import RunSummary, run_pipeline
from perceptogram.pipeline.stages import PIPELINE

__all__ = ["DEMO_SIZES", "DEMO_DATA", "demo_config", "p300_config", "prepare_demo_data",
           "run_demo", "DemoResult"]

#: What ``perceptogram demo --data`` runs on.
DEMO_DATA = ("simulated", "p300")

_OFFLINE = dict(spaces=["effnet", "pca", "attributes"], retrieval_space="effnet",
                networks=["effnet-lite0"], cv="group",
                times_ms=[float(t) for t in range(0, 600, 40)], formats=["png"],
                attributes=["hue", "texture", "brightness", "semantic"])

#: Simulation and model sizes of each demo size. "tiny" (the default test run) leaves
#: out the CNN so that it needs no torch and takes seconds; its decoder uses the
#: closed-form leave-one-out CV because grouped K-fold costs one decomposition per
#: fold, which dominates when there are fewer images than EEG features.
DEMO_SIZES: dict[str, dict] = {
    "tiny": dict(n_subjects=2, n_train_concepts=24, images_per_concept=4, n_test_concepts=12,
                 n_train_repetitions=2, n_test_repetitions=10, image_size=64,
                 pca_components=16, pca_size=16, n_boot=100, n_perm=100,
                 spaces=["pca", "attributes"], retrieval_space="pca", networks=[], cv="loo",
                 times_ms=[100.0, 200.0, 300.0], formats=["png"], attributes=["hue", "texture"]),
    "small": dict(n_subjects=2, n_train_concepts=80, images_per_concept=6, n_test_concepts=40,
                  n_train_repetitions=4, n_test_repetitions=20, image_size=64,
                  pca_components=48, pca_size=32, n_boot=500, n_perm=500, **_OFFLINE),
    "default": dict(n_subjects=3, n_train_concepts=200, images_per_concept=8,
                    n_test_concepts=100, n_train_repetitions=4, n_test_repetitions=40,
                    image_size=64, pca_components=100, pca_size=32, n_boot=1000, n_perm=1000,
                    **_OFFLINE),
}


def demo_config(out: str | Path, size: Literal["tiny", "small", "default"] = "default",
                jobs: int | None = None,
                data: Literal["simulated", "p300"] = "simulated") -> Config:
    """The configuration ``perceptogram demo`` runs.

    Parameters
    ----------
    out : path-like
        Run directory (the simulated dataset goes to ``out/data/things``, the
        imported real one to ``out/imported/p300``).
    size : {"tiny", "small", "default"}
        Size of the simulated demo (ignored for real data).
    jobs : int or None
        Parallel processes (None: memory-aware default).
    data : {"simulated", "p300"}
    """
    if data not in DEMO_DATA:
        raise ValueError(f"demo data must be one of {', '.join(DEMO_DATA)}, got {data!r}")
    if data == "p300":
        return p300_config(out, jobs)
    if size not in DEMO_SIZES:
        raise ValueError(f"demo size must be one of {sorted(DEMO_SIZES)}, got {size!r}")
    p = DEMO_SIZES[size]
    return make_config(
        dataset={"kind": "simulated", "simulation": {
            k: p[k] for k in ("n_subjects", "n_train_concepts", "images_per_concept",
                              "n_test_concepts", "n_train_repetitions", "n_test_repetitions",
                              "image_size")}},
        latents={"spaces": p["spaces"],
                 "options": {"pca": {"n_components": p["pca_components"],
                                     "image_size": p["pca_size"]}}},
        decoder={"cv": p["cv"], "n_splits": 5},
        reconstruction={"methods": ["pca", "retrieval"],
                        "retrieval_space": p["retrieval_space"]},
        metrics={"networks": p["networks"], "image_size": p["image_size"],
                 "n_boot": p["n_boot"], "n_permutations": p["n_perm"]},
        interpretability={"space": p["retrieval_space"], "times_ms": p["times_ms"],
                          "figure_formats": p["formats"], "attributes": p["attributes"],
                          **_planted_labels(out, p["attributes"])},
        output=str(out),
        jobs=jobs,
    )


def _planted_labels(out: str | Path, attributes: list[str]) -> dict:
    """The simulator's own label table of its planted classes (animate vs food), when
    the demo maps the semantic attribute: its pictures are silhouettes, which an
    ImageNet classifier does not label reliably."""
    if "semantic" not in attributes:
        return {}
    table = Path(out) / "data" / "things" / "ground_truth" / LABEL_TABLE
    return {"labels": str(table), "semantic_groups": ["animate", "food"]}


def p300_config(out: str | Path, jobs: int | None = None) -> Config:
    """The configuration of ``perceptogram demo --data p300`` (real EEG, shipped).

    The imported data live in ``out/imported/p300`` (:func:`prepare_demo_data` puts
    them there). Latents: pixel PCA of the 8 pictures and their attributes;
    maps: target − non-target (the ``labels.csv`` table) with brightness, texture
    and hue as covariates, partial effects, 1,000 permutations.
    """
    data = Path(out) / "imported" / "p300"
    return make_config(
        dataset={"kind": "mne", "path": str(data)},
        tmin=0.0, tmax=0.8,
        latents={"spaces": ["pca", "attributes"],
                 "options": {"pca": {"n_components": 7, "image_size": 32}}},
        decoder={"cv": "group", "n_splits": 4},
        reconstruction={"methods": ["pca", "retrieval"], "retrieval_space": "pca"},
        metrics={"networks": [], "image_size": 64, "n_boot": 500, "n_permutations": 500},
        interpretability={"space": "pca", "times_ms": [200.0, 300.0, 400.0, 500.0, 600.0],
                          "figure_formats": ["png"],
                          "attributes": ["semantic", "brightness", "texture", "hue"],
                          "labels": str(data / "labels.csv"), "semantic_groups": ["target"],
                          "n_permutations": 1000},
        output=str(out),
        jobs=jobs,
    )


def prepare_demo_data(config: Config, data: str) -> None:
    """Import the shipped recording a real-data demo runs on (a no-op when current).

    The run directory is claimed first (as ``perceptogram run`` does), so that the
    import never writes into a folder Perceptogram does not own.
    """
    if data == "p300":
        RunDir(config.output).claim()
        import_example("p300", config.data_root())


@dataclass
class DemoResult:
    """What the demo produced.

    Attributes
    ----------
    report : Path
        The HTML report.
    headline : list of str
        Three sentences: retrieval vs chance, PixCorr/SSIM, the strongest perceptogram.
    summary : RunSummary
        Units computed/skipped and wall seconds per stage.
    """

    report: Path
    headline: list[str]
    summary: RunSummary


def run_demo(out: str | Path, size: Literal["tiny", "small", "default"] = "default",
             jobs: int | None = None, force: tuple[str, ...] = (),
             data: Literal["simulated", "p300"] = "simulated") -> DemoResult:
    """Run the offline demo into ``out`` (resumes if ``out`` holds an earlier run).

    Parameters
    ----------
    out : path-like
    size : {"tiny", "small", "default"}
        Size of the simulated demo (``data="simulated"`` only).
    jobs : int or None
    force : tuple of str
        Stages to recompute.
    data : {"simulated", "p300"}
        Simulated EEG, or the shipped real recording.

    Returns
    -------
    DemoResult
    """
    config = demo_config(out, size, jobs, data)
    prepare_demo_data(config, data)
    summary = run_pipeline(config, PIPELINE, force=force)
    run_dir = RunDir(config.output)
    lines = json.loads((run_dir.unit_dir("report") / "headline.json").read_text("utf-8"))
    return DemoResult(report=run_dir.report_path, headline=lines, summary=summary)
