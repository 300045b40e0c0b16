"""Cost of verifying a run directory's artifacts before skipping them.

A re-run skips every unit whose manifest still matches. Before, the check compared
file sizes only (a same-size corrupted ``decoded.npy`` went unnoticed); now
:meth:`perceptogram.pipeline.rundir.RunDir.check` verifies each file's SHA-256
(files over 64 MB: their fingerprint). This script runs the tiny offline demo once,
then times, over all its units, in one process:

- the size-only check (the peer: what ``is_current`` did before);
- :meth:`RunDir.check` (sizes, then content digests);
- a whole no-op re-run (``run_demo`` with everything up to date),

and prints the ratio of the two checks.

Usage::

    python benchmarks/bench_rundir_check.py [--size tiny|small] [--repeats 5]

The page cache is warm (the files were just written).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from perceptogram.pipeline.demo import run_demo
from perceptogram.pipeline.rundir import RunDir, Unit


def size_only(run_dir: RunDir, unit: Unit, key: str) -> bool:
    """The former up-to-date check: the key and every file's size."""
    manifest = run_dir.read_manifest(unit)
    if manifest is None or manifest.get("key") != key:
        return False
    base = run_dir.path(unit)
    return all((base / rel).is_file() and (base / rel).stat().st_size == info["size"]
               for rel, info in manifest["outputs"].items())


def units(run_dir: RunDir) -> list[tuple[Unit, str]]:
    found = []
    for manifest_path in sorted(run_dir.root.rglob("manifest.json")):
        rel = manifest_path.parent.relative_to(run_dir.root).parts
        subject = next((int(p[4:]) for p in rel[1:] if p.startswith("sub-")), None)
        space = rel[-1] if len(rel) > 1 and not rel[-1].startswith("sub-") else None
        unit = Unit(rel[0], subject, space)
        found.append((unit, run_dir.read_manifest(unit)["key"]))
    return found


def best(func, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", choices=["tiny", "small"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["PERCEPTOGRAM_QUIET"] = "1"
    out = Path(tempfile.mkdtemp()) / "run"
    run_demo(out, args.size, jobs=1)
    run_dir = RunDir(out)
    todo = units(run_dir)
    assert all(run_dir.check(u, k) is None and size_only(run_dir, u, k) for u, k in todo)
    n_bytes = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    peer = best(lambda: [size_only(run_dir, u, k) for u, k in todo], args.repeats)
    ours = best(lambda: [run_dir.check(u, k) for u, k in todo], args.repeats)
    rerun = best(lambda: run_demo(out, args.size, jobs=1), args.repeats)
    print(f"{args.size} demo: {len(todo)} units, {n_bytes / 1e6:.1f} MB in the run directory")
    print(f"size-only check (peer) : {1000 * peer:8.2f} ms")
    print(f"RunDir.check (digests) : {1000 * ours:8.2f} ms   ratio {ours / peer:.1f}x")
    print(f"no-op re-run, total    : {1000 * rerun:8.2f} ms")


if __name__ == "__main__":
    main()
