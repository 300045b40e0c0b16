"""Attacks through a received or shared configuration: it is data, never code or write access.

A configuration names installed plugins but never a module to import; nothing is
imported from the working directory, the run folder or the dataset; ``__main__``
modules never; a received run's configuration never makes Perceptogram write outside
the run; every value that would fail at run time (a typo in an option, a device
string, an alpha that overflows, a negative seed) is refused when the file is loaded,
and settings that size the work are checked against the machine before it starts.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import yaml
from attack_tools import dist_info, one_sentence, run_cli, run_python, sentinel_module
from typer.testing import CliRunner

from perceptogram._owned import mark_owned
from perceptogram.cli import app
from perceptogram.config import ConfigError, load_config
from perceptogram.errors import PerceptogramError

cli = CliRunner()
LAB_SPACE = (
    "from perceptogram.latents.base import register\n"
    "@register('lab-space')\n"
    "class Lab:\n"
    "    \"A lab's space.\"\n"
)


def _received_run(folder, config: dict):
    """A run folder (marked as ours) holding ``config`` as its config.yaml."""
    run = mark_owned(folder, "run")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


# ------------------------------------------------------------------ 1. code execution
def test_plugin_module_shipped_in_a_received_run_is_never_imported(tmp_path):
    sentinel = tmp_path / "pwned"
    run = _received_run(tmp_path / "r_ns", {"plugins": ["r_ns.evil"]})
    sentinel_module(tmp_path, "r_ns.evil", sentinel)
    # `python -m perceptogram report r_ns`: the working directory is on sys.path
    result = run_cli(["report", "r_ns"], cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "not installed" in one_sentence(result.stderr) and not sentinel.exists()
    # a user's script calling load_config on the received file
    result = run_python("""
        from perceptogram.config import ConfigError, load_config
        try:
            load_config("r_ns/config.yaml")
        except ConfigError as exc:
            print("REFUSED", exc)
    """, cwd=tmp_path)
    assert "REFUSED" in result.stdout and not sentinel.exists(), result.stdout + result.stderr
    assert run.is_dir()


@pytest.mark.slow
def test_plugin_module_shipped_in_a_received_run_is_not_imported_by_two_jobs(tmp_path):
    sentinel = tmp_path / "pwned"
    _received_run(tmp_path / "r_ns", {"plugins": ["r_ns.evil"]})
    sentinel_module(tmp_path, "r_ns.evil", sentinel)
    result = run_cli(["run", "r_ns/config.yaml", "--jobs", "2"], cwd=tmp_path)
    assert result.returncode == 1 and not sentinel.exists(), result.stderr


#: Standard modules that run something when imported (a venv, a web browser, a test
#: runner, a reader of stdin, a window), as a received config once named them.
STANDARD = ("venv.__main__", "this", "antigravity", "unittest.__main__", "tqdm.__main__",
            "tkinter.__main__", "json.tool")


def test_standard_modules_named_as_plugins_are_never_imported(tmp_path):
    for i, module in enumerate(STANDARD):
        (tmp_path / f"c{i}.yaml").write_text(yaml.safe_dump({"plugins": [module]}))
    result = run_python(f"""
        import sys
        from perceptogram.config import ConfigError, load_config
        for i, module in enumerate({STANDARD!r}):
            before = set(sys.modules)
            try:
                load_config(f"c{{i}}.yaml")
                print("ACCEPTED", module)
            except ConfigError as exc:
                print("REFUSED", module, str(exc).splitlines()[0][:300])
            if module in set(sys.modules) - before:
                print("IMPORTED", module)
    """, cwd=tmp_path, timeout=120)
    refused = [line.split()[1] for line in result.stdout.splitlines()
               if line.startswith("REFUSED")]
    assert refused == list(STANDARD) and "IMPORTED" not in result.stdout, (
        result.stdout + result.stderr)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".yaml"] * len(STANDARD)


def _lab_plugin(site):
    """An installed plugin (a distribution in ``site``) registering the space lab-space."""
    site.mkdir()
    dist_info(site, "lab-spaces", "perceptogram.latent_spaces", {"lab": "lab_spaces_mod"})
    (site / "lab_spaces_mod.py").write_text(LAB_SPACE)
    return site


def test_working_directory_is_never_a_source_of_plugins(tmp_path):
    """A received folder Perceptogram runs in holds a distribution of its own and a module
    shadowing an installed plugin's: neither is imported, the installed plugin is."""
    sentinel = tmp_path / "pwned"
    site = _lab_plugin(tmp_path / "site")
    received = tmp_path / "received"
    received.mkdir()
    dist_info(received, "evil", "perceptogram.latent_spaces", {"evil": "evil_space"})
    sentinel_module(received, "evil_space", sentinel)
    sentinel_module(received, "lab_spaces_mod", sentinel)
    result = run_cli(["list"], cwd=received, python_path=[str(site)])
    assert result.returncode == 0, result.stderr
    assert "lab-space" in result.stdout and "evil" not in result.stdout
    assert not sentinel.exists()


@pytest.mark.slow
def test_working_directory_cannot_shadow_a_plugin_in_a_users_script(tmp_path):
    sentinel = tmp_path / "pwned"
    site = _lab_plugin(tmp_path / "site")
    received = tmp_path / "received"
    dist_info(received, "evil", "perceptogram.latent_spaces", {"evil": "evil_space"})
    sentinel_module(received, "evil_space", sentinel)
    sentinel_module(received, "lab_spaces_mod", sentinel)
    result = run_python("""
        from perceptogram.latents.base import available_latent_spaces
        print(available_latent_spaces())
    """, cwd=received, python_path=[str(site)])
    assert "lab-space" in result.stdout and "evil" not in result.stdout, result.stderr
    assert not sentinel.exists()


def test_an_installed_plugin_named_in_the_config_is_checked_not_imported(tmp_path, monkeypatch):
    from perceptogram._registry import check_plugins

    monkeypatch.syspath_prepend(str(_lab_plugin(tmp_path / "site")))
    assert check_plugins(["lab-spaces", "lab_spaces", "lab"]) == ["lab-spaces", "lab_spaces",
                                                                   "lab"]
    assert "lab_spaces_mod" not in sys.modules  # only metadata was read


# ------------------------------------------------------------ 2. write access
def test_received_run_config_cannot_simulate_a_dataset_outside_the_run(tmp_path):
    outside = tmp_path / "outside"
    run = _received_run(tmp_path / "received", {
        "dataset": {"kind": "simulated", "path": str(outside),
                    "simulation": {"n_subjects": 1, "n_train_concepts": 4,
                                   "images_per_concept": 1, "n_test_concepts": 2,
                                   "n_train_repetitions": 1, "n_test_repetitions": 1}},
        "latents": {"spaces": ["attributes"]}, "reconstruction": {"methods": []},
        "interpretability": {"space": "attributes", "attributes": ["hue"]},
        "metrics": {"networks": []}})
    result = cli.invoke(app, ["report", str(run)])
    assert "outside the run directory" in one_sentence(result.output)
    assert not outside.exists()


# ------------------------------------------- 3. values that used to fail at run time
@pytest.mark.parametrize("text, words", [
    ("latents:\n  spaces: [effnet, pca, attributes]\n  options:\n    pca: {n_component: 8}\n",
     "unknown option 'n_component'"),
    ('device: "cuda:0; rm -rf ~"\n', "device must be"),
    ("decoder:\n  alphas: [1.0e+308]\n", r"at most 1e\+30"),
    ("seed: -1\n", "greater than or equal to 0"),
    ("interpretability:\n  times_ms: [1.0e+308]\n", "times_ms must lie within"),
    ("channels: []\n", "at least 1 item"),
    ("dataset:\n  simulation:\n    seed: 4294967296\n", "less than or equal to"),
])
def test_values_that_failed_at_run_time_are_refused_at_load(tmp_path, text, words):
    config = tmp_path / "c.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=words):
        load_config(config)
    line = one_sentence(cli.invoke(app, ["run", str(config)]).output)
    assert "invalid configuration" in line.lower()
    assert not (tmp_path / "perceptogram-run").exists()


def test_config_write_into_a_folder_is_one_sentence(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    result = cli.invoke(app, ["config", "--write", str(folder), "--overwrite"])
    assert result.exit_code == 1
    assert "folder" in one_sentence(result.output).lower()
    assert (folder / "keep.txt").read_text() == "mine"


# ------------------------------------------------ 4. bounds checked against the machine
def _little_memory(monkeypatch):
    from perceptogram import _io

    monkeypatch.setattr(_io, "available_memory", lambda: 1 << 20, raising=False)


def test_metric_image_size_is_checked_against_memory_before_work(monkeypatch):
    from perceptogram.evaluate.metrics import pixcorr_and_ssim

    _little_memory(monkeypatch)
    images = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(PerceptogramError, match="PixCorr and SSIM at 512 px needs about"):
        pixcorr_and_ssim(images, images, image_size=512)


def test_pixel_pca_image_size_is_bounded_and_checked_against_memory(monkeypatch):
    from perceptogram.latents import get_latent_space

    with pytest.raises(ValueError, match="image_size must be 1 to 1024 px"):
        get_latent_space("pca", image_size=100_000)
    _little_memory(monkeypatch)
    images = np.zeros((4, 16, 16, 3), np.uint8)
    with pytest.raises(PerceptogramError, match="fitting pca at image_size 64 needs about"):
        get_latent_space("pca", image_size=64, batch_size=4).fit(images)


def test_simulation_is_checked_against_memory_before_it_starts(tmp_path, monkeypatch):
    from perceptogram.data.simulate.dataset import simulate_dataset

    _little_memory(monkeypatch)
    with pytest.raises(PerceptogramError, match="simulating .* trials of one split needs"):
        simulate_dataset(tmp_path / "sim", n_subjects=1, n_train_concepts=8,
                         images_per_concept=2, n_test_concepts=2, n_train_repetitions=2,
                         n_test_repetitions=2, write_images=False)
    assert not (tmp_path / "sim").exists()


def test_check_memory_states_what_and_how_much():
    from perceptogram._io import NotEnoughMemoryError, check_memory

    with pytest.raises(NotEnoughMemoryError, match=r"x needs about 1000000\.0 GB of memory "
                                                   r"but only .* GB are available; lower it"):
        check_memory(10 ** 15, "x", "lower it")
    check_memory(1, "x", "lower it")
