"""Import a recording into the ``mne`` format: ``perceptogram data import``.

Anything MNE reads (EEGLAB ``.set``, BrainVision ``.vhdr``, EDF/BDF, FIF, ...:
:func:`mne.io.read_raw`) or a CSV of samples with a marker column (e.g. the Muse
headband's ``timestamps,TP9,AF7,AF8,TP10,...,Marker``), plus a **picture table**
that says which image each event shows, becomes a folder the ``mne`` format reads:
``sub-<N>_train-epo.fif``, ``sub-<N>_test-epo.fif`` and ``images.csv``.

Filtering, epoching, baseline and rejection are MNE's own
(:meth:`mne.io.Raw.filter`, :class:`mne.Epochs` with ``baseline=``, ``reject=``,
``flat=``) with MNE's meaning; nothing is computed by hand. Every event the table
names is accounted for: kept, or rejected with MNE's reason, per image and split
(:class:`ImportReport`).

The picture table (CSV)::

    event,image,concept,split
    2,stimuli/target-360807.jpg,cat-360807,
    1,stimuli/nontarget-234836.jpg,dog-234836,

- ``event``: the event's value: the code of a stim channel or a marker column
  (``2``), the description of an annotation (EEGLAB / BrainVision / EDF:
  ``square``), or a value of an events file (``--events``);
- ``image``: path relative to the image folder (cannot leave it);
- ``concept`` (optional, default the image's file stem): the unit of
  cross-validation;
- ``split`` (optional): ``train`` or ``test`` for images seen in one split only
  (zero-shot designs); empty or ``both``: the image's epochs are split in time,
  the last ``test_fraction`` of them for testing.

Several images may share one event value only when the recording did not log which
of them was shown (e.g. a P300 experiment that logs only target / non-target):
with ``unlogged="cycle"`` the *k*-th event of that value is assigned to the
*k*-th image in turn. Which image was really seen is unknown, so anything that
differs between those images is random with respect to the EEG: decoding between
them is at chance by design, and their pixel attributes are null controls.

Rows. The decoder sees one row per **picture**: by default all epochs of one
image in one split (their average); with ``epochs_per_row=K`` the consecutive
events of an image in a split are cut into ``ceil(n / K)`` pictures of nearly
equal size (``image#1``, ``image#2``, ...; at most K events each), so that a
recording with few images still gives the decoder and the statistics many rows.
A picture whose epochs were all rejected is kept in ``images.csv`` and left out
for that subject when the data are read, with a note.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from perceptogram._io import atomic_path, write_json_atomic, write_text_atomic
from perceptogram._owned import NotOwnedError, mark_owned, owned_kind
from perceptogram.data.formats.layout import check_confined, confined_path
from perceptogram.data.formats.mne_epochs import read_image_table
from perceptogram.data.formats.recordings import (
    RecordingOptions,
    normalise_value,
    read_recording,
    read_table_rows,
)
from perceptogram.errors import DataFormatError, PerceptogramError, require

__all__ = ["ImportOptions", "ImportReport", "import_recordings", "read_picture_table",
           "report_text", "IMPORT_KIND"]

#: Ownership-marker kind of a folder the importer writes (:mod:`perceptogram._owned`).
IMPORT_KIND = "mne-import"


@dataclass(frozen=True)
class ImportOptions(RecordingOptions):
    """How recordings are read, filtered, epoched, rejected and split (MNE's meaning).

    The fields of :class:`~perceptogram.data.formats.recordings.RecordingOptions`
    (``channels``, ``stim_channel``, ``sfreq``, ``csv_unit``, ``marker_column``,
    ``time_column``) say how a recording is read.

    Parameters
    ----------
    l_freq, h_freq : float or None
        Band-pass edges in Hz (:meth:`mne.io.Raw.filter`); None: no high-pass /
        low-pass. No filtering when both are None.
    filter_method : {"fir", "iir"}
        MNE's filter method (``"iir"``: 4th-order Butterworth, forward-backward).
    tmin, tmax : float
        Epoch start and end in seconds relative to the event.
    baseline : (float or None, float or None) or None
        MNE's ``baseline=``: the interval whose mean is subtracted (None at an
        end: from the epoch's start / to its end); None: no baseline correction.
    reject : float or None
        Peak-to-peak amplitude in volts above which an epoch is rejected
        (``reject=dict(eeg=...)``), e.g. ``100e-6``.
    flat : float or None
        Peak-to-peak amplitude in volts below which an epoch is rejected (a
        flat channel: ``flat=dict(eeg=...)``).
    test_fraction : float
        For images in both splits: the fraction of each image's events, the
        last ones in time, used for testing.
    epochs_per_row : int or None
        Consecutive events of an image per picture (row); None: one picture per
        image and split.
    unlogged : {"refuse", "cycle"}
        What to do when several images share one event value (see the module).
    """

    l_freq: float | None = None
    h_freq: float | None = None
    filter_method: Literal["fir", "iir"] = "fir"
    tmin: float = -0.2
    tmax: float = 0.8
    baseline: tuple[float | None, float | None] | None = (None, 0.0)
    reject: float | None = None
    flat: float | None = None
    test_fraction: float = 0.2
    epochs_per_row: int | None = None
    unlogged: Literal["refuse", "cycle"] = "refuse"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.filter_method not in ("fir", "iir"):
            raise PerceptogramError(f"filter method must be fir or iir, got "
                                    f"{self.filter_method!r}")
        if not self.tmin < self.tmax:
            raise PerceptogramError(f"tmin ({self.tmin}) must be before tmax ({self.tmax})")
        if not 0.0 <= self.test_fraction < 1.0:
            raise PerceptogramError(f"test fraction must be in [0, 1), got "
                                    f"{self.test_fraction}")
        if self.epochs_per_row is not None and self.epochs_per_row < 1:
            raise PerceptogramError(f"epochs per row must be at least 1, got "
                                    f"{self.epochs_per_row}")
        if self.unlogged not in ("refuse", "cycle"):
            raise PerceptogramError(f"unlogged must be refuse or cycle, got {self.unlogged!r}")
        for name in ("reject", "flat"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise PerceptogramError(f"{name} must be a positive number, got {value}")


@dataclass(frozen=True)
class PictureRow:
    """One row of the picture table."""

    event: str
    image: str
    concept: str
    split: str  # "train", "test" or "both"


@dataclass
class ImportReport:
    """What an import did: events kept and rejected per image and split.

    Attributes
    ----------
    subject : int
    files : dict of str to str
        ``train`` / ``test`` epochs files and the image table written.
    images : list of dict
        Per image and split: ``image``, ``split``, ``events``, ``kept``,
        ``rejected`` (reason -> count), ``rows`` (pictures), ``empty_rows``
        (pictures whose every epoch was rejected).
    unmatched : dict of str to int
        Events whose value the picture table does not name, by value.
    notes : list of str
    settings : dict
        The options used.
    """

    subject: int
    files: dict[str, str]
    images: list[dict]
    unmatched: dict[str, int]
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def totals(self) -> dict[str, dict[str, int]]:
        """Events, kept and rejected epochs per split."""
        out: dict[str, dict[str, int]] = {}
        for row in self.images:
            t = out.setdefault(row["split"], {"events": 0, "kept": 0, "rejected": 0,
                                              "rows": 0, "empty_rows": 0})
            t["events"] += row["events"]
            t["kept"] += row["kept"]
            t["rejected"] += row["events"] - row["kept"]
            t["rows"] += row["rows"]
            t["empty_rows"] += row["empty_rows"]
        return out


# --------------------------------------------------------------------------- tables
def read_picture_table(path: Path) -> list[PictureRow]:
    """Read a picture table (columns ``event``, ``image``, optional ``concept``, ``split``).

    Raises
    ------
    DataFormatError
        Missing columns, an empty cell, a bad split, or an image listed twice.
    """
    columns, rows = read_table_rows(Path(path), "a picture table")
    missing = [c for c in ("event", "image") if c not in columns]
    if missing:
        raise DataFormatError(f"{path} must have the columns event and image (optional: "
                              f"concept, split); it has {', '.join(columns) or 'none'}")
    out, seen = [], set()
    for line, row in enumerate(rows, start=2):
        event, image = (row.get("event") or "").strip(), (row.get("image") or "").strip()
        if not event or not image:
            raise DataFormatError(f"{path}, line {line}: empty event or image")
        concept = (row.get("concept") or "").strip() or Path(image).stem
        split = (row.get("split") or "").strip().lower() or "both"
        if split not in ("train", "test", "both"):
            raise DataFormatError(f"{path}, line {line}: split must be train, test, both or "
                                  f"empty, got {split!r}")
        if image in seen:
            raise DataFormatError(f"{path}, line {line}: image {image} is listed twice; give "
                                  "one row per image (an image shows at one event value)")
        seen.add(image)
        out.append(PictureRow(normalise_value(event), image, concept, split))
    if not out:
        raise DataFormatError(f"{path} lists no picture")
    return out


# ------------------------------------------------------------------------- assigning
@dataclass
class _Event:
    recording: int
    sample: int
    value: str
    image: int = -1
    split: str = ""
    row: int = -1
    epoch: int = -1  # index in its recording's epochs, -1 when rejected
    reason: str = ""


def _assign(events: list[_Event], table: list[PictureRow], options: ImportOptions
            ) -> list[str]:
    """Give every event its image, split and row (picture); return notes."""
    notes = []
    by_value: dict[str, list[int]] = {}
    for i, row in enumerate(table):
        by_value.setdefault(row.event, []).append(i)
    shared = {v: ims for v, ims in by_value.items() if len(ims) > 1}
    if shared and options.unlogged != "cycle":
        value, images = next(iter(shared.items()))
        names = ", ".join(table[i].image for i in images[:3])
        raise DataFormatError(
            f"event {value} shows {len(images)} images ({names}"
            f"{', ...' if len(images) > 3 else ''}): which one was shown on each trial must be "
            "logged, or pass --unlogged cycle to assign the events to them in turn (their "
            "differences then carry no signal)")
    counters: dict[str, int] = {}
    for event in events:  # chronological
        images = by_value[event.value]
        k = counters.get(event.value, 0)
        counters[event.value] = k + 1
        event.image = images[k % len(images)]
    for value, images in shared.items():
        notes.append(f"event {value} does not say which of {len(images)} images was shown; "
                     f"its {counters.get(value, 0)} events were assigned to them in turn "
                     "(--unlogged cycle): differences between these images are random with "
                     "respect to the EEG")
    per_image: dict[int, list[_Event]] = {}
    for event in events:
        per_image.setdefault(event.image, []).append(event)
    for image, its in per_image.items():
        split = table[image].split
        if split == "both":
            n_test = int(round(options.test_fraction * len(its)))
            for j, event in enumerate(its):
                event.split = "test" if j >= len(its) - n_test else "train"
        else:
            for event in its:
                event.split = split
        for split_name in ("train", "test"):
            chunk = [e for e in its if e.split == split_name]
            # ceil(n / K) rows of nearly equal size (K or K - 1 events each)
            n_rows = 1 if options.epochs_per_row is None else \
                -(-len(chunk) // options.epochs_per_row)
            for j, event in enumerate(chunk):
                event.row = j * n_rows // len(chunk)
    return notes


def _reason(log: tuple[str, ...], ch_names: Sequence[str]) -> str:
    """MNE's drop log of one event in words: channel names mean --reject / --flat."""
    if not log:
        return ""
    channels = [entry for entry in log if entry in ch_names]
    others = [entry for entry in log if entry not in ch_names]
    words = [{"NO_DATA": "outside the recording",
              "TOO_SHORT": "outside the recording"}.get(entry, entry) for entry in others]
    if channels:
        words.insert(0, f"amplitude ({', '.join(channels)})")
    return "; ".join(dict.fromkeys(words))


def _category(reason: str) -> str:
    """The reason without the channel list, for counts."""
    return reason.split(" (")[0] if reason.startswith("amplitude") else reason


# ---------------------------------------------------------------------------- output
def _prepare_folder(out: Path, subject: int, overwrite: bool) -> None:
    out = Path(out)
    try:
        mark_owned(out, IMPORT_KIND)
    except NotOwnedError:
        raise PerceptogramError(f"{out} exists and was not written by perceptogram data "
                                "import; give a new or empty folder") from None
    if owned_kind(out) != IMPORT_KIND:
        raise PerceptogramError(f"{out} holds another Perceptogram folder "
                                f"({owned_kind(out)}); give a new or empty folder")
    existing = [out / f"sub-{subject:02d}_{s}-epo.fif" for s in ("train", "test")]
    if any(p.exists() for p in existing) and not overwrite:
        raise PerceptogramError(f"{out} already holds subject {subject}; pass --overwrite to "
                                "import it again")


def _existing_codes(table_path: Path) -> dict[tuple[str, str], tuple[int, str, str]]:
    """(split, picture) -> (event_id, image, concept) of an images.csv written before."""
    if not table_path.is_file():
        return {}

    key, rows = read_image_table(table_path)
    if key != "event_id":
        raise DataFormatError(f"{table_path} is keyed by epoch; the importer writes tables "
                              "keyed by event_id")
    return {(split, picture): (code, image, concept)
            for split, split_rows in rows.items()
            for code, image, concept, picture in split_rows}


def _picture_name(image: str, row: int, options: ImportOptions) -> str:
    return image if options.epochs_per_row is None else f"{image}#{row + 1}"


def import_recordings(recordings: Sequence[str | Path], pictures: str | Path,
                      out: str | Path, *, subject: int = 1,
                      options: ImportOptions | None = None,
                      images: str | Path | None = None,
                      events: Sequence[str | Path] | None = None,
                      copy_images: bool = False, overwrite: bool = False) -> ImportReport:
    """Build (or add a subject to) an ``mne``-format folder from raw recordings.

    Parameters
    ----------
    recordings : sequence of path-like
        One subject's recordings, in the order they were made (several runs or
        sessions: each is filtered and epoched on its own).
    pictures : path-like
        The picture table (see the module).
    out : path-like
        Folder to write (new, empty, or written by an earlier import).
    subject : int
        Subject number of the files written.
    options : ImportOptions or None
    images : path-like or None
        Folder the table's image paths are relative to (default: the table's
        folder).
    events : sequence of path-like or None
        One events file per recording (default: the recordings' own events).
    copy_images : bool
        Copy the images into ``out/images/`` so that the folder stands alone;
        otherwise ``images.csv`` refers to ``images`` (give it as
        ``dataset.images_path``).
    overwrite : bool
        Replace this subject's files of an earlier import.

    Returns
    -------
    ImportReport
        Also written to ``out/import-sub-<N>.json``.

    Raises
    ------
    DataFormatError
        A recording, the table or an events file cannot be read, an image is
        missing, the recordings' channels differ, or no event matches the table.
    """
    mne = require("mne", purpose="importing recordings")
    options = options or ImportOptions()
    if not 1 <= int(subject) <= 999:
        raise PerceptogramError(f"subject must be a number from 1 to 999, got {subject}")
    recordings = [Path(r) for r in recordings]
    if not recordings:
        raise PerceptogramError("give at least one recording")
    if events is not None and len(events) != len(recordings):
        raise PerceptogramError(f"{len(events)} events files for {len(recordings)} recordings: "
                                "give one per recording, in the same order")
    pictures = Path(pictures)
    table = read_picture_table(pictures)
    images_root = Path(images) if images is not None else pictures.parent
    image_paths = [confined_path(images_root, *Path(row.image).parts) for row in table]
    check_confined(image_paths, images_root)
    absent = [str(p) for p in image_paths if not p.is_file()]
    if absent:
        raise DataFormatError(f"{len(absent)} image(s) of {pictures.name} are not in "
                              f"{images_root}: {', '.join(absent[:3])}")

    _prepare_folder(Path(out), subject, overwrite)  # refuse a foreign folder before any work
    values = {row.event for row in table}
    all_events: list[_Event] = []
    unmatched: dict[str, int] = {}
    kept_data: list[np.ndarray] = []
    info = times = None
    for r, path in enumerate(recordings):
        raw, found = read_recording(path, options, None if events is None else events[r])
        if info is None:
            info = raw.info
        elif raw.ch_names != info.ch_names:
            raise DataFormatError(f"{path} has the channels {raw.ch_names}, "
                                  f"{recordings[0]} has {info.ch_names}")
        mine = [(s, v) for s, v in found if v in values]
        for _, v in found:
            if v not in values:
                unmatched[v] = unmatched.get(v, 0) + 1
        if options.l_freq is not None or options.h_freq is not None:
            raw.filter(options.l_freq, options.h_freq, method=options.filter_method,
                       picks="eeg", verbose="error")
        recording_events = [_Event(r, s, v) for s, v in mine]
        if mine:
            codes = np.array([[s, 0, 1] for s, _ in mine], dtype=np.int64)
            epochs = mne.Epochs(
                raw, codes, event_id=None, tmin=options.tmin, tmax=options.tmax,
                baseline=options.baseline, picks="eeg", preload=True,
                reject=None if options.reject is None else {"eeg": options.reject},
                flat=None if options.flat is None else {"eeg": options.flat},
                event_repeated="drop", verbose="error")
            for k, event in enumerate(recording_events):
                event.reason = _reason(epochs.drop_log[k], raw.ch_names)
            offset = sum(len(d) for d in kept_data)
            for position, k in enumerate(epochs.selection):
                recording_events[k].epoch = offset + position
            kept_data.append(epochs.get_data())
            times = epochs.times
        all_events += recording_events
    if not all_events:
        raise DataFormatError(
            f"no event of the recording(s) has a value listed in {pictures.name} (its values: "
            f"{', '.join(sorted(values)[:5])}; the recordings': "
            f"{', '.join(sorted(unmatched)[:5]) or 'none'})")
    notes = _assign(all_events, table, options)
    data = np.concatenate(kept_data) if kept_data else np.zeros((0, len(info.ch_names), 0))
    report = _write(Path(out), subject, table, image_paths, all_events, data, info, times,
                    options, copy_images, mne)
    report.unmatched = dict(sorted(unmatched.items()))
    report.notes = notes + report.notes
    report.settings = {**asdict(options), "recordings": [str(p) for p in recordings],
                       "pictures": str(pictures), "images": str(images_root),
                       "events": None if events is None else [str(e) for e in events]}
    write_json_atomic(Path(out) / f"import-sub-{subject:02d}.json", asdict(report))
    return report


def _write(out: Path, subject: int, table: list[PictureRow], image_paths: list[Path],
           events: list[_Event], data: np.ndarray, info, times, options: ImportOptions,
           copy_images: bool, mne) -> ImportReport:
    table_path = out / "images.csv"
    codes = _existing_codes(table_path)
    next_code = max((c for c, _, _ in codes.values()), default=0) + 1

    def image_ref(i: int) -> str:
        return (Path("images") / table[i].image).as_posix() if copy_images else table[i].image

    pictures: dict[tuple[str, int, int], int] = {}  # (split, image, row) -> code
    for split in ("train", "test"):
        for event in events:
            if event.split != split or (split, event.image, event.row) in pictures:
                continue
            name = _picture_name(table[event.image].image, event.row, options)
            found = codes.get((split, name))
            if found is None:
                found = (next_code, image_ref(event.image), table[event.image].concept)
                codes[(split, name)] = found
                next_code += 1
            elif found[1:] != (image_ref(event.image), table[event.image].concept):
                raise DataFormatError(f"{table_path} lists {name} with the image {found[1]} "
                                      f"and concept {found[2]}; this import says "
                                      f"{image_ref(event.image)}, {table[event.image].concept}")
            pictures[(split, event.image, event.row)] = found[0]
    files = {}
    for split in ("train", "test"):
        chosen = [e for e in events if e.split == split and e.epoch >= 0]
        if not chosen:
            raise DataFormatError(f"no {split} epoch is left after rejection (of "
                                  f"{sum(e.split == split for e in events)} {split} events); "
                                  "loosen --reject or check the recording")
        index = np.array([e.epoch for e in chosen])
        n_times = data.shape[-1]
        event_array = np.column_stack([np.arange(len(chosen)) * n_times + 1,
                                       np.zeros(len(chosen), int),
                                       [pictures[(split, e.image, e.row)] for e in chosen]])
        epochs = mne.EpochsArray(data[index], info, events=event_array.astype(np.int64),
                                 tmin=float(times[0]), baseline=None, verbose="error")
        path = out / f"sub-{subject:02d}_{split}-epo.fif"
        with atomic_path(path, suffix="-epo.fif") as tmp:
            epochs.save(tmp, overwrite=True, verbose="error")
        files[split] = path.name
        _write_event_log(out / f"sub-{subject:02d}_{split}-events.csv", table, events, split,
                         pictures, options)
    _write_table(table_path, codes)
    files["table"] = table_path.name
    if copy_images:
        for i, source in enumerate(image_paths):
            target = confined_path(out / "images", *Path(table[i].image).parts)
            if not target.is_file() or target.stat().st_size != source.stat().st_size:
                with atomic_path(target) as tmp:
                    shutil.copyfile(source, tmp)
    return ImportReport(subject=subject, files=files,
                        images=_per_image(table, events, options), unmatched={})


def _write_table(path: Path, codes: dict[tuple[str, str], tuple[int, str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["split", "event_id", "image", "concept", "picture"])
    for (split, picture), (code, image, concept) in sorted(
            codes.items(), key=lambda item: (item[0][0] != "train", item[1][0])):
        writer.writerow([split, code, image, concept, picture])
    write_text_atomic(path, buffer.getvalue())


def _write_event_log(path: Path, table: list[PictureRow], events: list[_Event], split: str,
                     pictures: dict, options: ImportOptions) -> None:
    """Every event of the split: where it was, what it showed, kept or why rejected."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["recording", "sample", "event", "image", "picture", "event_id", "kept",
                     "rejected_because"])
    for e in events:
        if e.split == split:
            writer.writerow([e.recording, e.sample, e.value, table[e.image].image,
                             _picture_name(table[e.image].image, e.row, options),
                             pictures[(split, e.image, e.row)], int(e.epoch >= 0), e.reason])
    write_text_atomic(path, buffer.getvalue())


def _per_image(table: list[PictureRow], events: list[_Event], options: ImportOptions
               ) -> list[dict]:
    out = []
    for i, row in enumerate(table):
        for split in ("train", "test"):
            its = [e for e in events if e.image == i and e.split == split]
            if not its:
                continue
            rejected: dict[str, int] = {}
            for e in its:
                if e.epoch < 0:
                    key = _category(e.reason) or "dropped"
                    rejected[key] = rejected.get(key, 0) + 1
            rows = sorted({e.row for e in its})
            empty = [r for r in rows if all(e.epoch < 0 for e in its if e.row == r)]
            out.append({"image": row.image, "split": split, "events": len(its),
                        "kept": sum(e.epoch >= 0 for e in its), "rejected": rejected,
                        "rows": len(rows), "empty_rows": len(empty)})
    return out


def report_text(report: ImportReport) -> list[str]:
    """Lines summarising an import: per split, and where epochs were lost."""
    lines = []
    for split, t in report.totals().items():
        lines.append(f"{split}: {t['kept']} of {t['events']} epochs kept ({t['rejected']} "
                     f"rejected), {t['rows']} pictures"
                     + (f", {t['empty_rows']} of them with every epoch rejected"
                        if t["empty_rows"] else ""))
    reasons: dict[str, int] = {}
    for row in report.images:
        for reason, n in row["rejected"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    if reasons:
        lines.append("rejected because: " + "; ".join(f"{r} {n}" for r, n in
                                                     sorted(reasons.items())))
    if report.unmatched:
        lines.append("events not in the picture table (not used): " + ", ".join(
            f"{v} ({n})" for v, n in report.unmatched.items()))
    return lines + report.notes

