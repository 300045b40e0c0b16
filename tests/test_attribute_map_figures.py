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
