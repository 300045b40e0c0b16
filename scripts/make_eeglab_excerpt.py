"""Cut the first 120 s of EEGLAB's tutorial recording for the tests (``tests/data/eeglab-sample``).

The ``.set`` file is rewritten with SciPy (same MATLAB structure: ``pnts``, ``xmax``,
``times``, the data file name and the events inside the excerpt change) and the
``.fdt`` file keeps the first samples; MNE reads the excerpt exactly as the first 120 s
of the original (checked below). ``eeglab_sample_120s-events.tsv`` lists the events
with the ``position`` field that MNE's reader drops (``square1`` / ``square2``; ``rt``).

Usage::

    python scripts/make_eeglab_excerpt.py /path/to/eeglab-sample [--out tests/data/eeglab-sample]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.io

SECONDS = 120
NAME = "eeglab_sample_120s"


def main() -> None:
    import mne

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--out", type=Path, default=Path("tests/data/eeglab-sample"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    source = args.source / "eeglab_data.set"
    EEG = scipy.io.loadmat(source, appendmat=False)["EEG"]

    def get(name):
        return EEG[name][0, 0]

    def put(name, value):
        EEG[name][0, 0] = value

    n_channels, n_samples = int(get("nbchan").item()), int(get("pnts").item())
    sfreq = float(get("srate").item())
    n = int(SECONDS * sfreq)
    data = np.fromfile(source.with_suffix(".fdt"), dtype="<f4").reshape(n_samples, n_channels)
    events = get("event")
    keep = [i for i in range(events.shape[1]) if events[0, i]["latency"].item() <= n]
    put("pnts", np.array([[n]], dtype=get("pnts").dtype))
    put("xmax", np.array([[(n - 1) / sfreq]]))
    put("times", get("times")[:, :n])
    for field in ("data", "datfile"):
        put(field, np.array([f"{NAME}.fdt"]))
    put("filename", np.array([f"{NAME}.set"]))
    put("event", events[:, keep])
    scipy.io.savemat(args.out / f"{NAME}.set", {"EEG": EEG}, format="5")
    data[:n].astype("<f4").tofile(args.out / f"{NAME}.fdt")
    rows = ["onset\tvalue"]
    for i in keep:
        kind = str(events[0, i]["type"].item())
        position = events[0, i]["position"]
        value = f"{kind}{int(position.item())}" if position.size else kind
        rows.append(f"{(events[0, i]['latency'].item() - 1) / sfreq:.6f}\t{value}")
    (args.out / f"{NAME}-events.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    full = mne.io.read_raw_eeglab(source, preload=True, verbose="error")
    cut = mne.io.read_raw_eeglab(args.out / f"{NAME}.set", preload=True, verbose="error")
    assert np.array_equal(cut.get_data(), full.get_data()[:, :n])
    print(f"{len(keep)} events, {n} samples, {len(cut.ch_names)} channels: identical to the "
          "original's first samples")


if __name__ == "__main__":
    main()
