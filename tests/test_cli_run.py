"""Command line: exit codes scripts can trust, one-sentence errors, `config`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from perceptogram.cli import app
from perceptogram.config import Config, load_config

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, list(args))


def test_config_prints_and_writes_the_commented_default(tmp_path):
    printed = _invoke("config")
    assert printed.exit_code == 0
    assert "# Ridge decoder." in printed.stdout
    path = tmp_path / "run.yaml"
    written = _invoke("config", "--write", str(path))
    assert written.exit_code == 0
    assert load_config(path) == Config()
    again = _invoke("config", "--write", str(path))
    assert again.exit_code == 1
    assert "--overwrite" in again.output
    assert _invoke("config", "--write", str(path), "--overwrite").exit_code == 0


def test_bad_config_exits_1_with_one_sentence_naming_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("decoder:\n  alphas: [1.0, -1.0]\n")
    result = _invoke("run", str(path))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("Error:") and "decoder.alphas: " in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["run", "features", "fit", "evaluate"])
def test_missing_config_file_exits_1(tmp_path, command):
    result = _invoke(command, str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_unknown_forced_stage_exits_1(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"output: {tmp_path / 'run'}\ndataset:\n  kind: things-eeg2\n"
                    f"  path: {tmp_path / 'no-data'}\n")
    result = _invoke("run", str(path), "--force", "fitt")
    assert result.exit_code == 1
    assert "nknown stage 'fitt'" in result.output
    assert not (tmp_path / "run").exists()


def test_missing_dataset_exits_1_and_says_how_to_get_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"output: {tmp_path / 'run'}\ndataset:\n  kind: things-eeg2\n"
                    f"  path: {tmp_path / 'no-data'}\n")
    result = _invoke("features", str(path))
    assert result.exit_code == 1
    assert "perceptogram data download" in result.output


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    result = _invoke("report", str(tmp_path))
    assert result.exit_code == 1
    assert "is not a run directory" in result.output


def test_demo_rejects_an_unknown_size(tmp_path):
    result = _invoke("demo", "--size", "huge", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "tiny, small, default" in result.output
    assert not any(tmp_path.iterdir())


def test_usage_errors_exit_2(tmp_path):
    assert _invoke("run").exit_code == 2
    assert _invoke("demo", "--jobs", "0").exit_code == 2
