"""Groupings: splits, hue windows, semantic clusters with names, user CSV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from perceptogram.errors import DataFormatError
from perceptogram.interpret.groupings import (
    categorical_grouping,
    Grouping,
    concept_tokens,
    grouping_from_csv,
    hue_grouping,
    semantic_grouping,
    split_grouping,
)


def test_split_by_k_takes_the_extremes():
    rng = np.random.default_rng(0)
    values = rng.normal(size=50)
    g = split_grouping(values, "brightness", k=7, low_name="dark", high_name="bright")
    order = np.argsort(values)
    assert set(np.flatnonzero(g.mask("dark"))) == set(order[:7])
    assert set(np.flatnonzero(g.mask("bright"))) == set(order[-7:])
    assert g.counts() == {"dark": 7, "bright": 7}
    assert np.sum(g.labels == -1) == 36


def test_split_by_quantile_matches_numpy_quantiles():
    values = np.arange(100.0)
    g = split_grouping(values, "x", quantile=0.25)
    assert g.counts() == {"low": 25, "high": 25}
    assert values[g.mask("low")].max() < np.quantile(values, 0.25) + 1
    median = split_grouping(values, "x", quantile=0.5)
    assert (median.labels >= 0).all()
    assert median.counts() == {"low": 50, "high": 50}


def test_split_rejects_bad_parameters():
    with pytest.raises(ValueError, match="exactly one"):
        split_grouping(np.arange(10.0), "x")
    with pytest.raises(ValueError, match="k must be"):
        split_grouping(np.arange(10.0), "x", k=6)
    with pytest.raises(DataFormatError, match="NaN"):
        split_grouping(np.array([1.0, np.nan, 2.0]), "x", k=1)


def test_hue_grouping_wraps_around_the_circle():
    hue = np.array([350.0, 10.0, 55.0, 120.0, 230.0, 260.0, 300.0])
    g = hue_grouping(hue, tolerance_deg=30)
    assert g.group_names == ("red", "blue")
    np.testing.assert_array_equal(g.labels, [0, 0, -1, -1, 1, 1, -1])
    with pytest.raises(ValueError, match="overlap"):
        hue_grouping(hue, tolerance_deg=130)


def _blobs(rng, n_per=8):
    centres = rng.normal(size=(3, 20)) * 5
    names = ["fish", "apple", "bird"]
    emb, concepts, truth = [], [], []
    for c, (centre, name) in enumerate(zip(centres, names)):
        for i in range(n_per + c):  # different sizes: 8, 9, 10
            emb.append(centre + rng.normal(size=20) * 0.3)
            concepts.append(f"{len(concepts):05d}_{['red', 'big', 'small'][i % 3]}_{name}")
            truth.append(c)
    return np.array(emb), concepts, np.array(truth)


def test_semantic_grouping_recovers_planted_clusters_and_names_them():
    emb, concepts, truth = _blobs(np.random.default_rng(1))
    g = semantic_grouping(emb, 3, concepts=concepts)
    assert adjusted_rand_score(truth, g.labels) == 1.0
    # ordered by decreasing size: bird (10), apple (9), fish (8)
    assert g.group_names == ("bird", "apple", "fish")
    assert g.counts() == {"bird": 10, "apple": 9, "fish": 8}


def test_semantic_grouping_is_reproducible_and_unnamed_without_concepts():
    emb, _, _ = _blobs(np.random.default_rng(2))
    a = semantic_grouping(emb, 3)
    b = semantic_grouping(emb[::1].copy(), 3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.group_names == ("cluster 1", "cluster 2", "cluster 3")


def test_concept_tokens_drop_numbers():
    assert concept_tokens("00017_red_apple") == ["red", "apple"]


def test_grouping_from_csv(tmp_path):
    files = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    path = tmp_path / "animacy.csv"
    path.write_text("image,label\nb.jpg,animal\na.jpg,food\nd.jpg,animal\n")
    g = grouping_from_csv(path, files)
    assert g.name == "animacy"
    assert g.group_names == ("animal", "food")
    np.testing.assert_array_equal(g.labels, [1, 0, -1, 0])
    path.write_text("image,label\nzzz.jpg,animal\n")
    with pytest.raises(DataFormatError, match="not in the dataset"):
        grouping_from_csv(path, files)
    path.write_text("file,label\na.jpg,animal\n")
    with pytest.raises(DataFormatError, match="missing column"):
        grouping_from_csv(path, files)


def test_grouping_validates_labels():
    with pytest.raises(DataFormatError, match="labels must lie"):
        Grouping("g", np.array([0, 2]), ("a", "b"))
    with pytest.raises(DataFormatError, match="duplicate"):
        Grouping("g", np.array([0, 1]), ("a", "a"))
    with pytest.raises(KeyError, match="no group 'c'"):
        Grouping("g", np.array([0, 1]), ("a", "b")).mask("c")


def test_median_split_of_tied_values_and_categorical_grouping():
    binary = np.array([-1.0, 1.0, 1.0, -1.0, 1.0])
    g = split_grouping(binary, "superclass", quantile=0.5)
    np.testing.assert_array_equal(g.labels, [0, 1, 1, 0, 1])
    cat = categorical_grouping(["red", "other", "blue", "red"], "hue", order=("red", "blue"))
    np.testing.assert_array_equal(cat.labels, [0, -1, 1, 0])
    assert categorical_grouping(["b", "a", "b"], "x").group_names == ("a", "b")
