"""Loading one THINGS-EEG2 subject: pickle (NumPy, our safe loader) vs the native cache.

Writes one subject at full release size in the release format (a pickled dict,
float64 training (16540, 4, 17, 100) and test (200, 80, 17, 100)) to a temporary
folder, then times, for both splits together:

- ``np.load(allow_pickle=True).item()`` (what the reference code does; unsafe);
- :func:`perceptogram.data.formats.safe_pickle.safe_load_pickled_dict` (restricted unpickler);
- :func:`perceptogram.data.formats.things_eeg2.read_eeg_file` (safe load + validation);
- the first :func:`~perceptogram.data.formats.things_eeg2.load_split` with ``cache=True``
  (safe load + validation + float32 conversion, written to disk);
- later cached loads (memory-mapped: opening only), and cached loads followed by
  one full pass over the values (a fair comparison with the pickle, which reads
  everything).

Usage::

    python benchmarks/bench_data_load.py [--n-train 16540] [--repeats 5]

The page cache is warm for every measurement (each file was just written or read).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from perceptogram.data.formats.safe_pickle import safe_load_pickled_dict
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS, load_split, read_eeg_file

TIMES = np.arange(-20, 80) / 100.0


def write_subject(folder: Path, n_train: int, n_test: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name, shape in (("training", (n_train, 4, 17, 100)), ("test", (n_test, 80, 17, 100))):
        path = folder / f"preprocessed_eeg_{name}.npy"
        np.save(path, {"preprocessed_eeg_data": rng.standard_normal(shape),
                       "ch_names": list(THINGS_CHANNELS), "times": TIMES}, allow_pickle=True)
        paths.append(path)
    return paths


def timed(func, repeats: int = 1) -> float:
    """Median wall time of ``func()`` over ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=16540)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_subject(root / "sub-01", args.n_train, args.n_test)
        cache_dir = root / ".perceptogram-cache" / "sub-01"
        size = sum(p.stat().st_size for p in paths)
        print(f"one subject, {size / 1e9:.2f} GB of pickled float64 "
              f"(train {args.n_train}x4x17x100, test {args.n_test}x80x17x100)")

        def numpy_pickle():
            for p in paths:
                np.load(p, allow_pickle=True).item()

        def safe_pickle():
            for p in paths:
                safe_load_pickled_dict(p)

        def safe_validated():
            for p in paths:
                read_eeg_file(p)

        def cached():
            return [load_split(p, cache_dir=cache_dir)[0] for p in paths]

        def cached_and_read():
            return [float(np.sum(a, dtype=np.float64)) for a in cached()]

        rows = [
            ("np.load(allow_pickle=True) (unsafe)", timed(numpy_pickle, args.repeats)),
            ("safe_load_pickled_dict", timed(safe_pickle, args.repeats)),
            ("read_eeg_file (safe + validation)", timed(safe_validated)),
            ("first load_split, builds the cache", timed(cached)),
            ("later load_split (memory map)", timed(cached, args.repeats)),
            ("later load_split + one pass over values", timed(cached_and_read, args.repeats)),
        ]
        reference = rows[0][1]
        ratio = rows[1][1] / reference
        print(f"safe_load_pickled_dict / np.load(allow_pickle=True) time ratio: {ratio:.2f} "
              f"(target <= 1.5)")
        width = max(len(name) for name, _ in rows)
        print(f"{'step':<{width}}  {'seconds':>9}  {'vs np.load':>10}")
        for name, seconds in rows:
            print(f"{name:<{width}}  {seconds:9.4f}  {reference / seconds:9.1f}x")
        cache_size = sum(p.stat().st_size for p in cache_dir.iterdir())
        print(f"cache on disk: {cache_size / 1e9:.2f} GB (float32)")


if __name__ == "__main__":
    main()
