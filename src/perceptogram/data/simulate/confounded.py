"""A second simulator whose attributes are confounded, as in real image sets.

:mod:`perceptogram.data.simulate.dataset` draws every attribute independently and plants
its effects with a dipole model where the package's own defaults look. This one
differs where it matters for attribute maps:

- **correlated attributes**: animals are more often red, food more often blue;
  brightness and texture go together (r about 0.4); the null attribute
  ``size`` follows the red-cyan hue axis;
- **other effects**: hue acts along the red-cyan axis (``cos(hue)``), not the
  red-blue one; latencies 90-230 ms at other channels (texture medial at 90 ms,
  brightness left at 130 ms, hue right at 160 ms, animal left at 230 ms);
- **another forward model**: Gaussian scalp bumps around a channel (no dipoles)
  and Gamma-shaped time courses (not Gaussians);
- **per-image amplitude jitter** of the whole evoked response;
- **correlated sensor noise**: spatially smooth (exponential in inter-electrode
  distance, plus a common mode) and temporally smooth (AR(1)) trial noise;
- **null attributes**: ``size`` (visible in the pixels) and ``food`` (a label)
  have no EEG effect.

It writes the same THINGS-EEG2 layout as the release (``image_metadata.npy``,
``training_images/``, ``test_images/``, ``sub-XX/preprocessed_eeg_*.npy``) plus
``ground_truth/``: ``truth.json`` (effects, latencies, channels, sides,
units), ``patterns.npz`` (the planted maps, full epoch), ``categories.tsv``
(concept -> category, a label table for ``interpretability.labels``) and
``attributes_{train,test}.csv`` (true attributes, including the null ones).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from perceptogram.data.core.montage import channel_positions
from perceptogram.data.formats.things_eeg2 import IMAGE_FOLDERS, METADATA_FILE, SPLIT_FILES
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS as CHANNELS
from perceptogram.errors import PerceptogramError

__all__ = ["EFFECTS", "simulate_confounded", "load_truth"]

GENERATOR = "perceptogram.data.simulate.confounded"
TIMES = np.round(np.arange(-20, 80) / 100.0, 2)
CATEGORIES = ("animal", "food", "other")
#: Planted effects: feature, centre channel, side, latency (s), amplitude (noise SD units
#: per unit of the feature), spatial width (m).
EFFECTS: dict[str, dict[str, Any]] = {
    "texture": {"feature": "texture in [0, 1] (grating contrast)", "channel": "Oz",
                "side": "medial", "latency": 0.09, "amplitude": 2.5, "width": 0.035},
    "brightness": {"feature": "brightness factor in [0.45, 1]", "channel": "PO7",
                   "side": "left", "latency": 0.13, "amplitude": -3.5, "width": 0.03},
    "hue": {"feature": "cos(hue): red +1, cyan -1 (blue -0.5)", "channel": "PO8",
            "side": "right", "latency": 0.16, "amplitude": 0.6, "width": 0.03},
    "animal": {"feature": "1 for animals, 0 otherwise", "channel": "P7", "side": "left",
               "latency": 0.23, "amplitude": -1.2, "width": 0.035},
}
NULL_ATTRIBUTES = {"size": "object radius (fraction of the image); no EEG effect",
                   "food": "1 for food, 0 otherwise; no EEG effect"}
JITTER_SD = 0.25
NOISE_LENGTH_M = 0.05
NOISE_AR = 0.8


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _gamma_course(latency: float, shape: float = 6.0) -> np.ndarray:
    """Gamma-shaped time course from onset, peaking at ``latency``, max 1."""
    t = np.clip(TIMES, 0.0, None)
    scale = latency / (shape - 1.0)
    course = np.where(TIMES > 0, (t / latency) ** (shape - 1.0)
                      * np.exp(-(t - latency) / scale), 0.0)
    return course / course.max()


def planted_patterns() -> dict[str, np.ndarray]:
    """Planted map of every effect, shape (17, 100): EEG per unit of its feature."""
    positions = channel_positions(CHANNELS)
    out = {}
    for name, e in EFFECTS.items():
        centre = positions[CHANNELS.index(e["channel"])]
        distance = np.linalg.norm(positions - centre, axis=1)
        topo = np.exp(-0.5 * (distance / e["width"]) ** 2)
        out[name] = e["amplitude"] * np.outer(topo, _gamma_course(e["latency"]))
    return out


def _attributes(n_concepts: int, per_concept: int, rng: np.random.Generator
                ) -> dict[str, np.ndarray]:
    category = rng.choice(CATEGORIES, n_concepts, p=[0.35, 0.3, 0.35])
    # prototype hue per concept: animals mostly red, food mostly blue, other uniform
    centre = np.where(category == "animal", 0.0, np.where(category == "food", 220.0, 0.0))
    spread = np.where(category == "other", 180.0, 35.0)
    proto_hue = (centre + rng.uniform(-1, 1, n_concepts) * spread) % 360.0
    repeat = np.repeat(np.arange(n_concepts), per_concept)
    n = n_concepts * per_concept
    hue = (proto_hue[repeat] + rng.normal(0.0, 25.0, n)) % 360.0
    shared = rng.standard_normal(n)
    texture = 1 / (1 + np.exp(-(0.6 * shared + 0.8 * rng.standard_normal(n))))
    brightness = 0.45 + 0.55 / (1 + np.exp(-(0.6 * shared + 0.8 * rng.standard_normal(n))))
    size = np.clip(0.3 + 0.06 * np.cos(np.deg2rad(hue)) + 0.04 * rng.standard_normal(n),
                   0.15, 0.45)
    return {"category": category[repeat], "hue": hue, "texture": texture,
            "brightness": brightness, "size": size}


def features(attributes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The feature of every planted effect and null attribute, shape (n_images,)."""
    category = np.asarray(attributes["category"])
    return {"texture": attributes["texture"], "brightness": attributes["brightness"],
            "hue": np.cos(np.deg2rad(attributes["hue"])),
            "animal": (category == "animal").astype(float),
            "food": (category == "food").astype(float), "size": attributes["size"]}


def render(hue: float, texture: float, brightness: float, size: float, size_px: int,
           rng: np.random.Generator) -> np.ndarray:
    """Grey field with a coloured disc of the same luminance, a fine vertical grating,
    everything scaled by brightness."""
    import colorsys

    y, x = np.mgrid[:size_px, :size_px] / size_px - 0.5
    cx, cy = rng.uniform(-0.12, 0.12, 2)
    disc = (x - cx) ** 2 + (y - cy) ** 2 <= size ** 2
    image = np.full((size_px, size_px, 3), 0.45)
    colour = np.asarray(colorsys.hsv_to_rgb(hue / 360.0, 0.85, 0.9))
    image[disc] = colour * 0.45 / (colour @ [0.2125, 0.7154, 0.0721])  # grey's luminance
    grating = 1.0 + (0.05 + 0.3 * texture) * np.sin(2 * np.pi * np.arange(size_px) / 3.0)
    image = image * grating[None, :, None] * brightness
    return np.clip(np.round(255 * image), 0, 255).astype(np.uint8)


def _noise_root() -> np.ndarray:
    positions = channel_positions(CHANNELS)
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    cov = 0.6 * np.exp(-distance / NOISE_LENGTH_M) + 0.25 + 0.15 * np.eye(len(CHANNELS))
    return np.linalg.cholesky(cov)


def _trials(evoked: np.ndarray, n_reps: int, root: np.ndarray, rng: np.random.Generator
            ) -> np.ndarray:
    """Trials of shape (n_images, n_reps, n_ch, n_t): evoked + correlated noise, baselined."""
    n, n_ch, n_t = evoked.shape
    white = rng.standard_normal((n, n_reps, n_ch, n_t))
    noise = np.empty_like(white)
    noise[..., 0] = white[..., 0]
    for k in range(1, n_t):  # AR(1) in time, unit variance
        noise[..., k] = NOISE_AR * noise[..., k - 1] + np.sqrt(1 - NOISE_AR ** 2) * white[..., k]
    noise = np.einsum("ij,nrjt->nrit", root, noise)
    trials = evoked[:, None] + noise
    return trials - trials[..., TIMES < 0].mean(axis=-1, keepdims=True)


def _save_pickled(path: Path, obj: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.save(fh, np.array(obj, dtype=object), allow_pickle=True)


def _csv(header: list[str], rows, delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def simulate_confounded(root: str | os.PathLike, *, n_subjects: int = 1,
                        n_train_concepts: int = 60, images_per_concept: int = 4,
                        n_test_concepts: int = 120, n_train_repetitions: int = 2,
                        n_test_repetitions: int = 40, image_size: int = 64,
                        seed: int = 0) -> Path:
    """Write a confounded simulated dataset in the THINGS-EEG2 layout.

    Parameters
    ----------
    root : path-like
        A new or empty folder (a non-empty folder is refused, never overwritten).
    n_subjects, n_train_concepts, images_per_concept, n_test_concepts : int
    n_train_repetitions, n_test_repetitions : int
    image_size : int
        Side of the JPEG images, pixels.
    seed : int

    Returns
    -------
    Path
        ``root``.
    """
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise PerceptogramError(f"refusing to simulate into {root}: it exists and is not an "
                                "empty folder")
    root.mkdir(parents=True, exist_ok=True)
    patterns = planted_patterns()
    generic = 0.6 * np.outer(np.ones(len(CHANNELS)), _gamma_course(0.1)
                             - 0.6 * _gamma_course(0.17))
    root_cov = _noise_root()
    counts = {"train": (n_train_concepts, images_per_concept), "test": (n_test_concepts, 1)}
    metadata: dict[str, list[str]] = {}
    categories: dict[str, str] = {}
    splits = {}
    for k, (split, (n_concepts, per)) in enumerate(counts.items()):
        rng = _rng(seed, 0, k)
        a = _attributes(n_concepts, per, rng)
        prefix = "train" if split == "train" else "test"
        offset = 0 if split == "train" else n_train_concepts
        concepts = [f"{offset + i // per + 1:05d}_item{offset + i // per + 1:04d}"
                    for i in range(n_concepts * per)]
        files = [f"item{offset + i // per + 1:04d}_{i % per + 1:02d}.jpg"
                 for i in range(n_concepts * per)]
        for concept, cat in zip(concepts, a["category"]):
            categories[concept] = str(cat)
        image_rng = _rng(seed, 1, k)
        for i, (concept, file) in enumerate(zip(concepts, files)):
            image = render(a["hue"][i], a["texture"][i], a["brightness"][i], a["size"][i],
                           image_size, image_rng)
            folder = root / IMAGE_FOLDERS[split] / concept
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / file, format="JPEG", quality=95,
                                        subsampling=0)
        metadata[f"{prefix}_img_files"] = files
        metadata[f"{prefix}_img_concepts"] = concepts
        metadata[f"{prefix}_img_concepts_THINGS"] = concepts
        splits[split] = (a, files, concepts)
    _save_pickled(root / METADATA_FILE, metadata)
    reps = {"train": n_train_repetitions, "test": n_test_repetitions}
    for subject in range(1, n_subjects + 1):
        for k, (split, (a, files, _)) in enumerate(splits.items()):
            rng = _rng(seed, 2, subject, k)
            f = features(a)
            evoked = generic[None] + sum(f[name][:, None, None] * patterns[name][None]
                                         for name in EFFECTS)
            gain = np.clip(1.0 + JITTER_SD * rng.standard_normal(len(files)), 0.3, None)
            data = _trials(gain[:, None, None] * evoked, reps[split], root_cov, rng)
            _save_pickled(root / f"sub-{subject:02d}" / SPLIT_FILES[split], {
                "preprocessed_eeg_data": data, "ch_names": list(CHANNELS),
                "times": TIMES.copy()})
    truth = root / "ground_truth"
    truth.mkdir(exist_ok=True)
    np.savez(truth / "patterns.npz", **patterns)
    (truth / "categories.tsv").write_text(
        _csv(["concept", "category"], sorted(categories.items()), delimiter="\t"),
        encoding="utf-8")
    for split, (a, files, concepts) in splits.items():
        f = features(a)
        rows = [[file, concept, a["category"][i], f"{a['hue'][i]:.4f}",
                 f"{a['texture'][i]:.5f}", f"{a['brightness'][i]:.5f}", f"{a['size'][i]:.5f}"]
                for i, (file, concept) in enumerate(zip(files, concepts))]
        (truth / f"attributes_{split}.csv").write_text(
            _csv(["image", "concept", "category", "hue", "texture", "brightness", "size"],
                 rows), encoding="utf-8")
    record = {"generator": GENERATOR, "seed": seed, "ch_names": list(CHANNELS),
              "times": TIMES.tolist(), "effects": EFFECTS, "null_attributes": NULL_ATTRIBUTES,
              "units": "noise standard deviations of one trial (before baseline correction)",
              "amplitude_jitter_sd": JITTER_SD,
              "noise": {"spatial": f"0.6 exp(-d / {NOISE_LENGTH_M} m) + 0.25 common + "
                                   "0.15 independent", "temporal": f"AR(1), {NOISE_AR}"}}
    (truth / "truth.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return root


def load_truth(root: str | os.PathLike) -> dict[str, Any]:
    """``truth.json`` and the planted patterns of a confounded simulation."""
    folder = Path(root) / "ground_truth"
    record = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    with np.load(folder / "patterns.npz") as archive:
        record["patterns"] = {k: archive[k] for k in archive.files}
    return record
