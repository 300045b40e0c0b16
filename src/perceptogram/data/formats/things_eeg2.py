"""THINGS-EEG2: safe loading, validation and native cache of a data folder.

On-disk layout (that of the official release, see ``docs/contracts.md``)::

    root/
      image_metadata.npy
      sub-01/preprocessed_eeg_training.npy   # (16540, 4, 17, 100)
      sub-01/preprocessed_eeg_test.npy       # (200, 80, 17, 100)
      training_images/<concept>/<file>
      test_images/<concept>/<file>
      .perceptogram-cache/sub-01/...         # written by this module

The ``.npy`` files are pickled dictionaries. They are read with a restricted
unpickler (:mod:`perceptogram.data.formats.safe_pickle`), validated, and converted once
into a memory-mapped float32 cache (:mod:`perceptogram.data.formats.eeg_cache`), so
that the pickle is never read again. Input files are never modified.

The EEG values are those of the release: multivariate-noise-normalised
(whitened), hence unitless.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram.data.formats import eeg_cache
from perceptogram.data.formats.eeg_cache import CACHE_DIRNAME
from perceptogram.data.core.containers import EEGEpochs, check_same_axes
from perceptogram.data.fetch.download import download
from perceptogram.data.formats.layout import check_confined, is_plain_name, subject_folders
from perceptogram.data.formats.safe_pickle import safe_load_pickled_dict
from perceptogram.errors import ChannelMismatchError, DataFormatError

__all__ = [
    "THINGS_CHANNELS", "SPLIT_FILES", "IMAGE_FOLDERS", "METADATA_FILE", "CACHE_DIRNAME",
    "ImageMetadata",
    "safe_load_pickled_dict", "load_image_metadata", "read_eeg_file", "check_eeg_content",
    "load_split", "load_subject", "subject_dir", "download",
]

#: The 17 posterior channels of the preprocessed release, in file order.
THINGS_CHANNELS: tuple[str, ...] = (
    "Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz",
    "PO4", "PO8", "P6", "P2",
)
#: File name of each split inside a subject folder.
SPLIT_FILES: dict[str, str] = {
    "train": "preprocessed_eeg_training.npy",
    "test": "preprocessed_eeg_test.npy",
}
#: Folder of the image files of each split, below the root.
IMAGE_FOLDERS: dict[str, str] = {"train": "training_images", "test": "test_images"}
METADATA_FILE = "image_metadata.npy"

_EEG_KEYS = ("preprocessed_eeg_data", "ch_names", "times")
_METADATA_KEYS = ("train_img_files", "train_img_concepts", "test_img_files",
                  "test_img_concepts")
_CHECK_CHUNK_BYTES = 64 << 20
#: Fewest samples along each EEG axis (images, repetitions, channels, times).
_MIN_EEG_SHAPE = (1, 1, 1, 2)
_EEG_AXES = ("images", "repetitions", "channels", "time samples")


def subject_dir(root: str | os.PathLike, subject: int) -> Path:
    """Folder of one subject: ``root/sub-01`` for ``subject=1`` (or ``sub-001`` if that is
    the one on disk).

    Raises
    ------
    DataFormatError
        Two folders name the same subject.
    """
    return subject_folders(Path(root)).get(int(subject), Path(root) / f"sub-{int(subject):02d}")


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class ImageMetadata:
    """Which image each EEG row shows (``image_metadata.npy``).

    Parameters
    ----------
    root : Path
        Dataset root; images live in ``root/training_images/<concept>/<file>`` and
        ``root/test_images/<concept>/<file>``.
    train_img_files, train_img_concepts : tuple of str, length n_train_images
        File name and concept (e.g. ``"00001_aardvark"``) of each training row.
    test_img_files, test_img_concepts : tuple of str, length n_test_images
    """

    root: Path
    train_img_files: tuple[str, ...]
    train_img_concepts: tuple[str, ...]
    test_img_files: tuple[str, ...]
    test_img_concepts: tuple[str, ...]

    def files(self, split: str) -> tuple[str, ...]:
        """Image file names of ``split`` (``"train"`` or ``"test"``), in EEG row order."""
        return self.train_img_files if _check_split(split) == "train" else self.test_img_files

    def concepts(self, split: str) -> tuple[str, ...]:
        """Concepts of ``split`` (``"train"`` or ``"test"``), in EEG row order."""
        return (self.train_img_concepts if _check_split(split) == "train"
                else self.test_img_concepts)

    def image_paths(self, split: str) -> list[Path]:
        """Paths of the image files of ``split`` (``"train"`` or ``"test"``), in row order.

        Raises
        ------
        DataFormatError
            An image is a symbolic link that leads out of its image folder.
        """
        folder = self.root / IMAGE_FOLDERS[_check_split(split)]
        paths = [folder / concept / name
                 for concept, name in zip(self.concepts(split), self.files(split))]
        check_confined(paths, folder)
        return paths


def _check_path_component(value: str, key: str, path: Path) -> None:
    if not is_plain_name(value):
        raise DataFormatError(
            f"{path}: the entry {value!r:.200} in '{key}' is not a plain file or folder "
            "name; image paths must stay inside the dataset root")


def _check_split(split: str) -> str:
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def _string_tuple(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise DataFormatError(f"{path}: '{key}' must be a list of strings, "
                              f"got {type(value).__name__}")
    for index, text in enumerate(value):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: not text any reader can show or write
            raise DataFormatError(f"{path}: '{key}' item {index} is not valid text "
                                  f"({ascii(text[:40])})") from None
    return tuple(value)


def _require_keys(content: dict, keys: tuple[str, ...], path: Path) -> None:
    missing = [key for key in keys if key not in content]
    if missing:
        raise DataFormatError(
            f"{path} lacks the key(s) {', '.join(repr(k) for k in missing)} "
            f"(it has {', '.join(repr(k) for k in content) or 'no keys'})"
        )


def load_image_metadata(root: str | os.PathLike) -> ImageMetadata:
    """Read ``root/image_metadata.npy`` with the safe loader.

    Parameters
    ----------
    root : path-like
        Dataset root.

    Returns
    -------
    metadata : ImageMetadata

    Raises
    ------
    FileNotFoundError
        The file is missing (the message says how to download it).
    UnsafePickleError, DataFormatError
        The file is unsafe, corrupt, or lacks a key.

    Examples
    --------
    >>> import tempfile
    >>> from perceptogram.data.simulate.dataset import simulate_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = simulate_dataset(f"{tmp}/things", n_train_concepts=3,
    ...                             images_per_concept=2, n_test_concepts=2,
    ...                             n_train_repetitions=2, n_test_repetitions=2)
    ...     images = load_image_metadata(root)
    ...     print(len(images.image_paths("train")), images.image_paths("test")[0].is_file())
    6 True
    """
    root = Path(root)
    path = root / METADATA_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; get it with: perceptogram data download {root}"
        )
    content = safe_load_pickled_dict(path)
    _require_keys(content, _METADATA_KEYS, path)
    fields = {key: _string_tuple(content[key], key, path) for key in _METADATA_KEYS}
    for key, values in fields.items():
        for value in values:
            _check_path_component(value, key, path)
    for split in ("train", "test"):
        files, concepts = fields[f"{split}_img_files"], fields[f"{split}_img_concepts"]
        if len(files) != len(concepts):
            raise DataFormatError(f"{path}: {len(files)} {split}_img_files but "
                                  f"{len(concepts)} {split}_img_concepts")
    return ImageMetadata(root=root, **fields)


# --------------------------------------------------------------------------- EEG files


def _check_finite(data: np.ndarray, path: Path, ch_names: tuple[str, ...],
                  times: np.ndarray) -> None:
    n_bad = n_bad_images = 0
    first = None
    step = max(1, _CHECK_CHUNK_BYTES // max(1, data[:1].nbytes))
    for start in range(0, data.shape[0], step):
        bad = ~np.isfinite(data[start:start + step])
        if not bad.any():
            continue
        n_bad += int(bad.sum())
        n_bad_images += int(bad.reshape(bad.shape[0], -1).any(axis=1).sum())
        if first is None:
            first = np.argwhere(bad)[0] + (start, 0, 0, 0)
    if n_bad:
        image, rep, ch, t = (int(i) for i in first)
        raise DataFormatError(
            f"{path} holds {n_bad} non-finite value(s) (NaN or inf) in {n_bad_images} of "
            f"{data.shape[0]} images; the first is at image {image}, repetition {rep}, "
            f"channel {ch_names[ch]}, t = {times[t]:.3f} s"
        )


def read_eeg_file(path: str | os.PathLike) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Safely read and validate one ``preprocessed_eeg_{training,test}.npy`` file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    data : ndarray, shape (n_images, n_repetitions, n_channels, n_times)
        As stored (float64 in the release).
    ch_names : tuple of str, length n_channels
    times : ndarray, shape (n_times,)
        Seconds relative to stimulus onset.

    Raises
    ------
    UnsafePickleError
        The file asks to run code.
    DataFormatError
        Truncated or corrupt file, missing key, wrong dimensions or dtype,
        non-finite values, or non-increasing times.
    ChannelMismatchError
        The number of channel names or times disagrees with the data.
    """
    path = Path(path)
    return check_eeg_content(safe_load_pickled_dict(path), path)


def check_eeg_content(content: dict, path: Path
                      ) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Validate the dictionary of one EEG file (see :func:`read_eeg_file`).

    Parameters
    ----------
    content : dict
        With ``preprocessed_eeg_data``, ``ch_names`` and ``times``.
    path : Path
        The file it was read from, for messages.
    """
    _require_keys(content, _EEG_KEYS, path)
    data = content["preprocessed_eeg_data"]
    if not isinstance(data, np.ndarray) or data.ndim != 4:
        shape = getattr(data, "shape", None)
        raise DataFormatError(
            f"{path}: 'preprocessed_eeg_data' must be a 4-D array (images x repetitions x "
            f"channels x times), got {type(data).__name__} with shape {shape}"
        )
    if not np.issubdtype(data.dtype, np.floating):
        raise DataFormatError(f"{path}: 'preprocessed_eeg_data' must hold floats, "
                              f"got dtype {data.dtype}")
    for n, least, axis in zip(data.shape, _MIN_EEG_SHAPE, _EEG_AXES):
        if n < least:
            raise DataFormatError(
                f"{path}: 'preprocessed_eeg_data' has {n} {axis} (shape {data.shape}); "
                f"at least {least} are needed")
    ch_names = _string_tuple(content["ch_names"], "ch_names", path)
    times = np.asarray(content["times"])
    if times.ndim != 1 or not np.issubdtype(times.dtype, np.number):
        raise DataFormatError(f"{path}: 'times' must be a 1-D numeric array, "
                              f"got shape {times.shape} dtype {times.dtype}")
    times = times.astype(float)
    if len(ch_names) != data.shape[2]:
        raise ChannelMismatchError(f"{path}: {len(ch_names)} channel names for "
                                   f"{data.shape[2]} channels on axis 2 of the data")
    if len(set(ch_names)) != len(ch_names):
        raise ChannelMismatchError(f"{path}: duplicate channel names in {list(ch_names)}")
    if len(times) != data.shape[3]:
        raise ChannelMismatchError(f"{path}: {len(times)} sample times for "
                                   f"{data.shape[3]} samples on axis 3 of the data")
    if not (np.isfinite(times).all() and np.all(np.diff(times) > 0)):
        raise DataFormatError(f"{path}: 'times' must be finite and strictly increasing")
    _check_finite(data, path, ch_names, times)
    return data, ch_names, times


def load_split(path: str | os.PathLike, cache: bool = True,
               cache_dir: str | os.PathLike | None = None
               ) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Load one EEG file as float32, through the native cache.

    Parameters
    ----------
    path : path-like
        A ``preprocessed_eeg_{training,test}.npy`` file.
    cache : bool
        Use (and create on first use) the memory-mapped float32 cache. If the cache
        folder cannot be written, a warning is issued and the data are returned
        in memory.
    cache_dir : path-like or None
        Cache folder; default ``<file's folder>/../.perceptogram-cache/<subject>``.

    Returns
    -------
    data : ndarray of float32, shape (n_images, n_repetitions, n_channels, n_times)
        A read-only memory map when cached.
    ch_names : tuple of str
    times : ndarray, shape (n_times,)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    if cache_dir is None:
        cache_dir = path.parent.parent / CACHE_DIRNAME / path.parent.name
    if cache:
        hit = eeg_cache.load_cached(path, cache_dir)
        if hit is not None:
            data, meta = hit
            return data, tuple(meta["ch_names"]), np.asarray(meta["times"], dtype=float)
    raw, ch_names, times = read_eeg_file(path)
    if cache:
        try:
            data, _ = eeg_cache.store(path, cache_dir, raw,
                                         {"ch_names": list(ch_names), "times": times.tolist()})
            return data, ch_names, times
        except OSError as exc:
            warnings.warn(f"cannot write the cache in {cache_dir} ({exc}); the data are "
                          "kept in memory and the file will be read again next time",
                          stacklevel=2)
    data = raw.astype(np.float32)
    if not np.isfinite(data).all():
        raise DataFormatError(f"{path} holds values beyond the float32 range (|x| > 3.4e38)")
    return data, ch_names, times


def load_subject(root: str | os.PathLike, subject: int, cache: bool = True, *,
                 cache_dir: str | os.PathLike | None = None) -> tuple[EEGEpochs, EEGEpochs]:
    """Load one subject's training and test EEG with the image of each row.

    Parameters
    ----------
    root : path-like
        Dataset root in the THINGS-EEG2 layout.
    subject : int
        Subject number (1 for ``sub-01``).
    cache : bool
        Read through the memory-mapped float32 cache (built on first use).
    cache_dir : path-like or None
        Cache folder; default ``root/.perceptogram-cache/sub-XX``.

    Returns
    -------
    train, test : EEGEpochs
        ``data`` of shape (n_images, n_repetitions, n_channels, n_times), float32;
        rows in the order of ``image_metadata.npy``'s ``{train,test}_img_files``.

    Raises
    ------
    FileNotFoundError
        A file is missing.
    ChannelMismatchError
        Training and test files disagree on channels or sample times.
    DataFormatError, UnsafePickleError
        A file is corrupt, inconsistent with the metadata, or unsafe.

    Examples
    --------
    >>> import tempfile
    >>> from perceptogram.data.simulate.dataset import simulate_dataset
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = simulate_dataset(f"{tmp}/things", n_train_concepts=3,
    ...                             images_per_concept=2, n_test_concepts=2,
    ...                             n_train_repetitions=4, n_test_repetitions=8,
    ...                             write_images=False)
    ...     train, test = load_subject(root, subject=1)
    ...     print(train.data.shape, test.data.shape, train.ch_names[:3])
    (6, 4, 17, 100) (2, 8, 17, 100) ('Pz', 'P3', 'P7')
    """
    root = Path(root)
    folder = subject_dir(root, subject)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} not found; get it with: perceptogram data download {root} "
            f"--subject {int(subject)}"
        )
    if cache_dir is None:
        cache_dir = root / CACHE_DIRNAME / folder.name
    metadata = load_image_metadata(root)
    splits = {split: load_split(folder / name, cache=cache, cache_dir=cache_dir)
              for split, name in SPLIT_FILES.items()}
    epochs = []
    for split, (data, ch_names, times) in splits.items():
        files, concepts = metadata.files(split), metadata.concepts(split)
        _check_rows(metadata, split, data.shape[0], folder / SPLIT_FILES[split])
        epochs.append(EEGEpochs(data=data, ch_names=ch_names, times=times,
                                image_files=files, concepts=concepts, unit="whitened"))
    check_same_axes(epochs[0], epochs[1], str(folder))
    return epochs[0], epochs[1]


def _check_rows(metadata: ImageMetadata, split: str, n_rows: int, path: Path) -> None:
    n_listed = len(metadata.files(split))
    if n_listed != n_rows:
        raise DataFormatError(
            f"{path} has {n_rows} images but {metadata.root / METADATA_FILE} lists "
            f"{n_listed} {split} images"
        )
