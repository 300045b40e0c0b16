"""Attacks on the run directory, the configuration, names used as paths and text.

Each test is an attack a hostile or careless user could make (a crafted
configuration, a received run directory, a symlink, a planted temp file, text
with markup or TeX in it) and checks that it is refused with one clear sentence
and that nothing outside what Perceptogram created is touched.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

from perceptogram._owned import MARKER, NotOwnedError, mark_owned
from perceptogram._text import for_html, for_matplotlib, for_rich, for_terminal
from perceptogram.cli import app
from perceptogram.cli._common import friendly_errors
from perceptogram.config import ConfigError, load_config, make_config
from perceptogram.errors import PerceptogramError
from perceptogram.pipeline.rundir import RunDir, RunLockedError, Unit
from perceptogram.pipeline.runner import Pipeline, Stage, run_pipeline

SRC = Path(__file__).resolve().parents[1] / "src"
cli = CliRunner()


# --------------------------------------------------------------------------- helpers
def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links not followed) -> its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _victim(tmp_path: Path, name: str = "victim") -> Path:
    victim = tmp_path / name
    (victim / "data").mkdir(parents=True)
    (victim / "data" / "eeg.npy").write_bytes(b"precious EEG")
    (victim / "report").mkdir()
    (victim / "report" / "paper.tex").write_text("precious draft")
    (victim / "config.yaml").write_text("# the user's own config\n")
    return victim


def _write(config: Path, text: str) -> Path:
    config.write_text(textwrap.dedent(text))
    return config


def _setup(config, subject, space, run_dir):
    (run_dir.unit_dir("setup") / "ok.txt").write_text("ok")


def _make(config, subject, space, run_dir):
    np.save(run_dir.unit_dir("make", subject, space) / "x.npy", np.arange(50.0) * subject)


def _toy() -> Pipeline:
    return Pipeline(
        stages=(Stage("setup", _setup, lambda c, subs: [(None, None)], lambda c, s, sp: {}),
                Stage("make", _make, lambda c, subs: [(s, None) for s in subs],
                      lambda c, s, sp: {}, requires=("setup",))),
        subjects=lambda c, rd: [1, 2],
    )


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error:"), result.output
    assert "Internal error" not in result.output and "Traceback" not in result.output
    return lines[0]


# ------------------------------------------------------------- 1. output folders
def test_run_into_a_users_folder_is_refused_and_nothing_is_touched(tmp_path):
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    with pytest.raises(NotOwnedError, match="not empty and was not created by Perceptogram"):
        run_pipeline(make_config(jobs=1, output=victim), _toy())
    assert _snapshot(victim) == before and not (victim / MARKER).exists()


def test_cli_run_and_demo_into_a_users_folder_exit_1_untouched(tmp_path):
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    config = _write(tmp_path / "c.yaml", f"output: {victim}\n")
    line = _one_error_line(cli.invoke(app, ["run", str(config)]))
    assert "choose a new or empty folder" in line
    _one_error_line(cli.invoke(app, ["demo", "--out", str(victim), "--size", "tiny"]))
    assert _snapshot(victim) == before


@pytest.mark.parametrize("output, what", [
    ("/", "filesystem root"), ("", "is empty"), (".", "working directory"),
    ("~", "not expanded"), ("~/runs", "not expanded"), ("HOME", "home folder"),
])
def test_dangerous_output_locations_are_refused(tmp_path, monkeypatch, output, what):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    config = make_config(jobs=1, output=str(tmp_path / "home") if output == "HOME" else output)
    if output == "":  # pydantic turns "" into Path("."), refused as the working directory
        with pytest.raises(PerceptogramError, match="working directory"):
            run_pipeline(config, _toy())
        config = config.model_copy(update={"output": ""})
    with pytest.raises(PerceptogramError, match=what):
        run_pipeline(config, _toy())
    assert not list(tmp_path.rglob(MARKER))


def test_output_inside_or_above_a_real_dataset_is_refused(tmp_path):
    data = _victim(tmp_path, "proj") / "data"
    before = _snapshot(tmp_path / "proj")
    for output, what in ((tmp_path / "proj", "contains the dataset"),
                         (data / "run", "inside the dataset"), (data, "inside the dataset")):
        config = make_config(jobs=1, output=output, dataset={"kind": "things-eeg2", "path": data})
        with pytest.raises(PerceptogramError, match=what):
            run_pipeline(config, _toy())
    assert _snapshot(tmp_path / "proj") == before


def test_output_that_is_a_symlink_a_file_or_another_kind_of_folder_is_refused(tmp_path):
    victim = tmp_path / "empty-victim"
    victim.mkdir()
    (tmp_path / "link").symlink_to(victim, target_is_directory=True)
    (tmp_path / "file").write_text("x")
    cache = mark_owned(tmp_path / "cache", "cache")
    for output, what in ((tmp_path / "link", "not a folder"), (tmp_path / "file", "not a folder"),
                         (cache, "cache folder, not a run directory")):
        with pytest.raises(NotOwnedError, match=what):
            run_pipeline(make_config(jobs=1, output=output), _toy())
    assert list(victim.iterdir()) == []


def test_a_marker_that_is_a_symlink_does_not_make_a_folder_ours(tmp_path):
    real = mark_owned(tmp_path / "real", "run")
    victim = _victim(tmp_path)
    (victim / MARKER).symlink_to(real / MARKER)
    before = _snapshot(victim)
    with pytest.raises(NotOwnedError, match="not empty"):
        run_pipeline(make_config(jobs=1, output=victim), _toy())
    assert _snapshot(victim) == before


def test_symlinked_stage_folder_in_a_received_run_is_not_followed(tmp_path):
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    # a whole stage folder pointing at the victim: clearing a unit would reach it
    os.rename(out / "make", tmp_path / "make-old")
    (out / "make").symlink_to(victim, target_is_directory=True)
    with pytest.raises(NotOwnedError, match="make is a symbolic link inside the run directory"):
        run_pipeline(make_config(jobs=1, output=out), _toy(), force=["make"])
    with pytest.raises(NotOwnedError, match="leads outside the run directory"):
        RunDir(out).clear(Unit("make", 1))  # the unit-level guard holds on its own too
    assert _snapshot(victim) == before
    # a unit folder that is itself a link: refused too, its target untouched
    (out / "make").unlink()
    os.rename(tmp_path / "make-old", out / "make")
    os.rename(out / "make" / "sub-01", tmp_path / "sub-01-old")
    (out / "make" / "sub-01").symlink_to(victim, target_is_directory=True)
    with pytest.raises(NotOwnedError, match="sub-01 is a symbolic link"):
        run_pipeline(make_config(jobs=1, output=out), _toy())
    assert _snapshot(victim) == before and (out / "make" / "sub-01").is_symlink()


@pytest.mark.parametrize("kind", ["symlink", "dir", "fifo"])
def test_lock_file_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / ".lock").unlink()
    {"symlink": lambda p: p.symlink_to(victim), "dir": Path.mkdir,
     "fifo": os.mkfifo}[kind](out / ".lock")
    with pytest.raises(NotOwnedError, match="not a regular file"):
        run_pipeline(make_config(jobs=1, output=out), _toy())
    assert victim.read_text() == "precious"


def test_received_manifest_cannot_point_outside_its_unit(tmp_path):
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    victim = _victim(tmp_path)
    manifest_path = out / "setup" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["outputs"] = {"../../victim/data/eeg.npy": {"sha256": "0" * 64, "size": 12}}
    manifest_path.write_text(json.dumps(manifest))
    run_dir = RunDir(out)
    assert run_dir.check(Unit("setup"), manifest["key"]) == "its manifest is damaged"
    summary = run_pipeline(make_config(jobs=1, output=out), _toy())
    assert "setup" in summary.computed and (victim / "data" / "eeg.npy").exists()


def test_symlinked_files_at_the_run_root_are_refused_not_followed(tmp_path):
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("config.yaml", "timings.json"):
        (out / name).unlink()
        (out / name).symlink_to(victim)
        with pytest.raises(NotOwnedError, match=f"{name} is a symbolic link"):
            run_pipeline(make_config(jobs=1, output=out), _toy())
        assert victim.read_text() == "precious"
        (out / name).unlink()
    run_pipeline(make_config(jobs=1, output=out), _toy())
    assert load_config(out / "config.yaml")


@pytest.mark.parametrize("manifest", [
    b"\xff\xfe not utf-8", b"[1, 2, 3]", b"[" * 100_000 + b"]" * 100_000, b"{}",
    b'{"key": "K", "outputs": {}}', "SPARSE",
])
def test_damaged_or_huge_manifests_mean_recompute(tmp_path, manifest):
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    path = out / "setup" / "manifest.json"
    key = json.loads(path.read_text())["key"]
    if manifest == "SPARSE":  # 4 GiB that takes no disk space
        with open(path, "wb") as fh:
            fh.truncate(4 << 30)
    else:
        path.write_bytes(manifest.replace(b"K", key.encode()))
    assert RunDir(out).check(Unit("setup"), key) is not None
    summary = run_pipeline(make_config(jobs=1, output=out), _toy())
    assert "setup" in summary.computed


@pytest.mark.parametrize("marker", ["dir", "garbage", "list"])
def test_a_damaged_marker_does_not_make_a_folder_ours(tmp_path, marker):
    victim = _victim(tmp_path)
    if marker == "dir":
        (victim / MARKER).mkdir()
    else:
        (victim / MARKER).write_text("\x00garbage" if marker == "garbage" else '["run"]')
    before = _snapshot(victim)
    with pytest.raises(NotOwnedError, match="not empty"):
        run_pipeline(make_config(jobs=1, output=victim), _toy())
    assert _snapshot(victim) == before


@pytest.mark.parametrize("target", ["victim", "file"])
def test_simulating_into_a_users_folder_is_refused(tmp_path, target):
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    path = victim if target == "victim" else victim / "config.yaml"
    config = make_config(jobs=1, output=tmp_path / "run", dataset={"path": path})
    with pytest.raises(PerceptogramError, match="refusing to write|is a file"):
        run_pipeline(config, PIPELINE_DATA_ONLY())
    assert _snapshot(victim) == before


def PIPELINE_DATA_ONLY() -> Pipeline:  # noqa: N802 - reads like the constant it slices
    from perceptogram.pipeline.stages import PIPELINE

    return Pipeline(PIPELINE.stages[:1], lambda c, rd: [1])


@pytest.mark.parametrize("output, words", [
    ("run\0x", "not valid yaml"), ("run\\0x", "null"), ("a" * 300 + "/b", "too long"),
])
def test_impossible_output_names_are_one_clear_error(tmp_path, output, words):
    config = tmp_path / "c.yaml"
    config.write_text(f'output: "{tmp_path}/{output}"\n')
    line = _one_error_line(cli.invoke(app, ["run", str(config)]))
    assert words in line.lower()


def test_simulated_dataset_outside_the_run_is_marked_and_swapped_safely(tmp_path):
    from perceptogram.data.simulate.dataset import simulate_dataset

    sizes = dict(n_subjects=1, n_train_concepts=2, images_per_concept=1, n_test_concepts=2,
                 n_train_repetitions=1, n_test_repetitions=1, image_size=64,
                 write_images=False)
    root = simulate_dataset(tmp_path / "sims" / "things", **sizes)
    assert (root / MARKER).is_file()
    simulate_dataset(root, seed=1, overwrite=True, **sizes)
    assert sorted(p.name for p in (tmp_path / "sims").iterdir()) == ["things"]


# ------------------------------------------------------------ 2. names used as paths
@pytest.mark.parametrize("section, value", [
    ({"latents": {"spaces": ["effnet", "pca", "VICTIM"]}}, None),
    ({"latents": {"spaces": ["effnet", "pca", "../../victim"]}}, None),
    ({"latents": {"spaces": ["effnet", "pca", ".."]}}, None),
    ({"latents": {"spaces": ["effnet", "pca", "pca/../../x"]}}, None),
    ({"latents": {"spaces": ["effnet", "pca", "pca\x00"]}}, None),
    ({"latents": {"spaces": ["effnet", "pca", " pca"]}}, None),
    ({"latents": {"spaces": ["effnet", "pca", ""]}}, None),
    ({"latents": {"spaces": ["effnet", "pca"], "options": {"../x": {}}}}, None),
    ({"reconstruction": {"methods": ["pca"], "retrieval_space": "../../victim"}}, None),
    ({"interpretability": {"space": "../../victim"}}, None),
    ({"metrics": {"networks": ["../../victim"]}}, None),
    ({"reconstruction": {"methods": ["../victim"]}}, None),
    ({"interpretability": {"attributes": ["../victim"]}}, None),
    ({"subjects": [0]}, None), ({"subjects": [-1]}, None), ({"subjects": [10 ** 9]}, None),
])
def test_names_that_would_become_paths_are_refused_at_load(tmp_path, section, value):
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    text = yaml.safe_dump({"output": str(tmp_path / "run"), **section})
    text = text.replace("VICTIM", str(victim))
    config = tmp_path / "c.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError):
        load_config(config)
    line = _one_error_line(cli.invoke(app, ["run", str(config)]))
    assert "invalid configuration" in line.lower()
    assert not (tmp_path / "run").exists() and _snapshot(victim) == before


def test_checking_names_at_load_imports_no_heavy_dependency(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("latents:\n  spaces: [effnet, pca, unclip, unclip-vae]\n"
                      "metrics:\n  networks: [effnet-lite0, clip]\n")
    code = ("import sys; from perceptogram.config import load_config; "
            f"load_config({str(config)!r}); "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(SRC)}, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_report_refuses_unmarked_folders_and_checks_the_received_config(tmp_path):
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    line = _one_error_line(cli.invoke(app, ["report", str(victim)]))
    assert "is not a run directory" in line
    received = tmp_path / "received"
    run_pipeline(make_config(jobs=1, output=received), _toy())
    (received / "config.yaml").write_text(
        yaml.safe_dump({"latents": {"spaces": ["pca", "../victim"]}}))
    line = _one_error_line(cli.invoke(app, ["report", str(received)]))
    assert "latent space" in line
    assert _snapshot(victim) == before


# ------------------------------------------------------------------- 6. YAML, bounds
def test_yaml_alias_bomb_is_refused_at_once(tmp_path):
    lines = ["latents:", "  spaces: [pca]", "  options:", "    pca:",
             '      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for k in "bcdefghi":
        prev = chr(ord(k) - 1)
        lines.append(f"      {k}: &{k} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},"
                     f"*{prev},*{prev},*{prev}]")
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join(lines) + "\n")
    assert config.stat().st_size < 1000
    with pytest.raises(ConfigError, match="anchors and aliases"):
        load_config(config)


@pytest.mark.parametrize("text, match", [
    ("seed: &s 1\ntmin: *s\n", "anchors and aliases"),
    ("seed: 1\nseed: 2\n", "appears twice"),
    ("latents:\n  spaces: [pca]\n  spaces: [effnet]\n", "appears twice"),
    ("latents:\n  spaces: [pca]\n  options:\n    pca: {a: 1, a: 2}\n", "appears twice"),
    ("seed: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than"),
    ("seed: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ("seed: 1\n# \xff\n", None),
    ("? [a, b]\n: 1\n", "not valid YAML"),
    ("tmin: .nan\n", "finite number"),
    ("decoder:\n  alphas: [1.0, .inf]\n", "finite number"),
    ("interpretability:\n  encoder_alpha: .inf\n", "finite number"),
])
def test_hostile_yaml_is_one_clear_error(tmp_path, text, match):
    config = tmp_path / "c.yaml"
    config.write_bytes(text.encode("utf-8") if match else b"seed: 1\n# \xff\n")
    with pytest.raises(ConfigError, match=match or "not UTF-8"):
        load_config(config)
    _one_error_line(cli.invoke(app, ["run", str(config)]))


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "dir"])
def test_config_path_that_is_not_a_regular_file_is_refused(tmp_path, special):
    config = tmp_path / "c.yaml"
    if special == "fifo":
        os.mkfifo(config)
    elif special == "dir":
        config.mkdir()
    else:
        config.symlink_to(special)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(config)


def test_oversized_config_file_is_refused_before_parsing(tmp_path):
    config = tmp_path / "big.yaml"
    config.write_text("# " + "x" * (2 << 20) + "\nseed: 1\n")
    with pytest.raises(ConfigError, match="at most"):
        load_config(config)


@pytest.mark.parametrize("overrides", [
    {"metrics": {"n_boot": 10 ** 9}},
    {"metrics": {"n_permutations": 10 ** 9}},
    {"interpretability": {"n_permutations": 10 ** 9}},
    {"metrics": {"image_size": 10 ** 6}},
    {"reconstruction": {"unclip": {"steps": 10 ** 7}}},
    {"reconstruction": {"unclip": {"size": 10 ** 6}}},
    {"latents": {"batch_size": 10 ** 8}},
    {"dataset": {"simulation": {"image_size": 10 ** 5}}},
    {"dataset": {"simulation": {"n_subjects": 10 ** 4}}},
    {"dataset": {"simulation": {"n_train_concepts": 20_000, "images_per_concept": 100}}},
    {"dataset": {"simulation": {"n_test_concepts": 10_000, "n_test_repetitions": 1000}}},
    {"jobs": 10 ** 6},
    {"repetitions": 10 ** 9},
    {"interpretability": {"times_ms": list(range(5000))}},
])
def test_resource_settings_have_upper_bounds(overrides):
    with pytest.raises(ConfigError):
        make_config(**overrides)


# ----------------------------------------------------------- 7. stale temps, SIGKILL
_KILLABLE = '''
import os, sys, time
import numpy as np
sys.path.insert(0, {src!r})
from perceptogram.config import make_config
from perceptogram.pipeline.runner import Pipeline, Stage, run_pipeline

def setup(config, subject, space, run_dir):
    (run_dir.unit_dir("setup") / "ok.txt").write_text("ok")

def make(config, subject, space, run_dir):
    out = run_dir.unit_dir("make", subject, space)
    if subject == 2 and os.environ.get("HANG"):
        (out / ".x.npy.tmp-k1ll3d").write_bytes(b"half written")
        open(os.environ["HANG"], "w").write(str(os.getpid()))
        time.sleep(300)
    np.save(out / "x.npy", np.random.default_rng(subject).normal(size=(64, 8)))

def total(config, subject, space, run_dir):
    xs = [np.load(run_dir.unit_dir("make", s) / "x.npy") for s in (1, 2)]
    np.save(run_dir.unit_dir("total") / "sum.npy", xs[0] @ xs[1].T)

pipe = Pipeline(stages=(
    Stage("setup", setup, lambda c, s: [(None, None)], lambda c, s, sp: {{}}),
    Stage("make", make, lambda c, s: [(i, None) for i in s], lambda c, s, sp: {{}},
          requires=("setup",)),
    Stage("total", total, lambda c, s: [(None, None)], lambda c, s, sp: {{}},
          requires=("make",))), subjects=lambda c, rd: [1, 2])
run_pipeline(make_config(jobs=1, output=sys.argv[1]), pipe, jobs=1)
'''


def test_sigkilled_run_resumes_byte_identical_and_removes_its_temp_files(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(_KILLABLE.format(src=str(SRC)))
    env = {**os.environ, "PERCEPTOGRAM_QUIET": "1"}
    ready = tmp_path / "ready"
    out, reference = tmp_path / "run", tmp_path / "reference"
    proc = subprocess.Popen([sys.executable, str(script), str(out)],
                            env={**env, "HANG": str(ready)})
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the run did not reach the unit to kill"
        # the lock names the running process while it runs
        with pytest.raises(RunLockedError, match=f"PID {proc.pid}\\b"):
            run_pipeline(make_config(jobs=1, output=out), _toy())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    stale = out / "make" / "sub-02" / ".x.npy.tmp-k1ll3d"
    assert stale.exists()
    subprocess.run([sys.executable, str(script), str(out)], env=env, check=True, timeout=120)
    subprocess.run([sys.executable, str(script), str(reference)], env=env, check=True,
                   timeout=120)
    assert not stale.exists()
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    for rel in ("make/sub-01/x.npy", "make/sub-02/x.npy", "total/sum.npy"):
        assert (out / rel).read_bytes() == (reference / rel).read_bytes(), rel


def test_stale_temp_that_is_a_symlink_is_unlinked_not_followed(tmp_path):
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    (out / "make" / ".x.npy.tmp-abcdef").symlink_to(victim, target_is_directory=True)
    (out / "notes.tmp-123456").write_text("not ours to judge")  # no leading dot: kept
    run_pipeline(make_config(jobs=1, output=out), _toy())
    assert not (out / "make" / ".x.npy.tmp-abcdef").is_symlink()
    assert (out / "notes.tmp-123456").exists() and _snapshot(victim) == before


# ------------------------------------------------------------------- 8. integrity
def test_same_size_corrupted_artifact_is_recomputed_and_reported(tmp_path, monkeypatch):
    from perceptogram.pipeline import runner

    said = []
    monkeypatch.setattr(runner, "_say", said.append)
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    target = out / "make" / "sub-02" / "x.npy"
    good = target.read_bytes()
    data = bytearray(good)
    data[-8:] = np.float64(-6.8e7).tobytes()  # same size, one value changed
    target.write_bytes(bytes(data))
    summary = run_pipeline(make_config(jobs=1, output=out), _toy())
    assert summary.computed == ["make[sub-02]"] and target.read_bytes() == good
    told = [m.replace("\\", "") for m in said if "changed since it was written" in m]
    assert told == ["make[sub-02]: x.npy changed since it was written; recomputing it"]


def test_large_artifacts_are_checked_by_fingerprint(tmp_path, monkeypatch):
    from perceptogram.pipeline import rundir

    monkeypatch.setattr(rundir, "FULL_HASH_MAX_BYTES", 100)
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    manifest = yaml.safe_load((out / "make" / "sub-01" / "manifest.json").read_text())
    assert "fingerprint" in manifest["outputs"]["x.npy"]
    target = out / "make" / "sub-01" / "x.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    assert run_pipeline(make_config(jobs=1, output=out), _toy()).computed == ["make[sub-01]"]


# ------------------------------------------------------------------ 9. concurrency
def test_second_run_on_a_locked_folder_fails_at_once_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=out), _toy())
    with RunDir(out).lock():
        with pytest.raises(RunLockedError, match=f"in use by another Perceptogram run "
                                                 f"\\(PID {os.getpid()}\\)"):
            run_pipeline(make_config(jobs=1, output=out), _toy())
    run_pipeline(make_config(jobs=1, output=out), _toy())  # released


# ------------------------------------------------- 5 and 11. text and CLI errors
def _cli_error(exc: BaseException, capsys) -> tuple[int, str]:
    @friendly_errors
    def command():
        raise exc

    with pytest.raises(typer.Exit) as info:
        command()
    return info.value.exit_code, capsys.readouterr().err


@pytest.mark.parametrize("message", [
    "channel [/] is unknown", "concept [red]cat[/red] missing", "bad [link=file:///etc]x",
    "[bold", "Cz\x1b[2J\x1b]0;pwned\x07 \x9b31m\u202eevil",
])
def test_error_messages_with_markup_or_escapes_are_shown_as_written(capsys, message):
    code, err = _cli_error(PerceptogramError(message), capsys)
    assert code == 1 and "Internal error" not in err
    shown = " ".join(err.split())
    assert for_terminal(message).split()[0].lower() in shown.lower()
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", err)
    if "[" in message:
        assert "[" in err


@pytest.mark.parametrize("exc, words", [
    (PermissionError(errno.EACCES, "Permission denied", "/data/run/x.npy"),
     "permission denied: /data/run/x.npy"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/run/x.npy"),
     "disk is full"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "quota"),
    (OSError(errno.EROFS, "Read-only file system", "/mnt"), "read-only"),
    (MemoryError(), "ran out of memory"),
    (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/data/cfg"),
     "a folder is where a file was expected: /data/cfg"),
    (OSError(errno.EFBIG, "File too large", "/data/run/x.npy"), "ulimit -f"),
])
def test_machine_errors_get_their_own_sentence(capsys, exc, words):
    code, err = _cli_error(exc, capsys)
    assert code == 1 and "Internal error" not in err
    assert words in " ".join(err.split()).lower()


def test_paths_keep_their_case_and_sentences_start_upper_case(capsys):
    assert "Error: mycfg.yaml is not valid YAML." in _cli_error(
        PerceptogramError("mycfg.yaml is not valid YAML"), capsys)[1]
    assert "Error: Invalid configuration." in _cli_error(
        PerceptogramError("invalid configuration"), capsys)[1]


def test_progress_description_with_markup_does_not_crash(monkeypatch, capsys):
    from perceptogram import _progress

    monkeypatch.setenv("PERCEPTOGRAM_QUIET", "0")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    items = list(_progress.track(range(3), "concept [/] [red]x\x1b]0;t\x07"))
    assert items == [0, 1, 2]
    assert "\x1b]0;t" not in capsys.readouterr().err


def test_text_helpers():
    assert for_terminal("a\x1b[31mb\x9b1mc\x07d\re\tf\ng\u202e") == "a[31mb1mcde\tf\ng"
    assert for_rich("[red]x[/]") == "\\[red]x\\[/]"
    assert for_html('<script>"\x1b') == "&lt;script&gt;&quot;"
    assert for_matplotlib("$\\undefinedcmd$\n") == "\\$\\undefinedcmd\\$ "


def test_data_text_is_never_mathtext_or_tex_in_figures(tmp_path):
    import matplotlib
    from matplotlib.text import Text

    from perceptogram.viz import (
        plot_channel_time,
        plot_image_grid,
        plot_timecourse,
        plot_winner_take_all,
        save_figure,
    )

    evil = ["$\\undefinedcmd$", "$x^{$", "a$b"]
    times = np.array([0.0, 0.01])
    with matplotlib.rc_context({"text.usetex": True}):  # a user's matplotlibrc
        figures = [
            plot_channel_time(np.ones((1, 3, 2)), evil, times, names=[evil[0]], title=evil[1],
                              unit=evil[2]),
            plot_winner_take_all(np.zeros((3, 2), int), evil, times, evil, title=evil[0]),
            plot_image_grid({evil[0]: np.zeros((3, 8, 8, 3), np.uint8)}, column_titles=evil,
                            title=evil[1]),
            plot_timecourse(np.arange(2.0), {evil[0]: np.ones((3, 2))},
                            markers={evil[1]: 0.5}, xlabel=evil[2], ylabel=evil[0],
                            title=evil[1]),
        ]
        for i, fig in enumerate(figures):
            save_figure(fig, tmp_path / f"f{i}", formats=("png",))
    shown = {t.get_text() for fig in figures for t in fig.findobj(Text)}
    assert "$\\undefinedcmd$" not in shown and "\\$\\undefinedcmd\\$" in shown
    assert all((tmp_path / f"f{i}.png").stat().st_size > 0 for i in range(len(figures)))


def test_report_html_escapes_data_text(tmp_path):
    from perceptogram.report import ReportContent, render_report

    page = render_report(ReportContent(title="<script>alert(1)</script>\x1b]0;x\x07",
                                       settings={}, notes=["<img src=x onerror=alert(1)>"]))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page and "\x1b" not in page


# ------------------------------------------------ every deletion goes through _owned
_DELETE = re.compile(r"shutil\.rmtree|\.unlink\(|os\.remove\(|os\.unlink\(|os\.rmdir\(|"
                     r"\.rmdir\(|shutil\.move\(|os\.removedirs\(")


def test_no_deletion_outside_the_guarded_function():
    offenders = {}
    for path in sorted((SRC / "perceptogram").rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "perceptogram/_owned.py":
            continue
        hits = [n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
                if _DELETE.search(line)]
        if hits:
            offenders[rel] = hits
    assert offenders == {}, f"delete only through perceptogram._owned.remove_owned: {offenders}"


# ------------------------------------------- a refused run leaves nothing behind
def test_a_run_refused_at_its_start_leaves_no_new_folder_behind(tmp_path):
    from perceptogram.pipeline.stages import PIPELINE

    first_two = Pipeline(PIPELINE.stages[:2], PIPELINE.subjects)
    missing = make_config(jobs=1, output=tmp_path / "run1",
                          dataset={"kind": "things-eeg2", "path": tmp_path / "nowhere"})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_pipeline(missing, first_two)
    assert not (tmp_path / "run1").exists()
    tiny = {"n_subjects": 1, "n_train_concepts": 2, "images_per_concept": 1,
            "n_test_concepts": 2, "n_train_repetitions": 1, "n_test_repetitions": 1}
    wrong = make_config(jobs=1, output=tmp_path / "run2", subjects=[5],
                        dataset={"simulation": tiny})
    with pytest.raises(PerceptogramError, match=r"subjects \[5\] are not in"):
        run_pipeline(wrong, first_two)
    assert not (tmp_path / "run2").exists()
    # a folder that existed before the call (an earlier run) is kept
    run_pipeline(make_config(jobs=1, output=tmp_path / "run3"), _toy())
    with pytest.raises(FileNotFoundError):
        run_pipeline(missing.model_copy(update={"output": tmp_path / "run3"}), first_two)
    assert (tmp_path / "run3" / MARKER).is_file()


def test_free_space_message_says_why_a_tiny_file_is_refused(tmp_path, monkeypatch):
    import shutil

    from perceptogram._io import check_free_space
    from perceptogram.errors import DiskSpaceError

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1_100_000))
    with pytest.raises(DiskSpaceError, match=r"x needs 0\.004 MB but only 1\.1 MB are free in "
                                             r".* \(Perceptogram keeps 16 MB free\)"):
        check_free_space(tmp_path, 4096, "x")
