"""The official THINGS-EEG2 release as a registered dataset (``things-eeg2``).

EEG files are NumPy-pickled dictionaries read by the restricted unpickler and
converted once into the memory-mapped float32 cache of
:mod:`perceptogram.data.formats.things_eeg2`; images are described by
``image_metadata.npy``. One root or separate EEG and image roots, and the
``train_images/`` alias, are found by :mod:`perceptogram.data.formats.layout`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from perceptogram.data.core.containers import EEGEpochs
from perceptogram.data.core.montage import get_montage
from perceptogram.data.formats import eeg_cache
from perceptogram.data.formats import layout as lay
from perceptogram.data.formats.base import (
    DatasetNotFoundError,
    ImageTable,
    Match,
    check_same_axes,
    register,
)
from perceptogram.data.formats.things_eeg2 import (
    CACHE_DIRNAME,
    load_image_metadata,
    load_split,
    read_eeg_file,
)
from perceptogram.errors import DataFormatError

__all__ = ["ThingsEEG2Dataset", "NPY_MAGIC", "PICKLE_START", "file_format"]

NPY_MAGIC = b"\x93NUMPY"
PICKLE_START = b"\x80"


def file_format(path: Path) -> str:
    """``"npy"``, ``"pickle"`` or ``"other"``, from a file's first bytes."""
    with open(path, "rb") as fh:
        start = fh.read(len(NPY_MAGIC))
    if start == NPY_MAGIC:
        return "npy"
    return "pickle" if start[:1] == PICKLE_START else "other"


def _first_split_file(found: lay.Layout) -> Path:
    for folder in found.subjects.values():
        for name in lay.SPLIT_FILES.values():
            if (folder / name).is_file():
                return folder / name
    raise AssertionError("a subject folder without EEG file")  # subject_folders checks


@register("things-eeg2", summary="official THINGS-EEG2 release: sub-XX/preprocessed_eeg_*.npy "
          "(NPY) and image_metadata.npy, one root or EEG and image roots")
class ThingsEEG2Dataset:
    """The official preprocessed THINGS-EEG2 release (17 channels, 100 Hz).

    Parameters
    ----------
    path : Path
        Dataset root, the authors' project folder, or the folder of ``sub-XX``.
    images_path : Path or None
        Folder of ``image_metadata.npy`` and the image folders when not found
        from ``path`` (two-root layout).
    cache : bool or "read"
        Read the EEG through the memory-mapped float32 cache (built on first use in
        ``<EEG folder>/.perceptogram-cache``); ``"read"``: use it when present but
        write nothing (``perceptogram data info``).

    Raises
    ------
    DatasetNotFoundError
        No subject folder or no image metadata.
    """

    kind = "things-eeg2"
    #: First bytes of this format's EEG files (see :func:`file_format`); an
    #: unrecognised start is read as this format, whose loader says what is wrong.
    file_kinds = ("npy", "other")
    #: Phrase naming the format in messages.
    label = "official THINGS-EEG2 EEG (NPY files)"
    #: Unit of the values (:mod:`perceptogram.data.core.units`): the release is
    #: MVNN-whitened. A simulated dataset in this layout is read with ``"simulated"``.
    unit = "whitened"

    def __init__(self, path: Path, images_path: Path | None = None,
                 cache: bool | str = True) -> None:
        found = lay.find_layout(path, images_path)
        if not found.subjects:
            raise DatasetNotFoundError(
                f"{path} holds no sub-XX/{lay.SPLIT_FILES['train']} (looked in "
                f"{', '.join(lay.EEG_SUBFOLDERS)}); get the data with: perceptogram data "
                f"download {path}")
        if found.images_root is None or not (found.images_root / lay.METADATA_FILE).is_file():
            where = images_path if images_path is not None else path
            raise DatasetNotFoundError(
                f"no {lay.METADATA_FILE} in {where} (nor in its image_set/ folder): give the "
                "image folder as dataset.images_path, or get it with: perceptogram data "
                f"download {path}")
        self.layout = found
        self.root = found.eeg_root
        self.images_root = found.images_root
        if cache not in (True, False, "read"):
            raise ValueError(f"cache must be True, False or 'read', got {cache!r}")
        self.cache = cache
        self.notes: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, images={str(self.images_root)!r})"

    @classmethod
    def sniff(cls, path: Path, images_path: Path | None) -> Match | None:
        """Whether ``path`` holds this format, and what is missing to read it."""
        found = lay.find_layout(path, images_path)
        if not found.subjects or file_format(_first_split_file(found)) not in cls.file_kinds:
            return None
        what = f"{cls.label} for {len(found.subjects)} subject(s)" + (
            f" in {found.eeg_root}" if found.eeg_root != path else "")
        missing = None
        if found.images_root is None or not (found.images_root / lay.METADATA_FILE).is_file():
            missing = (f"no {lay.METADATA_FILE} was found next to it or in an image_set/ "
                       "folder: give the image folder as dataset.images_path (data info: "
                       "--images)")
        return Match(cls.kind, what, missing, found.eeg_root, found.images_root)

    def subjects(self) -> list[int]:
        return sorted(self.layout.subjects)

    @cached_property
    def _metadata(self):
        return load_image_metadata(self.images_root)

    def images(self) -> ImageTable:
        meta = self._metadata
        paths, concepts = {}, {}
        for split in ("train", "test"):
            folder = self.layout.image_folder(split)
            paths[split] = tuple(lay.confined_path(folder, concept, name) for concept, name
                                 in zip(meta.concepts(split), meta.files(split)))
            lay.check_confined(list(paths[split]), folder)
            concepts[split] = meta.concepts(split)
        return ImageTable(paths, concepts)

    def montage(self):
        return get_montage()

    def files(self) -> list[Path]:
        out = [self.layout.split_file(s, split) for s in self.subjects()
               for split in ("train", "test")]
        return [f for f in out if f.is_file()] + [self.images_root / lay.METADATA_FILE]

    def _read_split(self, subject: int, split: str
                    ) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
        folder = self.layout.subjects[subject]
        path, cache_dir = folder / lay.SPLIT_FILES[split], self.root / CACHE_DIRNAME / folder.name
        if self.cache == "read":
            hit = eeg_cache.load_cached(path, cache_dir)
            if hit is None:
                return read_eeg_file(path)
            data, meta = hit
            return data, tuple(meta["ch_names"]), np.asarray(meta["times"], dtype=float)
        return load_split(path, cache=self.cache, cache_dir=cache_dir)

    def load_subject(self, subject: int) -> tuple[EEGEpochs, EEGEpochs]:
        """Training and test epochs of one subject, float32, rows in metadata order.

        Raises
        ------
        DatasetNotFoundError
            No folder for ``subject``.
        DataFormatError, ChannelMismatchError, UnsafePickleError
            A file is corrupt, unsafe, or disagrees with the metadata or the other split.
        """
        if subject not in self.layout.subjects:
            raise DatasetNotFoundError(
                f"no folder for subject {subject} in {self.root} (it holds "
                f"{self.subjects()})")
        meta = self._metadata
        epochs = []
        for split in ("train", "test"):
            path = self.layout.split_file(subject, split)
            if not path.is_file():
                raise DatasetNotFoundError(f"{path} not found")
            data, ch_names, times = self._read_split(subject, split)
            if len(meta.files(split)) != data.shape[0]:
                raise DataFormatError(
                    f"{path} has {data.shape[0]} images but "
                    f"{self.images_root / lay.METADATA_FILE} lists "
                    f"{len(meta.files(split))} {split} images")
            epochs.append(EEGEpochs(data=data, ch_names=ch_names, times=times,
                                    image_files=meta.files(split),
                                    concepts=meta.concepts(split), unit=self.unit))
        check_same_axes(epochs[0], epochs[1], str(self.layout.subjects[subject]))
        return epochs[0], epochs[1]
