"""Readers and writers of the run directory's artifacts, shared by the stages.

Arrays go to ``.npy``/``.npz``, images to PNG, tables to CSV + JSON, all written
atomically. The stages and the report read artifacts only through these helpers,
so the on-disk layout is described in one place:

========================================  =========================================
``data/dataset.json``                     what the dataset holds (+ file signatures)
``features/sub-XX/eeg.npz``               prepared EEG (train/test X, axes, z-score)
``features/<space>/{train,test}.npy``     stimulus latents, float32 (n_images, dim)
``features/<space>/space.safetensors``    fitted pixel space (pca/ica), if any
``fit/sub-XX/<space>/decoder.*``          ridge decoder (safetensors + JSON)
``predict/sub-XX/<space>/decoded.npy``    decoded test latents (n_test, dim)
``reconstruct/sub-XX/<space>/<method>/``  ``NNNN.png`` per test image
``evaluate/sub-XX/<space>/``              ``metrics.{csv,json}``, ``per_image.csv``,
                                          ``ranks.npy`` (top-5 test candidates)
``interpret/sub-XX/``                     ``maps.npz``, ``summary.json``, figures
``report/``                               ``report.html`` and run-level tables
========================================  =========================================
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._inputs import open_input, read_input_json
from perceptogram._io import atomic_path, check_memory, write_json_atomic, write_text_atomic
from perceptogram.data.core.containers import EEGFeatures
from perceptogram.data.core.image_files import ImageFileError, check_pixels, load_image

__all__ = [
    "save_array",
    "save_npz",
    "save_eeg_features",
    "load_eeg_features",
    "save_pngs",
    "load_pngs",
    "write_rows",
    "read_rows",
]


def save_array(path: Path, array: np.ndarray) -> None:
    """Save one array as ``.npy`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(array))


def save_npz(path: Path, **arrays: Any) -> None:
    """Save named arrays as ``.npz`` atomically (no pickled objects)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})


def save_eeg_features(path: Path, train: EEGFeatures, test: EEGFeatures) -> None:
    """Save a prepared (train, test) pair to one ``.npz``.

    Besides the arrays and their axes: the repetitions averaged into each row
    (``{split}_counts``), each row's position in the dataset's picture table
    (``{split}_index``), the unit key and the stored electrode positions (an
    empty array when there are none).
    """
    def counts(features: EEGFeatures) -> np.ndarray:
        return (np.zeros(0, np.int64) if features.repetition_counts is None
                else features.repetition_counts)

    save_npz(
        path,
        X_train=train.X, X_test=test.X,
        ch_names=np.array(train.ch_names), times=train.times,
        train_files=np.array(train.image_files), train_concepts=np.array(train.concepts),
        test_files=np.array(test.image_files), test_concepts=np.array(test.concepts),
        mean=train.mean if train.mean is not None else np.zeros(0),
        scale=train.scale if train.scale is not None else np.zeros(0),
        train_counts=counts(train), test_counts=counts(test),
        train_index=train.image_index, test_index=test.image_index,
        unit=np.array(train.unit),
        positions=train.positions if train.positions is not None else np.zeros((0, 3)),
    )


def load_eeg_features(path: Path) -> tuple[EEGFeatures, EEGFeatures]:
    """Read what :func:`save_eeg_features` wrote (files of earlier versions too).

    Returns
    -------
    train, test : EEGFeatures
    """
    with np.load(path, allow_pickle=False) as z:
        mean = z["mean"] if z["mean"].size else None
        scale = z["scale"] if z["scale"].size else None
        positions = z["positions"] if "positions" in z and z["positions"].size else None
        common = dict(ch_names=tuple(z["ch_names"].tolist()), times=z["times"],
                      mean=mean, scale=scale, positions=positions,
                      unit=str(z["unit"]) if "unit" in z else "unknown")

        def split(name: str) -> EEGFeatures:
            counts = z.get(f"{name}_counts")
            return EEGFeatures(X=z[f"X_{name}"], image_files=tuple(z[f"{name}_files"].tolist()),
                               concepts=tuple(z[f"{name}_concepts"].tolist()),
                               repetition_counts=counts if counts is not None and counts.size
                               else None, image_index=z.get(f"{name}_index"), **common)

        train, test = split("train"), split("test")
    return train, test


def save_pngs(folder: Path, images: np.ndarray) -> None:
    """Write ``images`` (uint8, shape (n, H, W, 3)) as ``folder/0000.png`` ..."""
    from PIL import Image

    for i, image in enumerate(np.asarray(images, dtype=np.uint8)):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        with atomic_path(folder / f"{i:04d}.png") as tmp:
            tmp.write_bytes(buffer.getvalue())


def load_pngs(folder: Path, indices: Sequence[int] | None = None) -> np.ndarray:
    """Read ``NNNN.png`` files of ``folder`` (all, or the given indices) as uint8 (n, H, W, 3).

    A received run's images are checked like any input: regular files only, each
    one's pixel count read from its header before it is decoded, and all of them
    together against the memory available.
    """
    from PIL import Image

    files = sorted(folder.glob("[0-9][0-9][0-9][0-9].png"))
    if indices is not None:
        files = [files[i] for i in indices]
    if not files:
        raise FileNotFoundError(f"no reconstructed images in {folder}")
    n_bytes = 0
    for path in files:
        try:
            with open_input(path, "the image file") as raw, Image.open(raw) as image:
                check_pixels(image.size, path)
                n_bytes += 3 * image.size[0] * image.size[1]
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageFileError(f"cannot read image file {path}: {exc}") from None
    check_memory(2 * n_bytes, f"reading the {len(files)} images of {folder}",
                 "these images are larger than reconstructions are; check where they came from")
    return np.stack([load_image(f) for f in files])


def write_rows(stem: Path, rows: list[dict[str, Any]]) -> None:
    """Write tidy rows as ``stem.csv`` and ``stem.json`` (atomically)."""
    write_json_atomic(stem.with_suffix(".json"), rows)
    columns: dict[str, None] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, None)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(stem.with_suffix(".csv"), buffer.getvalue())


#: Largest table read back from a run directory (ours are at most a few megabytes).
MAX_TABLE_BYTES = 256 << 20


def read_rows(stem: Path) -> list[dict[str, Any]]:
    """Read tidy rows written by :func:`write_rows` (from the JSON copy, size-capped)."""
    return read_input_json(stem.with_suffix(".json"), max_bytes=MAX_TABLE_BYTES,
                           what="a table of the run")
