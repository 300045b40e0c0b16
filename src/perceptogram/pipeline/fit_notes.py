"""What the fit stage tells the report: how each decoder's alpha was cross-validated.

The fit stage records a sentence in each decoder's metadata (``cv_note``) when the
folds are not over concepts (:func:`perceptogram.linear.cv.decoder_folds`: fewer
concepts than folds); the report shows each distinct sentence once.
"""

from __future__ import annotations

from perceptogram.config import Config
from perceptogram.linear.io import load_model
from perceptogram.pipeline.rundir import RunDir, subject_label

__all__ = ["decoder_notes"]


def decoder_notes(config: Config, run_dir: RunDir, subjects: list[int]) -> list[str]:
    """One sentence per distinct ``cv_note`` of the run's decoders, naming its subjects.

    Parameters
    ----------
    config : Config
    run_dir : RunDir
        Reads ``fit/sub-XX/<space>/decoder.safetensors`` (missing ones are skipped).
    subjects : list of int

    Returns
    -------
    list of str
    """
    found: dict[str, list[str]] = {}
    for subject in subjects:
        for space in config.latents.spaces:
            path = run_dir.unit_dir("fit", subject, space) / "decoder.safetensors"
            if not path.is_file():
                continue
            note = (load_model(path).metadata_.get("metadata") or {}).get("cv_note")
            if note and subject_label(subject) not in found.get(note, []):
                found.setdefault(note, []).append(subject_label(subject))
    return [f"{', '.join(labels)}, decoders: {note[0].upper()}{note[1:]}."
            for note, labels in found.items()]
