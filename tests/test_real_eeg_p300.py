"""The shipped real recording (Muse P300, cats among dogs): the physiology a user expects.

The example is imported with ``perceptogram data import``'s own code, read back
through the ``mne`` format, prepared as the pipeline does, and mapped with the
pipeline's partial-effect design: the target − non-target effect must be the
negative TP9/TP10 response around 300-400 ms that a trial-level MNE cluster test
finds in the same test epochs, and brightness, texture and hue (random within a
class, since the recording logs only the class) must stay null. The whole pipeline
(``perceptogram demo --data p300``) runs in the slow test at the end.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

WINDOW = (0.25, 0.5)
TEMPORAL = ("TP9", "TP10")
N_PERMUTATIONS = 200


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The shipped recording imported where ``perceptogram demo --data p300`` puts it."""
    from perceptogram.examples import import_example
    from perceptogram.pipeline.demo import demo_config
    from perceptogram.pipeline.rundir import RunDir

    config = demo_config(tmp_path_factory.mktemp("p300") / "demo", data="p300")
    RunDir(config.output).claim()
    report = import_example("p300", config.data_root())
    return config.data_root(), report


@pytest.fixture(scope="module")
def test_maps(imported):
    """Partial effects of the test EEG on semantic + brightness + texture + hue (µV)."""
    from perceptogram.data.core.image_files import load_images
    from perceptogram.data.core.prepare import prepare
    from perceptogram.data.formats.base import open_dataset
    from perceptogram.interpret.design import build_design, pixel_attributes
    from perceptogram.interpret.effects import fit_effects, freedman_lane_test
    from perceptogram.interpret.labels import labels_from_table, map_to_groups
    from perceptogram.pipeline.datasource import subject_rows

    folder, _ = imported
    dataset = open_dataset("mne", folder)
    train, test = prepare(*dataset.load_subject(1))
    data = 1e6 * (test.X * test.scale + test.mean).reshape(len(test.X), test.n_channels, -1)
    paths = subject_rows(dataset.images().image_paths("test"), test)
    semantic = map_to_groups(labels_from_table(folder / "labels.csv", test.image_files,
                                               test.concepts), ["target"])
    design = build_design(["semantic", "brightness", "texture", "hue"],
                          pixel_attributes(load_images(paths)), semantic=semantic)
    fit = fit_effects(data, design.matrix, design.columns)
    results = {spec.column: (fit.coef[fit.index(spec.column)] * spec.scale,
                             freedman_lane_test(data, design.matrix, design.columns,
                                                spec.column, ch_names=test.ch_names,
                                                times=test.times,
                                                n_permutations=N_PERMUTATIONS, seed=0,
                                                positions=test.positions))
               for spec in design.maps}
    return test, results


def test_import_keeps_what_mne_keeps(imported):
    folder, report = imported
    totals = report.totals()
    # the recording's README (MNE, same settings): 479 target + 2,565 non-target epochs
    assert totals["train"]["kept"] + totals["test"]["kept"] == 479 + 2565
    assert totals["train"]["events"] + totals["test"]["events"] == 3089
    kept_target = sum(r["kept"] for r in report.images if "target-" in r["image"]
                      and "nontarget" not in r["image"])
    assert kept_target == 479
    assert any("assigned to them in turn" in n for n in report.notes)
    info = json.loads((folder / "import-sub-01.json").read_text())
    assert info["settings"]["reject"] == pytest.approx(100e-6)
    from perceptogram.examples import import_example

    assert import_example("p300", folder) is None  # current: not imported again


def test_demo_data_option(tmp_path):
    from typer.testing import CliRunner

    from perceptogram.cli import app
    from perceptogram.pipeline.demo import demo_config

    config = demo_config(tmp_path / "demo", data="p300")
    assert config.dataset.kind == "mne" and config.dataset.path == tmp_path / "demo" / \
        "imported" / "p300"
    assert config.interpretability.labels.name == "labels.csv"
    result = CliRunner().invoke(app, ["demo", "--data", "nope", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "--data must be one of simulated, p300" in result.output


def test_demo_data_and_its_label_table_may_lie_in_the_run(imported):
    # the demo imports its recording into <run>/imported/p300 (ours, like a simulation):
    # neither it nor the label table inside it is refused as a user's input in the run
    from perceptogram.pipeline.demo import demo_config
    from perceptogram.pipeline.runner import run_pipeline
    from perceptogram.pipeline.stages import PIPELINE

    folder, _ = imported
    run = folder.parent.parent
    config = demo_config(run, data="p300")
    assert config.data_root() == folder and config.interpretability.labels.parent == folder
    run_pipeline(config, PIPELINE, until="data", jobs=1)
    assert (run / "data" / "dataset.json").is_file()


def test_read_back_in_microvolts_with_template_positions(imported):
    from perceptogram.data.core.units import eeg_unit
    from perceptogram.data.formats.base import open_dataset, summarize

    folder, _ = imported
    summary = summarize(open_dataset("mne", folder))
    assert summary["unit"] == "V" and eeg_unit(summary["unit"]).label == "µV"
    assert summary["montage"]["positions"] == "electrode positions: 4 from the easycap-M1 " \
        "template"
    assert any("clusters extend over time only" in n for n in summary["notes"])
    split = summary["subjects"][0]["splits"]["test"]
    assert split["repetitions"]["max"] == 10 and split["n_missing_images"] == 0


def test_target_minus_nontarget_is_negative_at_tp9_tp10_around_300_ms(test_maps):
    test, results = test_maps
    effect, result = results["semantic: target"]
    ch = [test.ch_names.index(c) for c in TEMPORAL]
    in_window = (test.times >= WINDOW[0]) & (test.times <= WINDOW[1])
    found = []
    for cluster, p in zip(result.clusters, result.p_values):
        part = cluster[ch][:, in_window]
        if p < 0.05 and part.any() and effect[ch][:, in_window][part].mean() < 0:
            found.append(p)
    assert found, f"no negative TP9/TP10 cluster in 250-500 ms (min p {result.min_p:.3f})"
    assert min(found) < 0.05
    # the negative peak is around 300-400 ms, about -2 µV (the README's trial-level values)
    tp = effect[ch][:, in_window]
    assert -4.0 < tp.min() < -1.0
    assert 0.28 <= test.times[in_window][np.argmin(tp.min(axis=0))] <= 0.42


def test_attributes_random_within_a_class_stay_null(test_maps):
    _, results = test_maps
    nulls = {column: result.min_p for column, (_, result) in results.items()
             if not column.startswith("semantic")}
    assert {"brightness", "texture", "hue: red-blue axis"} <= set(nulls)
    assert all(p >= 0.05 for p in nulls.values()), nulls


def test_trial_level_mne_cluster_test_agrees(imported, test_maps):
    """MNE's own trial-level test on the same test epochs finds the same TP9/TP10 effect."""
    import mne

    folder, _ = imported
    test, results = test_maps
    epochs = mne.read_epochs(folder / "sub-01_test-epo.fif", verbose="error")
    epochs.crop(0.0, 0.8 - 1 / epochs.info["sfreq"], include_tmax=True)
    codes = {int(r.split(",")[1]): r.split(",")[2] for r in
             (folder / "images.csv").read_text().splitlines()[1:] if r.startswith("test")}
    target = np.array(["/target-" in "/" + codes[c].split("/")[-1] for c in epochs.events[:, 2]])
    data = epochs.get_data(picks="eeg")
    assert len(data) > 1000 and 200 < target.sum() < 300
    effect, ours = results["semantic: target"]
    for name in TEMPORAL:
        k = epochs.ch_names.index(name)
        _, clusters, p_values, _ = mne.stats.permutation_cluster_test(
            [data[target, k], data[~target, k]], n_permutations=N_PERMUTATIONS, rng=0,
            out_type="mask", verbose="error")  # F test per sample, as in the data's README
        difference = data[target, k].mean(axis=0) - data[~target, k].mean(axis=0)
        clusters = [np.isin(np.arange(len(epochs.times)), np.arange(len(epochs.times))[c])
                    for c in clusters]  # MNE gives slices for one channel
        negative = [c for c, p in zip(clusters, p_values)
                    if p < 0.05 and difference[c].mean() < 0
                    and WINDOW[0] <= epochs.times[c].mean() <= WINDOW[1]]
        assert negative, name
        ours_mask = ours.mask[test.ch_names.index(name)] & (effect[test.ch_names.index(name)] < 0)
        overlap = negative[0] & ours_mask
        assert overlap.sum() >= 5, (name, epochs.times[negative[0]][[0, -1]])


@pytest.mark.slow
def test_demo_on_real_eeg_runs_the_whole_pipeline(tmp_path):
    from perceptogram.pipeline.demo import run_demo

    out = tmp_path / "demo"
    result = run_demo(out, data="p300", jobs=2)
    assert result.report.is_file()
    summary = json.loads((out / "interpret" / "sub-01" / "summary.json").read_text())
    assert summary["units"] == "µV (recorded in volts)"
    semantic = summary["maps"]["semantic: target − other [eeg]"]
    assert semantic["n_significant_clusters"] >= 1 and semantic["cluster_min_p"] < 0.01
    for name in ("brightness: bright − dark [eeg]", "texture: textured − smooth [eeg]"):
        assert summary["maps"][name]["n_significant_clusters"] == 0, name
    with np.load(out / "interpret" / "sub-01" / "maps.npz") as maps:
        effect, mask = maps["semantic_effect"], maps["semantic_mask"]
        times, names = maps["times"], list(maps["ch_names"])
    window = (times >= WINDOW[0]) & (times <= WINDOW[1])
    for name in TEMPORAL:
        k = names.index(name)
        assert (mask[k] & window & (effect[k] < 0)).any(), name
    dataset = json.loads((out / "data" / "dataset.json").read_text())
    assert dataset["summary"]["unit"] == "V"
    # the report says what N counts (156 rows of 8 images), and its retrieval examples
    # rank distinct images as the metrics do
    from perceptogram.pipeline.demo import demo_config
    from perceptogram.pipeline.reporting import _image_ranks
    from perceptogram.pipeline.rundir import RunDir

    page = result.report.read_text(encoding="utf-8")
    assert "<td>156 rows</td>" in page and "8-way (distinct images)" in page
    assert "156 test rows of 8 distinct images" in page
    assert "the 5 most similar of the 8 distinct test images" in page
    rows = json.loads((out / "report" / "metrics.json").read_text())
    top1 = next(r["value"] for r in rows if r["method"] == "ridge → pca latents"
                and r["metric"] == "top-1 (cosine)" and r["subject"] == 1)
    ranks = _image_ranks(demo_config(out, data="p300"), RunDir(out), 1, "pca")
    assert ranks.shape == (8, 5) and np.mean(ranks[:, 0] == np.arange(8)) == top1
