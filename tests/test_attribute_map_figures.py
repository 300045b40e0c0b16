"""The interpret stage's figures for any montage: scalp grids from 4 positioned
channels, time courses below, channels without a position left out with one note."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perceptogram.pipeline.attribute_map_figures import draw_subject_maps
from perceptogram.pipeline.map_results import AttributeMap, SubjectMaps
from perceptogram.pipeline.demo import demo_config

TIMES = np.round(np.arange(-10, 60) / 100, 2)


def _subject_maps(ch_names, seed=0) -> SubjectMaps:
    rng = np.random.default_rng(seed)
    shape = (len(ch_names), len(TIMES))
    mask = np.zeros(shape, bool)
    mask[0, 20:30] = True
    summary = {"n_permutations": 100, "n_significant_clusters": 1, "cluster_min_p": 0.01}
    maps = [AttributeMap("hue: red − blue", "hue", source, space, "partial effect",
                         rng.normal(size=shape) * scale, rng.normal(size=shape), mask,
                         dict(summary))
            for source, space, scale in (("eeg", None, 1e-6), ("perceptogram", "pca", 1e-8))]
    n = len(ch_names)
    probes = {"baseline": 0.2, "mirrored": None, "subsets": {},
              "sliding_windows": {"width_ms": 100.0}}
    arrays = {"scramble_drop": rng.normal(size=n) * 0.01, "window_end_ms": np.array([100.0, 200]),
              "window_quality": np.array([0.1, 0.2]), "sliding_centre_ms": np.array([50.0, 150]),
              "sliding_quality": np.array([0.1, 0.0])}
    return SubjectMaps(tuple(ch_names), TIMES, "µV", maps, probes, arrays)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    config = demo_config(tmp_path_factory.mktemp("run"), "tiny")
    return config.model_copy(update={"interpretability": config.interpretability.model_copy(
        update={"times_ms": [100.0, 200.0, 300.0]})})


def _draw(config, tmp_path, names):
    draw_subject_maps(config, tmp_path, _subject_maps(names))
    listing = json.loads((tmp_path / "figures.json").read_text())
    for entry in listing["figures"]:
        assert (tmp_path / entry["png"]).is_file() and entry["caption"]
    return listing


@pytest.mark.parametrize("names", [["TP9", "AF7", "AF8", "TP10"],
                                   ["Fp1", "FPz", "Fp2", "Cz", "Pz", "EOG1", "EOG2"]])
def test_four_or_more_positioned_channels_give_scalp_grids(config, tmp_path, names):
    listing = _draw(config, tmp_path, names)
    maps = [e for e in listing["figures"] if e["png"].startswith("map_")]
    assert len(maps) == 2 and all(e["scalp_px"] >= 120 for e in maps)
    assert all("µV" in e["caption"] and "Freedman–Lane" in e["caption"] for e in maps)
    scalp = {e["png"] for e in listing["figures"] if e["scalp_px"]}
    assert {"electrode_preference.png", "electrode_scramble.png"} <= scalp
    eog = [n for n in names if n.startswith("EOG")]
    assert len(listing["notes"]) == (1 if eog else 0)
    if eog:
        assert "EOG1, EOG2" in listing["notes"][0] and "left out of the scalp maps" in \
            listing["notes"][0]


@pytest.mark.parametrize("names", [["Cz"], ["O1", "O2", "EOG1"]])
def test_fewer_than_four_give_time_courses_and_one_note(config, tmp_path, names):
    listing = _draw(config, tmp_path, names)
    assert not any(e["scalp_px"] for e in listing["figures"])
    maps = [e for e in listing["figures"] if e["png"].startswith("map_")]
    assert len(maps) == 2 and all("One line per channel" in e["caption"] for e in maps)
    assert len(listing["notes"]) == 1 and "no scalp maps are drawn" in listing["notes"][0]


def test_perceptogram_captions_say_what_their_test_means(config, tmp_path):
    listing = _draw(config, tmp_path, ["TP9", "AF7", "AF8", "TP10"])
    eeg, perceptogram = [e for e in listing["figures"] if e["png"].startswith("map_")]
    assert "decoder's projection of the test EEG differs" in perceptogram["caption"]
    assert "not whether the brain's response does" in perceptogram["caption"]
    assert "4 % of the channel × time samples" in perceptogram["caption"]  # 10 of 4 x 70
    assert "decoder's projection" not in eeg["caption"]
    # Muse's TP9/TP10 lie below the ears: the caption says why the head looks larger,
    # and the sensors colour the whole head (no "uncoloured" region)
    assert "head outline is drawn just outside the outermost sensor" in eeg["caption"]
    assert "open rings" in eeg["caption"] and "uncoloured" not in eeg["caption"]
    (heatmap,) = [e for e in listing["figures"] if e["png"].startswith("heatmap_")]
    assert "faded" in heatmap["caption"] and "outlined" in heatmap["caption"]


@pytest.mark.parametrize("names", [["O1", "Oz", "O2", "POz", "PO7", "PO8"], ["O1", "O2"]])
def test_joint_tests_get_their_own_figure_after_the_attributes(config, tmp_path, names):
    from perceptogram.pipeline.map_results import JointTest

    result = _subject_maps(names)
    shape = (len(names), len(TIMES))
    mask = np.zeros(shape, bool)
    mask[:, 30:40] = True
    sentence = "There is an effect, and these pictures cannot tell which <attribute> carries it."
    result.joint_tests = [JointTest(
        ("hue", "bright<ness>"), ("hue: red-blue axis", "bright<ness>"),
        np.abs(np.random.default_rng(1).normal(size=shape)) * 3, mask,
        {"n_permutations": 100, "n_significant_clusters": 1, "cluster_min_p": 0.004,
         "peak": {"unit": "F(2, 40)"}, "sentence": sentence})]
    draw_subject_maps(config, tmp_path, result)
    listing = json.loads((tmp_path / "figures.json").read_text())
    groups = [e["group"] for e in listing["figures"] if e["section"] == "perceptograms"]
    assert groups[-1] == "joint test: hue, bright<ness>" and groups[0] == "hue"
    (joint,) = [e for e in listing["figures"] if e["group"].startswith("joint test")]
    assert joint["png"] == "joint_hue_bright_ness.png" and (tmp_path / joint["png"]).is_file()
    assert "F(2, 40)" in joint["caption"] and sentence in joint["caption"]
    assert "smallest cluster p = 0.004" in joint["caption"]
    assert (joint["scalp_px"] is not None) == (len(names) >= 4)
