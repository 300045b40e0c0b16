"""What the report stage gathers from a run: dataset notes, row counts, collinearity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perceptogram.pipeline.reporting import _data_overview, _designs, _n_describer
from perceptogram.pipeline.rundir import RunDir
from perceptogram.report import RowCounts


def _write(path, record):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")


def _collinear_summary():
    """A ``summary.json`` as the interpret stage writes it for a face/house picture set."""
    sentence = ("There is an effect, and these pictures cannot tell which attribute carries "
                "it: brightness and semantic go together in these pictures (|r| up to 0.90, "
                "VIF up to 5.2), so none of their partial maps has a significant cluster, "
                "while their joint test has one (cluster p = 0.004).")
    return {
        "semantic_labels": None,
        "design_skipped": {"hue: green-magenta axis": "determined by the attributes before "
                                                      "it (collinear design)"},
        "attributes": {"brightness": {"name": "brightness: bright − dark", "vif": 4.4},
                       "semantic": {"name": "semantic: face − house", "vif": 5.2},
                       "texture": {"skipped": "high_freq_contrast does not vary"}},
        "collinearity": {
            "vif_threshold": 4.0, "vif": {"brightness": 4.4, "semantic": 5.2, "hue": 1.1},
            "columns": ["brightness", "semantic: face", "hue: red-blue axis"],
            "correlation": [[1, 0.9, 0.1], [0.9, 1, 0.0], [0.1, 0.0, 1]],
            "collinear_sets": [["brightness", "semantic"]],
            "joint_tests": [{"attributes": ["brightness", "semantic"], "cluster_min_p": 0.004,
                             "significant": True, "n_permutations": 1000,
                             "sentence": sentence}]},
        "notes": [sentence],
    }


def test_collinearity_and_its_joint_test_go_beside_the_maps(tmp_path):
    run = RunDir(tmp_path)
    _write(run.unit_dir("interpret", 1) / "summary.json", _collinear_summary())
    untrusted = ("40 of 62 pictures (65 %) were labelled with low confidence: most pictures "
                 "are not recognisable as photographs of animal or food, so no semantic map "
                 "is drawn.")
    _write(run.unit_dir("interpret", 2) / "summary.json", {
        "semantic_labels": {"sentence": untrusted, "trusted": False},
        "attributes": {"semantic": {"skipped": untrusted}}, "collinearity": None})
    designs, notes = _designs(run, [1, 2])
    first, second = designs
    assert first.subject == "sub-01" and first.vif == {"brightness": 4.4, "semantic": 5.2,
                                                      "hue": 1.1}
    assert first.vif_threshold == 4.0 and first.collinear_sets == (("brightness", "semantic"),)
    np.testing.assert_allclose(first.correlation[0], [1, 0.9, 0.1])
    assert first.skipped == {"hue: green-magenta axis": "determined by the attributes before "
                                                        "it (collinear design)",
                             "texture": "high_freq_contrast does not vary"}
    assert set(notes) == {"brightness", "semantic"}  # hue is not collinear
    assert set(notes["semantic"]) == {"sub-01"}  # shown above sub-01's maps
    (note,) = notes["semantic"]["sub-01"]
    assert note.startswith("Collinear: VIF of semantic 5.2, above 4. There is an effect, and "
                           "these pictures cannot tell which attribute carries it")
    assert "while their joint test has one (cluster p = 0.004)." in note
    assert note.endswith("its partial map (the other attributes held fixed) beside its "
                         "marginal map (alone).")
    # the label-confidence sentence of a subject whose labels were not trusted
    assert second.labels == untrusted and second.skipped == {"semantic": untrusted}


def test_dataset_notes_and_rows_per_split(tmp_path):
    run = RunDir(tmp_path)
    _write(run.unit_dir("data") / "dataset.json", {
        "notes": ["sub-02: 3 of 48 test pictures have no epoch and are left out"],
        "summary": {"n_test_image_files": 8, "montage": {
            "positions": "electrode positions: 4 from the easycap-M1 template"},
            "subjects": [{"subject": 1, "ch_names": ["TP9", "AF7", "AF8", "TP10"],
                          "splits": {"test": {"n_images": 156, "repetitions": {
                              "min": 8, "max": 10, "total": 1527}},
                                     "train": {"n_images": 159}}}]}})
    table, notes = _data_overview(run, {"sub-01": RowCounts(156, 8, (8, 10))})
    assert table == [{"subject": "sub-01", "split": "train", "rows": 159, "images": "–",
                      "epochs": None, "channels": 4},
                     {"subject": "sub-01", "split": "test", "rows": 156, "images": 8,
                      "epochs": (8, 10, 1527), "channels": 4}]
    assert notes == ["sub-02: 3 of 48 test pictures have no epoch and are left out",
                     "electrode positions: 4 from the easycap-M1 template"]
    assert _data_overview(RunDir(tmp_path / "none"), {}) == ([], [])


@pytest.mark.parametrize(("counts", "n", "kind", "expected"), [
    (RowCounts(156, 8), 156, "reconstruction", "156 test rows of 8 distinct images"),
    (RowCounts(156, 8), 8, "retrieval", "8 distinct test images (8-way); 156 rows"),
    (RowCounts(100, 100), 100, "retrieval", "100 test images (100-way)"),
    (RowCounts(100, 100), 100, "reconstruction", "100 test images")])
def test_what_n_counts_in_the_comparison(counts, n, kind, expected):
    assert _n_describer({"sub-01": counts}, kind)(n).startswith(expected)
    assert RowCounts(156, 8, (8, 10)).describe() == (
        "156 rows (each the average of 8-10 epochs) of 8 distinct images")
    assert RowCounts(12, 12, (10, 10)).describe() == (
        "12 images, one row each (each the average of 10 epochs)")
