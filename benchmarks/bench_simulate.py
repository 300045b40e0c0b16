"""Simulating THINGS-EEG2-style data: demo size, one full-size subject, noise vs MNE.

Times, each in a fresh temporary folder:

- the demo dataset (defaults of :func:`perceptogram.data.simulate.dataset.simulate_dataset`:
  200 training concepts x 10 images, 100 test images, 4 / 80 repetitions, one
  subject, 128-pixel JPEG images);
- one subject at full THINGS-EEG2 size (16,540 x 4 training and 200 x 80 test
  epochs of 17 x 100 samples, float64), EEG only by default (``--full-images``
  renders the 16,740 images too);
- trial-noise generation: :meth:`perceptogram.data.simulate.forward_model.NoiseModel.sample`
  (1/f background + alpha + sensor noise, all epochs in three matrix products)
  against the named peer :func:`mne.simulation.add_noise` (coloured Gaussian
  noise from a channel covariance and an IIR filter, on an ``mne.EpochsArray``),
  for the same number of 17-channel, 100-sample epochs.

Usage::

    python benchmarks/bench_simulate.py [--skip-full] [--full-images] [--noise-trials 4000]
"""

from __future__ import annotations

import argparse
import warnings
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from perceptogram._progress import set_quiet
from perceptogram.data.simulate import forward_model as fm
from perceptogram.data.simulate.dataset import simulate_dataset

FULL_SIZE = dict(n_train_concepts=1654, images_per_concept=10, n_test_concepts=200,
                 n_train_repetitions=4, n_test_repetitions=80)


def _folder_size(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2 ** 20


def time_simulation(folder: Path, **kwargs) -> tuple[float, float]:
    """Seconds to simulate, and MiB written."""
    start = time.perf_counter()
    simulate_dataset(folder, **kwargs)
    return time.perf_counter() - start, _folder_size(folder)


def time_noise(n_trials: int, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` seconds: our noise model, then MNE's ``add_noise``."""
    import mne

    design = fm.make_source_design(("a",), ("animate",), 0, np.random.default_rng(0))
    model = fm.build_subject_model(design, np.random.default_rng(1))
    ours = []
    for k in range(repeats):
        start = time.perf_counter()
        model.noise.sample(n_trials, np.random.default_rng(k))
        ours.append(time.perf_counter() - start)

    info = mne.create_info(list(fm.CHANNELS), fm.SFREQ, "eeg")
    covariance = model.noise.pink_mixing @ model.noise.pink_mixing.T
    cov = mne.Covariance(covariance, list(fm.CHANNELS), [], [], nfree=1000)
    epochs = mne.EpochsArray(np.zeros((n_trials, len(fm.CHANNELS), len(fm.TIMES))), info,
                             tmin=float(fm.TIMES[0]), verbose=False)
    theirs = []
    for k in range(repeats):
        copy = epochs.copy()
        start = time.perf_counter()
        with warnings.catch_warnings():  # reference-free data, as ours
            warnings.simplefilter("ignore", RuntimeWarning)
            mne.simulation.add_noise(copy, cov, iir_filter=[1.0, -0.9], rng=k,
                                     verbose=False)
        theirs.append(time.perf_counter() - start)
    return min(ours), min(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-full", action="store_true",
                        help="skip the full THINGS-EEG2-size subject")
    parser.add_argument("--full-images", action="store_true",
                        help="also render the 16,740 images of the full-size dataset")
    parser.add_argument("--noise-trials", type=int, default=4000)
    args = parser.parse_args()
    set_quiet(True)
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        seconds, size = time_simulation(Path(tmp) / "demo")
        print(f"demo dataset (2000 + 100 images, 1 subject, with images): "
              f"{seconds:6.1f} s, {size:6.0f} MiB")
        seconds, size = time_simulation(Path(tmp) / "demo-eeg", write_images=False)
        print(f"demo dataset, EEG only:                                 "
              f"{seconds:6.1f} s, {size:6.0f} MiB")
        if not args.skip_full:
            seconds, size = time_simulation(Path(tmp) / "full",
                                            write_images=args.full_images, **FULL_SIZE)
            what = "with images" if args.full_images else "EEG only"
            print(f"full-size subject (16540x4 + 200x80 epochs, {what}):    "
                  f"{seconds:6.1f} s, {size:6.0f} MiB")
    ours, theirs = time_noise(args.noise_trials)
    rate = args.noise_trials / 1000
    print(f"noise for {args.noise_trials} epochs: perceptogram {ours:.3f} s "
          f"({ours / rate * 1000:.1f} ms / 1000 epochs), mne.simulation.add_noise "
          f"{theirs:.3f} s ({theirs / rate * 1000:.1f} ms / 1000 epochs); "
          f"ratio mne / perceptogram = {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
