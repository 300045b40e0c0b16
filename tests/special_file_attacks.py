"""Special files given where Perceptogram expects an input file (run by test_attacks_special_files).

Each attack puts a FIFO, a device, a socket, or a link to ``/proc/self/pagemap``
(reported as 0 bytes, reads as gigabytes) or ``/proc/self/environ`` (the user's
secrets) where a reader expects a small regular file, then calls the reader. The
test module runs them in a child process under a memory limit and an alarm.

``ATTACKS[name] = (expected, attack)``: ``expected`` is ``"refused"`` (one sentence, a
``PerceptogramError``) or ``"handled"`` (the reader treats the file as absent and goes
on); ``attack(folder)`` builds the file in ``folder`` and calls the reader.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np

PAGEMAP = "/proc/self/pagemap"
ENVIRON = "/proc/self/environ"


def _special(path: Path, kind: str) -> Path:
    """Make ``path`` a special file of ``kind``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        _KEEP.append(server)
    else:
        path.symlink_to({"pagemap": PAGEMAP, "environ": ENVIRON, "zero": "/dev/zero"}[kind])
    return path


_KEEP: list = []


def _config(kind):
    def attack(folder):
        from perceptogram.config import load_config

        load_config(_special(folder / "config.yaml", kind))
    return attack


def _image_table(kind):
    def attack(folder):
        from perceptogram.data.formats.mne_epochs import read_image_table

        read_image_table(_special(folder / "images.csv", kind))
    return attack


def _labels(kind):
    def attack(folder):
        from perceptogram.interpret.labels import labels_from_table

        labels_from_table(_special(folder / "labels.csv", kind), ["a.jpg"], ["00001_a"])
    return attack


def _covariates(kind):
    def attack(folder):
        from perceptogram.interpret.labels import covariates_from_table

        covariates_from_table(_special(folder / "cov.csv", kind), ["a.jpg"], ["00001_a"])
    return attack


def _image(kind):
    def attack(folder):
        from perceptogram.data.core.image_files import load_image

        load_image(_special(folder / "a.jpg", kind))
    return attack


def _eeg_file(kind):
    def attack(folder):
        from perceptogram.data.formats.things_eeg2 import read_eeg_file

        read_eeg_file(_special(folder / "preprocessed_eeg_training.npy", kind))
    return attack


class _Space:
    name, shape, dim, image_size = "two", (2,), 2, 8

    def fingerprint(self):
        return "two-1"

    def encode(self, images):
        return np.zeros((len(images), 2), np.float32)


def _cache_sidecar(kind):
    def attack(folder):
        from PIL import Image

        from perceptogram._owned import mark_owned
        from perceptogram.latents.cache import cache_key, encode_cached, hash_files

        paths = []
        for i in range(3):
            paths.append(folder / f"{i}.png")
            Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(paths[-1])
        space, cache = _Space(), mark_owned(folder / "cache", "cache")
        key = cache_key(space, hash_files(paths), 8)
        _special(cache / f"{space.name}-{key[:24]}.json", kind)
        encode_cached(space, paths, cache)
    return attack


def _manifest(kind):
    def attack(folder):
        from perceptogram.pipeline.rundir import RunDir, Unit

        (folder / "stage").mkdir()
        _special(folder / "stage" / "manifest.json", kind)
        assert RunDir(folder).read_manifest(Unit("stage")) is None
    return attack


def _download_record(kind):
    def attack(folder):
        from perceptogram.data.fetch import download

        staging = folder / download.DOWNLOAD_DIRNAME
        staging.mkdir()
        remote = download.RemoteFile("image_metadata.npy", 10, "https://osf.io/x",
                                     sha256="0" * 64)
        _special(staging / "image_metadata.npy.done.json", kind)
        assert download._finished(folder, staging, remote) is None
    return attack


ATTACKS = {}
for _kind in ("fifo", "zero", "pagemap", "environ", "socket"):
    ATTACKS[f"config file is {_kind}"] = ("refused", _config(_kind))
    ATTACKS[f"image table is {_kind}"] = ("refused", _image_table(_kind))
    ATTACKS[f"label table is {_kind}"] = ("refused", _labels(_kind))
    ATTACKS[f"covariate table is {_kind}"] = ("refused", _covariates(_kind))
    ATTACKS[f"image file is {_kind}"] = ("refused", _image(_kind))
    ATTACKS[f"EEG file is {_kind}"] = ("refused", _eeg_file(_kind))
for _kind in ("fifo", "pagemap", "zero"):
    ATTACKS[f"latent cache sidecar is {_kind}"] = ("handled", _cache_sidecar(_kind))
    ATTACKS[f"unit manifest is {_kind}"] = ("handled", _manifest(_kind))
    ATTACKS[f"download record is {_kind}"] = ("handled", _download_record(_kind))
