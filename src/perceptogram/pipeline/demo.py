"""``perceptogram demo``: the whole pipeline offline on a simulated dataset.

Simulates a THINGS-EEG2-style dataset with planted ground truth, encodes the
stimuli in the offline latent spaces (EfficientNet-Lite0, pixel PCA, image
attributes), fits ridge decoders with grouped cross-validation, reconstructs by
PCA decoding and retrieval, evaluates, draws perceptograms and writes the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from perceptogram.config import Config, make_config
from perceptogram.pipeline.rundir import RunDir
from perceptogram.pipeline.runner import RunSummary, run_pipeline
from perceptogram.pipeline.stages import PIPELINE

__all__ = ["DEMO_SIZES", "demo_config", "run_demo", "DemoResult"]

_OFFLINE = dict(spaces=["effnet", "pca", "attributes"], retrieval_space="effnet",
                networks=["effnet-lite0"], cv="group",
                times_ms=[float(t) for t in range(0, 600, 20)], formats=["png", "svg"],
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
                jobs: int | None = None) -> Config:
    """The configuration ``perceptogram demo`` runs.

    Parameters
    ----------
    out : path-like
        Run directory (the simulated dataset goes to ``out/data/things``).
    size : {"tiny", "small", "default"}
    jobs : int or None
        Parallel processes (None: memory-aware default).
    """
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
                          "figure_formats": p["formats"], "attributes": p["attributes"]},
        output=str(out),
        jobs=jobs,
    )


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
             jobs: int | None = None, force: tuple[str, ...] = ()) -> DemoResult:
    """Run the offline demo into ``out`` (resumes if ``out`` holds an earlier run).

    Returns
    -------
    DemoResult
    """
    config = demo_config(out, size, jobs)
    summary = run_pipeline(config, PIPELINE, force=force)
    run_dir = RunDir(config.output)
    lines = json.loads((run_dir.unit_dir("report") / "headline.json").read_text("utf-8"))
    return DemoResult(report=run_dir.report_path, headline=lines, summary=summary)
