"""Wall time of ``perceptogram demo`` (the whole offline pipeline on its simulated data).

Runs :func:`perceptogram.pipeline.demo.run_demo` (``--size default``: 3 subjects,
1,600 + 100 images, EfficientNet-Lite0, pixel PCA and image attributes, grouped
5-fold ridge, 1,000 bootstraps and permutations, every figure) into a fresh folder
in this process, as the CLI does, and prints the wall time of each stage and in
total, the CPU time of this process and of its worker processes (``getrusage``, the
workers counted once they have exited), cores busy ``(user + sys) / (wall x
cores)``, ``sys / user`` and the peak resident memory, beside the goal of issue 21
and the figures measured before it (idle 2-core machine).

Usage::

    python benchmarks/bench_demo.py [--size default] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench_full_subject import Usage, print_waves, stage_cpu, stop_workers

from perceptogram._progress import set_quiet
from perceptogram._threads import usable_cpus
from perceptogram.pipeline.demo import DEMO_SIZES, run_demo

GOAL_SECONDS = 60.0
BEFORE = ("185 s wall (data 7.7, features 88.1, fit 15.5, evaluate 32.5, interpret 40.2 s), "
          "user 183 s, sys 83 s: cores busy 0.72, sys / user 0.45")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default", choices=sorted(DEMO_SIZES))
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    set_quiet(True)
    cores = usable_cpus()
    print(f"perceptogram demo --size {args.size}: {cores} usable cores, load average at "
          f"start {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        before = Usage()
        result = run_demo(Path(tmp) / "run", args.size, jobs=args.jobs)
        wall = time.perf_counter() - before.time
        worker_peak = stop_workers(before)
        usage = Usage().since(before)
        timings = json.loads((Path(tmp) / "run" / "timings.json").read_text(encoding="utf-8"))
    cpu = stage_cpu(timings)
    print(f"{result.summary.jobs} worker processes;", end=" ")
    print_waves(result.summary, cpu)
    busy = (usage["user"] + usage["sys"]) / (wall * cores)
    ratio = usage["sys"] / usage["user"] if usage["user"] else float("nan")
    goal = f"   goal < {GOAL_SECONDS:.0f} s: {'met' if wall < GOAL_SECONDS else 'MISSED'}"
    print(f"total: {wall:.1f} s" + (goal if args.size == "default" else ""))
    if args.size == "default":
        print(f"  before: {BEFORE}")
    print(f"CPU: user {usage['user']:.1f} s, sys {usage['sys']:.1f} s; cores busy "
          f"{busy:.2f}, sys / user {ratio:.3f}; minor page faults {usage['faults']:,.0f}")
    print(f"peak RSS: this process {usage['rss_self_mib']:,.0f} MiB, largest worker "
          f"{worker_peak:,.0f} MiB")


if __name__ == "__main__":
    main()
