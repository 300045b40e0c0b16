"""Foreign recordings: real EEG noise, another paradigm, a planted effect we know.

Unlike the simulators, these folders are written as a user writes them: MNE epochs
files cut from a *real* continuous recording (the Muse P300 recording shipped in
``perceptogram.examples.p300``, or EEGLAB's tutorial recording in ``tests/data``), an
``images.csv`` with paths such as ``images/face/Joan_1.jpg`` and concepts such as
``face``, pictures drawn here (no third-party images), artifact rejection by MNE
(so epoch counts are uneven and a picture may lose every epoch), odd channel names,
stored electrode positions, and values in volts.

The paradigm (faces vs houses, or gratings left vs right of fixation) is not the
recording's: epochs are cut at onsets of our choosing, pictures are assigned to them
at random, and one effect is added to the epochs of one category at a known channel
and latency (:class:`Planted`). Everything else in the data is real EEG and
unrelated to the pictures: any attribute but the planted category must come out
null.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

#: The shipped real recording (4-channel Muse, 256 Hz, 32 minutes, volts).
MUSE_RAW = (Path(__file__).parents[1] / "src" / "perceptogram" / "examples" / "p300"
            / "subject1-raw.fif.gz")
#: EEGLAB's tutorial recording, first 120 s (32 channels, 128 Hz, stored positions).
EEGLAB_RAW = Path(__file__).parent / "data" / "eeglab-sample" / "eeglab_sample_120s.set"
#: First names of the drawn faces (file names as a user's picture set has them).
FACE_NAMES = ("Joan", "Ada", "Ravi", "Mei", "Omar", "Lena", "Kofi", "Ines", "Yuki", "Paul",
              "Sara", "Tomas", "Nadia", "Ivan", "Chloe", "Amir", "Rosa", "Ben", "Hana", "Luis",
              "Zoe", "Kenji", "Maya", "Erik")
TEST_CODE_OFFSET = 1000


@dataclass(frozen=True)
class Planted:
    """The effect added to the epochs of one category.

    ``amplitude`` (volts) times a Gaussian in time centred on ``latency`` (s) with
    SD ``width`` (s), on each channel of ``weights`` (channel -> factor).
    """

    category: str
    reference: str
    latency: float
    width: float
    amplitude: float
    weights: dict[str, float]

    def waveform(self, ch_names, times) -> np.ndarray:
        """The added signal, shape (n_channels, n_times), volts."""
        shape = self.amplitude * np.exp(-0.5 * ((np.asarray(times) - self.latency)
                                                / self.width) ** 2)
        return np.stack([self.weights.get(name, 0.0) * shape for name in ch_names])


# ------------------------------------------------------------------------ pictures
def _ellipse(size: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0


def _grain(rng, size: int, level: float) -> np.ndarray:
    """Fine pixel noise (texture) of the given SD, shape (size, size, 1)."""
    return level * rng.standard_normal((size, size, 1))


def draw_face(rng, size: int = 64, background: float = 0.8, grain: float = 0.0) -> np.ndarray:
    """A cartoon face: skin-coloured oval, hair, eyes, mouth; uint8 (size, size, 3)."""
    image = np.empty((size, size, 3))
    image[:] = background * np.array([0.95, 0.95, 1.0])
    skin = np.array([0.93, 0.76, 0.62]) * rng.uniform(0.75, 1.05)
    s = size / 64
    face = _ellipse(size, 34 * s, 32 * s, 21 * s, 16 * s)
    image[_ellipse(size, 24 * s, 32 * s, 14 * s, 18 * s) & ~face] = rng.uniform(0.1, 0.5, 3)
    image[face] = skin
    for cx in (25, 39):
        image[_ellipse(size, 30 * s, cx * s, 2.5 * s, 3.5 * s)] = 0.1
    mouth = _ellipse(size, 44 * s, 32 * s, 3 * s, 7 * s) & ~_ellipse(size, 42 * s, 32 * s,
                                                                       3 * s, 7 * s)
    image[mouth] = [0.6, 0.15, 0.15]
    image += _grain(rng, size, grain)
    return (255 * np.clip(image, 0, 1)).astype(np.uint8)


def draw_house(rng, size: int = 64, background: float = 0.5, grain: float = 0.0,
               bricks: bool = True) -> np.ndarray:
    """A house: coloured walls (bricks), roof, windows, door; uint8 (size, size, 3)."""
    image = np.empty((size, size, 3))
    image[:] = background * np.array([0.8, 0.9, 1.0])
    y, x = np.mgrid[:size, :size]
    s = size / 64
    wall = (y >= 28 * s) & (y < 58 * s) & (x >= 12 * s) & (x < 52 * s)
    colour = rng.choice([[0.7, 0.3, 0.2], [0.35, 0.4, 0.7], [0.6, 0.6, 0.55],
                         [0.8, 0.7, 0.3]]) * rng.uniform(0.7, 1.1)
    image[wall] = colour
    if bricks:  # mortar lines every 3 px: fine texture
        image[wall & ((y % 3) == 0)] *= 0.55
        image[wall & ((x + 3 * ((y // 3) % 2)) % 6 == 0)] *= 0.7
    roof = (y >= 10 * s) & (y < 28 * s) & (np.abs(x - 32 * s) <= (y - 10 * s) * 1.2 + 1)
    image[roof] = [0.35, 0.15, 0.1]
    for cx in (20, 38):
        image[(y >= 34 * s) & (y < 42 * s) & (x >= cx * s) & (x < (cx + 7) * s)] = 0.95
    image[(y >= 46 * s) & (y < 58 * s) & (x >= 29 * s) & (x < 35 * s)] = 0.2
    image += _grain(rng, size, grain)
    return (255 * np.clip(image, 0, 1)).astype(np.uint8)


def draw_grating(rng, side: str, size: int = 64) -> np.ndarray:
    """A small grating patch left or right of a fixation cross on grey; uint8."""
    image = np.full((size, size, 3), rng.uniform(0.3, 0.6))
    y, x = np.mgrid[:size, :size]
    cx = size * (0.22 if side == "left" else 0.78)
    patch = (x - cx) ** 2 + (y - size / 2) ** 2 <= (size / 7) ** 2
    contrast = rng.uniform(0.2, 0.5)
    period = rng.uniform(3.0, 8.0)
    colour = rng.uniform(0.3, 1.0, 3)
    image[patch] = (0.5 + contrast * np.sin(2 * np.pi * x[patch] / period))[:, None] * colour
    image[(np.abs(x - size / 2) < 1) & (np.abs(y - size / 2) < 4)] = 0.0
    image[(np.abs(y - size / 2) < 1) & (np.abs(x - size / 2) < 4)] = 0.0
    return (255 * np.clip(image, 0, 1)).astype(np.uint8)


def _save(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=92)


def face_house_pictures(dest: Path, n_per_class: int, *, split: str, confounded: bool,
                        seed: int) -> list[tuple[str, str]]:
    """Draw face and house pictures into ``dest/images/<concept>/``.

    ``confounded``: faces on bright, smooth backgrounds and houses on dark ones with
    bricks (category goes with brightness and texture, as in the issue's picture
    set). Otherwise background brightness and grain are drawn alike for both
    categories (brightness and texture vary within a category).

    Returns
    -------
    list of (image path relative to ``dest``, concept)
    """
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_per_class):
        for concept in ("face", "house"):
            if confounded:  # |r| of category with brightness and texture about 0.8-0.9
                background = rng.uniform(0.5, 0.95) if concept == "face" else \
                    rng.uniform(0.25, 0.7)
                grain = rng.uniform(0.0, 0.03) if concept == "face" else \
                    rng.uniform(0.0, 0.06)
            else:
                background, grain = rng.uniform(0.15, 0.95), rng.uniform(0.0, 0.12)
            if concept == "face":
                name = f"{FACE_NAMES[k % len(FACE_NAMES)]}_{1 + k // len(FACE_NAMES)}"
                if split == "test":
                    name += "_t"
                image = draw_face(rng, background=background, grain=grain)
            else:
                name = f"house_{split}_{k + 1:02d}"
                image = draw_house(rng, background=background, grain=grain,
                                   bricks=confounded or rng.random() < 0.5)
            relative = f"images/{concept}/{name}.jpg"
            _save(image, dest / relative)
            out.append((relative, concept))
    return out


# ------------------------------------------------------------------------ EEG
@lru_cache(maxsize=1)
def _muse_raw():
    """The real Muse recording, 1-30 Hz IIR (the recording's own analysis), volts."""
    import mne

    raw = mne.io.read_raw_fif(MUSE_RAW, preload=True, verbose="error")
    raw.pick("eeg").filter(1.0, 30.0, method="iir", verbose="error")
    return raw


def _epochs_from_raw(raw, onsets: np.ndarray, codes: np.ndarray, *, tmin: float,
                     tmax: float, reject: float | None):
    """MNE epochs at the given sample onsets with the given codes (MNE rejects)."""
    import mne

    events = np.column_stack([onsets, np.zeros(len(onsets), int), codes]).astype(int)
    return mne.Epochs(raw, events, event_id=None, tmin=tmin, tmax=tmax,
                      baseline=(tmin, 0.0), reject=None if reject is None else
                      {"eeg": reject}, reject_by_annotation=True, preload=True,
                      verbose="error")


def _plant(epochs, codes_of_category: set[int], planted: Planted):
    """Add the planted waveform to the epochs whose code is in the category."""
    import mne

    data = epochs.get_data(copy=True)
    wave = planted.waveform(epochs.ch_names, epochs.times)
    hit = np.isin(epochs.events[:, 2], sorted(codes_of_category))
    data[hit] += wave
    return mne.EpochsArray(data, epochs.info, events=epochs.events, tmin=epochs.tmin,
                           baseline=None, verbose="error")


def _schedule(rng, n_pictures: int, repetitions: tuple[int, int]) -> np.ndarray:
    """Picture index of each trial: each picture shown ``repetitions`` times (inclusive
    range), in random order."""
    counts = rng.integers(repetitions[0], repetitions[1] + 1, n_pictures)
    order = np.repeat(np.arange(n_pictures), counts)
    return order[rng.permutation(len(order))]


def write_images_csv(dest: Path, rows: list[tuple[str, int, str, str]]) -> Path:
    """``images.csv`` (split, event_id, image, concept) as a user writes it."""
    path = dest / "images.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["split", "event_id", "image", "concept"])
        writer.writerows(rows)
    return path


def face_house(dest: Path, *, n_subjects: int = 2, n_train: int = 8, n_test: int = 8,
               train_repetitions: tuple[int, int] = (3, 4),
               test_repetitions: tuple[int, int] = (5, 6), amplitude: float = -5e-6,
               confounded: bool = False, channels: tuple[str, ...] | None = None,
               rename: dict[str, str] | None = None, lose_picture: int | None = 2,
               seed: int = 0) -> tuple[Path, Planted]:
    """A face/house experiment on the real Muse EEG (the issue's consumer headset).

    Per subject (each from another stretch of the recording): ``n_train`` faces and
    houses for training and ``n_test`` of each for testing (other pictures), each
    shown a random number of times in ``*_repetitions``; epochs -0.1 to 0.8 s every
    0.95 s, baseline before 0, MNE rejection at 100 µV peak-to-peak (real losses:
    uneven counts). Subject ``lose_picture`` loses every epoch of its first test
    picture (a face). A face − house effect (N170-like, 170 ms) is planted at TP10,
    weaker at TP9.

    Parameters
    ----------
    channels : tuple of str, optional
        Keep only these channels (e.g. one or three).
    rename : dict, optional
        Channel names as the user's files spell them (e.g. ``{"TP10": "tp10"}``).

    Returns
    -------
    folder : Path
        The ``mne``-format folder (epochs files, ``images.csv``, ``images/``).
    planted : Planted
        What was planted, channel names as in the files.
    """
    rename = rename or {}
    planted = Planted("face", "house", latency=0.17, width=0.02, amplitude=amplitude,
                      weights={rename.get("TP10", "TP10"): 1.0, rename.get("TP9", "TP9"): 0.5})
    dest.mkdir(parents=True)
    pictures = {
        "train": face_house_pictures(dest, n_train, split="train", confounded=confounded,
                                     seed=seed),
        "test": face_house_pictures(dest, n_test, split="test", confounded=confounded,
                                    seed=seed + 1)}
    rows = [(split, (0 if split == "train" else TEST_CODE_OFFSET) + 1 + i, image, concept)
            for split, items in pictures.items() for i, (image, concept) in enumerate(items)]
    write_images_csv(dest, rows)
    raw = _muse_raw().copy()
    if channels is not None:
        raw.pick(list(channels))
    raw.rename_channels(rename)
    sfreq = raw.info["sfreq"]
    rng = np.random.default_rng(seed)
    start = int(5 * sfreq)
    for subject in range(1, n_subjects + 1):
        for split, repetitions in (("train", train_repetitions), ("test", test_repetitions)):
            items = pictures[split]
            offset = 1 if split == "train" else TEST_CODE_OFFSET + 1
            order = _schedule(rng, len(items), repetitions)
            onsets = start + np.round(np.arange(len(order)) * 0.95 * sfreq).astype(int)
            start = int(onsets[-1] + sfreq)
            if start >= raw.n_times:
                raise ValueError("the recording is too short for this many trials")
            epochs = _epochs_from_raw(raw, onsets, order + offset, tmin=-0.1, tmax=0.8,
                                      reject=100e-6)
            faces = {offset + i for i, (_, c) in enumerate(items) if c == "face"}
            epochs = _plant(epochs, faces, planted)
            if subject == lose_picture and split == "test":
                epochs.drop(np.flatnonzero(epochs.events[:, 2] == offset), verbose="error")
            epochs.save(dest / f"sub-{subject}_{split}-epo.fif", verbose="error")
    return dest, planted


def epochs_by_category(folder: Path, subject: int, planted: Planted):
    """Trial-level test epochs of one subject and each one's category (from images.csv)."""
    import mne

    epochs = mne.read_epochs(folder / f"sub-{subject}_test-epo.fif", verbose="error")
    concept = {}
    with open(folder / "images.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["split"] == "test":
                concept[int(row["event_id"])] = row["concept"]
    labels = np.array([concept[c] for c in epochs.events[:, 2]])
    return epochs, labels


def trial_level_clusters(epochs, labels: np.ndarray, planted: Planted, *, tmin: float,
                         tmax: float, n_permutations: int = 500, seed: int = 0):
    """MNE's trial-level cluster test, category vs reference, per channel.

    ``mne.stats.permutation_cluster_test`` (F test of the two groups of single
    epochs, threshold at p < 0.05, clusters over time) on each channel of the
    window ``tmin <= t < tmax`` (the run's default window).

    Returns
    -------
    dict of channel -> list of (mask over the window's times, cluster p, mean
    difference category − reference in volts)
    """
    import mne

    keep = (epochs.times >= tmin - 1e-9) & (epochs.times < tmax - 1e-9)
    data = epochs.get_data(picks="eeg")[:, :, keep]
    a, b = labels == planted.category, labels == planted.reference
    out = {}
    for k, name in enumerate(epochs.ch_names):
        _, clusters, p_values, _ = mne.stats.permutation_cluster_test(
            [data[a, k], data[b, k]], n_permutations=n_permutations, rng=seed,
            out_type="mask", verbose="error")
        difference = data[a, k].mean(axis=0) - data[b, k].mean(axis=0)
        masks = []
        for cluster in clusters:  # MNE gives one-dimensional clusters as slices
            mask = np.zeros(len(difference), dtype=bool)
            mask[cluster] = True
            masks.append(mask)
        out[name] = [(mask, float(p), float(difference[mask].mean()))
                     for mask, p in zip(masks, p_values)]
    return out, epochs.times[keep]


def lateral_gratings(dest: Path, *, subject: int = 1, n_per_side: int = 3,
                     amplitude: float = 12e-6, rename: dict[str, str] | None = None,
                     seed: int = 0) -> tuple[dict[str, Path], Planted]:
    """A continuous recording of gratings left or right of fixation, for ``data import``.

    EEGLAB's tutorial recording (32 channels, 128 Hz, its own channel locations,
    ``EOG1``/``EOG2`` typed EEG) with our own events: a grating every 0.9-1.1 s,
    ``n_per_side`` pictures per side in random order. A contralateral response to
    left gratings is planted in the continuous data (positive, 130 ms, largest at
    PO8, then O2, PO4, P8, Oz, P4), so that it goes through the import's filter, epochs and
    rejection as a real response would. The recording is written as a FIF file
    (channel names as in ``rename``, e.g. ``{"FPz": "fpz"}``; positions kept),
    with a BIDS-like events file (``onset``, ``value``) and the picture table.

    Returns
    -------
    files : dict
        ``recording``, ``events``, ``pictures`` (the table; images beside it).
    planted : Planted
        Category ``left`` vs ``right``, channel names as in the file.
    """
    import mne

    rename = rename or {}
    spread = {"PO8": 1.0, "O2": 0.8, "PO4": 0.7, "P8": 0.6, "Oz": 0.5, "P4": 0.4}
    planted = Planted("left", "right", latency=0.13, width=0.035, amplitude=amplitude,
                      weights={rename.get(k, k): w for k, w in spread.items()})
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = []
    for side in ("left", "right"):
        for k in range(n_per_side):
            relative = f"images/{side}/grating_{k + 1}.png"
            if not (dest / relative).exists():
                _save(draw_grating(np.random.default_rng(100 * (side == "left") + k), side),
                      dest / relative)
            images.append((f"{side}{k + 1}", relative, side))
    raw = mne.io.read_raw_eeglab(EEGLAB_RAW, preload=True, verbose="error")
    raw.set_annotations(None)  # the recording's own events are not ours
    sfreq = raw.info["sfreq"]
    onsets = [1.0]
    while onsets[-1] < raw.times[-1] - 2.0:
        onsets.append(onsets[-1] + rng.uniform(0.9, 1.1))
    onsets = np.asarray(onsets[:-1])
    shown = rng.integers(0, len(images), len(onsets))
    data = raw.get_data()
    times = np.arange(int(0.6 * sfreq)) / sfreq
    wave = planted.waveform(raw.ch_names, times)
    for onset, k in zip(onsets, shown):
        if images[k][2] == planted.category:
            start = int(round(onset * sfreq))
            data[:, start:start + len(times)] += wave
    raw = mne.io.RawArray(data, raw.info, verbose="error")
    raw.rename_channels(rename)
    recording = dest / f"sub-{subject}_gratings-raw.fif"
    raw.save(recording, overwrite=True, verbose="error")
    events = dest / f"sub-{subject}_gratings-events.tsv"
    events.write_text("onset\tvalue\n" + "".join(f"{t:.6f}\t{images[k][0]}\n"
                                                 for t, k in zip(onsets, shown)))
    pictures = dest / "pictures.csv"
    pictures.write_text("event,image,concept\n" + "".join(f"{e},{i},{c}\n"
                                                          for e, i, c in images))
    return {"recording": recording, "events": events, "pictures": pictures}, planted
