"""Small real recordings shipped with Perceptogram, for its examples and its demo.

``p300``: four-channel consumer EEG (Muse) of one person watching rare cat pictures
among dogs (NeuroTechX eeg-notebooks, BSD-3-Clause; pictures CC0): see
``p300/README.md``. :func:`import_example` turns it into the ``mne`` format with
``perceptogram data import``'s own code, exactly as the documentation shows.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from perceptogram._io import write_text_atomic
from perceptogram.data.formats.mne_import import ImportOptions, import_recordings
from perceptogram.errors import PerceptogramError

__all__ = ["EXAMPLES", "example_folder", "import_example", "p300_import_options"]

#: The examples shipped, with one line each.
EXAMPLES = {
    "p300": "Muse headband, 4 channels, subject 1: target (cat) vs non-target (dog) "
            "pictures, 3,089 events",
}


def p300_import_options():
    """The :class:`~perceptogram.data.formats.mne_import.ImportOptions` of the p300 example."""
    # The analysis of the recording's README: 1-30 Hz IIR, epochs -0.1..0.8 s, baseline
    # -0.1..0 s, 100 µV rejection; the last third of each picture's events for testing;
    # rows of about 10 epochs; the 4 pictures of each class assigned in turn.
    return ImportOptions(l_freq=1.0, h_freq=30.0, filter_method="iir", tmin=-0.1, tmax=0.8,
                         baseline=(-0.1, 0.0), reject=100e-6, test_fraction=0.5,
                         epochs_per_row=10, unlogged="cycle")


def example_folder(name: str) -> Path:
    """The folder of a shipped example (``p300``).

    Raises
    ------
    PerceptogramError
        Unknown name.
    """
    if name not in EXAMPLES:
        raise PerceptogramError(f"no example {name!r}; examples: {', '.join(EXAMPLES)}")
    return Path(str(resources.files(__name__) / name))


def import_example(name: str, out: str | Path):
    """Import a shipped example into ``out`` (``mne`` format), unless it is there already.

    Parameters
    ----------
    name : str
        ``"p300"``.
    out : path-like
        Folder for the imported data (new, or an earlier import of the example).

    Returns
    -------
    report : ImportReport or None
        None when ``out`` already holds this import with the same settings.
    """
    import json

    folder, out = example_folder(name), Path(out)
    options = p300_import_options()
    record = out / "import-sub-01.json"
    recordings = [folder / "subject1-raw.fif.gz"]
    if record.is_file():
        settings = json.loads(record.read_text(encoding="utf-8")).get("settings", {})
        from dataclasses import asdict

        wanted = {**asdict(options), "recordings": [str(p) for p in recordings]}
        if all(json.dumps(settings.get(k)) == json.dumps(v) for k, v in wanted.items()):
            return None
    report = import_recordings(recordings, folder / "pictures.csv", out, subject=1,
                               options=options, copy_images=True, overwrite=True)
    write_text_atomic(out / "labels.csv", (folder / "labels.csv").read_text(encoding="utf-8"))
    return report
