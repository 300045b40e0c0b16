"""Dataset registry: every layout and format is detected, read like the official files,
described by ``perceptogram data info``, and runs through the whole pipeline."""

from __future__ import annotations

import importlib.util
import json
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from datasets_fixtures import (
    NICE_CHANNELS,
    bids,
    NICE_FILE_TIMES,
    NICE_N_TIMES,
    mne_epochs,
    nice,
    nice_signal,
    train_images_alias,
    two_root,
)
from perceptogram.cli import app
from perceptogram.data.formats.base import (
    DatasetNotFoundError,
    available_datasets,
    detect,
    open_dataset,
)
from perceptogram.data.formats.things_eeg2_dataset import ThingsEEG2Dataset
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS
from perceptogram.errors import DataFormatError, UnsafePickleError

runner = CliRunner()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from perceptogram.data.simulate.dataset import simulate_dataset

    return simulate_dataset(
        tmp_path_factory.mktemp("sim") / "things", n_subjects=1, n_train_concepts=12,
        images_per_concept=3, n_test_concepts=8, n_train_repetitions=2,
        n_test_repetitions=4, image_size=64, seed=3)


@pytest.fixture(scope="module")
def layouts(sim, tmp_path_factory):
    """Format name -> (kind, path, images_path) of each layout."""
    base = tmp_path_factory.mktemp("layouts")
    found = {
        "official": ("things-eeg2", sim, None),
        "two-root": ("things-eeg2", two_root(sim, base / "project"), None),
        "two-root-eeg-only": ("things-eeg2", base / "project" / "eeg_dataset"
                              / "preprocessed_data", base / "project" / "image_set"),
        "train_images": ("things-eeg2", train_images_alias(sim, base / "alias"), None),
        "nice": ("nice", nice(sim, base / "nice"), None),
        "mne": ("mne", mne_epochs(sim, base / "mne"), sim),
    }
    if importlib.util.find_spec("mne_bids") is not None:
        found["bids"] = ("bids", bids(base / "mne", base / "bids"), sim)
    return found


def _layout(layouts, name):
    if name not in layouts:
        pytest.skip("mne-bids is not installed")
    return layouts[name]


@pytest.fixture(scope="module")
def reference(sim):
    """The official loader's view of the simulation: the ground truth of every layout."""
    dataset = ThingsEEG2Dataset(sim, cache=False)
    return dataset.load_subject(1), dataset.images()


def test_registry_lists_the_formats():
    assert {"things-eeg2", "nice", "mne", "bids"} <= set(available_datasets())


def test_bids_without_mne_bids_says_what_to_install(layouts, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mne_bids(name, *args, **kwargs):
        if name.startswith("mne_bids"):
            raise ImportError("No module named 'mne_bids'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mne_bids)
    monkeypatch.setattr("importlib.util.find_spec",
                        lambda name, *a: None if name == "mne_bids" else object())
    _, path, images = _layout(layouts, "bids")
    with pytest.raises(DatasetNotFoundError, match="BIDS .* needs mne-bids: pip install"):
        detect(path, images)
    from perceptogram.data.formats.base import DATASETS
    assert "pip install mne-bids" in DATASETS.entry("bids").missing()


@pytest.mark.parametrize("name", ["official", "two-root", "two-root-eeg-only",
                                  "train_images", "nice", "mne", "bids"])
def test_auto_detection_finds_the_format(layouts, name):
    kind, path, images = _layout(layouts, name)
    assert detect(path, images).kind == kind


@pytest.mark.parametrize("name", ["official", "two-root", "two-root-eeg-only",
                                  "train_images", "mne", "bids"])
def test_every_layout_reads_the_official_arrays_and_images(layouts, reference, name):
    (train_ref, test_ref), images_ref = reference
    kind, path, images = _layout(layouts, name)
    dataset = open_dataset("auto", path, images)
    train, test = dataset.load_subject(1)
    for got, ref in ((train, train_ref), (test, test_ref)):
        # MNE files hold the repetitions shuffled: compare them as sets per image.
        np.testing.assert_array_equal(np.sort(np.asarray(got.data), axis=1),
                                      np.sort(np.asarray(ref.data), axis=1))
        assert got.ch_names == ref.ch_names and got.concepts == ref.concepts
        np.testing.assert_allclose(got.times, ref.times, atol=1e-9)
    table = dataset.images()
    for split in ("train", "test"):
        paths = table.image_paths(split)
        assert [p.relative_to(dataset.images_root).parts[1:] for p in paths] == \
            [p.relative_to(images_ref.paths[split][0].parents[2]).parts[1:]
             for p in images_ref.image_paths(split)]
        assert all(p.is_file() for p in paths)
    if name == "train_images":
        assert table.image_paths("train")[0].parts[-3] == "train_images"


def test_nice_format_is_read_with_the_documented_crop_and_a_note(layouts, reference, caplog):
    (train_ref, test_ref), _ = reference
    _, path, _ = layouts["nice"]
    dataset = open_dataset("nice", path, cache=False)
    with caplog.at_level("INFO", logger="perceptogram.data.formats.base"):
        train, test = dataset.load_subject(1)
    assert train.ch_names == NICE_CHANNELS and train.data.shape[2:] == (63, 250)
    np.testing.assert_allclose(train.times, NICE_FILE_TIMES[-NICE_N_TIMES:])
    assert train.times[0] == pytest.approx(0.0)
    np.testing.assert_allclose(train.data, nice_signal(np.asarray(train_ref.data),
                                                       train_ref.times), rtol=1e-6)
    assert len(dataset.notes) == 1 and "last 250" in dataset.notes[0]
    assert sum("last 250" in r.message for r in caplog.records) == 1  # logged once


def test_nice_format_through_the_cache_keeps_the_note(layouts, tmp_path):
    import shutil

    path = tmp_path / "nice"
    shutil.copytree(layouts["nice"][1], path)
    first = open_dataset("nice", path)
    a, _ = first.load_subject(1)
    second = open_dataset("nice", path)
    b, _ = second.load_subject(1)
    assert isinstance(b.data, np.memmap)  # from the native cache
    np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data))
    assert second.notes == first.notes and second.notes


def test_nice_kind_refuses_an_official_folder_in_one_sentence(layouts):
    from perceptogram.errors import DataFormatError

    _, path, _ = layouts["official"]
    with pytest.raises(DataFormatError, match=r"is an official THINGS-EEG2 file \(NPY, 17 "
                       r"channels at 100 Hz\), not the NICE format .*use the kind things-eeg2"):
        open_dataset("nice", path, cache=False)


def test_nice_pickle_asking_for_code_is_refused(tmp_path, layouts):
    import shutil

    path = tmp_path / "nice"
    shutil.copytree(layouts["nice"][1], path)
    target = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os
            return os.system, (f"touch {target}",)

    with open(path / "Preprocessed_data_250Hz" / "sub-01" / "preprocessed_eeg_test.npy",
              "wb") as fh:
        pickle.dump({"preprocessed_eeg_data": Evil(), "ch_names": [], "times": []}, fh,
                    protocol=4)
    with pytest.raises(UnsafePickleError, match="system"):
        open_dataset("auto", path).load_subject(1)
    assert not target.exists()


def test_mne_table_keyed_by_epoch_index(sim, reference, tmp_path):
    (train_ref, _), _ = reference
    folder = mne_epochs(sim, tmp_path / "mne", key="epoch")
    train, _ = open_dataset("mne", folder, sim).load_subject(1)
    np.testing.assert_array_equal(np.sort(np.asarray(train.data), axis=1),
                                  np.sort(np.asarray(train_ref.data), axis=1))


def test_mne_image_without_epochs_is_left_out_with_a_note(sim, reference, tmp_path):
    (_, test_ref), _ = reference
    folder = mne_epochs(sim, tmp_path / "mne")
    table = (folder / "images.csv").read_text().splitlines()
    table.insert(-2, "test,9999,test_images/x/none.jpg,x")
    (folder / "images.csv").write_text("\n".join(table) + "\n")
    dataset = open_dataset("mne", folder, sim)
    _, test = dataset.load_subject(1)
    assert len(dataset.images().image_paths("test")) == test_ref.n_images + 1
    assert test.n_images == test_ref.n_images
    missing = test_ref.n_images - 2  # the new row sits before the last two pictures
    np.testing.assert_array_equal(test.image_index, np.r_[:missing, missing + 1:missing + 3])
    np.testing.assert_array_equal(np.sort(test.data, axis=1), np.sort(test_ref.data, axis=1))
    [text] = [n for n in dataset.notes if "no epoch" in n]
    assert "sub-01: 1 of 9 test pictures have no epoch" in text and "none.jpg" in text


def test_image_names_cannot_leave_the_image_folder(sim, tmp_path):
    folder = mne_epochs(sim, tmp_path / "mne")
    table = (folder / "images.csv").read_text().splitlines()
    table[1] = ",".join(table[1].split(",")[:2] + ["../../etc/passwd", "c"])
    (folder / "images.csv").write_text("\n".join(table) + "\n")
    with pytest.raises(DataFormatError, match="would leave"):
        open_dataset("mne", folder, sim).images()


def test_incomplete_formats_say_what_was_found_and_what_is_missing(layouts, tmp_path):
    import shutil

    eeg_only = tmp_path / "eeg"
    shutil.copytree(layouts["nice"][1] / "Preprocessed_data_250Hz", eeg_only)
    with pytest.raises(DatasetNotFoundError, match=r"NICE-format EEG .* \(nice format\) "
                       r"but no image_metadata.npy .*dataset.images_path"):
        detect(eeg_only)
    assert detect(eeg_only, layouts["nice"][1] / "image_set").kind == "nice"
    mne_only = tmp_path / "mne"
    mne_only.mkdir()
    shutil.copy2(layouts["mne"][1] / "sub-01_train-epo.fif", mne_only)
    with pytest.raises(DatasetNotFoundError, match="MNE epochs .* no images.csv"):
        detect(mne_only)
    with pytest.raises(DatasetNotFoundError, match="no dataset of a known format"):
        detect(tmp_path / "mne" / "..")  # holds only folders without subjects
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        detect(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["official", "two-root", "train_images", "nice", "mne",
                                  "bids"])
def test_data_info_reads_every_format(layouts, name):
    kind, path, images = _layout(layouts, name)
    args = ["data", "info", str(path)] + (["--images", str(images)] if images else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the terminal width wraps lines
    assert f"({kind} format)" in output and "sub-01" in output
    assert "36 training (12 concepts), 8 test (8 concepts)" in output
    assert "Image files on disk: 36 training, 8 test" in output
    info = json.loads(runner.invoke(app, args + ["--json"]).output)
    n_channels = 63 if kind == "nice" else 17
    assert info["subjects"][0]["splits"]["train"]["shape"][2] == n_channels
    if kind == "nice":
        assert "250 samples at 250 Hz" in output and "Note: NICE format" in output
        assert info["notes"] and not (path / "Preprocessed_data_250Hz"
                                      / ".perceptogram-cache").exists()  # info writes nothing
    else:
        assert ", ".join(THINGS_CHANNELS[:3]) in output


def test_config_validates_the_kind_against_the_registry():
    from perceptogram.config import ConfigError, make_config

    assert make_config(dataset={"kind": "nice", "path": "x"}).dataset.kind == "nice"
    assert make_config(dataset={"kind": "auto", "path": "x"}).dataset.kind == "auto"
    with pytest.raises(ConfigError, match="unknown dataset kind 'nicer'; available: "
                       "simulated, auto, .*mne.*nice.*things-eeg2"):
        make_config(dataset={"kind": "nicer", "path": "x"})
    with pytest.raises(ConfigError, match="needs 'path'"):
        make_config(dataset={"kind": "mne"})


def test_unknown_format_options_are_named(layouts):
    from perceptogram.errors import PerceptogramError

    _, path, images = layouts["mne"]
    with pytest.raises(PerceptogramError, match="mne format has no option tabel .*image_table"):
        open_dataset("mne", path, images, tabel="x.csv")
    custom = path / "custom.csv"
    custom.write_text((path / "images.csv").read_text())
    dataset = open_dataset("mne", path, images, image_table="custom.csv")
    assert dataset.images().image_paths("test") == \
        open_dataset("mne", path, images).images().image_paths("test")


@pytest.mark.parametrize("name", ["official", "nice", "mne"])
def test_montage_places_every_channel(layouts, name):
    kind, path, images = _layout(layouts, name)
    dataset = open_dataset(kind, path, images)
    train, _ = dataset.load_subject(1)
    positions = dataset.montage().get_positions()["ch_pos"]
    assert set(train.ch_names) <= set(positions)
    assert all(np.isfinite(positions[c]).all() for c in train.ch_names)
