"""Attribute maps on the confounded second simulator (correlated attributes).

Animals are more often red there, brightness goes with texture, and the null
attribute ``size`` follows the red-cyan hue axis. Partial-effect maps must
recover every planted map (r >= 0.8 after stimulus onset, peak within 20 ms and
on the planted side) and find nothing for the null attributes; marginal group
contrasts must not.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from perceptogram.data.core.image_files import load_images
from perceptogram.data.core.montage import channel_positions
from perceptogram.data.core.prepare import prepare
from perceptogram.data.simulate.confounded import load_truth, simulate_confounded
from perceptogram.data.formats.things_eeg2 import load_image_metadata, load_subject
from perceptogram.interpret import categorical_grouping, contrast, group_cluster_test
from perceptogram.interpret.design import build_design, pixel_attributes
from perceptogram.interpret.effects import fit_effects, freedman_lane_test
from perceptogram.interpret.labels import labels_from_table, map_to_groups

PLANTED = {"hue": "hue", "texture": "texture", "brightness": "brightness",
           "semantic: animal": "animal"}


@pytest.fixture(scope="module")
def confounded(tmp_path_factory):
    root = simulate_confounded(tmp_path_factory.mktemp("conf") / "things", n_train_concepts=8,
                               images_per_concept=2, n_test_concepts=120, seed=1)
    _, test = prepare(*load_subject(root, 1))
    pixels = pixel_attributes(load_images(load_image_metadata(root).image_paths("test")))
    labels = map_to_groups(labels_from_table(root / "ground_truth" / "categories.tsv",
                                             test.image_files, test.concepts),
                           ["animal", "food"])
    rows = list(csv.DictReader(open(root / "ground_truth" / "attributes_test.csv")))
    size = np.array([float(r["size"]) for r in rows])
    design = build_design(["hue", "texture", "brightness", "semantic"], pixels,
                          semantic=labels, covariates={"size": size})
    data = (test.X * test.scale + test.mean).reshape(len(test.X), len(test.ch_names), -1)
    return dict(root=root, test=test, truth=load_truth(root), design=design, data=data,
                pixels=pixels, labels=labels, size=size)


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _side(channel):
    x = channel_positions([channel])[0, 0]
    return "medial" if abs(x) < 0.015 else ("right" if x > 0 else "left")


def test_partial_maps_recover_planted_effects_and_nothing_for_nulls(confounded):
    test, design, truth = confounded["test"], confounded["design"], confounded["truth"]
    fit = fit_effects(confounded["data"], design.matrix, design.columns)
    post = np.asarray(truth["times"]) >= -1e-9
    for column, effect in PLANTED.items():
        j = fit.index(column if column != "hue" else "hue: red-blue axis")
        planted = truth["patterns"][effect][:, post]
        m = fit.coef[j]
        assert _corr(m, planted) >= 0.8, (column, _corr(m, planted))
        ch, t = np.unravel_index(np.argmax(np.abs(m)), m.shape)
        assert abs(test.times[t] - truth["effects"][effect]["latency"]) <= 0.02 + 1e-9, column
        assert _side(test.ch_names[ch]) == truth["effects"][effect]["side"], column
        assert np.sign(m[ch, t]) == np.sign(planted[ch, t]), column
    kw = dict(ch_names=test.ch_names, times=test.times, n_permutations=200, seed=0)
    for null in ("size", "semantic: food"):
        res = freedman_lane_test(confounded["data"], design.matrix, design.columns, null, **kw)
        assert res.min_p >= 0.05, null
    res = freedman_lane_test(confounded["data"], design.matrix, design.columns,
                             "semantic: animal", **kw)
    assert res.min_p < 0.05


def test_group_contrasts_are_confounded_where_partial_maps_are_not(confounded):
    test, truth = confounded["test"], confounded["truth"]
    post = np.asarray(truth["times"]) >= -1e-9
    data = confounded["data"]
    hue = confounded["pixels"]["hue_deg"]
    names = np.full(len(hue), "none", dtype=object)
    for name, centre in (("red", 0.0), ("blue", 240.0)):
        names[np.abs((hue - centre + 180.0) % 360.0 - 180.0) <= 60.0] = name
    grouping = categorical_grouping(names, "hue", order=("red", "blue"))
    marginal = contrast(data, grouping, "red", "blue")
    fit = fit_effects(data, confounded["design"].matrix, confounded["design"].columns)
    partial = fit.coef[fit.index("hue: red-blue axis")]
    planted = truth["patterns"]["hue"][:, post]
    # the red - blue contrast inherits the animal effect (animals are mostly red)
    assert _corr(partial, planted) >= 0.8
    assert _corr(marginal, planted) < _corr(partial, planted) - 0.1
    assert abs(_corr(marginal, truth["patterns"]["animal"][:, post])) > 0.3
    # the null attribute size follows hue: its marginal contrast is "significant"
    size = np.where(confounded["size"] > np.median(confounded["size"]), "large", "small")
    res = group_cluster_test(data, categorical_grouping(size, "size"), "large", "small",
                             ch_names=test.ch_names, times=test.times, n_permutations=200,
                             seed=0, n_jobs=1)
    assert res.min_p < 0.05


def test_confounded_simulator_is_below_the_collinearity_threshold(confounded):
    # animals mostly red, size following hue: correlated, but each attribute keeps enough
    # pictures of its own for its partial map (VIF below 4: no joint test is needed)
    from perceptogram.interpret.collinearity import VIF_THRESHOLD, diagnose
    from perceptogram.interpret.joint import joint_freedman_lane_test

    design = confounded["design"]
    found = diagnose(design.matrix, design.columns, design.attribute_columns)
    assert found.sets == ()
    assert 2.0 < max(found.vif) < VIF_THRESHOLD  # hue, semantic and size go together
    hue_size = found.attribute_correlation[found.attributes.index("hue"),
                                           found.attributes.index("size")]
    assert hue_size > 0.5
    # the joint test of the correlated attributes finds their (planted) effect, and
    # nothing for the two null attributes together
    test = confounded["test"]
    kw = dict(ch_names=test.ch_names, times=test.times, n_permutations=100, seed=0)
    columns = [c for a in ("hue", "semantic", "size") for c in design.attribute_columns[a]]
    assert joint_freedman_lane_test(confounded["data"], design.matrix, design.columns,
                                    columns, **kw).min_p < 0.05
    nulls = joint_freedman_lane_test(confounded["data"], design.matrix, design.columns,
                                     ["size", "semantic: food"], **kw)
    assert nulls.min_p >= 0.05


@pytest.mark.slow
def test_default_run_on_the_confounded_simulator(tmp_path):
    from perceptogram.config import make_config
    from perceptogram.pipeline.runner import run_pipeline
    from perceptogram.pipeline.stages import PIPELINE

    root = simulate_confounded(tmp_path / "data", n_test_concepts=120, seed=0)
    config = make_config(
        dataset={"kind": "things-eeg2", "path": str(root)},
        latents={"spaces": ["pca", "attributes"],
                 "options": {"pca": {"n_components": 32, "image_size": 32}}},
        reconstruction={"methods": ["pca"], "retrieval_space": "pca"},
        metrics={"networks": [], "n_boot": 50, "n_permutations": 50},
        interpretability={"space": "pca",
                          "labels": str(root / "ground_truth" / "categories.tsv")},
        output=str(tmp_path / "run"), jobs=1)
    run_pipeline(config, PIPELINE)
    truth = load_truth(root)
    folder = tmp_path / "run" / "interpret" / "sub-01"
    summary = json.loads((folder / "summary.json").read_text())
    maps = np.load(folder / "maps.npz")
    post = np.asarray(truth["times"]) >= -1e-9
    expected = {"hue": "hue", "texture": "texture", "brightness": "brightness"}
    for attribute, info in summary["attributes"].items():
        effect = expected.get(attribute, "animal")
        assert info["source"] == "eeg" and info["kind"] == "partial effect"
        m = maps[info["files"]["npz_prefix"] + "_effect"]
        assert _corr(m, truth["patterns"][effect][:, post]) >= 0.8, attribute
        peak = info["peak"]
        assert abs(peak["latency_ms"] / 1000 - truth["effects"][effect]["latency"]) <= 0.021
        assert _side(peak["channel"]) == truth["effects"][effect]["side"], attribute
    assert summary["collinearity"]["collinear_sets"] == []
    food = next(v for v in summary["maps"].values() if v["name"].startswith("semantic: food"))
    assert food["peak"] is None and food["n_significant_clusters"] == 0
    assert (folder / food["files"]["fif"]).is_file()
    assert "dataset" in (tmp_path / "run" / "config.yaml").read_text()
    assert "simulation:" not in (tmp_path / "run" / "config.yaml").read_text()
