"""Where the EEG and the images of a THINGS-EEG2-style dataset are on disk.

Three layouts are found from one path (and, optionally, a separate image path):

- one root: ``root/sub-XX/preprocessed_eeg_*.npy``, ``root/image_metadata.npy``,
  ``root/training_images/``, ``root/test_images/`` (the official release as
  ``perceptogram data download`` writes it);
- the dataset authors' two roots: ``eeg_dataset/preprocessed_data/sub-XX/...`` and
  ``image_set/{training_images,test_images,image_metadata.npy}``, given either as
  their common parent, or as the EEG folder plus ``dataset.images_path``;
- NICE/ATM folders such as ``Preprocessed_data_250Hz/sub-XX/``.

``train_images/`` (UBP, NeuroBridge) is accepted in place of ``training_images/``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from perceptogram._paths import is_plain_name, plain_path, resolved_paths
from perceptogram.errors import DataFormatError

__all__ = ["EEG_SUBFOLDERS", "IMAGE_SUBFOLDERS", "TRAIN_IMAGE_FOLDERS", "SPLIT_FILES",
           "METADATA_FILE", "Layout", "subject_folders", "find_layout", "confined_path",
           "check_confined", "is_plain_name"]

#: Where the EEG subject folders may be below the given path (first match wins).
EEG_SUBFOLDERS = (".", "eeg_dataset/preprocessed_data", "preprocessed_data",
                  "Preprocessed_data_250Hz", "eeg_dataset/Preprocessed_data_250Hz")
#: Where the image set may be below the given path or the EEG folder's grandparent.
IMAGE_SUBFOLDERS = (".", "image_set")
#: Accepted names of the training-image folder, in order of preference.
TRAIN_IMAGE_FOLDERS = ("training_images", "train_images")
TEST_IMAGE_FOLDER = "test_images"
SPLIT_FILES = {"train": "preprocessed_eeg_training.npy", "test": "preprocessed_eeg_test.npy"}
METADATA_FILE = "image_metadata.npy"

_SUBJECT = re.compile(r"^sub-(\d{1,3})$")


@dataclass(frozen=True)
class Layout:
    """Folders of one dataset.

    Parameters
    ----------
    eeg_root : Path
        Folder holding the ``sub-XX`` folders.
    images_root : Path or None
        Folder holding ``image_metadata.npy`` and the image folders (None: not found).
    subjects : dict of int to Path
        Subject number -> its folder (``sub-01`` and ``sub-001`` both read as 1).
    train_folder : str
        ``"training_images"`` or ``"train_images"``.
    """

    eeg_root: Path
    images_root: Path | None
    subjects: dict[int, Path]
    train_folder: str = TRAIN_IMAGE_FOLDERS[0]

    def split_file(self, subject: int, split: str) -> Path:
        """Path of one subject's EEG file of ``split``."""
        return self.subjects[subject] / SPLIT_FILES[split]

    def image_folder(self, split: str) -> Path:
        """Folder of ``split``'s images (``training_images`` or its alias)."""
        assert self.images_root is not None
        return self.images_root / (self.train_folder if split == "train"
                                   else TEST_IMAGE_FOLDER)


def subject_folders(eeg_root: Path) -> dict[int, Path]:
    """``sub-XX`` folders holding at least one EEG split file, by subject number.

    Raises
    ------
    DataFormatError
        Two folders name the same subject (``sub-1`` and ``sub-01``).
    """
    found: dict[int, Path] = {}
    if not eeg_root.is_dir():
        return found
    for child in sorted(eeg_root.iterdir()):
        m = _SUBJECT.match(child.name)
        if not (m and child.is_dir()
                and any((child / name).is_file() for name in SPLIT_FILES.values())):
            continue
        number = int(m.group(1))
        if number < 1:
            continue
        if number in found:
            raise DataFormatError(f"{found[number].name} and {child.name} in {eeg_root} are "
                                  f"both subject {number}; keep one")
        found[number] = child
    return found


def _find_eeg_root(path: Path) -> tuple[Path, dict[int, Path]]:
    for sub in EEG_SUBFOLDERS:
        candidate = path / sub if sub != "." else path
        subjects = subject_folders(candidate)
        if subjects:
            return candidate, subjects
    return path, {}


def _find_images_root(path: Path, eeg_root: Path, images_path: Path | None) -> Path | None:
    if images_path is not None:
        return images_path
    bases = [path, eeg_root.parent.parent]  # .../eeg_dataset/preprocessed_data -> ...
    for base in bases:
        for sub in IMAGE_SUBFOLDERS:
            candidate = base / sub if sub != "." else base
            if (candidate / METADATA_FILE).is_file():
                return candidate
    return None


def find_layout(path: str | Path, images_path: str | Path | None = None) -> Layout:
    """Find the EEG folder, the image folder and the subjects of a dataset.

    Parameters
    ----------
    path : path-like
        The dataset root, the authors' project folder (parent of ``eeg_dataset/``
        and ``image_set/``), or the folder of the ``sub-XX`` folders.
    images_path : path-like or None
        Folder of ``image_metadata.npy`` and the image folders, when elsewhere.

    Returns
    -------
    Layout
        ``subjects`` empty and ``images_root`` None when nothing was found.
    """
    path = Path(path)
    eeg_root, subjects = _find_eeg_root(path)
    images_root = _find_images_root(path, eeg_root,
                                    None if images_path is None else Path(images_path))
    train_folder = TRAIN_IMAGE_FOLDERS[0]
    if images_root is not None:
        for name in TRAIN_IMAGE_FOLDERS:
            if (images_root / name).is_dir():
                train_folder = name
                break
    return Layout(eeg_root, images_root, subjects, train_folder)


def check_confined(paths: list[Path], folder: Path) -> None:
    """Refuse paths that resolve (through symbolic links) outside ``folder``.

    ``folder`` itself may be a link (a user's own choice of where images live).

    Raises
    ------
    DataFormatError
        Naming the first path that leads outside.
    """
    base = os.path.realpath(folder).rstrip(os.sep) + os.sep
    for path, real in zip(paths, resolved_paths(paths)):
        if not real.startswith(base):
            raise DataFormatError(
                f"the image {str(path)!r} leads outside {str(folder)!r} through a symbolic "
                "link; images must stay inside the dataset's image folders")


def confined_path(root: Path, *parts: str) -> Path:
    """``root / part / ...`` where every part is one plain path component.

    Names read from data files (concepts, image file names) become paths; a
    name such as ``..``, ``/etc/passwd`` or ``a/../../b`` would leave ``root``.

    Raises
    ------
    DataFormatError
        A part is empty, ``.`` or ``..``, or holds a separator or NUL.
    """
    return plain_path(root, *parts, error=lambda part: DataFormatError(
        f"the image name {part!r} read from the dataset is not a plain file or folder name; "
        f"it would leave {root}"))
