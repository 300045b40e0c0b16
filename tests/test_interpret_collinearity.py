"""Confounded pictures: VIF, collinear sets, joint tests and what the summary says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perceptogram.interpret.collinearity import VIF_THRESHOLD, diagnose, joint_sentence
from perceptogram.interpret.design import build_design

CH = ("Pz", "P3", "P7", "O1", "Oz", "O2", "P4", "P8", "P1", "P5", "PO7", "PO3", "POz", "PO4",
      "PO8", "P6", "P2")
TIMES = np.arange(24) / 100.0


def _pixels(rng, n, luminance=None, texture=None):
    hue = rng.uniform(0, 360, n)
    angle = np.deg2rad(hue - 30)
    return {"luminance": rng.uniform(0, 1, n) if luminance is None else luminance,
            "high_freq_contrast": rng.uniform(0, 1, n) if texture is None else texture,
            "hue_deg": hue, "hue_red_blue": np.cos(angle), "hue_green_magenta": np.sin(angle)}


def test_vif_is_one_over_one_minus_r2_and_gvif_ignores_the_coding():
    rng = np.random.default_rng(0)
    n = 90
    labels = rng.choice(["animal", "food", "other"], n)
    luminance = (labels == "animal") + 0.8 * rng.standard_normal(n)
    pixels = _pixels(rng, n, luminance=luminance)
    design = build_design(["hue", "brightness", "texture", "semantic"], pixels,
                          semantic=labels, covariates={"size": rng.standard_normal(n)})
    assert design.attribute_columns == {
        "hue": ("hue: red-blue axis", "hue: green-magenta axis"), "brightness": ("brightness",),
        "texture": ("texture",), "semantic": ("semantic: animal", "semantic: food"),
        "size": ("size",)}
    found = diagnose(design.matrix, design.columns, design.attribute_columns)
    # one column: 1 / (1 - R^2) of the column regressed on all the others (and the intercept)
    X = design.matrix
    for column in ("brightness", "texture", "size"):
        j = design.columns.index(column)
        others = np.delete(X, j, axis=1)
        fitted = others @ np.linalg.lstsq(others, X[:, j], rcond=None)[0]
        r2 = 1 - np.sum((X[:, j] - fitted) ** 2) / np.sum((X[:, j] - X[:, j].mean()) ** 2)
        assert found.vif_of(column) == pytest.approx(1 / (1 - r2), rel=1e-9)
        assert found.column_vif[found.columns.index(column)] == pytest.approx(1 / (1 - r2))
    np.testing.assert_allclose(found.correlation, np.corrcoef(X[:, 1:].T), atol=1e-12)
    # several columns: GVIF^(1/df), the same whichever group is the reference
    R = np.corrcoef(X[:, 1:].T)
    inside = [found.columns.index(c) for c in design.attribute_columns["semantic"]]
    outside = [k for k in range(len(R)) if k not in inside]
    gvif = (np.linalg.det(R[np.ix_(inside, inside)]) * np.linalg.det(R[np.ix_(outside, outside)])
            / np.linalg.det(R))
    assert found.vif_of("semantic") == pytest.approx(gvif ** 0.5, rel=1e-9)
    recoded = np.where(labels == "other", "zzz", labels)  # reference: "zzz" -> the same groups
    relabelled = build_design(["hue", "brightness", "texture", "semantic"], pixels,
                              semantic=np.where(recoded == "animal", "other", recoded),
                              covariates={"size": design.values["size"]})
    again = diagnose(relabelled.matrix, relabelled.columns, relabelled.attribute_columns)
    assert again.vif_of("semantic") == pytest.approx(found.vif_of("semantic"), rel=1e-9)
    assert again.vif_of("brightness") == pytest.approx(found.vif_of("brightness"), rel=1e-9)
    assert found.sets == ()  # nothing is collinear here
    record = json.loads(json.dumps(found.as_dict()))
    assert record["vif_threshold"] == VIF_THRESHOLD and len(record["correlation"]) == 7


def test_collinear_sets_group_the_attributes_that_go_together():
    rng = np.random.default_rng(1)
    n = 48
    face = np.repeat(["face", "house"], n // 2)
    is_face = (face == "face").astype(float)
    pixels = _pixels(rng, n, luminance=is_face + 0.3 * rng.standard_normal(n),
                     texture=-is_face - 0.3 * rng.standard_normal(n))
    size = rng.standard_normal(n)
    design = build_design(["hue", "brightness", "texture", "semantic"], pixels, semantic=face,
                          covariates={"size": size, "area": size + 0.3 * rng.standard_normal(n)})
    found = diagnose(design.matrix, design.columns, design.attribute_columns)
    assert found.sets == (("brightness", "texture", "semantic"), ("size", "area"))
    assert all(found.vif_of(a) > VIF_THRESHOLD for s in found.sets for a in s)
    assert found.vif_of("hue") < 1.5
    # a sum of three attributes is collinear (VIF 7) while each of them is not (VIF 3):
    # they join its set all the same (each correlates with it at 0.53)
    parts = np.random.default_rng(2).standard_normal((3, 400))
    total = parts.sum(axis=0) + np.sqrt(0.5) * np.random.default_rng(3).standard_normal(400)
    summed = build_design(["brightness"], _pixels(rng, 400), covariates={
        "a": parts[0], "b": parts[1], "c": parts[2], "total": total})
    weak = diagnose(summed.matrix, summed.columns, summed.attribute_columns)
    assert weak.vif_of("total") > VIF_THRESHOLD > max(weak.vif_of(a) for a in "abc")
    assert weak.sets == (("a", "b", "c", "total"),)


def test_the_sentence_never_says_no_effect_when_the_joint_test_finds_one():
    rng = np.random.default_rng(1)
    face = np.repeat(["face", "house"], 24)
    is_face = (face == "face").astype(float)
    pixels = _pixels(rng, 48, luminance=is_face + 0.3 * rng.standard_normal(48))
    design = build_design(["brightness", "semantic"], pixels, semantic=face)
    found = diagnose(design.matrix, design.columns, design.attribute_columns)
    attributes = ("brightness", "semantic")
    hidden = joint_sentence(attributes, found, joint_p=0.004, alpha=0.05,
                            partial_significant=[])
    assert hidden.startswith("There is an effect, and these pictures cannot tell which "
                             "attribute carries it")
    assert "brightness and semantic" in hidden and "0.004" in hidden
    shared = joint_sentence(attributes, found, joint_p=0.01, alpha=0.05,
                            partial_significant=["semantic"])
    assert "cannot fully separate" in shared and "credit it to semantic" in shared
    none = joint_sentence(attributes, found, joint_p=0.4, alpha=0.05, partial_significant=[])
    assert "no significant cluster either" in none and "There is an effect" not in none
    untested = joint_sentence(attributes, found, joint_p=None, alpha=0.05,
                              partial_significant=[])
    assert "not run" in untested


def test_collinear_maps_are_tested_jointly_shown_marginally_and_saved(tmp_path):
    # the pipeline's glue on the issue's case: partial maps without a cluster, a joint
    # test with one, marginal maps beside the partial ones, the sentence in summary.json
    from perceptogram.config import make_config
    from perceptogram.interpret.collinearity import diagnose
    from perceptogram.pipeline.attribute_map_files import save_subject_maps
    from perceptogram.pipeline.attribute_maps import _collinear_sets, _partial_maps
    from perceptogram.pipeline.map_results import Pictures, SemanticLabels, SubjectMaps

    rng = np.random.default_rng(5)
    n = 48
    is_face = np.repeat([1.0, 0.0], n // 2)
    rng.shuffle(is_face)
    face = np.where(is_face > 0, "face", "house")
    bright, texture = is_face + 0.3 * rng.standard_normal(n), -is_face - 0.3 * rng.standard_normal(n)
    pattern = np.zeros((len(CH), len(TIMES)))
    pattern[[2, 3, 10], 10:18] = 1.0
    data = 0.7 * is_face[:, None, None] * pattern + rng.standard_normal((n, len(CH), len(TIMES)))
    pixels = _pixels(np.random.default_rng(0), n, luminance=bright, texture=texture)
    config = make_config(interpretability={"n_permutations": 300,
                                           "attributes": ["brightness", "texture", "semantic"]})
    design = build_design(["brightness", "texture", "semantic"], pixels, semantic=face)
    maps = _partial_maps(config, data, design, "eeg", None, CH, TIMES, "µV")
    assert all(m.summary["peak"] is None for m in maps)  # no partial map finds the effect
    collinearity = diagnose(design.matrix, design.columns, design.attribute_columns)
    assert collinearity.sets == (("brightness", "texture", "semantic"),)
    tests, marginal = _collinear_sets(config, data, design, collinearity, maps, CH, TIMES, "µV")
    (joint,) = tests
    assert joint.summary["significant"] and joint.summary["peak"]["unit"].startswith("F(3,")
    assert joint.summary["sentence"].startswith(
        "There is an effect, and these pictures cannot tell which attribute carries it")
    for m in maps:  # no partial map says "no effect" alone
        assert "the joint test of brightness, texture, semantic finds an effect" in (
            m.summary["no_peak"])
        assert m.summary["collinear_with"] and m.summary["joint_test_p"] < 0.05
    assert [m.name for m in marginal] == ["brightness: bright − dark (marginal)",
                                          "texture: textured − smooth (marginal)",
                                          "semantic: face − house (marginal)"]
    face_alone = marginal[2]
    assert face_alone.kind == "marginal effect (attribute alone)"
    np.testing.assert_allclose(face_alone.effect, data[is_face > 0].mean(0)
                               - data[is_face == 0].mean(0), atol=1e-9)
    assert face_alone.summary["peak"] is not None  # the marginal contrast finds it
    result = SubjectMaps(CH, TIMES, "µV", maps + marginal, {}, {}, pictures=Pictures(
        tuple(f"images/{f}/{k}.jpg" for k, f in enumerate(face)), tuple(face), pixels,
        SemanticLabels(face, "label table")), design=design, collinearity=collinearity,
        joint_tests=tests, notes=[joint.summary["sentence"]])
    save_subject_maps(config, tmp_path, result)
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["notes"] == [joint.summary["sentence"]]
    record = summary["collinearity"]
    assert record["collinear_sets"] == [["brightness", "texture", "semantic"]]
    assert set(record["vif"]) == {"brightness", "texture", "semantic"}
    assert record["joint_tests"][0]["significant"] is True
    assert summary["attributes"]["semantic"]["kind"] == "partial effect"
    assert summary["attributes"]["semantic"]["vif"] > VIF_THRESHOLD
    saved = np.load(tmp_path / "maps.npz")
    assert saved["joint_1_mask"].any() and saved["joint_1_F"].shape == (len(CH), len(TIMES))
    entry = summary["maps"]["semantic: face − house (marginal) [eeg]"]
    np.testing.assert_allclose(saved[entry["files"]["npz_prefix"] + "_effect"],
                               face_alone.effect)
    assert (tmp_path / entry["files"]["fif"]).is_file()


def test_a_hue_that_varies_only_by_rounding_is_not_mapped():
    # two pictures of the same green square (EEGLAB's stimulus at two positions): the
    # hue axes differ by float32 rounding only; a "red − blue" map scaled from that
    # difference was 10^9 µV
    pixels = {"luminance": np.array([0.01744, 0.01746]), "high_freq_contrast":
              np.array([0.74, 1.14]), "hue_deg": np.array([120.0000001, 120.000001]),
              "hue_red_blue": np.array([-2.1e-9, -1.7e-8]),
              "hue_green_magenta": np.array([1.0, 1.0 - 1e-16])}
    design = build_design(["hue", "texture"], pixels)
    assert design.skipped["hue"] == "the hue does not vary over the images"
    assert design.columns == ("intercept", "texture")
    moved = dict(pixels, hue_red_blue=np.array([0.0, 0.5]))  # a real hue difference
    assert "hue: red-blue axis" in build_design(["hue", "texture"], moved).columns
