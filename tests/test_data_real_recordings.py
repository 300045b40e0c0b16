"""What real recordings bring: uneven repetitions, pictures a subject has no epoch of,
units, any montage (stored positions, unknown names, 1-3 channels, sensors MNE cannot
triangulate), checked against brute force and MNE."""

from __future__ import annotations

import json
from pathlib import Path

import mne
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from datasets_fixtures import mne_epochs
from perceptogram.data.core.containers import EEGEpochs, EEGFeatures
from perceptogram.data.core.montage import make_info, place_channels
from perceptogram.data.core.prepare import prepare
from perceptogram.data.core.units import UNITS, eeg_unit
from perceptogram.data.formats.base import open_dataset
from perceptogram.errors import DataFormatError
from perceptogram.data.core.neighbours import channel_neighbours
from perceptogram.interpret.significance import channel_time_adjacency

EEGLAB = Path(__file__).parent / "data" / "eeglab-sample" / "eeglab_sample_120s.set"
runner = CliRunner()


def _ragged(counts, n_channels=3, n_times=5, seed=0):
    """Epochs with the given counts per picture (NaN padding) and the list of each one's."""
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts)
    trials = [rng.normal(size=(c, n_channels, n_times)) for c in counts]
    data = np.full((len(counts), counts.max(), n_channels, n_times), np.nan, np.float32)
    for i, t in enumerate(trials):
        data[i, :len(t)] = t
    epochs = EEGEpochs(data=data, ch_names=("Cz", "Pz", "Oz")[:n_channels],
                       times=np.arange(n_times) / 10, image_files=[f"{i}.jpg" for i in
                                                                   range(len(counts))],
                       concepts=[f"c{i}" for i in range(len(counts))],
                       repetition_counts=counts, unit="V")
    return epochs, [t.astype(np.float32) for t in trials]


# ------------------------------------------------------------------ uneven repetitions
def test_every_repetition_is_averaged_and_the_count_travels():
    train, trials = _ragged([3, 1, 5, 5])
    test, test_trials = _ragged([2, 4], seed=1)
    assert not train.even and train.n_repetitions == 5
    brute = np.stack([t.astype(np.float64).mean(axis=0) for t in trials])
    np.testing.assert_allclose(train.average(), brute, rtol=1e-12)
    capped = np.stack([t[:2].astype(np.float64).mean(axis=0) for t in trials])
    np.testing.assert_allclose(train.average(2), capped, rtol=1e-12)  # repetitions: 2
    f_train, f_test = prepare(train, test, tmin=0.0, tmax=1.0, zscore=False)
    np.testing.assert_allclose(f_train.X, brute.reshape(4, -1), rtol=1e-6)
    np.testing.assert_array_equal(f_train.repetition_counts, [3, 1, 5, 5])
    np.testing.assert_array_equal(f_test.repetition_counts, [2, 4])
    assert f_train.unit == "V" and np.isfinite(f_train.X).all()
    f_capped, _ = prepare(train, test, tmin=0.0, tmax=1.0, zscore=False, n_repetitions=2)
    np.testing.assert_array_equal(f_capped.repetition_counts, [2, 1, 2, 2])


def test_counts_index_unit_and_positions_are_saved_with_the_features(tmp_path):
    from perceptogram.pipeline.artifacts import load_eeg_features, save_eeg_features

    positions = np.array([[0.0, 0.0, 0.1], [0.0, -0.07, 0.07], [np.nan] * 3])
    features = EEGFeatures(X=np.zeros((3, 6), np.float32), ch_names=("Cz", "Pz", "EOG1"),
                           times=[0.0, 0.1], image_files=list("abc"), concepts=list("abc"),
                           repetition_counts=np.array([4, 2, 3]),
                           image_index=np.array([0, 2, 5]), unit="V", positions=positions)
    save_eeg_features(tmp_path / "eeg.npz", features, features)
    back, _ = load_eeg_features(tmp_path / "eeg.npz")
    np.testing.assert_array_equal(back.repetition_counts, [4, 2, 3])
    np.testing.assert_array_equal(back.image_index, [0, 2, 5])
    np.testing.assert_array_equal(back.positions, positions)
    assert back.unit == "V"


def test_containers_refuse_inconsistent_counts_and_index():
    epochs, _ = _ragged([2, 3])
    with pytest.raises(ValueError, match="at most 3"):
        EEGEpochs(data=epochs.data, ch_names=epochs.ch_names, times=epochs.times,
                  image_files=epochs.image_files, concepts=epochs.concepts,
                  repetition_counts=np.array([2, 4]))
    with pytest.raises(ValueError, match="names a picture twice"):
        EEGEpochs(data=epochs.data, ch_names=epochs.ch_names, times=epochs.times,
                  image_files=epochs.image_files, concepts=epochs.concepts,
                  image_index=np.array([1, 1]))
    with pytest.raises(ValueError, match="unknown EEG unit 'volts'"):
        EEGEpochs(data=epochs.data, ch_names=epochs.ch_names, times=epochs.times,
                  image_files=epochs.image_files, concepts=epochs.concepts, unit="volts")


def test_to_epochs_leaves_the_padding_out():
    from perceptogram.data.core.mne_convert import to_epochs

    epochs, trials = _ragged([3, 1, 2])
    single = to_epochs(epochs, average=False)
    assert len(single) == 6 and np.isfinite(single.get_data()).all()
    np.testing.assert_allclose(single.get_data(), np.concatenate(trials), rtol=1e-6)
    assert single.info["description"] == "values in volts"


def test_official_data_are_whitened_and_simulated_data_say_so(sim, tmp_path):
    from perceptogram.config import make_config
    from perceptogram.data.formats.things_eeg2_dataset import ThingsEEG2Dataset
    from perceptogram.pipeline.datasource import open_run_dataset

    train, _ = ThingsEEG2Dataset(sim, cache=False).load_subject(1)
    assert train.unit == "whitened"
    config = make_config(dataset={"kind": "simulated", "path": str(sim)},
                         output=str(tmp_path / "run"))
    dataset = open_run_dataset(config)
    assert dataset.unit == "simulated" and dataset.load_subject(1)[0].unit == "simulated"


def test_units_say_what_the_values_are():
    assert eeg_unit("V").label == "µV" and eeg_unit("V").scale == 1e6
    assert "MVNN-whitened" in eeg_unit("whitened").label
    assert eeg_unit("simulated").description.startswith("simulated units")
    assert all(u.description.split(" (")[0] == u.label for u in UNITS.values())


# -------------------------------------------------------------------------- montages
def test_positions_stored_in_the_recording_come_before_any_template():
    raw = mne.io.read_raw_eeglab(EEGLAB, verbose="error")
    stored = raw.get_montage().get_positions()["ch_pos"]
    placement = place_channels(raw.ch_names, raw.get_montage())
    assert set(placement.sources) == {"recording"} and placement.placed.all()
    np.testing.assert_array_equal(placement.positions[raw.ch_names.index("EOG1")],
                                  stored["EOG1"])
    template = place_channels(["Fpz", "Cz"]).positions  # EEGLAB's FPz is Fpz, case aside
    assert not np.allclose(placement.positions[0], template[0])
    by_name = place_channels(["FPz", "EOG1", "Cz"])
    assert by_name.sources == ("easycap-M1", "", "easycap-M1")
    np.testing.assert_array_equal(by_name.positions[0], template[0])
    assert by_name.unplaced == ("EOG1",) and "EOG1 has no position" in by_name.describe()
    info = make_info(["FPz", "EOG1", "Cz"], 100.0)  # never an error for an unknown name
    assert np.isnan(info["chs"][1]["loc"][:3]).all()


@pytest.mark.parametrize("names", [["Cz"], ["Cz", "Pz"], ["C3", "Cz", "C4"]])
def test_one_to_three_channels_cluster_over_time_only(names):
    found = channel_neighbours(names)
    assert found.method == "none" and "time only" in found.note
    np.testing.assert_array_equal(found.adjacency, np.eye(len(names), dtype=bool))


def test_sensors_mne_cannot_triangulate_get_distance_neighbours():
    from scipy.spatial import QhullError

    midline = ["Fpz", "Fz", "FCz", "Cz", "CPz", "Pz", "POz", "Oz"]
    with pytest.raises(QhullError):  # what MNE does with a line of sensors
        mne.channels.find_ch_adjacency(make_info(midline, 100.0), "eeg")
    found = channel_neighbours(midline)
    assert found.method == "distance" and "cannot be triangulated" in found.note
    positions = place_channels(midline).positions
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    np.testing.assert_array_equal(found.adjacency, distance <= 0.07)  # brute force
    assert found.adjacency[midline.index("Cz"), midline.index("FCz")]
    assert not found.adjacency[midline.index("Fpz"), midline.index("Oz")]


def test_muse_sensors_and_an_unplaced_channel():
    muse = channel_neighbours(["TP9", "AF7", "AF8", "TP10"])
    np.testing.assert_array_equal(muse.adjacency, np.eye(4, dtype=bool))  # > 7 cm apart
    assert "clusters extend over time only" in muse.note
    over_time = channel_time_adjacency(["TP9", "AF7", "AF8", "TP10"], 3).toarray()
    assert over_time.sum() == 4 * (3 + 2 * 2)  # one chain over time per channel, no more
    occipital = channel_neighbours(["O1", "Oz", "O2", "POz", "EOG1"])
    assert occipital.method == "delaunay" and occipital.adjacency[0, 1]
    np.testing.assert_array_equal(occipital.adjacency[4], [False] * 4 + [True])
    assert "EOG1 has no position" in occipital.note


def test_one_channel_cluster_test_matches_mne_over_time():
    from perceptogram.interpret.groupings import categorical_grouping
    from perceptogram.interpret.significance import group_cluster_test

    rng = np.random.default_rng(3)
    data = rng.normal(size=(40, 1, 30))
    data[:20, 0, 10:18] += 1.0
    labels = np.array(["a"] * 20 + ["b"] * 20)
    ours = group_cluster_test(data, categorical_grouping(labels, "g", order=("a", "b")), "a",
                              "b", ch_names=["Cz"], times=np.arange(30) / 100,
                              n_permutations=200, seed=1)
    from scipy import stats

    threshold = stats.t.ppf(0.975, 38)
    reference = mne.stats.permutation_cluster_test(
        [data[:20, 0], data[20:, 0]], threshold=threshold, n_permutations=200, rng=1,
        stat_fun=lambda a, b: mne.stats.ttest_ind_no_p(a, b), tail=0, out_type="mask",
        verbose="error")
    np.testing.assert_allclose(ours.p_values, reference[2])
    assert ours.min_p < 0.05 and ours.mask[0, 10:18].sum() >= 5 and not ours.mask[0, :8].any()
    adjacency = channel_time_adjacency(["Cz"], 30).toarray()
    assert adjacency.sum() == 30 + 2 * 29  # a chain over time


# --------------------------------------------------------------- the mne format, real
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from perceptogram.data.simulate.dataset import simulate_dataset

    return simulate_dataset(
        tmp_path_factory.mktemp("sim") / "things", n_subjects=1, n_train_concepts=16,
        images_per_concept=3, n_test_concepts=8, n_train_repetitions=2,
        n_test_repetitions=6, image_size=64, seed=4)


def _lose_epochs(folder: Path, split: str, picture_code: int, uneven_code: int) -> None:
    """Reject every epoch of one picture and one epoch of another (as artifacts would)."""
    path = folder / f"sub-01_{split}-epo.fif"
    epochs = mne.read_epochs(path, verbose="error")
    codes = epochs.events[:, 2]
    drop = list(np.flatnonzero(codes == picture_code)) + \
        [int(np.flatnonzero(codes == uneven_code)[0])]
    epochs.drop(drop, verbose="error")
    epochs.save(path, overwrite=True, verbose="error")


@pytest.fixture(scope="module")
def lossy(sim, tmp_path_factory):
    folder = mne_epochs(sim, tmp_path_factory.mktemp("lossy") / "mne")
    _lose_epochs(folder, "train", picture_code=6, uneven_code=2)
    _lose_epochs(folder, "test", picture_code=1003, uneven_code=1001)
    return folder


def test_a_picture_without_epochs_is_dropped_for_the_subject(sim, lossy):
    dataset = open_dataset("mne", lossy, sim)
    train, test = dataset.load_subject(1)
    assert train.n_images == 47 and 5 not in train.image_index
    assert test.n_images == 7 and 3 not in test.image_index
    assert train.repetition_counts[1] == 1 and train.repetition_counts.max() == 2
    assert test.repetition_counts[1] == 5
    notes = " ".join(dataset.notes)
    assert "sub-01: 1 of 48 training and 1 of 8 test pictures have no epoch" in notes
    assert "pictures have 1 to 2 epochs; every epoch is averaged" in notes


def test_too_few_pictures_left_is_a_clear_refusal(sim, tmp_path):
    folder = mne_epochs(sim, tmp_path / "mne")
    path = folder / "sub-01_test-epo.fif"
    epochs = mne.read_epochs(path, verbose="error")
    epochs.drop(np.flatnonzero(epochs.events[:, 2] != 1000), verbose="error")
    epochs.save(path, overwrite=True, verbose="error")
    with pytest.raises(DataFormatError, match="only 1 of the 8 test pictures .* have an "
                       "epoch; at least 2 are needed"):
        open_dataset("mne", folder, sim).load_subject(1)


def test_declared_and_doubted_units(sim, tmp_path):
    folder = mne_epochs(sim, tmp_path / "mne")  # simulated values (about 1) typed as volts
    dataset = open_dataset("mne", folder, sim)
    train, _ = dataset.load_subject(1)
    assert train.unit == "unknown" and "far beyond EEG in volts" in dataset.notes[0]
    declared = open_dataset("mne", folder, sim, unit="uV")
    assert declared.load_subject(1)[0].unit == "uV" and not declared.notes


def test_subject_rows_pair_features_with_latents():
    from perceptogram.pipeline.datasource import subject_rows

    latents = np.arange(10)[:, None] * np.ones((1, 3))
    features = EEGFeatures(X=np.zeros((3, 2), np.float32), ch_names=("Cz",), times=[0, 0.1],
                           image_files=list("abc"), concepts=list("abc"),
                           image_index=np.array([7, 0, 4]))
    np.testing.assert_array_equal(subject_rows(latents, features)[:, 0], [7, 0, 4])
    assert subject_rows(list("abcdefghij"), features) == ["h", "a", "e"]
    with pytest.raises(DataFormatError, match="different datasets"):
        subject_rows(latents[:5], features)


def test_run_uses_the_pictures_each_subject_has(sim, lossy, tmp_path):
    from perceptogram.pipeline.artifacts import load_eeg_features

    out = tmp_path / "run"
    config = {
        "dataset": {"kind": "mne", "path": str(lossy), "images_path": str(sim)},
        "latents": {"spaces": ["pca"], "options": {"pca": {"n_components": 6,
                                                           "image_size": 16}}},
        "decoder": {"cv": "loo"},
        "reconstruction": {"methods": ["pca", "retrieval"], "retrieval_space": "pca"},
        "metrics": {"networks": [], "image_size": 32, "n_boot": 10, "n_permutations": 10},
        "interpretability": {"space": "pca", "times_ms": [100.0], "figure_formats": ["png"],
                             "attributes": ["brightness"], "n_permutations": 5},
        "output": str(out), "jobs": 1,
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    from perceptogram.cli import app

    result = runner.invoke(app, ["run", str(tmp_path / "run.yaml")])
    assert result.exit_code == 0, result.output
    dataset = json.loads((out / "data" / "dataset.json").read_text())
    assert any("1 of 8 test pictures have no epoch" in n for n in dataset["notes"])
    train, test = load_eeg_features(out / "features" / "sub-01" / "eeg.npz")
    assert len(train.X) == 47 and len(test.X) == 7
    assert np.load(out / "predict" / "sub-01" / "pca" / "decoded.npy").shape[0] == 7
    per_image = json.loads((out / "evaluate" / "sub-01" / "pca" / "per_image.json").read_text())
    assert {r["image"] for r in per_image} == set(range(7))
    groups = (out / "interpret" / "sub-01" / "groups.csv").read_text().splitlines()
    assert len(groups) == 1 + 7 and groups[1].split(",")[0] == test.image_files[0]
    summary = json.loads((out / "interpret" / "sub-01" / "summary.json").read_text())
    assert summary["units"] == "data units (as stored in the files)"  # doubted volts
    # each row is scored against its own picture: recompute PixCorr with the subject's rows
    from perceptogram.data.core.image_files import load_images
    from perceptogram.evaluate.suite import image_scores
    from perceptogram.pipeline.artifacts import load_pngs

    paths = open_dataset("mne", lossy, sim).images().image_paths("test")
    reconstructions = load_pngs(out / "reconstruct" / "sub-01" / "pca" / "pca")
    pix = image_scores([reconstructions], load_images([paths[i] for i in test.image_index]),
                       32)["pixcorr"]
    saved = [r["pixcorr"] for r in per_image if r["method"] == "pca"]
    np.testing.assert_allclose(saved, pix, rtol=1e-6)
    shifted = image_scores([reconstructions], load_images(paths[:7]), 32)["pixcorr"]
    assert not np.allclose(saved, shifted)


def test_latent_metrics_compare_images_when_rows_share_one():
    from perceptogram.pipeline.datasource import pool_by_image

    decoded = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [0.0, 4.0]])
    true = np.array([[1.0, 1.0], [2.0, 2.0], [1.0, 1.0], [2.0, 2.0]])
    pooled, unique = pool_by_image(decoded, true, ["a.jpg", "b.jpg", "a.jpg", "b.jpg"])
    np.testing.assert_array_equal(pooled, [[3.0, 2.5], [1.5, 3.0]])
    np.testing.assert_array_equal(unique, [[1.0, 1.0], [2.0, 2.0]])
    same, same_true = pool_by_image(decoded, true, list("abcd"))
    assert same is decoded and same_true is true
