"""``perceptogram data info`` and ``perceptogram data download``."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
from typer.testing import CliRunner

from perceptogram.cli.app import app
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS

TIMES = np.arange(-20, 80) / 100.0

runner = CliRunner()


def _write_dataset(root):
    rng = np.random.default_rng(0)
    for name, shape in (("training", (6, 4, 17, 100)), ("test", (3, 80, 17, 100))):
        path = root / "sub-01" / f"preprocessed_eeg_{name}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, {"preprocessed_eeg_data": rng.standard_normal(shape),
                       "ch_names": list(THINGS_CHANNELS), "times": TIMES}, allow_pickle=True)
    np.save(root / "image_metadata.npy", {
        "train_img_files": [f"c{i // 2}_{i}.jpg" for i in range(6)],
        "train_img_concepts": [f"{i // 2:05d}_c{i // 2}" for i in range(6)],
        "test_img_files": [f"t{i}.jpg" for i in range(3)],
        "test_img_concepts": [f"{i:05d}_t{i}" for i in range(3)],
    }, allow_pickle=True)


class _Touch:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_info_describes_the_folder(tmp_path):
    _write_dataset(tmp_path)
    result = runner.invoke(app, ["data", "info", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "sub-01" in result.output
    assert "6 x 4 x 17 x 100" in result.output and "3 x 80 x 17 x 100" in result.output
    assert "Pz, P3, P7" in result.output
    assert "-0.200 to 0.790 s, 100 samples at 100 Hz" in result.output
    assert "6 training (3 concepts), 3 test (3 concepts)" in result.output


def test_info_json(tmp_path):
    _write_dataset(tmp_path)
    result = runner.invoke(app, ["data", "info", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["subjects"][0]["splits"]["train"]["shape"] == [6, 4, 17, 100]
    assert info["subjects"][0]["ch_names"] == list(THINGS_CHANNELS)
    assert info["n_train_concepts"] == 3


def test_info_refuses_a_malicious_file(tmp_path):
    _write_dataset(tmp_path)
    target = tmp_path / "pwned"
    with open(tmp_path / "sub-01" / "preprocessed_eeg_test.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "|O", "fortran_order": False, "shape": ()})
        pickle.dump(_Touch(target), fh, protocol=4)
    result = runner.invoke(app, ["data", "info", str(tmp_path)])
    assert result.exit_code == 1
    assert "forbidden global" in result.output and "system" in result.output
    assert "Traceback" not in result.output
    assert not target.exists()


def test_info_refuses_a_truncated_file(tmp_path):
    _write_dataset(tmp_path)
    path = tmp_path / "sub-01" / "preprocessed_eeg_training.npy"
    path.write_bytes(path.read_bytes()[:5000])
    result = runner.invoke(app, ["data", "info", str(tmp_path)])
    assert result.exit_code == 1
    assert "truncated or corrupt" in result.output


def test_info_on_a_missing_folder(tmp_path):
    result = runner.invoke(app, ["data", "info", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "is not a folder" in result.output


def test_download_refusal_exits_with_one_sentence(tmp_path):
    # The command line only follows https:// links to OSF (or the --osf-api mirror's host).
    result = runner.invoke(app, ["data", "download", str(tmp_path), "--subject", "1",
                                 "--subject", "2", "--osf-api", "http://127.0.0.1:9/v2"])
    assert result.exit_code == 1
    assert "Refusing to follow the link 'http://127.0.0.1:9/v2/" in result.output


def test_download_of_something_unknown_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["data", "download", str(tmp_path), "--what", "videos"])
    assert result.exit_code == 2
    assert "--what must be eeg, images or all, not 'videos'" in result.output
