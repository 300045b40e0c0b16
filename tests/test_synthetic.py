"""Simulated THINGS-EEG2 dataset: exact file layout, determinism, planted ground truth."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.linalg import toeplitz
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score

from perceptogram.data.simulate import forward_model as fm
from perceptogram.data.simulate import dataset as synthetic
from perceptogram.data.core.montage import channel_positions
from perceptogram.data.simulate.dataset import (
    attribute_features,
    load_ground_truth,
    simulate_dataset,
    summarize,
)
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS, load_subject
from perceptogram.errors import DataFormatError, PerceptogramError

TINY = dict(n_subjects=1, n_train_concepts=6, images_per_concept=2, n_test_concepts=6,
            n_train_repetitions=2, n_test_repetitions=3, image_size=64)


def _load(path: Path) -> dict:
    return np.load(path, allow_pickle=True).item()


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != ".perceptogram"}  # the ownership marker names its own folder


def _right_minus_left(pattern: np.ndarray, x: np.ndarray) -> float:
    return float(np.abs(pattern[x > 1e-3]).sum() / np.abs(pattern[x < -1e-3]).sum())


# ---------------------------------------------------------------- file layout


def test_eeg_files_have_the_things_eeg2_layout(tiny_things):
    for name, shape in (("preprocessed_eeg_training.npy", (48, 2, 17, 100)),
                        ("preprocessed_eeg_test.npy", (20, 10, 17, 100))):
        content = _load(tiny_things / "sub-01" / name)
        assert set(content) == {"preprocessed_eeg_data", "ch_names", "times"}
        data = content["preprocessed_eeg_data"]
        assert data.dtype == np.float64 and data.shape == shape
        assert content["ch_names"] == list(THINGS_CHANNELS)
        assert all(type(c) is str for c in content["ch_names"])
        np.testing.assert_allclose(content["times"], np.arange(-20, 80) / 100.0, atol=1e-12)
        assert np.isfinite(data).all()
        np.testing.assert_allclose(data[..., :20].mean(axis=-1), 0.0, atol=1e-9)


def test_metadata_and_images_have_the_things_eeg2_layout(tiny_things):
    meta = _load(tiny_things / "image_metadata.npy")
    assert set(meta) == {f"{s}_img_{k}" for s in ("train", "test")
                         for k in ("files", "concepts", "concepts_THINGS")}
    for value in meta.values():
        assert isinstance(value, list) and all(type(v) is str for v in value)
    assert len(meta["train_img_files"]) == 48 and len(meta["test_img_files"]) == 20
    concepts = meta["train_img_concepts"]
    # ordered concept by concept, numbered 00001.. in order
    blocks = [concepts[i:i + 4] for i in range(0, 48, 4)]
    assert all(len(set(b)) == 1 for b in blocks)
    assert [b[0][:5] for b in blocks] == [f"{i:05d}" for i in range(1, 13)]
    names = {c.split("_", 1)[1] for c in concepts}
    test_names = {c.split("_", 1)[1] for c in meta["test_img_concepts"]}
    assert len(test_names) == 20 and not names & test_names
    things = meta["train_img_concepts_THINGS"] + meta["test_img_concepts_THINGS"]
    assert len({t[:5] for t in things}) == 32  # one THINGS number per concept
    for split, folder in (("train", "training_images"), ("test", "test_images")):
        for concept, file in zip(meta[f"{split}_img_concepts"], meta[f"{split}_img_files"]):
            with Image.open(tiny_things / folder / concept / file) as image:
                assert image.format == "JPEG" and image.size == (128, 128)


def test_things_eeg2_loader_reads_the_simulation(tiny_things, tmp_path):
    train, test = load_subject(tiny_things, 1, cache=False)
    raw = _load(tiny_things / "sub-01" / "preprocessed_eeg_test.npy")
    np.testing.assert_allclose(test.data, raw["preprocessed_eeg_data"], rtol=1e-6, atol=1e-6)
    truth = load_ground_truth(tiny_things)
    assert list(train.image_files) == list(truth.attributes["train"]["image_file"])
    assert list(test.concepts) == list(truth.attributes["test"]["concept"])
    assert train.ch_names == truth.ch_names


def test_label_table_of_the_planted_classes_reads_back_as_the_superclasses(tiny_things):
    """``ground_truth/semantic_labels.csv`` is a label table Perceptogram reads: each
    test picture gets the superclass whose pattern the simulator planted."""
    from perceptogram.interpret.labels import labels_from_table

    truth = load_ground_truth(tiny_things)
    table = tiny_things / "ground_truth" / "semantic_labels.csv"
    for split in ("train", "test"):
        files = truth.attributes[split]["image_file"]
        labels = labels_from_table(table, files, truth.attributes[split]["concept"])
        np.testing.assert_array_equal(labels, truth.attributes[split]["superclass"])
    assert set(labels) == {"animate", "food"}


def test_a_simulation_from_before_the_label_table_gets_it_when_reused(tmp_path):
    fast = {**TINY, "write_images": False}
    root = simulate_dataset(tmp_path / "sim", **fast)
    table = root / "ground_truth" / "semantic_labels.csv"
    written = table.read_bytes()
    table.unlink()  # as an older version left it
    assert simulate_dataset(root, **fast) == root
    assert table.read_bytes() == written


# ---------------------------------------------------------------- determinism / safety


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path):
    a = simulate_dataset(tmp_path / "a", seed=5, **TINY)
    b = simulate_dataset(tmp_path / "b", seed=5, **TINY)
    c = simulate_dataset(tmp_path / "c", seed=6, write_images=False, **TINY)
    assert _digest(a) == _digest(b)
    eeg = "sub-01/preprocessed_eeg_training.npy"
    assert not np.array_equal(_load(a / eeg)["preprocessed_eeg_data"],
                              _load(c / eeg)["preprocessed_eeg_data"])


def test_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_write_ground_truth", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        simulate_dataset(tmp_path / "data", **TINY)
    assert list(tmp_path.iterdir()) == []


def test_refuses_foreign_folders_and_reuses_or_replaces_simulations(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(PerceptogramError, match="not made by the simulator"):
        simulate_dataset(foreign, overwrite=True, **TINY)
    assert (foreign / "notes.txt").read_text() == "keep me"

    fast = {**TINY, "write_images": False}
    root = simulate_dataset(tmp_path / "sim", **fast)
    assert not (root / "training_images").exists()
    record = root / "ground_truth" / "simulation.json"
    stamp = record.stat().st_mtime_ns
    assert simulate_dataset(root, **fast) == root
    assert record.stat().st_mtime_ns == stamp  # same parameters: reused untouched
    with pytest.raises(PerceptogramError, match="overwrite=True"):
        simulate_dataset(root, seed=3, **fast)
    simulate_dataset(root, seed=3, overwrite=True, **fast)
    assert load_ground_truth(root).seed == 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_train_concepts"):
        simulate_dataset(tmp_path / "x", **{**TINY, "n_train_concepts": 0})
    with pytest.raises(ValueError, match="image_size"):
        simulate_dataset(tmp_path / "x", **{**TINY, "image_size": 32})
    with pytest.raises(DataFormatError, match="not a simulated dataset"):
        load_ground_truth(tmp_path)


# ---------------------------------------------------------------- ground truth


def test_ground_truth_tables_follow_file_order(tiny_things):
    truth = load_ground_truth(tiny_things)
    meta = _load(tiny_things / "image_metadata.npy")
    for split in ("train", "test"):
        table = truth.attributes[split]
        assert list(table["image_file"]) == meta[f"{split}_img_files"]
        assert list(table["concept"]) == meta[f"{split}_img_concepts"]
        features = attribute_features(table)
        for name, values in features.items():
            np.testing.assert_allclose(table[f"feature_{name}"], values)
        csv_lines = (tiny_things / "ground_truth" / f"attributes_{split}.csv").read_text()
        assert len(csv_lines.strip().splitlines()) == len(table["image_file"]) + 1
    red = truth.attributes["train"]["hue_group"] == "red"
    assert (truth.attributes["train"]["feature_hue"][red] > 0.5).all()
    assert set(truth.null_attributes) == {"position_x", "orientation"}
    assert truth.idiosyncratic["train"].shape == (48, synthetic.N_IDIOSYNCRATIC)


def test_planted_patterns_peak_where_and_when_declared(tiny_things):
    truth = load_ground_truth(tiny_things)
    x = channel_positions(truth.ch_names)[:, 0]
    assert set(truth.patterns) == {"hue", "texture", "brightness", "superclass", "size"}
    for name, pattern in truth.patterns.items():
        assert pattern.shape == (17, 100)
        gfp = np.sqrt((pattern ** 2).mean(axis=0))
        assert truth.times[np.argmax(gfp)] == pytest.approx(truth.latencies[name], abs=0.011)
        assert np.abs(pattern[:, truth.times < 0]).max() < 1e-3 * np.abs(pattern).max()
        column = pattern[:, np.argmin(np.abs(truth.times - truth.latencies[name]))]
        assert truth.ch_names[np.argmax(np.abs(column))] == truth.peak_channels[name]
        ratio = _right_minus_left(column, x)
        if truth.sides[name] == "right":
            assert ratio > 2.0
        else:
            assert 0.8 < ratio < 1.25
    assert truth.latencies == {"brightness": 0.08, "hue": 0.10, "texture": 0.12,
                               "size": 0.14, "superclass": 0.18}
    assert truth.sides["superclass"] == "right"
    assert truth.sides["hue"] == "medial" and truth.sides["texture"] == "lateral"


def test_superclass_is_right_lateralised_in_every_subject(small_things):
    truth = load_ground_truth(small_things)
    x = channel_positions(truth.ch_names)[:, 0]
    for subject in truth.subjects.values():
        pattern = subject.patterns["superclass"]
        peak_time = np.argmax(np.abs(pattern).max(axis=0))
        column = pattern[:, peak_time]
        assert x[np.argmax(np.abs(column))] > 0
        assert _right_minus_left(column, x) > 2.0
        assert column[np.argmax(np.abs(column))] < 0  # animate: lateral negativity


def test_subjects_differ_but_share_the_planted_attributes(small_things):
    truth = load_ground_truth(small_things)
    one, two = truth.subjects[1], truth.subjects[2]
    for name, nominal in truth.patterns.items():
        a, b = one.patterns[name], two.patterns[name]
        assert not np.allclose(a, b)
        assert np.corrcoef(a.ravel(), nominal.ravel())[0, 1] > 0.8
        assert np.corrcoef(b.ravel(), nominal.ravel())[0, 1] > 0.8
    for category, pattern in truth.category_patterns.items():
        assert pattern.shape == (17, 100)
    superclasses = summarize(small_things)["classes"]
    for superclass in ("animate", "food"):
        members = [truth.category_patterns[c] for c, s in superclasses.items()
                   if s == superclass]
        np.testing.assert_allclose(np.mean(members, axis=0), 0.0, atol=1e-12)


def test_planted_patterns_are_what_the_data_contain(small_things):
    """Regressing trial-averaged EEG on the planted features recovers each pattern."""
    truth = load_ground_truth(small_things)
    data = _load(small_things / "sub-02" / "preprocessed_eeg_training.npy")
    y = data["preprocessed_eeg_data"].mean(axis=1).reshape(480, -1)
    table = truth.attributes["train"]
    names = list(truth.patterns)
    # class effects are zero-mean within a superclass: one contrast per class but one
    contrasts = []
    for superclass in ("animate", "food"):
        members = sorted(set(table["category"][table["superclass"] == superclass]))
        in_superclass = (table["superclass"] == superclass) / len(members)
        contrasts += [(table["category"] == c) - in_superclass for c in members[:-1]]
    design = np.column_stack([table[f"feature_{n}"] for n in names] + contrasts
                             + [truth.idiosyncratic["train"]])
    coef = LinearRegression().fit(design, y).coef_.T
    for i, name in enumerate(names):
        near = np.abs(truth.times - truth.subjects[2].latencies[name]) <= 0.03
        recovered = coef[i].reshape(17, 100)[:, near].ravel()
        match = {other: np.corrcoef(recovered, pattern[:, near].ravel())[0, 1]
                 for other, pattern in truth.subjects[2].patterns.items()}
        assert match[name] > 0.6, (name, match)
        assert max(match, key=match.get) == name, (name, match)


def _decoding_accuracy(root: Path, labels: np.ndarray, window: tuple[float, float],
                       subject: int = 1) -> float:
    truth = load_ground_truth(root)
    data = _load(root / f"sub-{subject:02d}" / "preprocessed_eeg_training.npy")
    keep = (truth.times >= window[0]) & (truth.times < window[1])
    epochs = data["preprocessed_eeg_data"].mean(axis=1)[..., keep]
    mask = labels >= 0
    X = epochs[mask].reshape(mask.sum(), -1)
    groups = truth.attributes["train"]["concept"][mask]
    model = LogisticRegression(C=0.1, max_iter=2000)
    return float(cross_val_score(model, X, labels[mask], cv=GroupKFold(5),
                                 groups=groups, scoring="balanced_accuracy").mean())


def test_red_vs_blue_decodable_at_planted_latency_not_in_baseline(small_things):
    truth = load_ground_truth(small_things)
    groups = truth.attributes["train"]["hue_group"]
    labels = np.select([groups == "red", groups == "blue"], [1, 0], -1)
    latency = truth.latencies["hue"]
    assert _decoding_accuracy(small_things, labels, (latency - 0.03, latency + 0.04)) > 0.75
    assert _decoding_accuracy(small_things, labels, (-0.2, 0.0)) < 0.62


def test_superclass_decodable_at_planted_latency_not_in_baseline(small_things):
    truth = load_ground_truth(small_things)
    labels = (truth.attributes["train"]["superclass"] == "animate").astype(int)
    latency = truth.latencies["superclass"]
    assert _decoding_accuracy(small_things, labels, (latency - 0.03, latency + 0.04)) > 0.8
    assert _decoding_accuracy(small_things, labels, (-0.2, 0.0)) < 0.62


@pytest.mark.parametrize("name", ["position_x", "orientation"])
def test_null_attributes_are_not_decodable(small_things, name):
    truth = load_ground_truth(small_things)
    values = truth.attributes["train"][name]
    labels = (values > np.median(values)).astype(int)
    assert _decoding_accuracy(small_things, labels, (0.0, 0.5)) < 0.6


def test_noise_is_independent_across_repetitions_with_unit_scale(small_things):
    truth = load_ground_truth(small_things)
    data = _load(small_things / "sub-01" / "preprocessed_eeg_test.npy")["preprocessed_eeg_data"]
    residual = data - data.mean(axis=1, keepdims=True)
    assert 0.8 < residual[..., truth.times < 0].std() * np.sqrt(20 / 19) < 1.2
    # independent repetitions: two 10-repetition halves differ by noise of variance
    # 2 * sigma^2 / 10, with sigma^2 estimated within the halves
    half_a, half_b = data[:, :10], data[:, 10:]
    within = np.mean([h.var(axis=1, ddof=1).mean() for h in (half_a, half_b)])
    between = (half_a.mean(axis=1) - half_b.mean(axis=1)).var()
    assert between / (2 * within / 10) == pytest.approx(1.0, abs=0.1)
    measured = truth.subjects[1].noise_sd["test"]
    assert measured == pytest.approx(residual.std() * np.sqrt(20 / 19), rel=0.05)


def test_summary_reports_sizes_and_planted_effects(small_things):
    summary = summarize(small_things)
    assert summary["n_subjects"] == 2
    assert summary["n_train_images"] == 480 and summary["n_test_images"] == 40
    assert summary["n_train_concepts"] == 60 and summary["n_test_concepts"] == 40
    assert len(summary["classes"]) == 6
    assert summary["null_attributes"] == ["orientation", "position_x"]
    superclass = summary["attributes"]["superclass"]
    assert superclass["side"] == "right" and superclass["latency"] == 0.18
    assert superclass["snr_train_average"] == pytest.approx(
        2 * superclass["snr_single_trial"])
    json.dumps(summary)  # printable / serialisable


# ---------------------------------------------------------------- forward model


def test_lead_field_matches_mne_and_physics():
    dipole = fm.radial_dipole((0.75, -0.55, -0.45))
    gain = fm.lead_field([dipole])[:, 0]
    positions = channel_positions(fm.CHANNELS)
    nearest = np.argmin(np.linalg.norm(positions - dipole.position, axis=1))
    assert np.argmax(gain) == nearest  # radial source: positivity right above it
    flipped = fm.Dipole(dipole.position, -dipole.orientation)
    np.testing.assert_allclose(fm.lead_field([flipped])[:, 0], -gain)
    mirrored = fm.radial_dipole((-0.75, -0.55, -0.45))
    swap = [fm.CHANNELS.index(_mirror(c)) for c in fm.CHANNELS]
    np.testing.assert_allclose(fm.lead_field([mirrored])[swap, 0], gain, rtol=0.05,
                               atol=0.02 * gain.max())


def _mirror(name: str) -> str:
    base = name.rstrip("0123456789z")
    suffix = name[len(base):]
    if suffix in ("z", ""):
        return name
    number = int(suffix)
    return f"{base}{number + 1 if number % 2 else number - 1}"


def test_noise_model_has_declared_spectrum_and_scale():
    root = fm.pink_temporal_root(100)
    covariance = root @ root.T
    np.testing.assert_allclose(np.diag(covariance), 1.0, atol=1e-6)
    np.testing.assert_allclose(covariance, toeplitz(covariance[0]), atol=1e-6)
    alpha = fm.alpha_temporal_root(100, frequency=10.0)
    lag_cov = (alpha @ alpha.T)[0]
    assert lag_cov[10] > 0.5 and lag_cov[5] < -0.5  # one alpha cycle = 10 samples

    design = fm.make_source_design(("a", "b"), ("animate", "food"), 2,
                                   np.random.default_rng(0))
    model = fm.build_subject_model(design, None)
    noise = model.noise.sample(4000, np.random.default_rng(1))
    pre = noise[..., model.times < 0]
    assert pre.var(axis=(0, 2)).mean() == pytest.approx(1.0, abs=0.05)
    spectrum = np.abs(np.fft.rfft(noise[:, fm.CHANNELS.index("O1")], axis=-1)) ** 2
    freqs = np.fft.rfftfreq(100, d=0.01)
    mean_power = spectrum.mean(axis=0)
    assert mean_power[freqs == 10.0] > 1.5 * mean_power[freqs == 15.0]
    assert mean_power[freqs == 3.0] > mean_power[freqs == 30.0] > 0
