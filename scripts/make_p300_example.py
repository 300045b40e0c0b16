"""Build the packaged real-EEG example ``src/perceptogram/examples/p300/``.

From the NeuroTechX eeg-notebooks P300 recordings (Muse headband, BSD-3-Clause) and
their stimuli (Pixabay, CC0), as described in the project's real-EEG README:

- ``subject1-raw.fif.gz``: subject 1's 16 recordings (3 sessions), concatenated in
  time order with MNE (``mne.concatenate_raws``: the joins are ``BAD boundary`` /
  ``EDGE boundary`` annotations, so filters and epochs never cross them). Channels
  TP9, AF7, AF8, TP10 (EEG, volts) and STI (the Marker column: 1 = non-target,
  2 = target picture onset). The Muse samples are multiples of 1000/2048 µV; they
  are stored losslessly as 16-bit integers with that calibration (``fmt="short"``)
  and gzip-compressed (MNE reads ``.fif.gz``). Sampling rate 256 Hz (nominal).
- ``stimuli/``: the 8 pictures, centre-cropped and resized to 256 x 256 px (the
  pipeline needs one image size), JPEG quality 90, with the CC0 licence file.
- ``pictures.csv`` (event -> image, for ``perceptogram data import``) and
  ``labels.csv`` (image -> target / nontarget, for the semantic map).

Usage::

    python scripts/make_p300_example.py /path/to/muse-p300 [--out src/perceptogram/examples/p300]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

#: One Muse sample step, in volts (1000 / 2048 µV).
QUANTUM = 1000.0 / 2048.0 * 1e-6
CHANNELS = ["TP9", "AF7", "AF8", "TP10"]
SIZE = 256


def _runs(folder: Path) -> list[Path]:
    return sorted(folder.glob("P300/subject1/session*/data_*.csv"))


def _raw(path: Path):
    import mne

    table = np.loadtxt(path, delimiter=",", skiprows=1)
    counts = np.round(table[:, 1:5] / (QUANTUM * 1e6))
    # MNE truncates value / cal towards zero when it writes 16-bit integers: nudge each
    # value away from zero so that the stored integer is exactly the Muse count
    volts = np.nextafter(counts * QUANTUM, np.where(counts < 0, -np.inf, np.inf))
    info = mne.create_info(CHANNELS + ["STI"], 256.0, ["eeg"] * 4 + ["stim"])
    for ch in info["chs"][:4]:
        ch["cal"] = QUANTUM
    return mne.io.RawArray(np.vstack([volts.T, table[:, 6][None]]), info, verbose="error")


def main() -> None:
    import mne

    from perceptogram.data.core.image_files import load_image
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="the muse-p300 folder (recordings.tgz, "
                        "stimuli/)")
    parser.add_argument("--out", type=Path, default=Path("src/perceptogram/examples/p300"))
    args = parser.parse_args()
    out = args.out
    (out / "stimuli").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(args.source / "recordings.tgz") as archive:
            archive.extractall(tmp, filter="data")
        runs = _runs(Path(tmp))
        raw = mne.concatenate_raws([_raw(p) for p in runs], verbose="error")
        fif = Path(tmp) / "subject1-raw.fif"
        raw.save(fif, fmt="short", overwrite=True, verbose="error")
        with open(fif, "rb") as src, gzip.open(out / "subject1-raw.fif.gz", "wb", 9) as dst:
            shutil.copyfileobj(src, dst)
    check = mne.io.read_raw(out / "subject1-raw.fif.gz", preload=True, verbose="error")
    error = np.abs(check.get_data(picks="eeg") - raw.get_data(picks="eeg")).max()
    print(f"{len(runs)} recordings, {raw.n_times} samples; largest storage error "
          f"{error * 1e6:.3g} µV")
    pictures = ["event,image,concept"]
    labels = ["image,category"]
    for path in sorted((args.source / "stimuli").glob("*.jpg")):
        target = path.name.startswith("target")
        name = path.stem.replace("_640", "") + ".jpg"
        Image.fromarray(load_image(path, SIZE)).save(out / "stimuli" / name, quality=90)
        pictures.append(f"{2 if target else 1},stimuli/{name},{path.stem.replace('_640', '')}")
        labels.append(f"{name},{'target' if target else 'nontarget'}")
    shutil.copyfile(args.source / "stimuli" / "LICENSE.txt", out / "stimuli" / "LICENSE.txt")
    (out / "pictures.csv").write_text("\n".join(pictures) + "\n", encoding="utf-8")
    (out / "labels.csv").write_text("\n".join(labels) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
