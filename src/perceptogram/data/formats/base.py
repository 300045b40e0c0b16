"""The dataset protocol, the dataset registry, and format auto-detection.

A dataset turns a folder (or two: EEG and images) into what the pipeline needs:
the subjects it holds, each subject's training and test epochs as
:class:`~perceptogram.data.core.containers.EEGEpochs`, the image file and concept of
every row (:class:`ImageTable`), and where the electrodes are (a montage).
Implementations register under a name (``things-eeg2``, ``nice``, ``mne``);
``dataset.kind: auto`` picks the one whose files are in the folder, or says what
it found and what is missing.

Each registered factory is a class (or callable) taking ``(path, images_path=None,
**options)`` and may provide ``sniff(path, images_path) -> Match | None`` used by
:func:`detect`.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from perceptogram._registry import Registry
from perceptogram.data.core.containers import EEGEpochs, check_same_axes
from perceptogram.data.core.montage import place_channels
from perceptogram.data.core.neighbours import channel_neighbours
from perceptogram.data.core.units import eeg_unit
from perceptogram.errors import DataFormatError, PerceptogramError

__all__ = ["Dataset", "ImageTable", "Match", "DATASETS", "AUTO", "register",
           "available_datasets", "open_dataset", "detect", "summarize", "check_same_axes",
           "note", "DatasetNotFoundError"]

logger = logging.getLogger(__name__)

#: ``dataset.kind`` value that means "detect the format from the files".
AUTO = "auto"


class DatasetNotFoundError(PerceptogramError, FileNotFoundError):
    """A folder holds no dataset of the requested (or of any known) format."""


@dataclass(frozen=True)
class ImageTable:
    """The image shown in each EEG row of both splits.

    Parameters
    ----------
    paths : dict of str to tuple of Path
        ``{"train": (...), "test": (...)}``, one path per image, in EEG row order.
    concepts : dict of str to tuple of str
        Concept of each image (the unit of cross-validation), same order.
    """

    paths: dict[str, tuple[Path, ...]]
    concepts: dict[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            if len(self.paths[split]) != len(self.concepts[split]):
                raise DataFormatError(f"{len(self.paths[split])} {split} image paths for "
                                      f"{len(self.concepts[split])} concepts")

    def image_paths(self, split: str) -> list[Path]:
        """Image paths of ``split`` (``"train"`` or ``"test"``), in EEG row order."""
        return list(self.paths[_check_split(split)])


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


@dataclass(frozen=True)
class Match:
    """What :func:`detect` found of one format in a folder.

    Parameters
    ----------
    kind : str
        Registry name of the format.
    found : str
        What was found, as a phrase (``"NICE-format EEG for 2 subjects"``).
    missing : str or None
        What is missing to read it (None: complete).
    eeg_root, images_root : Path or None
        The folders that hold the EEG and the images, when known.
    """

    kind: str
    found: str
    missing: str | None = None
    eeg_root: Path | None = None
    images_root: Path | None = None


@runtime_checkable
class Dataset(Protocol):
    """What every dataset provides.

    Attributes
    ----------
    kind : str
        Registry name (``"things-eeg2"``).
    root : Path
        Folder of the EEG.
    images_root : Path
        Folder the image paths are confined to.
    notes : list of str
        Facts a user should know about how the files were read (e.g. a crop of
        ``times``, pictures a subject has no epoch of); shown by ``perceptogram
        data info`` and kept in the run.
    unit : str
        Unit of the EEG values, a key of :data:`perceptogram.data.core.units.UNITS`
        (``"V"`` for recordings in volts, ``"whitened"`` for the official
        THINGS-EEG2 files, ``"unknown"`` when not known); the epochs
        :meth:`load_subject` returns carry it.
    """

    kind: str
    root: Path
    images_root: Path
    notes: list[str]
    unit: str

    def subjects(self) -> list[int]:
        """Subject numbers on disk, sorted."""
        ...

    def load_subject(self, subject: int) -> tuple[EEGEpochs, EEGEpochs]:
        """Training and test epochs of one subject, rows in :meth:`images` order.

        Returns
        -------
        train, test : EEGEpochs
            ``data`` of shape (n_images, n_repetitions, n_channels, n_times);
            ``image_index`` says which rows of :meth:`images` the subject has (a
            picture without any epoch is left out, with a note),
            ``repetition_counts`` how many epochs each kept.
        """
        ...

    def images(self) -> ImageTable:
        """Image path and concept of every row of both splits."""
        ...

    def montage(self):
        """``mne.channels.DigMontage`` of the electrodes (template or from the files)."""
        ...

    def files(self) -> list[Path]:
        """The input files whose size and time identify this dataset's content."""
        ...


DATASETS: Registry[Callable[..., Dataset]] = Registry(
    "dataset",
    "perceptogram.datasets",
    builtin_modules=[f"perceptogram.data.formats.{m}"
                     for m in ("things_eeg2_dataset", "nice", "mne_epochs")],
)


def register(name: str, *, summary: str = "",
             availability: Callable[[], str | None] | None = None
             ) -> Callable[[Callable[..., Dataset]], Callable[..., Dataset]]:
    """Class decorator that makes a dataset format available by ``name``."""
    return DATASETS.register(name, summary=summary, availability=availability)


def available_datasets() -> list[str]:
    """Names of the registered dataset formats, sorted."""
    return DATASETS.names()


def detect(path: str | os.PathLike, images_path: str | os.PathLike | None = None) -> Match:
    """The format of the dataset in ``path``.

    Parameters
    ----------
    path : path-like
        Folder of the EEG (or of the whole dataset).
    images_path : path-like or None
        Separate folder of the images (two-root layout).

    Returns
    -------
    Match
        A complete match.

    Raises
    ------
    DatasetNotFoundError
        ``path`` is not a folder, holds no known format, or holds one that is
        incomplete (the message names the format found and what is missing).
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetNotFoundError(f"{path} is not a folder")
    images = Path(images_path) if images_path is not None else None
    matches = []
    for entry in DATASETS.entries():
        sniff = getattr(entry.factory, "sniff", None)
        if sniff is not None and (match := sniff(path, images)) is not None:
            matches.append(match)
    complete = [m for m in matches if m.missing is None]
    if complete:
        return complete[0]
    if matches:
        m = matches[0]
        raise DatasetNotFoundError(f"{path} holds {m.found} ({m.kind} format) but "
                                   f"{m.missing}")
    formats = "; ".join(f"{e.name}: {e.summary}" for e in DATASETS.entries()
                        if getattr(e.factory, "sniff", None) is not None)
    raise DatasetNotFoundError(f"{path} holds no dataset of a known format ({formats})")


def open_dataset(kind: str, path: str | os.PathLike,
                 images_path: str | os.PathLike | None = None, **options: Any) -> Dataset:
    """Open the dataset in ``path`` with the format registered as ``kind``.

    Parameters
    ----------
    kind : str
        A name from :func:`available_datasets`, or ``"auto"`` to detect it.
    path : path-like
        Folder of the EEG (or of the whole dataset).
    images_path : path-like or None
        Separate folder of the images and their metadata.
    **options
        Format-specific options (see each format's class).

    Returns
    -------
    Dataset

    Raises
    ------
    UnknownNameError
        ``kind`` is not registered.
    DatasetNotFoundError
        The folder does not hold that format (or, for ``auto``, any).
    """
    if kind == AUTO:
        kind = detect(path, images_path).kind
    factory = DATASETS.get(kind)
    accepted = [name for name in inspect.signature(factory).parameters
                if name not in ("path", "images_path")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise PerceptogramError(
            f"dataset.options: the {kind} format has no option {', '.join(unknown)} "
            f"(it takes: {', '.join(accepted) or 'none'})")
    return factory(Path(path), images_path=None if images_path is None
                   else Path(images_path), **options)


def summarize(dataset: Dataset) -> dict[str, Any]:
    """JSON-friendly inventory of a dataset: what ``perceptogram data info`` prints.

    Every subject is loaded (and thereby validated) one after the other.

    Returns
    -------
    dict
        ``kind``, ``root``, ``images_root``, ``unit`` and ``unit_label``
        (:mod:`perceptogram.data.core.units`), ``subjects`` (each with ``subject``,
        ``splits`` ``{split: {"shape": [...], "n_images", "n_missing_images",
        "repetitions": {"min", "max", "total"}}}``, ``ch_names``, ``times``),
        ``montage`` (``positions`` and ``neighbours``: one sentence each, for the
        first subject's channels), ``n_{train,test}_images``,
        ``n_{train,test}_concepts``, ``n_{train,test}_image_files`` (on disk),
        ``notes``.
    """
    subjects = []
    table = dataset.images()
    montage: dict[str, str] = {}
    unit = getattr(dataset, "unit", "unknown")
    for number in dataset.subjects():
        train, test = dataset.load_subject(number)
        unit = train.unit
        splits = {}
        for split, ep in (("train", train), ("test", test)):
            counts = ep.repetition_counts
            splits[split] = {
                "shape": [int(n) for n in ep.data.shape],
                "n_images": ep.n_images,
                "n_missing_images": len(table.paths[split]) - ep.n_images,
                "repetitions": {"min": int(counts.min()) if len(counts) else 0,
                                "max": int(counts.max()) if len(counts) else 0,
                                "total": int(counts.sum())},
            }
        subjects.append({
            "subject": number,
            "splits": splits,
            "ch_names": list(train.ch_names),
            "times": [float(t) for t in train.times],
        })
        if not montage:
            montage = _montage_summary(dataset, train)
    out: dict[str, Any] = {"kind": dataset.kind, "root": str(dataset.root),
                           "images_root": str(dataset.images_root), "unit": unit,
                           "unit_label": eeg_unit(unit).label, "subjects": subjects,
                           "montage": montage}
    for split in ("train", "test"):
        paths = table.image_paths(split)
        out[f"n_{split}_images"] = len(paths)
        out[f"n_{split}_concepts"] = len(set(table.concepts[split]))
        out[f"n_{split}_image_files"] = sum(p.is_file() for p in set(paths))
    out["notes"] = list(dataset.notes)
    return out


def _montage_summary(dataset: Dataset, epochs: EEGEpochs) -> dict[str, str]:
    """Where the channels are and which are neighbours; a note when it is unusual."""
    placement = place_channels(epochs.ch_names, epochs.positions)
    neighbours = channel_neighbours(epochs.ch_names, placement.positions)
    if placement.unplaced:
        note(dataset, placement.describe())
    if neighbours.method != "delaunay" or not (
            neighbours.adjacency & ~np.eye(len(epochs.ch_names), dtype=bool)).any():
        note(dataset, f"cluster tests: {neighbours.note}")
    return {"positions": placement.describe(), "neighbours": neighbours.note}


def note(dataset: Dataset, message: str) -> None:
    """Record a note on ``dataset`` and log it once."""
    if message not in dataset.notes:
        dataset.notes.append(message)
        logger.info(message)
