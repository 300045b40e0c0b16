"""Read one continuous recording and its events, for ``perceptogram data import``.

Anything :func:`mne.io.read_raw` reads (EEGLAB ``.set``, BrainVision ``.vhdr``,
EDF/BDF, FIF, ...), or a CSV/TSV of samples with a marker column (e.g. the Muse
headband's ``timestamps,TP9,AF7,AF8,TP10,Right AUX,Marker``). Events come from the
recording's stim channel, else its annotations, else the CSV's marker column, or
from an events file (``onset`` in seconds or ``sample``, and ``value`` /
``trial_type``, as in BIDS ``events.tsv``). Event values are compared as text
(``2``, ``2.0`` and `` 2 `` are one code).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perceptogram.errors import DataFormatError, PerceptogramError, require

__all__ = ["RecordingOptions", "read_recording", "read_table_rows", "normalise_value",
           "CSV_UNITS"]

#: Largest table (events file, picture table) and CSV recording read, in bytes.
MAX_TABLE_BYTES = 64 << 20
_MAX_CSV_BYTES = 1 << 30
#: Column names recognised in a CSV recording and in an events file.
_TIME_COLUMNS = ("timestamps", "timestamp", "time", "times", "t")
_MARKER_COLUMNS = ("marker", "markers", "event", "events", "trigger", "stim")
_ONSET_COLUMNS = ("onset",)
_SAMPLE_COLUMNS = ("sample",)
_VALUE_COLUMNS = ("value", "trial_type", "event", "type", "description")
#: Factor from a CSV's unit to volts.
CSV_UNITS = {"uV": 1e-6, "mV": 1e-3, "V": 1.0, "nV": 1e-9}


@dataclass(frozen=True)
class RecordingOptions:
    """How a recording is read.

    Parameters
    ----------
    channels : tuple of str or None
        Channels to keep (default: every EEG channel; for a CSV, every column but
        the time and marker columns).
    stim_channel : str or None
        Stim channel holding the event codes (default: the recording's first
        stim channel, if any; otherwise its annotations).
    sfreq : float or None
        Sampling rate of a CSV recording in Hz (default: from its time column).
    csv_unit : {"uV", "mV", "V", "nV"}
        Unit of the samples in a CSV recording.
    marker_column, time_column : str or None
        Columns of a CSV recording (default: ``Marker`` / ``timestamps`` and
        similar names).
    """

    channels: tuple[str, ...] | None = None
    stim_channel: str | None = None
    sfreq: float | None = None
    csv_unit: str = "uV"
    marker_column: str | None = None
    time_column: str | None = None

    def __post_init__(self) -> None:
        if self.csv_unit not in CSV_UNITS:
            raise PerceptogramError(f"CSV unit must be one of {', '.join(CSV_UNITS)}, got "
                                    f"{self.csv_unit!r}")
        if self.sfreq is not None and not (math.isfinite(self.sfreq) and self.sfreq > 0):
            raise PerceptogramError(f"sfreq must be a positive number, got {self.sfreq}")


def normalise_value(value: str) -> str:
    """Event values compare as text; ``2``, ``2.0`` and `` 2 `` are the same code."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if math.isfinite(number) and number == int(number) else text


def read_table_rows(path: Path, what: str) -> tuple[list[str], list[dict[str, str]]]:
    if path.stat().st_size > MAX_TABLE_BYTES:
        raise DataFormatError(f"{path} is larger than {MAX_TABLE_BYTES >> 20} MiB; {what} "
                              "should be small")
    text = path.read_text(encoding="utf-8-sig")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] \
        else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows = list(reader)
    return [c.strip() for c in (reader.fieldnames or [])], rows


def _read_events_file(path: Path, sfreq: float, first_samp: int) -> list[tuple[int, str]]:
    """(sample, value) of an events file: ``onset`` (s) or ``sample``, and a value column."""
    columns, rows = read_table_rows(Path(path), "an events file")
    lower = {c.lower(): c for c in columns}
    value_col = next((lower[c] for c in _VALUE_COLUMNS if c in lower), None)
    onset_col = next((lower[c] for c in _ONSET_COLUMNS if c in lower), None)
    sample_col = next((lower[c] for c in _SAMPLE_COLUMNS if c in lower), None)
    if value_col is None or (onset_col is None and sample_col is None):
        raise DataFormatError(f"{path} must have an onset (seconds) or sample column and a "
                              f"value, trial_type or event column; it has {', '.join(columns)}")
    events = []
    for line, row in enumerate(rows, start=2):
        try:
            if onset_col is not None:
                sample = first_samp + int(round(float(row[onset_col]) * sfreq))
            else:
                sample = int(float(row[sample_col]))
        except (TypeError, ValueError):
            raise DataFormatError(f"{path}, line {line}: the event time is not a number") \
                from None
        events.append((sample, normalise_value(row[value_col] or "")))
    return events


def _column(columns: list[str], wanted: str | None, candidates: Sequence[str], what: str,
            path: Path) -> int | None:
    if wanted is not None:
        if wanted not in columns:
            raise DataFormatError(f"{path} has no {what} column {wanted!r}; columns: "
                                  f"{', '.join(columns)}")
        return columns.index(wanted)
    lower = [c.lower() for c in columns]
    return next((lower.index(c) for c in candidates if c in lower), None)


def _read_samples_csv(path: Path, options: RecordingOptions):
    """A CSV of samples (rows) with a marker column, as an MNE Raw (volts) and events."""
    import mne

    if path.stat().st_size > _MAX_CSV_BYTES:
        raise DataFormatError(f"{path} is larger than {_MAX_CSV_BYTES >> 30} GiB; convert it "
                              "to a format MNE reads (FIF, EDF) first")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        fh.seek(0)
        delimiter = "\t" if "\t" in first else ("," if "," in first else ";")
        reader = csv.reader(fh, delimiter=delimiter)
        header = [c.strip() for c in next(reader, [])]
        rows = [r for r in reader if r]
    if not rows:
        raise DataFormatError(f"{path} holds no sample")
    marker = _column(header, options.marker_column, _MARKER_COLUMNS, "marker", path)
    if marker is None:
        raise DataFormatError(f"{path} has no marker column (Marker, marker, event, trigger); "
                              "name it with --marker-column")
    time = _column(header, options.time_column, _TIME_COLUMNS, "time", path)
    if options.channels is not None:
        missing = [c for c in options.channels if c not in header]
        if missing:
            raise DataFormatError(f"{path} has no column {', '.join(missing)}; columns: "
                                  f"{', '.join(header)}")
        keep = [header.index(c) for c in options.channels]
    else:
        keep = [i for i in range(len(header)) if i not in (marker, time)]
    if not keep:
        raise DataFormatError(f"{path} has no channel column besides time and marker")
    if any(len(r) != len(header) for r in rows):
        bad = next(i for i, r in enumerate(rows, start=2) if len(r) != len(header))
        raise DataFormatError(f"{path}, line {bad}: {len(rows[bad - 2])} cells for "
                              f"{len(header)} columns")
    table = list(zip(*rows))
    data = np.empty((len(keep), len(rows)))
    for k, i in enumerate(keep):
        try:
            data[k] = np.asarray(table[i], dtype=float)
        except ValueError:
            raise DataFormatError(f"{path}: column {header[i]!r} holds something that is not "
                                  "a number") from None
    if not np.all(np.isfinite(data)):
        raise DataFormatError(f"{path} holds empty, NaN or infinite samples")
    sfreq = options.sfreq
    if sfreq is None:
        if time is None:
            raise DataFormatError(f"{path} has no time column; give the sampling rate with "
                                  "--sfreq")
        stamps = np.asarray(table[time], dtype=float)
        span = stamps[-1] - stamps[0]
        if len(stamps) < 2 or not span > 0:
            raise DataFormatError(f"{path}: the time column does not increase; give --sfreq")
        sfreq = (len(stamps) - 1) / span
    values = [normalise_value(v) for v in table[marker]]
    events = [(i, v) for i, v in enumerate(values)
              if v not in ("", "0") and (i == 0 or values[i - 1] != v)]
    info = mne.create_info([header[i] for i in keep], float(sfreq), ch_types="eeg")
    raw = mne.io.RawArray(data * CSV_UNITS[options.csv_unit], info, verbose="error")
    return raw, events


def read_recording(path: str | Path, options: RecordingOptions,
                   events_file: str | Path | None = None):
    """Read one recording and its events.

    Parameters
    ----------
    path : path-like
        A file :func:`mne.io.read_raw` reads, or a ``.csv`` / ``.tsv`` / ``.txt``
        table of samples with a marker column.
    options : RecordingOptions
    events_file : path-like or None
        Events of this recording (``onset`` in seconds or ``sample``, and
        ``value`` / ``trial_type``); default: the recording's stim channel, else
        its annotations, else (CSV) its marker column.

    Returns
    -------
    raw : mne.io.BaseRaw
        Preloaded, the selected channels typed EEG (plus nothing else).
    events : list of (int, str)
        Sample (as MNE counts it, ``first_samp`` included) and value of every event.
    """
    mne = require("mne", purpose="importing recordings")
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"recording {path} not found")
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        raw, events = _read_samples_csv(path, options)
    else:
        try:
            raw = mne.io.read_raw(path, preload=True, verbose="error")
        except (ValueError, RuntimeError, OSError, KeyError, TypeError) as exc:
            raise DataFormatError(f"MNE cannot read {path}: {exc}") from exc
        events = _recording_events(mne, raw, options, path)
        if options.channels is not None:
            missing = [c for c in options.channels if c not in raw.ch_names]
            if missing:
                raise DataFormatError(f"{path} has no channel {', '.join(missing)}; channels: "
                                      f"{', '.join(raw.ch_names)}")
            raw.pick(list(options.channels))
            raw.set_channel_types({c: "eeg" for c in raw.ch_names}, verbose="error")
        else:
            raw.pick("eeg", exclude=[])
    if events_file is not None:
        events = _read_events_file(Path(events_file), raw.info["sfreq"], raw.first_samp)
    if not len(raw.ch_names):
        raise DataFormatError(f"{path} holds no EEG channel")
    return raw, events


def _recording_events(mne, raw, options: RecordingOptions, path: Path) -> list[tuple[int, str]]:
    stims = [raw.ch_names[i] for i in mne.pick_types(raw.info, stim=True)]
    stim = options.stim_channel or (stims[0] if stims else None)
    if stim is not None:
        if stim not in raw.ch_names:
            raise DataFormatError(f"{path} has no stim channel {stim!r}")
        found = mne.find_events(raw, stim_channel=stim, shortest_event=1, verbose="error")
        return [(int(s), normalise_value(v)) for s, _, v in found]
    if len(raw.annotations):
        found, codes = mne.events_from_annotations(raw, verbose="error")
        names = {code: name for name, code in codes.items()}
        return [(int(s), normalise_value(names[v])) for s, _, v in found]
    return []
