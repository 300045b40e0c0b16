"""Full-size rehearsal: simulated subjects at THINGS-EEG2 size through every offline stage.

Each subject has 16,540 training images x 4 repetitions and 200 test images x 80
repetitions, 17 channels x 100 samples; the subjects share one set of rendered JPEG
stimuli (``--image-size`` px, 128 by default: THINGS images are 500 px, see the
docs). The run goes through ``data``, ``features`` (EEG + the ``effnet``, ``pca``
and ``attributes`` latent spaces), ``fit``, ``predict``, ``reconstruct`` (pca
decoding, retrieval), ``evaluate``, ``interpret`` and ``report`` with the demo's
offline settings, read through the ``things-eeg2`` registry entry as a downloaded
dataset would be. ``--subjects 10`` is the real ten-subject run (no projection).

Printed, all measured in this process: wall time per stage and in total; the CPU
time of this process and of its worker processes (``getrusage``, the workers counted
once they have exited); cores busy ``(user + sys) / (wall x cores)`` and
``sys / user``; peak resident memory of this process and of the largest worker;
the pictures each latent space encoded (from the content-addressed feature cache's
manifests: once for all subjects) and a forced re-run of the features stage, which
reads every latent space back from the cache instead of encoding again. Each figure
is set beside the goal of issue 21 and the figure measured before it (idle machine,
``--skip-scaling`` run of the old script).

Usage::

    python benchmarks/bench_full_subject.py [--subjects 1] [--scale 1.0] [--image-size 128]
        [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from perceptogram._progress import set_quiet
from perceptogram._threads import usable_cpus
from perceptogram.config import make_config
from perceptogram.data.simulate.dataset import simulate_dataset
from perceptogram.pipeline.runner import run_pipeline
from perceptogram.pipeline.stages import PIPELINE

FULL = dict(n_train_concepts=1654, images_per_concept=10, n_test_concepts=200,
            n_train_repetitions=4, n_test_repetitions=80)
#: Goals of issue 21 (seconds) and the figures measured before it (idle 2-core machine).
GOAL_SECONDS = {1: 300.0, 10: 600.0}
BEFORE = {1: "1,041 s, user 666 s, sys 564 s, peak RSS 2,368 MiB (main process)",
          10: "34 min (the old script's projection; never run)"}
BEFORE_PEAK_MIB = 2368.0


def rehearsal_config(data_root: Path, out: Path, jobs: int | None, image_size: int):
    """The demo's offline settings on a THINGS-EEG2-layout folder."""
    return make_config(
        dataset={"kind": "things-eeg2", "path": str(data_root)},
        latents={"spaces": ["effnet", "pca", "attributes"],
                 "options": {"pca": {"n_components": 100, "image_size": 32}}},
        decoder={"cv": "group", "n_splits": 5},
        reconstruction={"methods": ["pca", "retrieval"], "retrieval_space": "effnet"},
        metrics={"networks": ["effnet-lite0"], "image_size": image_size,
                 "n_boot": 1000, "n_permutations": 1000},
        interpretability={"space": "effnet", "figure_formats": ["png"]},
        output=str(out), jobs=jobs,
    )


class Usage:
    """CPU seconds and peak memory of this process and its (exited) children."""

    def __init__(self) -> None:
        self.self = resource.getrusage(resource.RUSAGE_SELF)
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.time = time.perf_counter()

    def since(self, before: Usage) -> dict[str, float]:
        def delta(field: str) -> float:
            return (getattr(self.self, field) - getattr(before.self, field)
                    + getattr(self.children, field) - getattr(before.children, field))

        return {"wall": self.time - before.time, "user": delta("ru_utime"),
                "sys": delta("ru_stime"), "faults": delta("ru_minflt"),
                "rss_self_mib": self.self.ru_maxrss / 1024}


def stop_workers(before: Usage | None = None) -> float:
    """Shut the reusable loky workers down, so that their CPU time counts in
    ``RUSAGE_CHILDREN``; return the largest peak resident memory (MiB) of a worker.

    Live workers are read from ``/proc/<pid>/status`` (``VmHWM``) before they exit.
    Loky also replaces a worker whose memory grew by more than
    :data:`perceptogram.pipeline.executors.WORKER_GROWTH_LIMIT` since its first unit;
    such exited workers count through ``RUSAGE_CHILDREN``'s peak when it rose above
    its value at ``before`` (earlier children, such as the simulation, set that value).
    """
    from joblib.externals.loky import reusable_executor

    executor = reusable_executor._executor
    peak = 0.0
    if executor is not None:
        for pid in list(getattr(executor, "_processes", None) or {}):
            try:
                status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        executor.shutdown(wait=True)
    if before is not None:
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if children > before.children.ru_maxrss:
            peak = max(peak, children / 1024)
    return peak


def simulate(root: Path, n_subjects: int, n_train_concepts: int, image_size: int) -> float:
    """Write the dataset in a child process (its memory and CPU time are not the run's)."""
    start = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(
        target=simulate_dataset, args=(root,),
        kwargs=dict(n_subjects=n_subjects, image_size=image_size, seed=0,
                    **{**FULL, "n_train_concepts": n_train_concepts}))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"the simulation failed (exit code {child.exitcode})")
    return time.perf_counter() - start


def print_waves(summary, cpu: dict[str, tuple[float, float]]) -> None:
    """Wall time of each wave of stages, and each stage's (from the start of its wave to
    its last unit) with the CPU time of its units' processes."""
    print("per wave of stages run together (wall), per stage (wall from the wave's start "
          "to its last unit; CPU of its units):")
    for names, seconds in summary.waves:
        print(f"  {' + '.join(names)}: {seconds:.1f} s")
        for stage in names if len(names) > 1 else []:
            user, sys_ = cpu.get(stage, (0.0, 0.0))
            print(f"    {stage:<12} {summary.stage_seconds[stage]:8.1f} s   user {user:8.1f} s"
                  f"  sys {sys_:6.1f} s")
        if len(names) == 1:
            user, sys_ = cpu.get(names[0], (0.0, 0.0))
            print(f"    {'':<12} {'':>8}     user {user:8.1f} s  sys {sys_:6.1f} s")


def stage_cpu(timings: dict) -> dict[str, tuple[float, float]]:
    """(user, sys) seconds of each stage, summed over its units."""
    out: dict[str, list[float]] = {}
    for label, cpu in timings.get("units_cpu_s", {}).items():
        entry = out.setdefault(label.split("[")[0], [0.0, 0.0])
        entry[0] += cpu["user"]
        entry[1] += cpu["sys"]
    return {k: (v[0], v[1]) for k, v in out.items()}


def cache_report(run: Path, n_subjects: int) -> list[str]:
    """One line per latent-cache entry: the pictures it encoded, once for every subject."""
    lines = []
    for manifest in sorted((run / "cache" / "latents").glob("*.json")):
        info = json.loads(manifest.read_text(encoding="utf-8"))
        lines.append(f"  {info['latent_space']:<11} {info['n_images']:>6,} pictures encoded "
                     f"once (complete: {info['complete']}) for {n_subjects} subject(s)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="Fraction of the 1,654 training concepts (1.0: full size).")
    parser.add_argument("--image-size", type=int, default=128,
                        help="Side of the simulated stimuli (px; THINGS: 500).")
    parser.add_argument("--jobs", type=int, default=None,
                        help="Worker processes (default: the memory-aware default).")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="Where to write data and runs (default: a temporary folder).")
    parser.add_argument("--keep", action="store_true",
                        help="Keep the work folder (default: removed at the end).")
    args = parser.parse_args()
    set_quiet(True)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="perceptogram-rehearsal-"))
    cores = usable_cpus()
    n_concepts = max(2, round(FULL["n_train_concepts"] * args.scale))
    print(f"work folder: {workdir}; {cores} usable cores; load average at start "
          f"{os.getloadavg()[0]:.2f}")
    print(f"{args.subjects} subject(s): {n_concepts} x {FULL['images_per_concept']} training "
          f"images x {FULL['n_train_repetitions']} repetitions, {FULL['n_test_concepts']} "
          f"test x {FULL['n_test_repetitions']}, 17 channels x 100 samples, "
          f"{args.image_size}-px stimuli shared by all subjects"
          + ("" if args.scale == 1.0 else f" (scale {args.scale}: NOT full size)"))
    data = workdir / "data"
    seconds = simulate(data, args.subjects, n_concepts, args.image_size)
    print(f"simulation (not part of a real run): {seconds:.1f} s")

    run = workdir / "run"
    before = Usage()
    summary = run_pipeline(rehearsal_config(data, run, args.jobs, args.image_size), PIPELINE)
    wall = time.perf_counter() - before.time
    worker_peak = stop_workers(before)
    usage = Usage().since(before)
    timings = json.loads((run / "timings.json").read_text(encoding="utf-8"))
    cpu = stage_cpu(timings)
    print(f"\n{summary.jobs} worker processes;", end=" ")
    print_waves(summary, cpu)
    print("  slowest units: " + ", ".join(
        f"{k} {v:.0f} s" for k, v in sorted(timings["units_s"].items(),
                                            key=lambda kv: -kv[1])[:6]))
    busy = (usage["user"] + usage["sys"]) / (wall * cores)
    ratio = usage["sys"] / usage["user"] if usage["user"] else float("nan")
    goal = GOAL_SECONDS.get(args.subjects)
    print(f"\ntotal (pipeline): {wall:.1f} s = {wall / 60:.2f} min"
          + (f"   goal < {goal:.0f} s: {'met' if wall < goal else 'MISSED'}" if goal else ""))
    if args.subjects in BEFORE:
        print(f"  before: {BEFORE[args.subjects]}")
    print(f"CPU: user {usage['user']:.1f} s, sys {usage['sys']:.1f} s, minor page faults "
          f"{usage['faults']:,.0f}")
    print(f"cores busy (user + sys) / (wall x {cores}) = {busy:.2f}   goal >= 0.8: "
          f"{'met' if busy >= 0.8 else 'MISSED'}")
    print(f"sys / user = {ratio:.3f}   goal <= 0.2: {'met' if ratio <= 0.2 else 'MISSED'}")
    if worker_peak:
        worker = f"{worker_peak:,.0f} MiB"
    else:  # restarted by loky, and below the simulation child's peak
        worker_peak = before.children.ru_maxrss / 1024
        worker = (f"<= {worker_peak:,.0f} MiB (loky restarted the workers; the bound is the "
                  "simulation process's peak)")
    peak = max(usage["rss_self_mib"], worker_peak)
    print(f"peak RSS: this process {usage['rss_self_mib']:,.0f} MiB, largest worker "
          f"{worker}   goal <= {BEFORE_PEAK_MIB:,.0f} MiB (before, main process "
          f"with the simulation in it): {'met' if peak <= BEFORE_PEAK_MIB else 'MISSED'}")

    print("\nlatent spaces, content-addressed feature cache:")
    for line in cache_report(run, args.subjects):
        print(line)
    entries = {p: p.stat().st_mtime_ns for p in (run / "cache" / "latents").glob("*.npy")}
    again = time.perf_counter()
    rerun = run_pipeline(rehearsal_config(data, run, args.jobs, args.image_size), PIPELINE,
                         until="features", force=["features"])
    seconds = time.perf_counter() - again
    latent_units = [u for u in rerun.computed if u.startswith("features[") and "sub-" not in u]
    unchanged = all(p.stat().st_mtime_ns == t for p, t in entries.items())
    print(f"  forced re-run of the features stage ({len(latent_units)} latent-space units "
          f"recomputed): {seconds:.1f} s; the {len(entries)} cache files are "
          + ("untouched: every latent read back, no picture encoded again" if unchanged
             else "REWRITTEN: pictures were encoded again"))
    stop_workers()
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
