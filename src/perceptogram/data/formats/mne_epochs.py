"""MNE epochs files plus an image table as a registered dataset (``mne``).

For researchers with their own recordings. A folder holds, per subject and split,
an MNE epochs file ``sub-<N>_train-epo.fif`` and ``sub-<N>_test-epo.fif`` (read
with :func:`mne.read_epochs`) and one image table, ``images.csv``::

    split,event_id,image,concept
    train,1,train/cat_01.jpg,cat
    train,2,train/cat_02.jpg,cat
    test,101,test/dog_01.jpg,dog

``image`` is a path relative to the image folder (the dataset folder, or
``dataset.images_path``), ``concept`` the unit of cross-validation. The key column
is either ``event_id`` (every epoch whose event code is that number shows the
image) or ``epoch`` (the epoch's index in that split's file, one row per epoch).
An optional ``picture`` column names the decoder's rows: epochs with the same
picture name are its repetitions (default: the image path, so every image is one
row); several pictures may show one image (e.g. groups of epochs of one image,
written by ``perceptogram data import --epochs-per-row``). Pictures are ordered
as in the table.

Real recordings, as they are: a picture without any epoch for a subject (all
rejected, or never shown) is left out for that subject, with a note; pictures
keep all their epochs, however many each has (``EEGEpochs.repetition_counts``);
epochs whose code the table does not list are counted in a note. EEG channels
only (``mne.pick_types(eeg=True)``), values as stored (volts for real
recordings: ``unit`` ``"V"``), electrode positions as stored in the file.

BIDS derivatives (``bids``) hold the same epochs as
``sub-01/eeg/sub-01_task-train_epo.fif`` and ``..._task-test_epo.fif`` under a root with
``dataset_description.json`` and ``images.csv``; they are found with mne-bids (an
optional dependency: ``pip install mne-bids``).
"""

from __future__ import annotations

import csv
import io
import re
from functools import cached_property
from pathlib import Path

import numpy as np

from perceptogram._inputs import excerpt, read_input_text
from perceptogram.data.core.containers import EEGEpochs
from perceptogram.data.core.montage import place_channels, recording_positions
from perceptogram.data.core.units import eeg_unit, unit_of_channels
from perceptogram.data.formats.base import (
    DatasetNotFoundError,
    ImageTable,
    Match,
    check_same_axes,
    note,
    register,
)
from perceptogram.data.formats.layout import check_confined, confined_path
from perceptogram.errors import DataFormatError, require

__all__ = ["MneEpochsDataset", "BidsEpochsDataset", "IMAGE_TABLE", "read_image_table",
           "bids_epochs_files"]

#: Default file name of the image table.
IMAGE_TABLE = "images.csv"
_EPOCHS_FILE = re.compile(r"^sub-(\d{1,3})_(train|test)[-_]epo\.fif$")
_KEYS = ("event_id", "epoch")
#: Largest image table read (a table of 100,000 images is a few megabytes).
_MAX_TABLE_BYTES = 64 << 20
#: Fewest pictures with epochs a split needs (a decoder is fitted on, and retrieval
#: ranks among, at least two).
MIN_PICTURES = 2
#: Uneven counts are padded to the largest one; refuse when that would need this
#: many bytes and more than 4 times the epochs themselves.
_MAX_PADDED_BYTES = 2 << 30

#: One table row: key (event code or epoch index), image path, concept, picture name.
Row = tuple[int, str, str, str]
#: Longest image path or concept name in the table (file names are at most 255 bytes).
_MAX_NAME = 1024


def _epochs_files(folder: Path) -> dict[int, dict[str, Path]]:
    found: dict[int, dict[str, Path]] = {}
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            m = _EPOCHS_FILE.match(child.name)
            if m and child.is_file():
                split_files = found.setdefault(int(m.group(1)), {})
                if m.group(2) in split_files:
                    raise DataFormatError(f"{split_files[m.group(2)].name} and {child.name} "
                                          f"in {folder} are the same subject and split")
                split_files[m.group(2)] = child
    return found


def _read_epochs(path: Path, preload: bool):
    """``mne.read_epochs`` with any failure to read the file as one sentence naming it."""
    mne = require("mne", purpose="reading MNE epochs")
    try:
        return mne.read_epochs(path, preload=preload, verbose="error")
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - MNE raises many kinds for a damaged file
        raise DataFormatError(f"{path} is not a readable MNE epochs file (truncated or "
                              f"damaged?): {excerpt(f'{type(exc).__name__}: {exc}', 160)}"
                              ) from None


def read_image_table(path: Path) -> tuple[str, dict[str, list[Row]]]:
    """Read an image table.

    Parameters
    ----------
    path : Path
        CSV with the columns ``split``, ``image``, ``concept``, ``event_id`` or
        ``epoch``, and optionally ``picture``.

    Returns
    -------
    key : {"event_id", "epoch"}
    rows : dict of str to list of (int, str, str, str)
        ``{"train": [(key, image, concept, picture), ...], "test": [...]}`` in
        file order; ``picture`` is the image path when the column is absent or
        empty.

    Raises
    ------
    DataFormatError
        Missing columns, a bad split or key, or an empty split.
    """
    text = read_input_text(path, max_bytes=_MAX_TABLE_BYTES, what="the image table")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    line = 1
    try:
        columns = reader.fieldnames or []
        keys = [k for k in _KEYS if k in columns]
        missing = [c for c in ("split", "image", "concept") if c not in columns]
        if missing or len(keys) != 1:
            raise DataFormatError(
                f"{path} must have the columns split, image, concept and one of event_id "
                f"or epoch; it has {excerpt(', '.join(columns) or 'none', 200)}")
        key = keys[0]
        rows: dict[str, list[Row]] = {"train": [], "test": []}
        for line, row in enumerate(reader, start=2):
            split = (row["split"] or "").strip()
            if split not in rows:
                raise DataFormatError(f"{path}, line {line}: split must be train or test, "
                                      f"got {excerpt(split)}")
            try:
                value = int(row[key])
            except (TypeError, ValueError):
                raise DataFormatError(f"{path}, line {line}: {key} must be an integer, got "
                                      f"{excerpt(row[key])}") from None
            image, concept = (row["image"] or "").strip(), (row["concept"] or "").strip()
            if not image or not concept:
                raise DataFormatError(f"{path}, line {line}: empty image or concept")
            if len(image) > _MAX_NAME or len(concept) > _MAX_NAME:
                raise DataFormatError(f"{path}, line {line}: an image or concept name is "
                                      f"longer than {_MAX_NAME} characters")
            picture = (row.get("picture") or "").strip() or image
            if len(picture) > _MAX_NAME:
                raise DataFormatError(f"{path}, line {line}: a picture name is longer "
                                      f"than {_MAX_NAME} characters")
            rows[split].append((value, image, concept, picture))
    except csv.Error as exc:
        raise DataFormatError(f"{path}, line {line + 1}: not a readable CSV row "
                              f"({excerpt(exc, 120)})") from None
    for split, split_rows in rows.items():
        if not split_rows:
            raise DataFormatError(f"{path} lists no {split} image")
    return key, rows


@register("mne", summary="MNE epochs: sub-N_{train,test}-epo.fif per subject and an "
          "images.csv table (split, event_id or epoch, image, concept)")
class MneEpochsDataset:
    """A folder of MNE epochs files and an image table.

    Parameters
    ----------
    path : Path
        Folder of the ``sub-<N>_{train,test}-epo.fif`` files and of ``images.csv``.
    images_path : Path or None
        Folder the table's image paths are relative to (default: ``path``).
    image_table : str
        File name of the image table inside ``path``.
    unit : str or None
        Unit of the values (a key of :data:`perceptogram.data.core.units.UNITS`,
        e.g. ``"uV"`` for files whose values are microvolts although typed as
        volts); None: from the channels (``"V"`` for MNE's volts, checked against
        the values).

    Raises
    ------
    DatasetNotFoundError
        No epochs file or no image table.
    """

    kind = "mne"
    files_label = "sub-<N>_train-epo.fif file"

    def _find_files(self) -> dict[int, dict[str, Path]]:
        """Subject -> split -> epochs file."""
        return _epochs_files(self.root)

    def __init__(self, path: Path, images_path: Path | None = None,
                 image_table: str = IMAGE_TABLE, unit: str | None = None) -> None:
        self.root = Path(path)
        self._unit = None if unit is None else eeg_unit(unit).key
        self.unit = self._unit or "V"
        self.images_root = Path(images_path) if images_path is not None else self.root
        self._files = self._find_files()
        self.table_path = confined_path(self.root, str(image_table))
        if not self._files:
            raise DatasetNotFoundError(f"{self.root} holds no {self.files_label}")
        if not self.table_path.is_file():
            raise DatasetNotFoundError(
                f"{self.root} holds MNE epochs but no image table {self.table_path.name} "
                "(columns split, event_id or epoch, image, concept)")
        self.notes: list[str] = []
        self._unit_doubted = False

    def __repr__(self) -> str:
        return f"MneEpochsDataset({str(self.root)!r})"

    @classmethod
    def sniff(cls, path: Path, images_path: Path | None) -> Match | None:
        """Whether ``path`` holds epochs files, and whether the image table is there."""
        files = _epochs_files(path)
        if not files:
            return None
        what = f"MNE epochs files for {len(files)} subject(s)"
        missing = None
        if not (path / IMAGE_TABLE).is_file():
            missing = (f"it has no {IMAGE_TABLE} (columns split, event_id or epoch, image, "
                       "concept)")
        return Match(cls.kind, what, missing, path, images_path or path)

    def subjects(self) -> list[int]:
        return sorted(s for s, splits in self._files.items() if "train" in splits)

    @cached_property
    def _table(self) -> tuple[str, dict[str, list[Row]]]:
        return read_image_table(self.table_path)

    @cached_property
    def _images(self) -> dict[str, list[tuple[str, str]]]:
        """(image, concept) of every picture per split, in table order."""
        _, rows = self._table
        out: dict[str, list[tuple[str, str]]] = {}
        for split, split_rows in rows.items():
            seen: dict[str, tuple[str, str]] = {}
            for _, image, concept, picture in split_rows:
                first = seen.setdefault(picture, (image, concept))
                if first != (image, concept):
                    raise DataFormatError(
                        f"{self.table_path}: picture {picture} is listed with two images or "
                        f"concepts, {first} and {(image, concept)}")
            out[split] = list(seen.values())
        return out

    def images(self) -> ImageTable:
        paths, concepts = {}, {}
        for split, items in self._images.items():
            paths[split] = tuple(confined_path(self.images_root, *Path(image).parts)
                                 for image, _ in items)
            check_confined(list(set(paths[split])), self.images_root)
            concepts[split] = tuple(concept for _, concept in items)
        return ImageTable(paths, concepts)

    def montage(self):
        """Positions stored in the first subject's training file, else MNE templates."""
        mne = require("mne", purpose="reading MNE epochs")

        first = self._files[self.subjects()[0]]["train"]
        epochs = _read_epochs(first, preload=False)
        names = [epochs.ch_names[i] for i in mne.pick_types(epochs.info, eeg=True,
                                                             exclude=[])]
        placement = place_channels(names, epochs.get_montage())
        ch_pos = {n: p for n, p, ok in zip(names, placement.positions, placement.placed)
                  if ok}
        return mne.channels.make_dig_montage(ch_pos=ch_pos, coord_frame="head")

    def files(self) -> list[Path]:
        return [f for s in sorted(self._files) for f in self._files[s].values()] + \
            [self.table_path]

    def _epoch_pictures(self, split: str, events: np.ndarray) -> np.ndarray:
        """Picture index (in table order) of every epoch, -1 for epochs not in the table."""
        key, rows = self._table
        index: dict[str, int] = {}
        for _, _, _, picture in rows[split]:
            index.setdefault(picture, len(index))
        codes = {value: index[picture] for value, _, _, picture in rows[split]}
        if key == "event_id":
            return np.array([codes.get(int(c), -1) for c in events[:, 2]], dtype=np.int64)
        return np.array([codes.get(i, -1) for i in range(len(events))], dtype=np.int64)

    def _load_split(self, subject: int, split: str) -> tuple[EEGEpochs, dict[str, int]]:
        """One split's epochs, and counts for the subject's note (pictures, missing, unlisted)."""
        mne = require("mne", purpose="reading MNE epochs")

        path = self._files[subject].get(split)
        if path is None:
            raise DatasetNotFoundError(f"no sub-{subject:02d}_{split}-epo.fif in {self.root}")
        epochs = _read_epochs(path, preload=True)
        picks = mne.pick_types(epochs.info, eeg=True, exclude=[])
        if len(picks) == 0:
            raise DataFormatError(f"{path} holds no EEG channel")
        data = epochs.get_data(picks=picks)
        picture_of = self._epoch_pictures(split, epochs.events)
        items = self._images[split]
        counts = np.bincount(picture_of[picture_of >= 0], minlength=len(items))
        present = np.flatnonzero(counts)
        if len(present) < MIN_PICTURES:
            raise DataFormatError(
                f"{path}: only {len(present)} of the {len(items)} {split} pictures listed in "
                f"{self.table_path.name} have an epoch; at least {MIN_PICTURES} are needed "
                "to fit and evaluate a decoder (were the events renumbered, or every "
                "epoch rejected?)")
        stacked = _stack(data, picture_of, present, counts, path)
        if counts[present].min() != counts[present].max():
            note(self, f"{path.name}: pictures have {counts[present].min()} to "
                 f"{counts[present].max()} epochs; every epoch is averaged (each picture's "
                 "count is kept with its features)")
        ch_names = tuple(epochs.ch_names[i] for i in picks)
        unit, why = (self._unit, None) if self._unit else unit_of_channels(epochs.info, picks,
                                                                            data)
        if why and not self._unit_doubted:  # once per dataset
            self._unit_doubted = True
            note(self, f"{path.name}: {why}")
        self.unit = unit
        loaded = EEGEpochs(data=stacked, ch_names=ch_names, times=epochs.times.copy(),
                           image_files=tuple(Path(items[i][0]).name for i in present),
                           concepts=tuple(items[i][1] for i in present),
                           repetition_counts=counts[present], image_index=present,
                           unit=unit,
                           positions=recording_positions(ch_names, epochs.get_montage()))
        absent = [items[i][0] for i in np.flatnonzero(counts == 0)[:3]]
        return loaded, {"pictures": len(items), "missing": len(items) - len(present),
                        "unlisted": int(np.sum(picture_of < 0)),
                        "epochs": len(picture_of), "examples": absent}

    def load_subject(self, subject: int) -> tuple[EEGEpochs, EEGEpochs]:
        """Training and test epochs of one subject (float32), images in table order.

        Raises
        ------
        DatasetNotFoundError
            A file is missing.
        DataFormatError, ChannelMismatchError
            An image of the table has no epoch, or the splits' channels or times differ.
        """
        if subject not in self._files:
            raise DatasetNotFoundError(f"no epochs of subject {subject} in {self.root} "
                                       f"(it holds {self.subjects()})")
        (train, train_counts), (test, test_counts) = (self._load_split(subject, s)
                                                      for s in ("train", "test"))
        check_same_axes(train, test, str(self.root / f"sub-{subject:02d}"))
        if train.unit != test.unit:
            raise DataFormatError(f"sub-{subject:02d}: the training file is in "
                                  f"{train.unit!r} and the test file in {test.unit!r}")
        _note_losses(self, subject, {"training": train_counts, "test": test_counts})
        return train, test


def _stack(data: np.ndarray, picture_of: np.ndarray, present: np.ndarray,
           counts: np.ndarray, path: Path) -> np.ndarray:
    """Epochs as (n_present, largest count, channels, times) float32, NaN after each count.

    The epochs of a picture keep their order in the file.
    """
    n_max = int(counts[present].max())
    shape = (len(present), n_max, *data.shape[1:])
    n_bytes = int(np.prod(shape)) * 4
    if n_bytes > _MAX_PADDED_BYTES and n_bytes > 4 * 4 * int(counts.sum()) * \
            int(np.prod(data.shape[1:])):
        raise DataFormatError(
            f"{path}: the pictures' epoch counts are very uneven ({counts[present].min()} to "
            f"{n_max}); padding them to one array would need {n_bytes / 2**30:.1f} GiB. Split "
            "the pictures with many epochs into several rows (a picture column in the image "
            "table, or perceptogram data import --epochs-per-row)")
    out = np.full(shape, np.nan, dtype=np.float32)
    used = picture_of >= 0
    epoch_ids = np.flatnonzero(used)
    order = np.argsort(picture_of[used], kind="stable")
    sorted_pictures = picture_of[used][order]
    starts = np.searchsorted(sorted_pictures, sorted_pictures, side="left")
    rank = np.arange(len(sorted_pictures)) - starts
    row_of = np.full(len(counts), -1, dtype=np.int64)
    row_of[present] = np.arange(len(present))
    out[row_of[sorted_pictures], rank] = data[epoch_ids[order]]
    return out


def _note_losses(dataset: MneEpochsDataset, subject: int, splits: dict[str, dict]) -> None:
    """One note per subject: pictures without epochs, epochs without a picture."""
    missing = [f"{c['missing']} of {c['pictures']} {split}" for split, c in splits.items()
               if c["missing"]]
    if missing:
        examples = [e for c in splits.values() for e in c["examples"]][:3]
        note(dataset, f"sub-{subject:02d}: {' and '.join(missing)} pictures have no epoch "
             "(all rejected, or never shown) and are left out for this subject (e.g. "
             f"{', '.join(examples)}); metrics, retrieval and maps use the pictures present")
    unlisted = [f"{c['unlisted']} of {c['epochs']} {split}" for split, c in splits.items()
                if c["unlisted"]]
    if unlisted:
        note(dataset, f"sub-{subject:02d}: {' and '.join(unlisted)} epochs have an event "
             f"code (or index) that {dataset.table_path.name} does not list; they are not used")


def _mne_bids_missing() -> str | None:
    import importlib.util

    if importlib.util.find_spec("mne_bids") is None:
        return "needs mne-bids: pip install mne-bids"
    return None


def bids_epochs_files(root: Path, split_entity: str = "task") -> dict[int, dict[str, Path]]:
    """Epochs files of a BIDS derivatives folder, by subject and split.

    Parameters
    ----------
    root : Path
        BIDS (derivatives) root, with ``dataset_description.json``.
    split_entity : str
        The BIDS entity whose value is ``train`` or ``test`` (``task``:
        ``sub-01_task-train_epo.fif``; or ``acquisition``, ``run``, ``processing``,
        ``description``...).

    Returns
    -------
    dict of int to dict of str to Path

    Raises
    ------
    MissingDependencyError
        mne-bids is not installed.
    DataFormatError
        A subject label is not a number, or a subject has two files for one split.
    """
    mne_bids = require("mne_bids", purpose="reading BIDS epochs")
    found: dict[int, dict[str, Path]] = {}
    for bids_path in mne_bids.find_matching_paths(root, suffixes="epo", extensions=".fif"):
        split = getattr(bids_path, split_entity, None)
        if split not in ("train", "test"):
            continue
        label = bids_path.subject or ""
        if not label.isdigit() or int(label) < 1:
            raise DataFormatError(f"{bids_path.fpath.name}: subject label {label!r} is not a "
                                  "positive number (subjects are numbered)")
        split_files = found.setdefault(int(label), {})
        if split in split_files:
            raise DataFormatError(f"{split_files[split].name} and {bids_path.fpath.name} are "
                                  "the same subject and split")
        split_files[split] = Path(bids_path.fpath)
    return found


@register("bids", summary="BIDS derivatives through mne-bids: sub-XX_task-{train,test}_epo.fif "
          "and an images.csv table at the root", availability=_mne_bids_missing)
class BidsEpochsDataset(MneEpochsDataset):
    """MNE epochs in a BIDS derivatives folder (read with mne-bids), and an image table.

    Parameters
    ----------
    path : Path
        BIDS derivatives root (with ``dataset_description.json`` and ``images.csv``).
    images_path : Path or None
        Folder the table's image paths are relative to (default: ``path``).
    image_table : str
        File name of the image table inside ``path``.
    split_entity : str
        BIDS entity whose value names the split (``train`` / ``test``).
    """

    kind = "bids"
    files_label = "BIDS epochs file (sub-XX/.../sub-XX_task-train_epo.fif)"

    def __init__(self, path: Path, images_path: Path | None = None,
                 image_table: str = IMAGE_TABLE, split_entity: str = "task") -> None:
        self.split_entity = split_entity
        super().__init__(path, images_path, image_table)

    def _find_files(self) -> dict[int, dict[str, Path]]:
        return bids_epochs_files(self.root, self.split_entity)

    @classmethod
    def sniff(cls, path: Path, images_path: Path | None) -> Match | None:
        """A BIDS root with epochs files; mne-bids and the image table must be there."""
        if not (path / "dataset_description.json").is_file() or \
                not any(path.glob("sub-*/**/*_epo.fif")):
            return None
        what = "a BIDS folder with epochs files"
        missing = _mne_bids_missing()
        if missing is None and not (path / IMAGE_TABLE).is_file():
            missing = (f"it has no {IMAGE_TABLE} (columns split, event_id or epoch, image, "
                       "concept)")
        return Match(cls.kind, what, missing, path, images_path or path)
