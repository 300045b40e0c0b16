"""A whole ``perceptogram run`` on every dataset layout and format, at tiny size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from datasets_fixtures import (
    NICE_CHANNELS,
    bids,
    mne_epochs,
    nice,
    train_images_alias,
    two_root,
)
from perceptogram.cli import app
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS

runner = CliRunner()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from perceptogram.data.simulate.dataset import simulate_dataset

    return simulate_dataset(
        tmp_path_factory.mktemp("sim") / "things", n_subjects=1, n_train_concepts=16,
        images_per_concept=3, n_test_concepts=8, n_train_repetitions=2,
        n_test_repetitions=6, image_size=64, seed=4)


def _config(out, dataset, channels=None):
    return {
        "dataset": dataset,
        "latents": {"spaces": ["pca", "attributes"],
                    "options": {"pca": {"n_components": 8, "image_size": 16}}},
        "decoder": {"cv": "loo"},
        "reconstruction": {"methods": ["pca", "retrieval"], "retrieval_space": "pca"},
        "metrics": {"networks": [], "image_size": 64, "n_boot": 20, "n_permutations": 20},
        "interpretability": {"space": "pca", "times_ms": [100.0, 200.0],
                             "figure_formats": ["png"], "attributes": ["hue", "texture"],
                             "n_permutations": 10},
        "channels": channels,
        "output": str(out), "jobs": 1,
    }


def _run(tmp_path, dataset, channels=None):
    out = tmp_path / "run"
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_config(out, dataset, channels)))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert (out / "report" / "report.html").is_file()
    return out


def _layout(name, sim, base):
    if name == "two-root":
        return {"kind": "auto", "path": str(two_root(sim, base / "project"))}
    if name == "two-root-explicit":
        project = two_root(sim, base / "project")
        return {"kind": "things-eeg2",
                "path": str(project / "eeg_dataset" / "preprocessed_data"),
                "images_path": str(project / "image_set")}
    if name == "train_images":
        return {"kind": "auto", "path": str(train_images_alias(sim, base / "alias"))}
    if name == "mne":
        return {"kind": "mne", "path": str(mne_epochs(sim, base / "mne")),
                "images_path": str(sim)}
    if name == "bids":
        pytest.importorskip("mne_bids")
        return {"kind": "auto", "path": str(bids(mne_epochs(sim, base / "mne"), base / "bids")),
                "images_path": str(sim)}
    return {"kind": "things-eeg2", "path": str(sim)}


@pytest.mark.parametrize("name", [
    "mne",
    pytest.param("two-root", marks=pytest.mark.slow),
    pytest.param("official", marks=pytest.mark.slow),
    pytest.param("two-root-explicit", marks=pytest.mark.slow),
    pytest.param("train_images", marks=pytest.mark.slow),
    pytest.param("bids", marks=pytest.mark.slow),
])
def test_full_run_on_each_layout(sim, tmp_path, name):
    out = _run(tmp_path, _layout(name, sim, tmp_path))
    info = json.loads((out / "data" / "dataset.json").read_text())
    assert info["subjects"] == [1]
    eeg = np.load(out / "features" / "sub-01" / "eeg.npz")
    assert eeg["X_train"].shape == (48, 17 * 80)
    metrics = (out / "evaluate" / "sub-01" / "pca" / "metrics.csv").read_text()
    assert "top-1" in metrics or "top1" in metrics


def test_full_run_on_the_nice_format_with_all_63_channels(sim, tmp_path):
    dataset = {"kind": "auto", "path": str(nice(sim, tmp_path / "nice"))}
    out = _run(tmp_path, dataset)
    info = json.loads((out / "data" / "dataset.json").read_text())
    assert info["format"] == "nice" and "last 250" in info["notes"][0]
    eeg = np.load(out / "features" / "sub-01" / "eeg.npz")
    assert eeg["X_train"].shape == (48, 63 * 200)  # 0 <= t < 0.8 s at 250 Hz
    assert list(eeg["ch_names"]) == list(NICE_CHANNELS)
    assert any((out / "interpret" / "sub-01").rglob("*.png"))


@pytest.mark.slow
def test_full_run_on_the_nice_format_with_the_17_posterior_channels(sim, tmp_path):
    dataset = {"kind": "nice", "path": str(nice(sim, tmp_path / "nice"))}
    out = _run(tmp_path, dataset, channels=list(THINGS_CHANNELS))
    eeg = np.load(out / "features" / "sub-01" / "eeg.npz")
    assert eeg["X_train"].shape == (48, 17 * 200)
