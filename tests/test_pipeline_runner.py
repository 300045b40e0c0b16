"""The stage runner and run-directory bookkeeping, with small stages of our own."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perceptogram.config import make_config
from perceptogram.pipeline.rundir import RunDir, Unit
from perceptogram.pipeline.runner import Pipeline, Stage, default_jobs, run_pipeline

CALLS: list[str] = []


def _make(config, subject, space, run_dir):
    CALLS.append(f"make[{subject}/{space}]")
    out = run_dir.unit_dir("make", subject, space)
    np.save(out / "x.npy", np.arange(5) * (subject or 1) + config.seed)


def _double(config, subject, space, run_dir):
    CALLS.append(f"double[{subject}/{space}]")
    x = np.load(run_dir.unit_dir("make", subject, None) / "x.npy")
    np.save(run_dir.unit_dir("double", subject, space) / "y.npy", 2 * x + len(space))


def _total(config, subject, space, run_dir):
    CALLS.append("total")
    total = sum(float(np.load(p).sum()) for p in sorted(run_dir.root.glob("double/*/*/y.npy")))
    (run_dir.unit_dir("total") / "total.json").write_text(json.dumps({"total": total}))


def _toy(spaces=("a", "bb")) -> Pipeline:
    """setup (run level, after which the subjects are known) -> make -> double -> total."""
    return Pipeline(
        stages=(
            Stage("setup", _setup, lambda c, subs: [(None, None)], lambda c, s, sp: {}),
            Stage("make", _make, lambda c, subs: [(s, None) for s in subs],
                  lambda c, s, sp: {"seed": c.seed}, requires=("setup",)),
            Stage("double", _double, lambda c, subs: [(s, sp) for s in subs for sp in spaces],
                  lambda c, s, sp: {}, requires=("make",)),
            Stage("total", _total, lambda c, subs: [(None, None)], lambda c, s, sp: {},
                  requires=("double",)),
        ),
        subjects=lambda c, rd: [1, 2],
    )


def _expected_total(seed=0):
    return sum(float((2 * (np.arange(5) * s + seed) + len(sp)).sum())
               for s in (1, 2) for sp in ("a", "bb"))


def _setup(config, subject, space, run_dir):
    CALLS.append("setup")
    (run_dir.unit_dir("setup") / "ok.txt").write_text("ok")


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def _total_of(tmp_path):
    return json.loads((tmp_path / "total" / "total.json").read_text())["total"]


def test_second_run_skips_everything(tmp_path):
    config = make_config(output=tmp_path)
    first = run_pipeline(config, _toy(), jobs=1)
    assert sorted(CALLS) == sorted(["setup", "make[1/None]", "make[2/None]", "double[1/a]",
                                    "double[1/bb]", "double[2/a]", "double[2/bb]", "total"])
    # (0..4)*1 and (0..4)*2 -> sums 10 and 20; doubled plus len(space) * 5 values
    assert _total_of(tmp_path) == _expected_total()
    CALLS.clear()
    second = run_pipeline(config, _toy(), jobs=1)
    assert CALLS == []
    assert sorted(second.skipped) == sorted(first.computed)
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert set(timings["stages_s"]) == {"setup", "make", "double", "total"}


def test_timings_record_each_units_cpu_time(tmp_path):
    config = make_config(output=tmp_path)
    summary = run_pipeline(config, _toy(), jobs=1)
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert set(timings["units_cpu_s"]) == set(summary.computed)
    for label, cpu in timings["units_cpu_s"].items():
        assert set(cpu) == {"user", "sys"} and min(cpu.values()) >= 0.0
        assert timings["units_s"][label] >= 0.0


def test_changed_setting_recomputes_only_dependents(tmp_path):
    run_pipeline(make_config(output=tmp_path), _toy(), jobs=1)
    before = (tmp_path / "setup" / "manifest.json").stat().st_mtime_ns
    CALLS.clear()
    run_pipeline(make_config(output=tmp_path, seed=3), _toy(), jobs=1)
    assert "setup" not in CALLS
    assert (tmp_path / "setup" / "manifest.json").stat().st_mtime_ns == before
    assert {"make[1/None]", "make[2/None]", "total"} <= set(CALLS)
    assert _total_of(tmp_path) == _expected_total(seed=3)


def test_force_recomputes_stage_and_downstream(tmp_path):
    config = make_config(output=tmp_path)
    run_pipeline(config, _toy(), jobs=1)
    CALLS.clear()
    summary = run_pipeline(config, _toy(), force=["double"], jobs=1)
    assert sorted(CALLS) == sorted(["double[1/a]", "double[1/bb]", "double[2/a]",
                                    "double[2/bb]", "total"])
    assert all(label.startswith(("make", "setup")) for label in summary.skipped)


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    config = make_config(output=tmp_path / "run")
    reference = make_config(output=tmp_path / "reference")
    run_pipeline(reference, _toy(), jobs=1)

    def explode(config, subject, space, run_dir):
        if subject == 2 and space == "bb":
            raise KeyboardInterrupt
        _double(config, subject, space, run_dir)

    broken = _toy()
    setup, make, double, total = broken.stages
    broken = Pipeline(stages=(setup, make, Stage("double", explode, double.units,
                                                 double.settings, requires=("make",)), total),
                      subjects=broken.subjects)
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config, broken, jobs=1)
    assert not (tmp_path / "run" / "double" / "sub-02" / "bb" / "manifest.json").exists()
    CALLS.clear()
    run_pipeline(config, _toy(), jobs=1)
    assert CALLS == ["double[2/bb]", "total"]
    assert _total_of(tmp_path / "run") == _total_of(tmp_path / "reference")


def test_tampered_output_is_recomputed(tmp_path):
    config = make_config(output=tmp_path)
    run_pipeline(config, _toy(), jobs=1)
    (tmp_path / "make" / "sub-01" / "x.npy").write_bytes(b"short")
    CALLS.clear()
    run_pipeline(config, _toy(), jobs=1)
    assert "make[1/None]" in CALLS and "make[2/None]" not in CALLS


def test_manifest_records_settings_inputs_and_hashes(tmp_path):
    config = make_config(output=tmp_path, seed=7)
    run_pipeline(config, _toy(), jobs=1)
    rd = RunDir(tmp_path)
    manifest = rd.read_manifest(Unit("double", 1, "a"))
    assert manifest["inputs"] == {"make[sub-01]": rd.digest(Unit("make", 1))}
    assert set(manifest["outputs"]) == {"y.npy"}
    import hashlib

    data = (tmp_path / "double" / "sub-01" / "a" / "y.npy").read_bytes()
    assert manifest["outputs"]["y.npy"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert rd.read_manifest(Unit("make", 1))["settings"] == {"seed": 7}


def test_until_runs_only_needed_stages(tmp_path):
    summary = run_pipeline(make_config(output=tmp_path), _toy(), until="make", jobs=1)
    assert set(CALLS) == {"setup", "make[1/None]", "make[2/None]"}
    assert set(summary.stage_seconds) == {"setup", "make"}


def test_unknown_stage_is_a_clear_error(tmp_path):
    from perceptogram.errors import PerceptogramError

    with pytest.raises(PerceptogramError, match="unknown stage 'fitt'.*setup, make, double, total"):
        run_pipeline(make_config(output=tmp_path), _toy(), force=["fitt"], jobs=1)


def test_stage_order_is_checked():
    stage = _toy().stages[2]
    with pytest.raises(ValueError, match="requires"):
        Pipeline(stages=(stage,), subjects=lambda c, rd: [1])


@pytest.mark.parametrize(
    ("n_units", "per_unit", "memory", "cpus", "expected"),
    [(4, 1 << 30, 16 << 30, 2, 2),   # CPU-bound
     (4, 4 << 30, 16 << 30, 8, 2),   # memory-bound: half of 16 GiB / 4 GiB
     (1, 1 << 20, 16 << 30, 8, 1),   # one unit
     (4, 64 << 30, 16 << 30, 8, 1)],  # never below one
)
def test_default_jobs(n_units, per_unit, memory, cpus, expected):
    assert default_jobs(n_units, per_unit, memory=memory, n_cpus=cpus) == expected


def test_waves_run_each_stage_as_late_as_its_readers_allow():
    """Stages that only the last stage reads share one wave; a stage that is not
    parallel runs alone; every stage runs after what it requires."""
    from perceptogram.pipeline.stages import PIPELINE

    waves = [[stage.name for stage in wave] for wave in PIPELINE.waves(PIPELINE.names)]
    assert waves == [["data"], ["features"], ["fit"], ["predict"], ["reconstruct"],
                     ["evaluate", "reliability", "repetitions", "cross-subject", "interpret"],
                     ["report"]]
    position = {name: i for i, wave in enumerate(waves) for name in wave}
    for stage in PIPELINE.stages:
        assert all(position[r] < position[stage.name] for r in stage.requires)
    assert [[s.name for s in w] for w in PIPELINE.waves(PIPELINE.upstream("interpret"))] == [
        ["data"], ["features"], ["fit"], ["predict"], ["interpret"]]

    def noop(config, subject, space, run_dir):
        pass

    def units(c, subs):
        return [(None, None)]

    def settings(c, s, sp):
        return {}

    toy = Pipeline(stages=(Stage("a", noop, units, settings),
                           Stage("b", noop, units, settings, requires=("a",)),
                           Stage("c", noop, units, settings, requires=("a",), parallel=False),
                           Stage("d", noop, units, settings, requires=("b", "c"))),
                   subjects=lambda c, rd: [])
    assert [[s.name for s in w] for w in toy.waves(toy.names)] == [["a"], ["c"], ["b"], ["d"]]


def _copy(config, subject, space, run_dir):
    CALLS.append(f"copy[{subject}/{space}]")
    x = np.load(run_dir.unit_dir("make", subject, None) / "x.npy")
    np.save(run_dir.unit_dir("copy", subject, space) / "x.npy", x)


def test_stages_of_one_wave_run_together_and_are_timed(tmp_path):
    """Two stages that only the last one reads run in one wave, the costlier one's units
    first; the summary and timings.json record the wave, each stage's time within it and
    the run's wall time."""
    config = make_config(output=tmp_path)
    spaces = ("a", "bb")

    def units(c, subs):
        return [(s, sp) for s in subs for sp in spaces]

    pipeline = Pipeline(
        stages=(
            Stage("setup", _setup, lambda c, subs: [(None, None)], lambda c, s, sp: {}),
            Stage("make", _make, lambda c, subs: [(s, None) for s in subs],
                  lambda c, s, sp: {"seed": c.seed}, requires=("setup",)),
            Stage("double", _double, units, lambda c, s, sp: {}, requires=("make",)),
            Stage("copy", _copy, units, lambda c, s, sp: {}, requires=("make",), cost=3.0),
            Stage("total", _total, lambda c, subs: [(None, None)], lambda c, s, sp: {},
                  requires=("double", "copy")),
        ),
        subjects=lambda c, rd: [1, 2],
    )
    summary = run_pipeline(config, pipeline, jobs=1)
    assert _total_of(tmp_path) == _expected_total()
    assert [names for names, _ in summary.waves] == [["setup"], ["make"], ["double", "copy"],
                                                     ["total"]]
    wave_calls = [c for c in CALLS if c.startswith(("double", "copy"))]
    assert wave_calls == [f"{stage}[{s}/{sp}]" for stage in ("copy", "double")
                          for s in (1, 2) for sp in spaces]
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert [w["stages"] for w in timings["waves"]] == [names for names, _ in summary.waves]
    assert summary.total_seconds == pytest.approx(sum(s for _, s in summary.waves), abs=2e-3)
    assert timings["total_s"] == summary.total_seconds
    for name in ("double", "copy"):
        assert 0.0 <= summary.stage_seconds[name] <= summary.waves[2][1] + 1e-3
