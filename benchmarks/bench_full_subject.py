"""Full-size rehearsal: one simulated subject at THINGS-EEG2 size through every offline stage.

One subject of 16,540 training images x 4 repetitions and 200 test images x 80
repetitions, 17 channels x 100 samples, with rendered JPEG stimuli, goes through
``data`` (simulation), ``features`` (EEG + the ``effnet``, ``pca`` and
``attributes`` latent spaces), ``fit``, ``predict``, ``reconstruct`` (pca
decoding, retrieval), ``evaluate``, ``interpret`` and ``report`` with the
demo's offline settings. Printed: wall time per stage, total, and the peak
resident memory of this process and of its worker processes
(``resource.getrusage``; ``ru_maxrss`` of the children is that of the largest
one, not a sum).

Scaling: the same stages on a reduced two-subject dataset, twice with one
process and twice with two (``jobs``; order 1, 2, 2, 1 so that a drifting load
on a shared machine cancels), gives the measured speed-up of the per-subject
stages; the projection for 10 subjects combines it with the full-size times
(see :func:`project`).

Usage::

    python benchmarks/bench_full_subject.py [--scale 1.0] [--skip-full] [--skip-scaling]
        [--speedup X] [--workdir DIR] [--scaling-concepts 300]

``--scale`` shrinks the number of training concepts (e.g. 0.25 for a quarter-size
rehearsal when time is short); the times printed are then those measured at that
size, and the output says so.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from perceptogram._progress import set_quiet
from perceptogram.config import make_config
from perceptogram.data.simulate.dataset import simulate_dataset
from perceptogram.pipeline.runner import run_pipeline
from perceptogram.pipeline.stages import PIPELINE

FULL = dict(n_train_concepts=1654, images_per_concept=10, n_test_concepts=200,
            n_train_repetitions=4, n_test_repetitions=80)
IMAGE_SIZE = 128
#: Stages whose units are per subject (they scale with the number of subjects).
PER_SUBJECT = ("fit", "predict", "reconstruct", "evaluate", "interpret")
#: Stages whose cost grows with the number of training images (reading and checking the
#: EEG, encoding images, fitting ridge models, the interpret stage's encoder); the others
#: work on the 200 test images and do not depend on it.
TRAIN_SIZED = ("data", "features", "fit", "interpret")


def extrapolate(units: dict[str, float], scale: float) -> dict[str, float]:
    """Unit seconds at full size from a run at ``scale``: the training-sized stages grow
    linearly with the number of training images, the others stay as measured (a linear
    model; the ridge and encoder costs that grow faster than n are small here)."""
    def grow(label: str) -> float:
        stage = label.split("[")[0]
        return 1.0 / scale if stage in TRAIN_SIZED else 1.0

    return {k: v * grow(k) for k, v in units.items()}


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident memory (MiB) of this process and of its largest child process.

    joblib's worker processes count once they have exited, so the reusable
    executor is shut down first.
    """
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kib / 1024, child_kib / 1024


def rehearsal_config(data_root: Path, out: Path, jobs: int | None):
    """The demo's offline settings on a THINGS-EEG2-layout folder."""
    return make_config(
        dataset={"kind": "things-eeg2", "path": str(data_root)},
        latents={"spaces": ["effnet", "pca", "attributes"],
                 "options": {"pca": {"n_components": 100, "image_size": 32}}},
        decoder={"cv": "group", "n_splits": 5},
        reconstruction={"methods": ["pca", "retrieval"], "retrieval_space": "effnet"},
        metrics={"networks": ["effnet-lite0"], "image_size": IMAGE_SIZE,
                 "n_boot": 1000, "n_permutations": 1000},
        interpretability={"space": "effnet", "figure_formats": ["png"]},
        output=str(out), jobs=jobs,
    )


def run_once(data_root: Path, out: Path, jobs: int | None) -> tuple[dict, dict]:
    """Wall seconds per stage and per unit of one run into a fresh ``out``."""
    config = rehearsal_config(data_root, out, jobs)
    summary = run_pipeline(config, PIPELINE)
    units = json.loads((out / "timings.json").read_text(encoding="utf-8"))["units_s"]
    return dict(summary.stage_seconds), units


def simulate(root: Path, n_subjects: int, n_train_concepts: int) -> float:
    start = time.perf_counter()
    simulate_dataset(root, n_subjects=n_subjects, image_size=IMAGE_SIZE, seed=0,
                     **{**FULL, "n_train_concepts": n_train_concepts})
    return time.perf_counter() - start


def print_stages(title: str, seconds: dict[str, float]) -> None:
    print(f"\n{title}")
    for stage, value in seconds.items():
        print(f"  {stage:<12} {value:9.1f} s")
    print(f"  {'total':<12} {sum(seconds.values()):9.1f} s")


def split_units(units: dict[str, float], stages: dict[str, float]) -> tuple[float, float]:
    """Seconds of one subject's units, and wall seconds of the shared work.

    A subject's units are ``stage[sub-01...]`` and ``data`` (which reads and checks
    every subject of a real dataset). The shared work is the image latents and the
    report; the latent spaces run in parallel, so the ``features`` stage's wall time
    (less the subject's EEG features) counts, not the sum of its units.
    """
    per_subject = sum(v for k, v in units.items() if "[sub-" in k or k == "data")
    eeg = sum(v for k, v in units.items() if k.startswith("features[sub-"))
    shared = stages.get("features", 0.0) - eeg + stages.get("report", 0.0)
    return per_subject, max(shared, 0.0)


def project(per_subject: float, shared: float, speedup: float, n_subjects: int = 10,
            workers: tuple[int, ...] = (1, 2, 4, 10)) -> list[tuple[int, float]]:
    """Projected wall seconds for ``n_subjects`` subjects.

    Shared work (the image latents, the report) is paid once; a subject's units
    (checking its files, EEG features, fit, predict, reconstruct, evaluate,
    interpret) are paid per subject. Locally, the measured 1 -> 2 process
    ``speedup`` of the per-subject stages applies (entry 0). On a cluster of ``w``
    workers with two cores each, subjects run ``w`` at a time: ``ceil(n / w)``
    rounds of one subject, which assumes the shared file system keeps up.
    """
    out = [(0, shared + n_subjects * per_subject / speedup)]
    for w in workers:
        rounds = -(-n_subjects // min(w, n_subjects))
        out.append((w, shared + rounds * per_subject))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="Fraction of the 1,654 training concepts (1.0: full size).")
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--scaling-concepts", type=int, default=300,
                        help="Training concepts of the 2-subject scaling run.")
    parser.add_argument("--speedup", type=float, default=1.0,
                        help="1 -> 2 process speed-up for the projection when the scaling "
                        "run is skipped (e.g. measured by an earlier --skip-full run).")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="Where to write data and runs (default: a temporary folder).")
    args = parser.parse_args()
    set_quiet(True)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="perceptogram-rehearsal-"))
    print(f"work folder: {workdir}")
    full_units: dict[str, float] = {}
    full_stages: dict[str, float] = {}
    if not args.skip_full:
        n_concepts = max(2, round(FULL["n_train_concepts"] * args.scale))
        print(f"one subject: {n_concepts} x {FULL['images_per_concept']} training images "
              f"x {FULL['n_train_repetitions']} repetitions, {FULL['n_test_concepts']} test "
              f"x {FULL['n_test_repetitions']}, 17 channels x 100 samples, "
              f"{IMAGE_SIZE}-px images" + ("" if args.scale == 1.0 else
                                            f" (scale {args.scale}: NOT full size)"))
        sim = simulate(workdir / "full-data", 1, n_concepts)
        full_stages, full_units = run_once(workdir / "full-data", workdir / "full-run", None)
        print_stages("per stage, full rehearsal", {"simulate": sim, **full_stages})
        print("  slowest units: " + ", ".join(
            f"{k} {v:.0f} s" for k, v in sorted(full_units.items(), key=lambda kv: -kv[1])[:6]))
        own, child = peak_rss_mib()
        print(f"  peak RSS: this process {own:,.0f} MiB, largest worker {child:,.0f} MiB")
        if args.scale != 1.0:
            full_units = extrapolate(full_units, n_concepts / FULL["n_train_concepts"])
            full_stages = extrapolate(full_stages, n_concepts / FULL["n_train_concepts"])
            print(f"  extrapolated to full size (training-sized stages x "
                  f"{FULL['n_train_concepts'] / n_concepts:.2f}): one subject's units sum to "
                  f"{sum(full_units.values()) / 60:.1f} min")
    speedup = args.speedup
    if not args.skip_scaling:
        # Order 1, 2, 2, 1 processes (each into a fresh run directory) so that a load that
        # drifts linearly on a shared machine cancels out of the two means.
        data = workdir / "scaling-data"
        simulate(data, 2, args.scaling_concepts)
        per_subject: dict[int, list[float]] = {1: [], 2: []}
        for k, jobs in enumerate((1, 2, 2, 1)):
            stages, _ = run_once(data, workdir / f"scaling-{k}-{jobs}", jobs)
            per_subject[jobs].append(sum(stages.get(s, 0.0) for s in PER_SUBJECT))
            print_stages(f"2 subjects, {args.scaling_concepts} concepts, {jobs} process(es), "
                         f"run {k + 1} of 4", stages)
        t1, t2 = (sum(per_subject[j]) / 2 for j in (1, 2))
        speedup = t1 / t2 if t2 > 0 else 1.0
        print(f"  per-subject stages, mean of two runs each: {t1:.1f} s with 1 process "
              f"({per_subject[1][0]:.1f}, {per_subject[1][1]:.1f}), {t2:.1f} s with 2 "
              f"({per_subject[2][0]:.1f}, {per_subject[2][1]:.1f}): speed-up {speedup:.2f}x")
    if full_units:
        per_subject, shared = split_units(full_units, full_stages)
        print(f"\nprojection for 10 subjects: one subject's units {per_subject / 60:.1f} min, "
              f"shared units {shared / 60:.1f} min (unit wall times of the full rehearsal)")
        for workers, seconds in project(per_subject, shared, speedup):
            where = (f"this machine, 2 processes ({speedup:.2f}x)" if workers == 0
                     else f"Dask cluster, {workers} worker(s)")
            print(f"  {where:<36} {seconds / 60:7.1f} min")


if __name__ == "__main__":
    main()
