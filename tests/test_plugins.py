"""Extensions from outside the package: the four worked examples of docs/contracts.md
(a dataset format, a latent space, a reconstruction method and a metric, one module
each) installed through entry points, then the tiny demo run with all of them."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

import perceptogram

DOCS = Path(__file__).resolve().parents[1] / "docs" / "contracts.md"
SOURCE = Path(perceptogram.__file__).resolve().parents[1]
MODULES = {"toy_format.py", "toy_space.py", "toy_method.py", "toy_metric.py"}

RUN = """
import json, sys
from perceptogram.config import config_to_dict, make_config
from perceptogram.pipeline.demo import demo_config
from perceptogram.pipeline.runner import run_pipeline
from perceptogram.pipeline.stages import PIPELINE
from perceptogram.data.formats.base import DATASETS
from perceptogram.latents.base import LATENT_SPACES
from perceptogram.reconstruct.base import METHODS
from perceptogram.evaluate.metric_registry import METRICS

out, data = sys.argv[1:3]
settings = config_to_dict(demo_config(out, "tiny", jobs=1))
settings["dataset"] = {"kind": "npz-folder", "path": data}
settings["latents"]["spaces"] = ["pca", "mean-colour"]
settings["reconstruction"]["methods"] = ["pca", "flat-colour"]
settings["reconstruction"]["options"] = {"flat-colour": {"size": 32}}
settings["metrics"]["best_worst_metric"] = "colour-error"
settings["interpretability"].update(attributes=["hue"], n_permutations=0)  # kept short
summary = run_pipeline(make_config(**settings), PIPELINE)
print(json.dumps({"computed": len(summary.computed), "names": [
    r.names() for r in (DATASETS, LATENT_SPACES, METHODS, METRICS)]}))
"""


def _install_examples(site: Path) -> None:
    """The contracts' example modules, and a dist-info declaring their entry points."""
    text = DOCS.read_text(encoding="utf-8")
    modules = dict(re.findall(r"```python\n# (toy_\w+\.py)\n(.*?)```", text, re.S))
    assert set(modules) == MODULES
    for name, code in modules.items():
        (site / name).write_text(code, encoding="utf-8")
    toml = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    groups = tomllib.loads(toml)["project"]["entry-points"]
    dist = site / "toy_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in points.items())
        for group, points in groups.items()))


def _npz_folder(target: Path, simulated: Path) -> None:
    """A simulated dataset rewritten in the example format (sub-XX.npz + images.csv)."""
    from perceptogram.data.formats.base import open_dataset

    dataset = open_dataset("things-eeg2", simulated)
    table = dataset.images()
    target.mkdir()
    with (target / "images.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["split", "concept", "file"])
        for split in ("train", "test"):
            for path, concept in zip(table.paths[split], table.concepts[split]):
                writer.writerow([split, concept, path.name])
                (target / "images" / concept).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target / "images" / concept / path.name)
    for subject in dataset.subjects():
        train, test = dataset.load_subject(subject)
        np.savez(target / f"sub-{subject:02d}.npz", train=train.data, test=test.data,
                 ch_names=np.array(train.ch_names), times=train.times)


def test_toy_format_space_method_and_metric_run_through_the_tiny_demo(tmp_path):
    from perceptogram.data.simulate.dataset import simulate_dataset
    from perceptogram.pipeline.demo import DEMO_SIZES

    site = tmp_path / "site"
    site.mkdir()
    _install_examples(site)
    sizes = DEMO_SIZES["tiny"]
    simulate_dataset(tmp_path / "things", n_subjects=1, seed=0, **{
        key: sizes[key] for key in ("n_train_concepts", "images_per_concept", "n_test_concepts",
                                    "n_train_repetitions", "n_test_repetitions", "image_size")})
    _npz_folder(tmp_path / "npz", tmp_path / "things")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(SOURCE)])}
    done = subprocess.run([sys.executable, "-c", RUN, str(tmp_path / "run"),
                           str(tmp_path / "npz")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    datasets, spaces, methods, metrics = result["names"]
    assert "npz-folder" in datasets and "mean-colour" in spaces
    assert "flat-colour" in methods and "colour-error" in metrics

    run = tmp_path / "run"
    assert (run / "reconstruct" / "sub-01" / "mean-colour" / "flat-colour" / "0000.png").is_file()
    rows = list(csv.DictReader((run / "report" / "metrics.csv").open(encoding="utf-8")))
    flat = [r for r in rows if r["method"] == "ridge → flat-colour (mean-colour)"]
    assert {"Colour error", "PixCorr", "SSIM"} <= {r["metric"] for r in flat}
    assert any(r["metric"] == "Colour error" and r["method"].startswith("ridge → pca")
               for r in rows)  # a registered metric scores every method
    assert all(r["status"] == "ok" for r in flat)
    with (run / "evaluate" / "sub-01" / "mean-colour" / "per_image.csv").open() as fh:
        assert "colour-error" in next(csv.reader(fh))
    html = (run / "report" / "report.html").read_text(encoding="utf-8")
    assert "Colour error" in html and "flat-colour" in html
