"""Simulated THINGS-EEG2-style dataset with planted, known ground truth.

:func:`simulate_dataset` draws procedural stimuli (:mod:`perceptogram.data.simulate.stimuli`)
organised like THINGS (training concepts with several images each, disjoint test
concepts with one image each), simulates every subject's EEG with a dipole
forward model (:mod:`perceptogram.data.simulate.forward_model`) and writes both in exactly
the on-disk layout of the THINGS-EEG2 release, so every loader and pipeline
stage runs on it unchanged::

    root/
      image_metadata.npy                  pickled dict, as in the release
      training_images/<concept>/<file>    JPEG
      test_images/<concept>/<file>        JPEG
      sub-01/preprocessed_eeg_training.npy
      sub-01/preprocessed_eeg_test.npy
      ground_truth/
        simulation.json                   parameters, latencies, sides, ...
        patterns.npz                      planted patterns, nominal head
        patterns_sub-01.npz               planted patterns of each subject
        attributes_train.csv / .npz       per-image attributes, file order
        attributes_test.csv / .npz
        semantic_labels.csv               image -> planted superclass (animate / food),
                                          a label table for interpretability.labels

Planted effects. Every image's noise-free response is

    sum_a feature_a(image) * pattern_a + category_pattern[class(image)]
    + sum_k idiosyncratic_k(image) * idiosyncratic_pattern_k

where the features are (:func:`attribute_features`): ``hue`` = cos(hue - 30 deg)
(warm-cool axis: red +0.87, blue -0.87), ``texture``, ``brightness`` and ``size``
rescaled to [-1, 1], and ``superclass`` = +1 animate, -1 food. A pattern is the
EEG change (channels x times, in units of the single-trial noise standard
deviation) for a one-unit increase of its feature. ``position_x`` and
``orientation`` vary in the images but have no EEG effect (null attributes).
Class patterns are zero-mean within each superclass; idiosyncratic coefficients
(half shared by a concept's images, half per image) make each image's response
its own. Trials add independent 1/f background, alpha and sensor noise and are
baseline-corrected, as in the release. Data are not MVNN-whitened, so planted
topographies stay readable; the EEG is reference-free (sphere model).

Subjects differ by small source jitter, gains, latencies and their own noise
sources. For cross-subject work, ``subject_mixing`` also passes every subject's
brain signals (planted patterns and background) through its own random
orthogonal channel mixing (the same sources seen through another head), and
``subject_noise_spread`` makes some subjects noisier than others; both are off
by default.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image

from perceptogram._io import check_free_space, check_memory, default_mode, write_text_atomic
from perceptogram._owned import mark_owned, remove_owned
from perceptogram._progress import track
from perceptogram._threads import ordered_map
from perceptogram.data.simulate import forward_model as fm
from perceptogram.data.simulate import stimuli
from perceptogram.data.core.montage import MONTAGE_NAME
from perceptogram.data.formats.things_eeg2 import IMAGE_FOLDERS, METADATA_FILE, SPLIT_FILES
from perceptogram.errors import DataFormatError, PerceptogramError

FORMAT_VERSION = 1
#: The label table of the planted semantic classes, in ``ground_truth/``.
LABEL_TABLE = "semantic_labels.csv"
GENERATOR = "perceptogram.data.simulate.dataset"
#: Ownership-marker kind of a simulated dataset folder (see :mod:`perceptogram._owned`).
SIMULATION_KIND = "simulation"
NULL_ATTRIBUTES: dict[str, str] = {
    "position_x": "horizontal position of the object centre (image widths); no EEG effect",
    "orientation": "in-plane rotation of the object (degrees); no EEG effect",
}
N_IDIOSYNCRATIC = 6
TRIALS_PER_CHUNK = 4096
JPEG_QUALITY = 95
SPLITS = ("train", "test")
_FEATURES = {
    "brightness": "2 * (brightness - 0.4) / 0.6 - 1, in [-1, 1]",
    "hue": "cos(hue - 30 deg): red (0 deg) +0.87, blue (240 deg) -0.87",
    "texture": "2 * texture - 1, in [-1, 1]",
    "size": "2 * (size - 0.45) / 0.25 - 1, in [-1, 1]",
    "superclass": "+1 animate, -1 food",
}


def attribute_features(attributes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map image attributes to the features that drive the planted EEG patterns.

    Parameters
    ----------
    attributes : dict of str to ndarray, shape (n_images,)
        At least ``hue``, ``texture``, ``brightness``, ``size``, ``superclass``.

    Returns
    -------
    features : dict of str to ndarray of float, shape (n_images,)
        One per planted attribute (keys of ``forward_model.PLANTED_EFFECTS``).
    """
    def unit(name: str) -> np.ndarray:
        low, high = stimuli.ATTRIBUTE_RANGES[name]
        return 2.0 * (np.asarray(attributes[name], dtype=float) - low) / (high - low) - 1.0

    return {
        "brightness": unit("brightness"),
        "hue": np.cos(np.deg2rad(np.asarray(attributes["hue"], dtype=float) - 30.0)),
        "texture": unit("texture"),
        "size": unit("size"),
        "superclass": np.where(np.asarray(attributes["superclass"]) == "animate", 1.0, -1.0),
    }


@dataclass(frozen=True)
class SubjectTruth:
    """What was planted in one simulated subject.

    Parameters
    ----------
    patterns : dict of str to ndarray, shape (n_channels, n_times)
        Attribute patterns of this subject (jittered nominal patterns).
    category_patterns : dict of str to ndarray, shape (n_channels, n_times)
    latencies : dict of str to float
        Seconds.
    gains : dict of str to float
    alpha_frequency : float
        Hz.
    noise_sd : dict of str to float
        Measured single-trial noise standard deviation per split (mean over
        channels, after baseline correction).
    mixing : ndarray, shape (n_channels, n_channels), or None
        The subject's own channel mixing of every planted pattern
        (``subject_mixing > 0``), else None.
    noise_scale : float
        Factor on the subject's noise standard deviation (``subject_noise_spread``).
    """

    patterns: dict[str, np.ndarray]
    category_patterns: dict[str, np.ndarray]
    latencies: dict[str, float]
    gains: dict[str, float]
    alpha_frequency: float
    noise_sd: dict[str, float]
    mixing: np.ndarray | None = None
    noise_scale: float = 1.0


@dataclass(frozen=True)
class GroundTruth:
    """The planted truth of a simulated dataset.

    Parameters
    ----------
    patterns : dict of str to ndarray, shape (n_channels, n_times)
        Nominal (subject-free) pattern of each planted attribute on the full
        -0.2..0.79 s time axis: EEG change per unit of the attribute's feature.
    ch_names : tuple of str, length n_channels
    times : ndarray, shape (n_times,)
        Seconds.
    latencies : dict of str to float
        Planted peak time of each attribute, seconds.
    sides : dict of str to str
        ``"medial"``, ``"lateral"`` (bilateral) or ``"right"``.
    peak_channels : dict of str to str
        Channel of largest absolute nominal pattern at the planted latency.
    descriptions : dict of str to str
        What each attribute's effect is, and how its feature is computed.
    attributes : dict of str to dict of str to ndarray, shape (n_images,)
        ``attributes[split][name]`` for ``split`` in ``{"train", "test"}`` in
        file order: raw attributes (``hue``, ``texture``, ...), views
        (``hue_group``, ``superclass``, ``category``), features
        (``feature_hue``, ...), ``image_file`` and ``concept``.
    null_attributes : tuple of str
        Attributes that vary in the images but have no EEG effect.
    category_patterns : dict of str to ndarray, shape (n_channels, n_times)
        Nominal class-specific patterns.
    idiosyncratic : dict of str to ndarray, shape (n_images, n_idiosyncratic)
        Image-specific coefficients per split.
    subjects : dict of int to SubjectTruth
    parameters : dict
        Arguments of :func:`simulate_dataset`.
    seed : int
    """

    patterns: dict[str, np.ndarray]
    ch_names: tuple[str, ...]
    times: np.ndarray
    latencies: dict[str, float]
    sides: dict[str, str]
    peak_channels: dict[str, str]
    descriptions: dict[str, str]
    attributes: dict[str, dict[str, np.ndarray]]
    null_attributes: tuple[str, ...]
    category_patterns: dict[str, np.ndarray]
    idiosyncratic: dict[str, np.ndarray]
    subjects: dict[int, SubjectTruth]
    parameters: dict[str, Any]
    seed: int


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


@dataclass(frozen=True)
class _Split:
    files: list[str]
    concepts: list[str]
    concepts_things: list[str]
    attributes: dict[str, np.ndarray]
    features: dict[str, np.ndarray]
    idiosyncratic: np.ndarray


def _design(seed: int, n_train_concepts: int, images_per_concept: int,
            n_test_concepts: int) -> dict[str, _Split]:
    """Concept names, classes, image files and attributes of both splits."""
    rng = _rng(seed, 0)
    n_classes = len(stimuli.OBJECT_CLASSES)
    class_names = [c.name for c in stimuli.OBJECT_CLASSES]
    counts = {"train": n_train_concepts, "test": n_test_concepts}
    per_image = {"train": images_per_concept, "test": 1}
    things_numbers = rng.permutation(n_train_concepts + n_test_concepts) + 1
    counters = dict.fromkeys(class_names, 0)
    splits = {}
    offset = 0
    for split in SPLITS:
        n_concepts = counts[split]
        classes = [class_names[i] for i in rng.permutation(np.resize(np.arange(n_classes),
                                                                     n_concepts))]
        names = []
        for cls in classes:
            counters[cls] += 1
            names.append(f"{cls}_{counters[cls]:03d}")
        n_img = per_image[split]
        attributes = stimuli.sample_attributes(classes, n_img, rng)
        concept_part = rng.standard_normal((n_concepts, N_IDIOSYNCRATIC))
        image_part = rng.standard_normal((n_concepts * n_img, N_IDIOSYNCRATIC))
        idiosyncratic = np.sqrt(0.5) * (np.repeat(concept_part, n_img, axis=0) + image_part)
        files, concepts, concepts_things = [], [], []
        for c, name in enumerate(names):
            for k in range(n_img):
                files.append(f"{name}_{k + 1:02d}s.jpg")
                concepts.append(f"{c + 1:05d}_{name}")
                concepts_things.append(f"{things_numbers[offset + c]:05d}_{name}")
        offset += n_concepts
        splits[split] = _Split(files, concepts, concepts_things, attributes,
                               attribute_features(attributes), idiosyncratic)
    return splits


def _check_target(root: Path, parameters: dict[str, Any], overwrite: bool) -> bool:
    """Return True when ``root`` already holds this exact simulation."""
    if root.exists() and not root.is_dir():
        raise PerceptogramError(f"cannot simulate into {root}: it is a file, not a folder")
    if not root.exists() or not any(root.iterdir()):
        return False
    record = root / "ground_truth" / "simulation.json"
    if not record.is_file():
        raise PerceptogramError(
            f"refusing to write a simulated dataset into {root}: the folder is not empty "
            "and was not made by the simulator; choose an empty or new folder"
        )
    try:
        previous = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{record} is not readable JSON: {exc}") from exc
    if previous.get("generator") != GENERATOR:
        raise PerceptogramError(
            f"refusing to overwrite {root}: its ground_truth/simulation.json was not "
            "written by the simulator"
        )
    if previous.get("parameters") == parameters:
        return True
    if not overwrite:
        raise PerceptogramError(
            f"{root} holds a simulated dataset with other parameters; pass overwrite=True "
            "to replace it, or choose another folder"
        )
    return False


def simulate_dataset(root: str | os.PathLike, *, n_subjects: int = 1,
                     n_train_concepts: int = 200, images_per_concept: int = 10,
                     n_test_concepts: int = 100, n_train_repetitions: int = 4,
                     n_test_repetitions: int = 80, image_size: int = 128, seed: int = 0,
                     signal_scale: float = 1.0,
                     noise_fractions: tuple[float, float, float] = (0.55, 0.3, 0.15),
                     write_images: bool = True, overwrite: bool = False,
                     subject_mixing: float = 0.0, subject_noise_spread: float = 0.0) -> Path:
    """Write a simulated dataset in the THINGS-EEG2 layout, with its ground truth.

    Deterministic: the same arguments give byte-identical EEG, metadata and
    ground-truth arrays. The folder appears only once complete (everything is
    written to a temporary sibling folder, then renamed). If ``root`` already
    holds a simulation with the same arguments it is returned untouched.

    Parameters
    ----------
    root : path-like
        Target folder; must be absent, empty, or a previous simulation.
    n_subjects : int
        Subjects ``sub-01`` ... ; each has its own source jitter, gains, alpha
        frequency and noise, and all share the planted attributes.
    n_train_concepts, images_per_concept : int
        Training images, ordered concept by concept.
    n_test_concepts : int
        Test concepts (disjoint from the training concepts), one image each.
    n_train_repetitions, n_test_repetitions : int
        Trials per image.
    image_size : int
        Side of the square JPEG images, pixels (at least 64).
    seed : int
        Seed of every random step.
    signal_scale : float
        Multiplies every planted amplitude (1 = default single-trial SNR).
    noise_fractions : tuple of 3 float
        Shares of the noise variance from 1/f background, alpha and sensor noise.
    write_images : bool
        Render and save the JPEG images (False: EEG, metadata and ground truth
        only, e.g. to benchmark the EEG simulation at full size).
    overwrite : bool
        Replace a previous simulation made with other arguments. A non-empty
        folder not made by the simulator is never overwritten.
    subject_mixing : float
        Strength of each subject's own random orthogonal channel mixing of
        everything its brain sends to the electrodes: planted patterns,
        background and alpha noise
        (:func:`~perceptogram.data.simulate.forward_model.channel_mixing`,
        :func:`~perceptogram.data.simulate.forward_model.mix_subject`: 0 = none,
        the default; 1 keeps about 60 % of each channel; 2 or more scrambles the
        channels): the subjects see the same sources through different heads, as
        in cross-subject decoding. Recorded per subject in the ground truth
        (``mixing``).
    subject_noise_spread : float
        Standard deviation of the log of each subject's noise factor (0 = all
        subjects equally noisy, the default; 0.3 gives factors of about 0.74 to
        1.35).

    Returns
    -------
    root : Path
    """
    counts = dict(n_subjects=n_subjects, n_train_concepts=n_train_concepts,
                  images_per_concept=images_per_concept, n_test_concepts=n_test_concepts,
                  n_train_repetitions=n_train_repetitions,
                  n_test_repetitions=n_test_repetitions, image_size=image_size)
    for name, value in counts.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    min_size = 4 * stimuli.TEXTURE_CYCLES_PER_IMAGE
    if image_size < min_size:
        raise ValueError(f"image_size must be at least {min_size} pixels so that the "
                         f"texture pattern is resolved; got {image_size}")
    if signal_scale < 0:
        raise ValueError(f"signal_scale must be >= 0; got {signal_scale}")
    for name, value in (("subject_mixing", subject_mixing),
                        ("subject_noise_spread", subject_noise_spread)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    parameters = {**{k: int(v) for k, v in counts.items()}, "seed": int(seed),
                  "signal_scale": float(signal_scale),
                  "noise_fractions": [float(f) for f in noise_fractions],
                  "write_images": bool(write_images), "format_version": FORMAT_VERSION}
    # Recorded only when used, so that default simulations stay byte-identical.
    if subject_mixing:
        parameters["subject_mixing"] = float(subject_mixing)
    if subject_noise_spread:
        parameters["subject_noise_spread"] = float(subject_noise_spread)
    root = Path(root)
    if _check_target(root, parameters, overwrite):
        if not (root / "ground_truth" / LABEL_TABLE).is_file():  # simulated before it existed
            _write_label_table(root / "ground_truth", _planted_classes(root / "ground_truth"))
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    _check_resources(root.parent, parameters)
    tmp = _staging(root, "tmp")
    try:
        _write(tmp, parameters)
        _install(tmp, root)
    except BaseException:
        remove_owned(tmp, marked_kind=SIMULATION_KIND)
        raise
    return root


def _write_label_table(folder: Path, rows: list[tuple[str, str]]) -> None:
    """The planted semantic classes as a label table keyed by file name (unique across
    both splits), for ``interpretability.labels``: the silhouettes are not photographs,
    so an ImageNet classifier's animal/food labels are not the classes the EEG carries."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "label"])
    writer.writerows(rows)
    write_text_atomic(folder / LABEL_TABLE, buffer.getvalue())


def _planted_classes(folder: Path) -> list[tuple[str, str]]:
    """``(image file, superclass)`` of both splits from ``attributes_<split>.csv``."""
    rows = []
    for split in SPLITS:
        with open(folder / f"attributes_{split}.csv", encoding="utf-8", newline="") as fh:
            rows += [(row["image_file"], row["superclass"]) for row in csv.DictReader(fh)]
    return rows


def _check_resources(folder: Path, parameters: dict[str, Any]) -> None:
    """Refuse a simulation whose EEG does not fit in memory or on disk, before it starts."""
    per_trial = len(fm.CHANNELS) * len(fm.TIMES) * 8  # float64 samples
    trials = {"train": parameters["n_train_concepts"] * parameters["images_per_concept"]
              * parameters["n_train_repetitions"],
              "test": parameters["n_test_concepts"] * parameters["n_test_repetitions"]}
    # one split in memory at a time: the array, its evoked part and the copy pickling makes
    check_memory(3 * per_trial * max(trials.values()),
                 f"simulating {max(trials.values()):,} trials of one split",
                 "lower dataset.simulation (concepts, images per concept or repetitions)")
    check_free_space(folder, parameters["n_subjects"] * per_trial * sum(trials.values()),
                     "the simulated dataset")


def _staging(root: Path, tag: str) -> Path:
    """A new, marked sibling folder of ``root`` (``.<name>.<tag>-XXXX``).

    The marker makes the folder Perceptogram's own, so that it (and, once renamed
    to ``root``, the simulated dataset) can be removed by
    :func:`~perceptogram._owned.remove_owned` even outside a run directory.
    """
    folder = Path(tempfile.mkdtemp(prefix=f".{root.name}.{tag}-", dir=root.parent))
    os.chmod(folder, default_mode(directory=True))  # mkdtemp makes it private (0700)
    return mark_owned(folder, SIMULATION_KIND)


def _install(tmp: Path, root: Path) -> None:
    """Move the finished folder into place, replacing an empty or simulated one."""
    if root.exists():
        old = _staging(root, "old")
        os.replace(root, old / root.name)
        os.replace(tmp, root)
        remove_owned(old, marked_kind=SIMULATION_KIND)
    else:
        os.replace(tmp, root)


def _write(out: Path, parameters: dict[str, Any]) -> None:
    seed = parameters["seed"]
    splits = _design(seed, parameters["n_train_concepts"], parameters["images_per_concept"],
                     parameters["n_test_concepts"])
    _save_pickled_dict(out / METADATA_FILE, {
        f"{prefix}_img_{key}": list(getattr(splits[split], attr))
        for split, prefix in (("train", "train"), ("test", "test"))
        for key, attr in (("files", "files"), ("concepts", "concepts"),
                          ("concepts_THINGS", "concepts_things"))
    })
    if parameters["write_images"]:
        _write_images(out, splits, parameters["image_size"])

    categories = tuple(c.name for c in stimuli.OBJECT_CLASSES)
    superclasses = tuple(c.superclass for c in stimuli.OBJECT_CLASSES)
    design = fm.make_source_design(categories, superclasses, N_IDIOSYNCRATIC, _rng(seed, 1))
    options = dict(signal_scale=parameters["signal_scale"],
                   noise_fractions=tuple(parameters["noise_fractions"]))
    nominal = fm.build_subject_model(design, None, **options)
    subjects = {s: fm.build_subject_model(design, _rng(seed, 2, s), **options)
                for s in range(1, parameters["n_subjects"] + 1)}
    differences = _subject_differences(subjects, parameters)
    subjects = {s: fm.mix_subject(m, *differences[s]) for s, m in subjects.items()}
    noise_sd = _write_eeg(out, splits, subjects, parameters)
    _write_ground_truth(out / "ground_truth", splits, nominal, subjects, noise_sd,
                        parameters, differences)


def _subject_differences(subjects: dict[int, fm.SubjectModel], parameters: dict[str, Any]
                         ) -> dict[int, tuple[np.ndarray | None, float]]:
    """Each subject's channel mixing (or None) and noise factor, from their own seeds."""
    strength = parameters.get("subject_mixing", 0.0)
    spread = parameters.get("subject_noise_spread", 0.0)
    out = {}
    for s in subjects:
        rng = _rng(parameters["seed"], 4, s)
        mixing = fm.channel_mixing(len(fm.CHANNELS), strength, rng) if strength else None
        scale = float(np.exp(spread * rng.standard_normal())) if spread else 1.0
        out[s] = (mixing, scale)
    return out


def _save_pickled_dict(path: Path, obj: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.save(fh, np.array(obj, dtype=object), allow_pickle=True)


def _write_images(out: Path, splits: dict[str, _Split], image_size: int) -> None:
    """Render and save every stimulus (several at once: NumPy and the JPEG encoder
    release the GIL)."""
    jobs = [(split, i) for split in SPLITS for i in range(len(splits[split].files))]

    def write(job: tuple[str, int]) -> None:
        split, i = job
        part = splits[split]
        a = part.attributes
        image = stimuli.render_stimulus(
            str(a["category"][i]), float(a["hue"][i]), float(a["texture"][i]),
            float(a["brightness"][i]), float(a["size"][i]), float(a["position_x"][i]),
            float(a["orientation"][i]), image_size=image_size)
        folder = out / IMAGE_FOLDERS[split] / part.concepts[i]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / part.files[i], format="JPEG",
                                    quality=JPEG_QUALITY, subsampling=0)

    for _ in track(ordered_map(write, jobs), "rendering stimuli", total=len(jobs)):
        pass


def _write_eeg(out: Path, splits: dict[str, _Split], subjects: dict[int, fm.SubjectModel],
               parameters: dict[str, Any]) -> dict[int, dict[str, float]]:
    """Simulate and save every subject's epochs; return measured noise SDs."""
    reps = {"train": parameters["n_train_repetitions"], "test": parameters["n_test_repetitions"]}
    jobs = []
    for subject in subjects:
        for split_id, split in enumerate(SPLITS):
            per_chunk = max(1, TRIALS_PER_CHUNK // reps[split])
            n_images = len(splits[split].files)
            starts = range(0, n_images, per_chunk)
            jobs += [(subject, split_id, split, k, start, min(start + per_chunk, n_images))
                     for k, start in enumerate(starts)]
    data: dict[tuple[int, str], np.ndarray] = {}
    evoked: dict[tuple[int, str], np.ndarray] = {}
    sum_squares: dict[tuple[int, str], float] = {}
    times = fm.TIMES

    def simulate(job: tuple) -> np.ndarray:
        """One chunk's epochs (its own random stream: any order gives the same data)."""
        subject, split_id, split, chunk, start, stop = job
        key = (subject, split)
        return subjects[subject].trials(evoked[key][start:stop], reps[split],
                                        _rng(parameters["seed"], 3, subject, split_id, chunk))

    def prepared(jobs: list[tuple]) -> Iterator[tuple]:
        """The jobs, each subject's evoked responses computed before its first chunk."""
        for job in jobs:
            subject, _, split, _, _, _ = job
            key = (subject, split)
            if key not in evoked:
                part = splits[split]
                response = subjects[subject].evoked(part.features, part.attributes["category"],
                                                    part.idiosyncratic)
                evoked[key] = response - response[..., times < 0].mean(axis=-1, keepdims=True)
            yield job

    blocks = ordered_map(simulate, prepared(jobs))
    for (subject, _, split, _, start, stop), block in track(zip(jobs, blocks),
                                                            "simulating EEG", total=len(jobs)):
        key = (subject, split)
        if key not in data:
            part = splits[split]
            data[key] = np.empty((len(part.files), reps[split], len(fm.CHANNELS), len(times)))
            sum_squares[key] = 0.0
        data[key][start:stop] = block
        sum_squares[key] += float(np.sum((block - evoked[key][start:stop, None]) ** 2))
        if stop == len(splits[split].files):
            _save_pickled_dict(out / f"sub-{subject:02d}" / SPLIT_FILES[split], {
                "preprocessed_eeg_data": data.pop(key),
                "ch_names": list(fm.CHANNELS),
                "times": times.copy(),
            })
            del evoked[key]
    return {
        subject: {split: float(np.sqrt(sum_squares[(subject, split)] / (
            len(splits[split].files) * reps[split] * len(fm.CHANNELS) * len(times))))
            for split in SPLITS}
        for subject in subjects
    }


def _attribute_columns(part: _Split) -> dict[str, np.ndarray]:
    a = part.attributes
    columns = {
        "image_file": np.asarray(part.files, dtype=str),
        "concept": np.asarray(part.concepts, dtype=str),
        "category": a["category"],
        "superclass": a["superclass"],
        "hue": a["hue"],
        "hue_group": stimuli.hue_group(a["hue"]),
        "texture": a["texture"],
        "brightness": a["brightness"],
        "size": a["size"],
        "position_x": a["position_x"],
        "orientation": a["orientation"],
    }
    columns.update({f"feature_{k}": v for k, v in part.features.items()})
    return columns


def _peak(pattern: np.ndarray, latency: float, times: np.ndarray) -> tuple[str, float]:
    column = pattern[:, int(np.argmin(np.abs(times - latency)))]
    channel = int(np.argmax(np.abs(column)))
    return fm.CHANNELS[channel], float(np.abs(pattern).max())


def _write_ground_truth(folder: Path, splits: dict[str, _Split], nominal: fm.SubjectModel,
                        subjects: dict[int, fm.SubjectModel],
                        noise_sd: dict[int, dict[str, float]],
                        parameters: dict[str, Any],
                        differences: dict[int, tuple[np.ndarray | None, float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        columns = _attribute_columns(splits[split])
        np.savez(folder / f"attributes_{split}.npz", **columns,
                 idiosyncratic=splits[split].idiosyncratic)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in zip(*columns.values()):
            writer.writerow([f"{v:.6g}" if isinstance(v, float | np.floating) else str(v)
                             for v in row])
        (folder / f"attributes_{split}.csv").write_text(buffer.getvalue(), encoding="utf-8")
    _write_label_table(folder, [(file, str(superclass)) for split in SPLITS
                                for file, superclass in zip(splits[split].files,
                                                            splits[split].attributes["superclass"])])

    def pattern_arrays(model: fm.SubjectModel) -> dict[str, np.ndarray]:
        return {**model.patterns,
                **{f"category_{c}": p for c, p in model.category_patterns.items()}}

    np.savez(folder / "patterns.npz", **pattern_arrays(nominal))
    for subject, model in subjects.items():
        np.savez(folder / f"patterns_sub-{subject:02d}.npz", **pattern_arrays(model))

    effects = {}
    for effect in fm.PLANTED_EFFECTS:
        channel, peak = _peak(nominal.patterns[effect.name], effect.latency, fm.TIMES)
        effects[effect.name] = {
            "description": effect.description, "feature": _FEATURES[effect.name],
            "latency": effect.latency, "side": effect.side, "peak_channel": channel,
            "peak_amplitude": peak, "width": effect.width,
        }
    record = {
        "generator": GENERATOR,
        "format_version": FORMAT_VERSION,
        "parameters": parameters,
        "seed": parameters["seed"],
        "ch_names": list(fm.CHANNELS),
        "times": fm.TIMES.tolist(),
        "sfreq": fm.SFREQ,
        "montage": MONTAGE_NAME,
        "head_model": "three-shell sphere fitted to the easycap-M1 montage "
                      "(mne.make_sphere_model), radial dipoles, reference-free",
        "units": "single-trial noise standard deviations (before baseline correction)",
        "attributes": effects,
        "null_attributes": NULL_ATTRIBUTES,
        "categories": {c.name: c.superclass for c in stimuli.OBJECT_CLASSES},
        "category_amplitude": fm.CATEGORY_AMPLITUDE,
        "idiosyncratic": {"n_components": N_IDIOSYNCRATIC,
                          "amplitude": fm.IDIOSYNCRATIC_AMPLITUDE,
                          "coefficients": "sqrt(1/2) * (concept draw + image draw), N(0, 1)"},
        "noise": {"fractions": {"pink": parameters["noise_fractions"][0],
                                "alpha": parameters["noise_fractions"][1],
                                "sensor": parameters["noise_fractions"][2]}},
        "subjects": {
            f"sub-{s:02d}": {"latencies": m.latencies, "gains": m.gains,
                             "alpha_frequency": m.noise.alpha_frequency,
                             "noise_sd": noise_sd[s], **_difference_record(*differences[s])}
            for s, m in subjects.items()
        },
    }
    (folder / "simulation.json").write_text(
        json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _difference_record(mixing: np.ndarray | None, scale: float) -> dict[str, Any]:
    """Ground-truth entries of a subject's mixing and noise factor (none by default)."""
    record: dict[str, Any] = {}
    if mixing is not None:
        record["mixing"] = mixing.tolist()
    if scale != 1.0:
        record["noise_scale"] = scale
    return record


def _read_record(root: Path) -> dict[str, Any]:
    path = root / "ground_truth" / "simulation.json"
    if not path.is_file():
        raise DataFormatError(
            f"{root} has no ground_truth/simulation.json: it is not a simulated dataset "
            "(make one with perceptogram.data.simulate.dataset.simulate_dataset)"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataFormatError(f"{path} is not valid JSON: {exc}") from exc
    if record.get("generator") != GENERATOR:
        raise DataFormatError(f"{path} was not written by {GENERATOR}")
    if record.get("format_version") != FORMAT_VERSION:
        raise DataFormatError(
            f"{path} has format version {record.get('format_version')}; this version of "
            f"Perceptogram reads version {FORMAT_VERSION}: simulate the dataset again"
        )
    return record


def _split_patterns(arrays: dict[str, np.ndarray]
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    patterns = {k: v for k, v in arrays.items() if not k.startswith("category_")}
    categories = {k[len("category_"):]: v for k, v in arrays.items()
                  if k.startswith("category_")}
    return patterns, categories


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


def load_ground_truth(root: str | os.PathLike) -> GroundTruth:
    """Read the planted truth of a dataset made by :func:`simulate_dataset`.

    Parameters
    ----------
    root : path-like

    Returns
    -------
    truth : GroundTruth
    """
    root = Path(root)
    record = _read_record(root)
    folder = root / "ground_truth"
    patterns, category_patterns = _split_patterns(_load_npz(folder / "patterns.npz"))
    attributes, idiosyncratic = {}, {}
    for split in SPLITS:
        columns = _load_npz(folder / f"attributes_{split}.npz")
        idiosyncratic[split] = columns.pop("idiosyncratic")
        attributes[split] = columns
    subjects = {}
    for name, info in record["subjects"].items():
        number = int(name.split("-")[1])
        sub_patterns, sub_categories = _split_patterns(
            _load_npz(folder / f"patterns_{name}.npz"))
        mixing = np.asarray(info["mixing"], dtype=float) if "mixing" in info else None
        subjects[number] = SubjectTruth(sub_patterns, sub_categories, info["latencies"],
                                        info["gains"], info["alpha_frequency"],
                                        info["noise_sd"], mixing,
                                        float(info.get("noise_scale", 1.0)))
    effects = record["attributes"]
    return GroundTruth(
        patterns=patterns,
        ch_names=tuple(record["ch_names"]),
        times=np.asarray(record["times"], dtype=float),
        latencies={k: float(v["latency"]) for k, v in effects.items()},
        sides={k: v["side"] for k, v in effects.items()},
        peak_channels={k: v["peak_channel"] for k, v in effects.items()},
        descriptions={**{k: f"{v['description']}; feature: {v['feature']}"
                         for k, v in effects.items()}, **record["null_attributes"]},
        attributes=attributes,
        null_attributes=tuple(record["null_attributes"]),
        category_patterns=category_patterns,
        idiosyncratic=idiosyncratic,
        subjects=subjects,
        parameters=record["parameters"],
        seed=int(record["seed"]),
    )


def summarize(root: str | os.PathLike) -> dict[str, Any]:
    """Short description of a simulated dataset, for printed summaries.

    Parameters
    ----------
    root : path-like

    Returns
    -------
    summary : dict
        ``n_subjects``, ``n_train_images``, ``n_test_images``,
        ``n_train_concepts``, ``n_test_concepts``, ``n_train_repetitions``,
        ``n_test_repetitions``, ``classes`` (class -> superclass),
        ``attributes`` (per planted attribute: ``latency`` s, ``side``,
        ``peak_channel``, ``peak_amplitude``, ``snr_single_trial``,
        ``snr_train_average``, ``snr_test_average`` = peak amplitude over the
        measured noise SD, times the square root of the repetitions averaged),
        ``null_attributes``, ``seed``.
    """
    record = _read_record(Path(root))
    p = record["parameters"]
    noise = float(np.mean([s["noise_sd"]["train"] for s in record["subjects"].values()]))
    attributes = {}
    for name, effect in record["attributes"].items():
        snr = effect["peak_amplitude"] / noise
        attributes[name] = {
            "latency": effect["latency"], "side": effect["side"],
            "peak_channel": effect["peak_channel"],
            "peak_amplitude": effect["peak_amplitude"],
            "snr_single_trial": snr,
            "snr_train_average": snr * float(np.sqrt(p["n_train_repetitions"])),
            "snr_test_average": snr * float(np.sqrt(p["n_test_repetitions"])),
        }
    return {
        "n_subjects": p["n_subjects"],
        "n_train_images": p["n_train_concepts"] * p["images_per_concept"],
        "n_test_images": p["n_test_concepts"],
        "n_train_concepts": p["n_train_concepts"],
        "n_test_concepts": p["n_test_concepts"],
        "n_train_repetitions": p["n_train_repetitions"],
        "n_test_repetitions": p["n_test_repetitions"],
        "classes": record["categories"],
        "attributes": attributes,
        "null_attributes": list(record["null_attributes"]),
        "seed": record["seed"],
    }
