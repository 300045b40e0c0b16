"""Leave-one-subject-out decoding, noise ceilings and repetition curves through the pipeline.

Three simulated subjects see the same sources through their own channel mixing
(``subject_mixing``): decoders pooled over the other subjects lose most of the
signal without alignment and recover it with it. The held-out subject's test EEG
never reaches a fitted file (changed on disk, every decoder stays byte-identical).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from typer.testing import CliRunner

from perceptogram.config import make_config
from perceptogram.evaluate.tables import load_table
from perceptogram.pipeline.plan import cross_subject_method
from perceptogram.pipeline.rundir import RunDir
from perceptogram.pipeline.runner import run_pipeline
from perceptogram.pipeline.stages import PIPELINE

SUBJECTS = (1, 2, 3)
SPACE = "attributes"
#: Three subjects, each seeing the sources through its own channel mixing.
SIMULATION = dict(n_subjects=3, n_train_concepts=30, images_per_concept=4, n_test_concepts=30,
                  n_train_repetitions=2, n_test_repetitions=10, image_size=64,
                  subject_mixing=2.0, subject_noise_spread=0.2, seed=3)


def _config(out, data, **evaluation):
    # The data lie outside the run (read as THINGS-EEG2), so that a change to them is
    # an input change; a simulation inside the run would be restored as its output.
    return make_config(
        dataset={"kind": "things-eeg2", "path": str(data)},
        tmin=0.06, tmax=0.22,
        latents={"spaces": [SPACE]}, decoder={"cv": "group", "n_splits": 3},
        reconstruction={"methods": ["retrieval"], "retrieval_space": SPACE},
        metrics={"networks": [], "n_boot": 50, "n_permutations": 50},
        interpretability={"space": SPACE, "figure_formats": ["png"]},
        evaluation={"ceiling_splits": 10, "repetition_draws": 2,
                    "cross_subject": {"enabled": True}, **evaluation},
        output=str(out), jobs=1)


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """Data, features and cross-subject units of the mixed heads (the within-subject stages
    and the report are tested on the tiny demo)."""
    from perceptogram.data.simulate.dataset import simulate_dataset

    folder = tmp_path_factory.mktemp("cross")
    config = _config(folder / "run", simulate_dataset(folder / "things", **SIMULATION))
    run_pipeline(config, PIPELINE, until="cross-subject")
    return config


def _rows(config, stage, space=None):
    run_dir = RunDir(config.output)
    return [row for s in SUBJECTS
            for row in load_table(run_dir.unit_dir(stage, s, space) / "metrics.json")]


def _values(rows, method, metric):
    return {r.subject: r.value for r in rows if r.method == method and r.metric == metric}


def test_alignment_recovers_across_subject_decoding_end_to_end(mixed_run):
    config = mixed_run
    rows = _rows(config, "cross-subject")
    across, aligned = (cross_subject_method(config, SPACE, p) for p in ("across", "aligned"))
    assert aligned.endswith("leave-one-subject-out (procrustes on channels)")
    r = {m: _values(rows, m, "latent r") for m in (across, aligned)}
    two_way = {m: _values(rows, m, "latent two-way") for m in (across, aligned)}
    assert set(r[across]) == set(r[aligned]) == set(SUBJECTS)
    # every held-out subject is decoded better once the heads are aligned
    assert all(r[aligned][s] > r[across][s] for s in SUBJECTS)
    assert np.mean(list(r[aligned].values())) > np.mean(list(r[across].values())) + 0.05
    assert np.mean(list(two_way[aligned].values())) > np.mean(list(two_way[across].values()))
    # each decoder's ceiling is beside its score, and above it
    for method in (across, aligned):
        ceiling = _values(rows, method, "latent r ceiling")
        assert all(r[method][s] < ceiling[s] <= 1.0 for s in SUBJECTS)


def test_held_out_decoders_are_files_that_decode_what_the_rows_score(mixed_run):
    from perceptogram.linear.io import load_model
    from perceptogram.pipeline.across_subjects import unscaled
    from perceptogram.pipeline.artifacts import load_eeg_features

    run_dir = RunDir(mixed_run.output)
    folder = run_dir.unit_dir("cross-subject", 2) / "aligned"
    model = load_model(folder / SPACE / "decoder.safetensors")
    assert type(model).__name__ == "PooledRidgeCV"
    assert model.metadata_["metadata"]["training_subjects"] == [1, 3]
    with np.load(folder / "feature_map.npz") as saved:
        mean, scale, matrix = saved["mean"], saved["scale"], saved["matrix"]
    assert matrix.shape == (17, 17) and np.allclose(matrix @ matrix.T, np.eye(17), atol=1e-5)
    _, test = load_eeg_features(run_dir.unit_dir("features", 2) / "eeg.npz")
    X = unscaled(test) - mean
    aligned = np.einsum("nct,cd->ndt", X.reshape(len(X), 17, -1), matrix).reshape(len(X), -1)
    decoded = np.load(folder / SPACE / "decoded.npy")
    np.testing.assert_allclose(model.predict(aligned / scale), decoded, rtol=1e-4, atol=1e-4)


def test_report_puts_within_and_across_beside_their_ceilings_and_published_rows(mixed_run):
    from perceptogram.evaluate.noise_ceiling import NO_CEILING
    from perceptogram.pipeline.evaluation_report import ACROSS_COMPARISON, evaluation_report
    from perceptogram.report import ReportContent, render_report

    config = mixed_run
    run_dir = RunDir(config.output)
    rows = _rows(config, "cross-subject")
    result = evaluation_report(config, run_dir, list(SUBJECTS), rows, [1], SPACE,
                               "simulated EEG", write_tables=False)
    across = result.comparisons[ACROSS_COMPARISON]
    published = [row for row in across if not row.ours]
    assert [(row.method, row.values["top-1 (cosine)"]) for row in published] == [
        ("SUP-MCRL", pytest.approx(0.24))]
    assert all("leave-one-subject-out" in row.method for row in across if row.ours)
    table = result.section.tables[0]
    labels = [heading for _, heading in table.columns]
    assert labels[3:] == ["within-subject (mean ± SEM)", "its ceiling",
                          "leave-one-subject-out (no alignment) (mean ± SEM)", "its ceiling",
                          "leave-one-subject-out (procrustes on channels) (mean ± SEM)",
                          "its ceiling"]
    by_metric = {record["metric"]: record for record in table.records}
    # the within column has no rows here (no evaluate stage): nothing is invented
    assert by_metric["latent r"]["within-subject"] == (None, None)
    assert by_metric["latent two-way"]["leave-one-subject-out (no alignment) ceiling"] \
        == NO_CEILING
    page = render_report(ReportContent(title="t", settings={}, metrics=rows,
                                       comparisons=result.comparisons,
                                       evaluation=result.section))
    section = page[page.index('id="subjects-and-noise"'):]
    assert NO_CEILING in section and "leave-one-subject-out (no alignment)" in section
    assert "Its test data enter no fit" in section


def test_cross_subject_refuses_a_single_subject(tmp_path):
    from perceptogram.cli import app

    config = _config(tmp_path / "run", tmp_path / "things").model_dump(mode="json")
    config["subjects"] = [1]
    path = tmp_path / "one.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["cross-subject", str(path)])
    assert result.exit_code == 1
    assert "evaluation.cross_subject needs at least 2 subjects" in result.output
    assert "list 2 or more in 'subjects'" in " ".join(result.output.split())


def _digests(folder):
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*"))
            if path.name.startswith(("decoder.", "feature_map."))}


def test_held_out_test_eeg_changes_no_fitted_file(mixed_run):
    """Run last in this module: it changes sub-01's test EEG on disk."""
    from perceptogram.data.formats.safe_pickle import safe_load_pickled_dict

    config = mixed_run
    run_dir = RunDir(config.output)
    folder = run_dir.unit_dir("cross-subject")
    before = _digests(folder)
    assert len(before) == 3 * 2 * 3  # subjects x protocols x (decoder, metadata, map)
    decoded = np.load(run_dir.unit_dir("cross-subject", 1) / "aligned" / SPACE / "decoded.npy")
    path = config.data_root() / "sub-01" / "preprocessed_eeg_test.npy"
    content = safe_load_pickled_dict(path)
    rng = np.random.default_rng(7)
    content["preprocessed_eeg_data"] = rng.standard_normal(
        content["preprocessed_eeg_data"].shape)
    with open(path, "wb") as fh:
        np.save(fh, np.array(content, dtype=object), allow_pickle=True)
    summary = run_pipeline(config, PIPELINE, until="cross-subject")
    assert {"data", "features[sub-01]", "cross-subject[sub-01]"} <= set(summary.computed)
    assert _digests(folder) == before
    # the new test data did reach what is decoded and scored
    changed = np.load(run_dir.unit_dir("cross-subject", 1) / "aligned" / SPACE / "decoded.npy")
    assert not np.allclose(changed, decoded)


def test_rows_that_show_one_image_pool_their_trials():
    from perceptogram.pipeline.reliability import pool_trials

    trials = np.arange(4 * 3 * 2, dtype=float).reshape(4, 3, 2)
    counts = np.array([3, 2, 1, 3])
    pooled, pooled_counts, images = pool_trials(trials, counts, ["b", "a", "b", "c"])
    assert images == ["b", "a", "c"] and pooled_counts.tolist() == [4, 2, 3]
    np.testing.assert_array_equal(pooled[0], np.concatenate([trials[0], trials[2, :1]]))
    assert np.isnan(pooled[1, 2:]).all() and np.isnan(pooled[2, 3:]).all()
    same, same_counts, _ = pool_trials(trials, counts, ["a", "b", "c", "d"])
    assert same is trials and same_counts is counts


def test_repetition_table_never_averages_a_level_over_fewer_subjects():
    from perceptogram.pipeline.evaluation_report import _curve_table

    records = [{"subject": s, "metric": "top-1", "n_repetitions": k, "mean_used": min(k, n),
                "value": v}
               for s, n, values in ((1, 10, {1: .1, 2: .2, 4: .3, 8: .4, 10: .5}),
                                    (2, 20, {1: .3, 2: .4, 4: .5, 8: .6, 16: .7, 20: .8}))
               for k, v in values.items()]
    table = _curve_table("pca", records)
    rows = {r["n_repetitions"]: r for r in table.records}
    assert list(rows) == ["1", "2", "4", "8", "all"]  # 10 and 16, 20: one subject only
    assert rows["all"]["top-1"] == (pytest.approx(0.65), pytest.approx(0.15))
    assert rows["all"]["mean_used"][0] == pytest.approx(15)  # 10 and 20: mean ± SEM
    assert rows["4"]["mean_used"] == "4"  # the same count for every subject: one number
    assert rows["1"]["top-1"][0] == pytest.approx(0.2)
