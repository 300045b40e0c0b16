"""Tiny dataset folders in every supported layout, built from one simulation.

The simulator writes the official layout with a planted signal; the other
layouts are written from its arrays, so each format's loader can be checked
against the official loader (the ground truth of what each file holds).
"""

from __future__ import annotations

import csv
import pickle
import shutil
from pathlib import Path

import numpy as np

from perceptogram.data.formats.things_eeg2_dataset import ThingsEEG2Dataset

#: The 63 channels of the NICE / ATM re-preprocessing (names of MNE's easycap-M1).
NICE_CHANNELS = (
    "Fp1", "Fz", "F3", "F7", "FT9", "FC5", "FC1", "C3", "T7", "TP9", "CP5", "CP1", "Pz",
    "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "TP10", "CP6", "CP2", "Cz", "C4", "T8",
    "FT10", "FC6", "FC2", "F4", "F8", "Fp2", "AF7", "AF3", "AFz", "F1", "F5", "FT7", "FC3",
    "C1", "C5", "TP7", "CP3", "P1", "P5", "PO7", "PO3", "POz", "PO4", "PO8", "P6", "P2",
    "CPz", "CP4", "TP8", "C6", "C2", "FC4", "FT8", "F6", "AF8", "AF4", "F2",
)
NICE_SFREQ = 250.0
#: The file's ``times``: 300 samples from -0.2 s; the data keep the last 250 (0 to 1 s).
NICE_FILE_TIMES = -0.2 + np.arange(300) / NICE_SFREQ
NICE_N_TIMES = 250
TEST_EVENT_OFFSET = 1000


def _copy_images(sim: Path, dest: Path, train_folder: str = "training_images") -> None:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(sim / "image_metadata.npy", dest / "image_metadata.npy")
    shutil.copytree(sim / "training_images", dest / train_folder)
    shutil.copytree(sim / "test_images", dest / "test_images")


def _copy_eeg(sim: Path, dest: Path) -> None:
    for folder in sorted(sim.glob("sub-*")):
        (dest / folder.name).mkdir(parents=True)
        for f in folder.glob("preprocessed_eeg_*.npy"):
            shutil.copy2(f, dest / folder.name / f.name)


def two_root(sim: Path, dest: Path) -> Path:
    """The dataset authors' layout: eeg_dataset/preprocessed_data/ and image_set/."""
    _copy_eeg(sim, dest / "eeg_dataset" / "preprocessed_data")
    _copy_images(sim, dest / "image_set")
    return dest


def train_images_alias(sim: Path, dest: Path) -> Path:
    """One root with ``train_images/`` in place of ``training_images/``."""
    _copy_eeg(sim, dest)
    _copy_images(sim, dest, train_folder="train_images")
    return dest


def nice_signal(data: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The simulated 100 Hz data at 250 Hz on 0-1 s, 63 channels (17 simulated).

    Parameters
    ----------
    data : ndarray, shape (n_images, n_repetitions, 17, n_times)
    times : ndarray, shape (n_times,)

    Returns
    -------
    ndarray of float32, shape (n_images, n_repetitions, 63, 250)
        The 17 posterior channels by linear interpolation (held after the last
        simulated sample), the others seeded noise.
    """
    from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS

    new_times = NICE_FILE_TIMES[-NICE_N_TIMES:]
    rng = np.random.default_rng(0)
    out = rng.standard_normal((*data.shape[:2], len(NICE_CHANNELS), NICE_N_TIMES)
                              ).astype(np.float32)
    for k, name in enumerate(THINGS_CHANNELS):
        flat = data[:, :, k, :].reshape(-1, data.shape[-1])
        resampled = np.stack([np.interp(new_times, times, row) for row in flat])
        out[:, :, NICE_CHANNELS.index(name), :] = resampled.reshape(*data.shape[:2], -1)
    return out


def nice(sim: Path, dest: Path) -> Path:
    """NICE format: Preprocessed_data_250Hz/sub-XX plain pickles, official image_set/."""
    dataset = ThingsEEG2Dataset(sim, cache=False)
    for subject in dataset.subjects():
        folder = dest / "Preprocessed_data_250Hz" / f"sub-{subject:02d}"
        folder.mkdir(parents=True)
        for split, epochs in zip(("training", "test"), dataset.load_subject(subject)):
            content = {"preprocessed_eeg_data": nice_signal(np.asarray(epochs.data),
                                                            epochs.times),
                       "ch_names": list(NICE_CHANNELS), "times": NICE_FILE_TIMES.copy()}
            with open(folder / f"preprocessed_eeg_{split}.npy", "wb") as fh:
                pickle.dump(content, fh, protocol=4)
    _copy_images(sim, dest / "image_set")
    return dest


def mne_epochs(sim: Path, dest: Path, key: str = "event_id") -> Path:
    """MNE epochs: sub-XX_{train,test}-epo.fif (shuffled epochs) and images.csv.

    Image paths in the table are relative to the simulated folder (give it as
    ``images_path``). With ``key="event_id"`` each image has one event code;
    with ``key="epoch"`` the table has one row per epoch.
    """
    import mne

    from perceptogram.data.core.montage import make_info

    dataset = ThingsEEG2Dataset(sim, cache=False)
    dest.mkdir(parents=True)
    table = dataset.images()
    rows = []
    rng = np.random.default_rng(1)
    for subject in dataset.subjects():
        for split, epochs in zip(("train", "test"), dataset.load_subject(subject)):
            n_images, n_reps = epochs.data.shape[:2]
            offset = 1 if split == "train" else TEST_EVENT_OFFSET
            flat = np.asarray(epochs.data, dtype=np.float64).reshape(
                n_images * n_reps, *epochs.data.shape[2:])
            codes = np.repeat(np.arange(n_images), n_reps) + offset
            order = rng.permutation(len(codes))
            events = np.column_stack([np.arange(len(codes)) * 200, np.zeros(len(codes), int),
                                      codes[order]])
            event_id = {f"{split}/{i}": int(i + offset) for i in range(n_images)}
            info = make_info(epochs.ch_names, 100.0)
            mne.EpochsArray(flat[order], info, events=events, tmin=float(epochs.times[0]),
                            event_id=event_id, baseline=None, verbose=False).save(
                dest / f"sub-{subject:02d}_{split}-epo.fif", verbose=False)
            if subject != dataset.subjects()[0]:
                continue
            paths = table.image_paths(split)
            if key == "event_id":
                rows += [(split, i + offset, paths[i].relative_to(sim).as_posix(),
                          table.concepts[split][i]) for i in range(n_images)]
            else:
                image = codes[order] - offset  # table sorted by image, then epoch
                rows += [(split, e, paths[i].relative_to(sim).as_posix(),
                          table.concepts[split][i])
                         for i, e in sorted((i, e) for e, i in enumerate(image))]
    with open(dest / "images.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["split", key, "image", "concept"])
        writer.writerows(rows)
    return dest


def bids(mne_folder: Path, dest: Path) -> Path:
    """BIDS derivatives: sub-XX/eeg/sub-XX_task-{train,test}_epo.fif and images.csv."""
    from mne_bids import make_dataset_description

    dest.mkdir(parents=True)
    make_dataset_description(path=dest, name="tiny", dataset_type="derivative",
                             verbose=False)
    for f in sorted(mne_folder.glob("sub-*-epo.fif")):
        subject, split = f.name.removesuffix("-epo.fif").split("_")
        folder = dest / subject / "eeg"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, folder / f"{subject}_task-{split}_epo.fif")
    shutil.copy2(mne_folder / "images.csv", dest / "images.csv")
    return dest
