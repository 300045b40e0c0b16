"""``perceptogram data import`` on real recordings: a Muse CSV with a marker column and
EEGLAB's tutorial recording (``.set``, stored positions, an events file). The epochs it
writes are MNE's own, made by hand here with the same settings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mne
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from perceptogram.cli import app
from perceptogram.data.formats.base import open_dataset, summarize
from perceptogram.data.formats.mne_import import ImportOptions, import_recordings
from perceptogram.errors import DataFormatError, PerceptogramError

DATA = Path(__file__).parent / "data"
MUSE = DATA / "muse-p300" / "subject1_session1_run1_first20s.csv"
EEGLAB = DATA / "eeglab-sample" / "eeglab_sample_120s.set"
EEGLAB_EVENTS = DATA / "eeglab-sample" / "eeglab_sample_120s-events.tsv"
MUSE_ARGS = ["--channels", "TP9,AF7,AF8,TP10", "--sfreq", "256", "--l-freq", "1",
             "--h-freq", "30", "--filter-method", "iir", "--tmin", "-0.1", "--tmax", "0.8",
             "--baseline=-0.1,0", "--reject", "100e-6", "--test-fraction", "0.25"]
runner = CliRunner()


@pytest.fixture
def muse_pictures(tmp_path):
    """One picture per logged class (target cat, non-target dog)."""
    folder = tmp_path / "stimuli"
    folder.mkdir()
    Image.new("RGB", (32, 32), (200, 120, 60)).save(folder / "cat.png")
    Image.new("RGB", (32, 32), (60, 120, 200)).save(folder / "dog.png")
    (folder / "pictures.csv").write_text("event,image,concept\n2,cat.png,cat\n1,dog.png,dog\n")
    return folder / "pictures.csv"


@pytest.fixture
def squares(tmp_path):
    """EEGLAB's stimulus, drawn: a green square 3 or 1.5 degrees left of fixation."""
    folder = tmp_path / "squares"
    folder.mkdir()
    for position, x in ((1, 8), (2, 20)):
        image = np.zeros((48, 48, 3), np.uint8)
        image[20:28, x:x + 8, 1] = 200
        image[23:25, 35:37] = 255  # fixation cross
        Image.fromarray(image).save(folder / f"square{position}.png")
    (folder / "pictures.csv").write_text(
        "event,image,concept\nsquare1,square1.png,far\nsquare2,square2.png,near\n")
    return folder / "pictures.csv"


def _by_hand_muse():
    """MNE epochs of the Muse excerpt made directly with MNE (the reference)."""
    table = np.loadtxt(MUSE, delimiter=",", skiprows=1)
    info = mne.create_info(["TP9", "AF7", "AF8", "TP10"], 256.0, "eeg")
    raw = mne.io.RawArray(table[:, 1:5].T * 1e-6, info, verbose="error")
    raw.filter(1.0, 30.0, method="iir", verbose="error")
    marker = table[:, 6]
    onsets = np.flatnonzero((marker != 0) & (np.r_[0, marker[:-1]] != marker))
    events = np.column_stack([onsets, np.zeros_like(onsets), marker[onsets].astype(int)])
    return mne.Epochs(raw, events, tmin=-0.1, tmax=0.8, baseline=(-0.1, 0),
                      reject={"eeg": 100e-6}, preload=True, verbose="error")


def _in_time_order(out: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Our train and test epochs together, in time order: data, samples, event codes."""
    data, samples, codes = [], [], []
    for split in ("train", "test"):
        epochs = mne.read_epochs(out / f"sub-01_{split}-epo.fif", verbose="error")
        log = [line.split(",") for line in
               (out / f"sub-01_{split}-events.csv").read_text().splitlines()[1:]]
        kept = [row for row in log if row[6] == "1"]
        assert len(kept) == len(epochs)
        data.append(epochs.get_data())
        samples += [int(row[1]) for row in kept]
        codes.append(epochs.events[:, 2])
    order = np.argsort(samples, kind="stable")
    return np.concatenate(data)[order], np.asarray(samples)[order], np.concatenate(codes)[order]


def test_muse_csv_import_writes_mne_epochs(tmp_path, muse_pictures):
    out = tmp_path / "muse"
    result = runner.invoke(app, ["data", "import", str(out), str(MUSE), "--pictures",
                                 str(muse_pictures), *MUSE_ARGS])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "train: 24 of 25 epochs kept (1 rejected)" in text
    assert "test: 8 of 9 epochs kept (1 rejected)" in text
    assert "rejected because: outside the recording 2" in text
    reference = _by_hand_muse()
    assert len(reference) == 32
    data, samples, codes = _in_time_order(out)
    np.testing.assert_array_equal(samples, reference.events[:, 0])
    np.testing.assert_allclose(data, reference.get_data(), rtol=1e-6, atol=1e-12)
    cats = {int(row.split(",")[1]) for row in
            (out / "images.csv").read_text().splitlines()[1:] if ",cat.png," in row}
    np.testing.assert_array_equal(np.isin(codes, list(cats)), reference.events[:, 2] == 2)
    # the last quarter of each picture's events, in time, are the test epochs
    log = (out / "sub-01_test-events.csv").read_text().splitlines()
    assert len(log) == 1 + 9 and log[-1].endswith(",0,outside the recording")
    report = json.loads((out / "import-sub-01.json").read_text())
    assert report["settings"]["filter_method"] == "iir"


def test_rows_of_epochs_and_rows_that_lost_every_epoch(tmp_path, muse_pictures):
    out = tmp_path / "rows"
    report = import_recordings([MUSE], muse_pictures, out, options=ImportOptions(
        channels=("TP9", "AF7", "AF8", "TP10"), sfreq=256.0, tmin=-0.1, tmax=0.8,
        baseline=(-0.1, 0.0), test_fraction=0.25, epochs_per_row=3))
    rows = (out / "images.csv").read_text().splitlines()
    assert rows[0] == "split,event_id,image,concept,picture"
    assert any(r.endswith(",dog.png#1") for r in rows)
    totals = report.totals()
    assert totals["train"]["rows"] == sum(-(-r["events"] // 3) for r in report.images
                                          if r["split"] == "train")
    dataset = open_dataset("mne", out, muse_pictures.parent)
    train, test = dataset.load_subject(1)
    assert train.repetition_counts.max() <= 3 and train.repetition_counts.min() >= 1
    assert train.unit == "V"
    single = import_recordings([MUSE], muse_pictures, tmp_path / "single", options=ImportOptions(
        channels=("TP9", "AF7", "AF8", "TP10"), sfreq=256.0, tmin=-0.1, tmax=0.8,
        test_fraction=0.25, epochs_per_row=1))
    assert single.totals()["train"]["empty_rows"] == 1  # the first event leaves the recording
    dataset = open_dataset("mne", tmp_path / "single", muse_pictures.parent)
    train, _ = dataset.load_subject(1)
    assert train.n_images == single.totals()["train"]["rows"] - 1
    assert any("1 of 25 training and 1 of 9 test pictures have no epoch" in n
               for n in dataset.notes)


def test_eeglab_recording_with_an_events_file(tmp_path, squares):
    out = tmp_path / "eeglab"
    result = runner.invoke(app, ["data", "import", str(out), str(EEGLAB), "--pictures",
                                 str(squares), "--events", str(EEGLAB_EVENTS), "--l-freq",
                                 "1", "--h-freq", "30", "--tmin", "-0.2", "--tmax", "0.8",
                                 "--reject", "150e-6", "--test-fraction", "0.3",
                                 "--copy-images"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "events not in the picture table (not used): rt (38)" in text
    raw = mne.io.read_raw_eeglab(EEGLAB, preload=True, verbose="error")
    raw.filter(1.0, 30.0, verbose="error")
    onsets = [line.split("\t") for line in EEGLAB_EVENTS.read_text().splitlines()[1:]]
    squares_at = [(round(float(t) * raw.info["sfreq"]), v) for t, v in onsets
                  if v.startswith("square")]
    events = np.array([[s, 0, int(v[-1])] for s, v in squares_at])
    reference = mne.Epochs(raw, events, tmin=-0.2, tmax=0.8, baseline=(None, 0),
                           reject={"eeg": 150e-6}, preload=True, verbose="error")
    report = json.loads((out / "import-sub-01.json").read_text())
    assert sum(r["events"] for r in report["images"]) == 41  # squares in the first 120 s
    data, samples, _ = _in_time_order(out)
    np.testing.assert_array_equal(samples, reference.events[:, 0])
    np.testing.assert_allclose(data, reference.get_data(), rtol=1e-6, atol=1e-12)
    # the positions stored in the recording travel into the files and the dataset
    stored = raw.get_montage().get_positions()["ch_pos"]
    dataset = open_dataset("mne", out)
    train, _ = dataset.load_subject(1)
    np.testing.assert_allclose(train.positions[train.ch_names.index("EOG1")],
                               stored["EOG1"], atol=1e-7)
    info = runner.invoke(app, ["data", "info", str(out)])
    assert info.exit_code == 0, info.output
    said = " ".join(info.output.split())
    assert "Unit: µV" in said and "32 from the recording" in said
    assert (out / "images" / "square1.png").is_file()


def test_one_event_for_several_images_needs_unlogged_cycle(tmp_path, squares):
    table = squares.parent / "classes.csv"
    table.write_text("event,image\nsquare,square1.png\nsquare,square2.png\n")
    options = dict(tmin=-0.2, tmax=0.5)
    with pytest.raises(DataFormatError, match="event square shows 2 images .*--unlogged "
                       "cycle"):
        import_recordings([EEGLAB], table, tmp_path / "a", options=ImportOptions(**options))
    report = import_recordings([EEGLAB], table, tmp_path / "b",
                               options=ImportOptions(unlogged="cycle", **options))
    events = {r["image"]: 0 for r in report.images}
    for r in report.images:
        events[r["image"]] += r["events"]
    assert events == {"square1.png": 21, "square2.png": 20}  # 41 squares, in turn
    assert any("assigned to them in turn" in n for n in report.notes)


def test_folders_and_tables_are_checked(tmp_path, muse_pictures):
    options = ImportOptions(channels=("TP9", "AF7", "AF8", "TP10"), sfreq=256.0)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("mine")
    with pytest.raises(PerceptogramError, match="not written by perceptogram data import"):
        import_recordings([MUSE], muse_pictures, foreign, options=options)
    assert (foreign / "thesis.txt").read_text() == "mine"
    out = tmp_path / "out"
    import_recordings([MUSE], muse_pictures, out, options=options)
    with pytest.raises(PerceptogramError, match="already holds subject 1; pass --overwrite"):
        import_recordings([MUSE], muse_pictures, out, options=options)
    before = (out / "images.csv").read_text()
    import_recordings([MUSE], muse_pictures, out, subject=2, options=options)
    assert (out / "images.csv").read_text() == before  # same pictures, same codes
    assert open_dataset("mne", out, muse_pictures.parent).subjects() == [1, 2]
    bad = muse_pictures.parent / "bad.csv"
    bad.write_text("event,image\n1,../../etc/passwd\n")
    with pytest.raises(DataFormatError, match="would leave"):
        import_recordings([MUSE], bad, tmp_path / "c", options=options)
    bad.write_text("event,image\n1,missing.png\n")
    with pytest.raises(DataFormatError, match="missing.png"):
        import_recordings([MUSE], bad, tmp_path / "d", options=options)
    bad.write_text("event,picture\n1,dog.png\n")
    with pytest.raises(DataFormatError, match="columns event and image"):
        import_recordings([MUSE], bad, tmp_path / "e", options=options)
    with pytest.raises(PerceptogramError, match="test fraction"):
        ImportOptions(test_fraction=1.0)
    shutil.rmtree(tmp_path / "out")


def test_a_channel_in_no_template_is_noted_not_refused(tmp_path, muse_pictures):
    out = tmp_path / "aux"
    import_recordings([MUSE], muse_pictures, out, options=ImportOptions(sfreq=256.0))
    summary = summarize(open_dataset("mne", out, muse_pictures.parent))
    assert summary["subjects"][0]["ch_names"][-1] == "Right AUX"  # every column but time/marker
    assert "Right AUX has no position" in summary["montage"]["positions"]
    assert any(n.startswith("electrode positions:") and "Right AUX has no position" in n
               for n in summary["notes"])
    assert "Right AUX has no position and no neighbour" in summary["montage"]["neighbours"]
