"""The interpret stage: saved maps (FIF, CSV, NPZ), honest peaks, the paper preset, CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from perceptogram.config import config_to_dict, load_config, make_config
from perceptogram.pipeline.demo import demo_config
from perceptogram.pipeline.attribute_maps import _peak, attribute_spaces
from perceptogram.pipeline.runner import run_pipeline
from perceptogram.pipeline.stages import PIPELINE


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("interp") / "run"
    config = demo_config(out, "tiny", jobs=1)
    config = config.model_copy(update={"interpretability": config.interpretability.model_copy(
        update={"n_permutations": 200})})
    run_pipeline(config, PIPELINE)
    return out, config


def test_peak_is_the_largest_effect_inside_a_significant_cluster():
    ch_names, times = ("O1", "Oz", "O2"), np.array([0.0, 0.1, 0.2, 0.3])
    effect = np.array([[0.0, 5.0, 0.0, 0.0], [0.0, 0.0, -2.0, 1.5], [0.0, 0.0, 0.0, 0.0]])
    inside = np.zeros((3, 4), bool)
    inside[1, 2:] = True
    outside = np.zeros((3, 4), bool)
    outside[0, 1] = True
    info = _peak(effect, [inside, outside], np.array([0.01, 0.3]), ch_names, times, "µV", 100)
    assert info["peak"] == {"latency_ms": 200.0, "channel": "Oz", "amplitude": -2.0,
                            "unit": "µV", "cluster_p": 0.01}
    none = _peak(effect, [inside, outside], np.array([0.2, 0.3]), ch_names, times, "µV", 100)
    assert none["peak"] is None and "no cluster survives" in none["no_peak"]
    untested = _peak(effect, [], np.zeros(0), ch_names, times, "µV", 0)
    assert untested["peak"] is None and "not tested" in untested["no_peak"]


def test_maps_are_saved_as_evoked_csv_and_npz_with_names_and_units(tiny):
    import mne

    out, config = tiny
    folder = out / "interpret" / "sub-01"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["transductive"] is False and summary["preset"] == "default"
    assert summary["method"].startswith("partial effects")
    assert set(summary["attributes"]) == {"hue", "texture"}
    maps = np.load(folder / "maps.npz")
    for info in summary["maps"].values():
        assert info["kind"] == "partial effect"
        effect = maps[info["files"]["npz_prefix"] + "_effect"]
        evoked = mne.read_evokeds(folder / info["files"]["fif"], verbose=False)[0]
        assert evoked.ch_names == list(maps["ch_names"])
        np.testing.assert_allclose(evoked.times, maps["times"], atol=1e-9)
        np.testing.assert_allclose(evoked.data, effect, rtol=1e-6, atol=1e-9)
        assert info["contrast"].replace("−", "-") in evoked.comment
        assert "units" in evoked.comment
        rows = list(csv.DictReader(open(folder / info["files"]["csv"])))
        assert len(rows) == effect.size
        mask = maps[info["files"]["npz_prefix"] + "_mask"]
        if info["peak"] is None:
            assert not mask.any() and info["no_peak"]
        else:
            ch = list(maps["ch_names"]).index(info["peak"]["channel"])
            t = int(np.argmin(np.abs(1000 * maps["times"] - info["peak"]["latency_ms"])))
            assert mask[ch, t]
            assert abs(effect[ch, t]) == pytest.approx(np.abs(effect[mask]).max())
    for attribute, info in summary["attributes"].items():  # main map under a short key
        np.testing.assert_array_equal(maps[f"{attribute}_effect"],
                                      maps[info["files"]["npz_prefix"] + "_effect"])
    groups = list(csv.DictReader(open(folder / "groups.csv")))
    assert len(groups) == 12 and "hue (deg)" in groups[0]
    # how far the pictures separate the attributes: VIF and correlation of the design
    collinearity = summary["collinearity"]
    assert set(collinearity["vif"]) == {"hue", "texture"}
    assert len(collinearity["correlation"]) == len(summary["design_columns"]) - 1
    assert summary["attributes"]["texture"]["vif"] == collinearity["vif"]["texture"] >= 1.0


def test_paper_preset_is_marked_transductive(tiny):
    out, config = tiny
    paper = config.model_copy(update={"interpretability": config.interpretability.model_copy(
        update={"preset": "paper", "n_permutations": 20})})
    run_pipeline(paper, PIPELINE)
    summary = json.loads((out / "interpret" / "sub-01" / "summary.json").read_text())
    assert summary["transductive"] is True and summary["transductive_steps"]
    assert all(m["kind"] == "group contrast (marginal)" for m in summary["maps"].values())
    assert "transductive" in (out / "report" / "report.html").read_text()


def test_interpret_command_prints_no_stale_headline(tiny):
    from perceptogram.cli import app

    out, _ = tiny
    result = CliRunner().invoke(app, ["interpret", str(out / "config.yaml")],
                                env={"PERCEPTOGRAM_QUIET": ""})
    assert result.exit_code == 0, result.output
    assert "Strongest perceptogram" not in result.output
    assert "Retrieval (" not in result.output


def test_config_dump_of_real_data_has_no_simulation_block(tmp_path):
    config = make_config(dataset={"kind": "things-eeg2", "path": str(tmp_path)})
    dumped = config_to_dict(config)
    assert "simulation" not in dumped["dataset"]
    from perceptogram.config import save_config

    save_config(config, tmp_path / "c.yaml")
    assert "simulation" not in (tmp_path / "c.yaml").read_text()
    assert load_config(tmp_path / "c.yaml") == config


def test_attribute_spaces_defaults_and_overrides():
    config = make_config(latents={"spaces": ["effnet", "pca", "attributes"]})
    assert attribute_spaces(config) == {"hue": "attributes", "texture": "attributes",
                                        "brightness": "attributes", "semantic": "effnet"}
    config = make_config(latents={"spaces": ["effnet", "pca"]},
                         interpretability={"attribute_spaces": {"semantic": "pca"}})
    assert attribute_spaces(config)["semantic"] == "pca"
    assert attribute_spaces(config)["hue"] == "pca"
    from perceptogram.config import ConfigError

    with pytest.raises(ConfigError, match="not in latents.spaces"):
        make_config(interpretability={"attribute_spaces": {"hue": "unclip"}})
    with pytest.raises(ConfigError, match="unknown attributes"):
        make_config(interpretability={"attribute_spaces": {"colour": "pca"}})


def test_unrecognised_pictures_get_no_semantic_map(tiny, monkeypatch):
    # the classifier labels most pictures "animal" with low confidence (drawn pictures
    # whose top class is a nematode): the summary says so and no semantic map is drawn
    from perceptogram.interpret import labels
    from perceptogram.pipeline.attribute_maps import compute_subject_maps
    from perceptogram.pipeline.rundir import RunDir

    out, config = tiny
    animal = np.resize([0.2, 0.3, 0.05], 12)

    def drawn(images, device="cpu", batch_size=32):
        food = np.full(len(images), 0.02)
        return labels.ClassifierLabels(np.resize(["animal", "animal", "other"], len(images)),
                                       np.full(len(images), 111), animal / 2,
                                       {"animal": animal, "food": food,
                                        "other": 1 - animal - food})

    monkeypatch.setattr("perceptogram.pipeline.attribute_maps.classifier_labels", drawn)
    semantic = config.model_copy(update={"interpretability": config.interpretability.model_copy(
        update={"attributes": ["hue", "texture", "semantic"], "n_permutations": 20})})
    result = compute_subject_maps(semantic, 1, RunDir(out))
    assert "semantic" not in {m.attribute for m in result.maps}
    folder = out / "interpret" / "sub-01"
    summary = json.loads((folder / "summary.json").read_text())
    trust = summary["semantic_labels"]
    assert trust["trusted"] is False and trust["n_low_confidence"] == 8
    assert "not recognisable as photographs of animal or food" in summary["notes"][0]
    assert summary["attributes"]["semantic"]["skipped"] == trust["sentence"]
    groups = list(csv.DictReader(open(folder / "groups.csv")))
    assert groups[0]["imagenet_class"] == "111" and groups[0]["semantic group"] == "animal"
    assert float(groups[0]["group_probability"]) == pytest.approx(0.2)
