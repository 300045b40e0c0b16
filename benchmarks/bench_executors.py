"""The demo's wall time with the local executor (joblib/loky) and on a Dask LocalCluster.

Runs the same demo configuration (default: ``--size tiny``, two subjects) into fresh
run directories, in one process, and prints the wall time of each and their ratio:

- ``local``: joblib/loky worker processes (``--jobs`` of them), the default executor;
- ``dask``: a ``dask.distributed.LocalCluster`` of ``--jobs`` worker processes (one
  thread each), started and closed inside the timed run, as ``perceptogram demo
  --executor dask`` does;
- ``dask-threads`` (with ``--threads``): the same cluster with thread workers.

The first run of each kind pays its start-up (process spawn and imports); the
numbers are the median of ``--repeats`` runs.

Usage::

    python benchmarks/bench_executors.py [--size tiny] [--jobs 2] [--repeats 3] [--threads]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from perceptogram._progress import set_quiet
from perceptogram.pipeline.demo import DEMO_SIZES, demo_config
from perceptogram.pipeline.executors import DaskExecutor
from perceptogram.pipeline.runner import run_pipeline
from perceptogram.pipeline.stages import PIPELINE


def one_run(folder: Path, size: str, jobs: int, kind: str) -> float:
    config = demo_config(folder, size, jobs)
    start = time.perf_counter()
    if kind == "local":
        run_pipeline(config, PIPELINE)
    else:
        executor = DaskExecutor(n_workers=jobs, processes=kind == "dask")
        try:
            run_pipeline(config, PIPELINE, executor=executor)
        finally:
            executor.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", choices=sorted(DEMO_SIZES))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", action="store_true", help="Also time thread workers.")
    args = parser.parse_args()
    set_quiet(True)
    kinds = ["local", "dask"] + (["dask-threads"] if args.threads else [])
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for kind in kinds:
                folder = Path(tmp) / f"{kind}-{repeat}" / "run"
                times[kind].append(one_run(folder, args.size, args.jobs, kind))
    local = statistics.median(times["local"])
    print(f"demo --size {args.size}, {args.jobs} workers, median of {args.repeats} runs")
    for kind in kinds:
        median = statistics.median(times[kind])
        runs = ", ".join(f"{t:.1f}" for t in times[kind])
        print(f"{kind:>13}: {median:6.1f} s  (runs: {runs})  ratio to local: "
              f"{median / local:.2f}")


if __name__ == "__main__":
    main()
