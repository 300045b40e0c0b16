"""Attacks through a received run folder: it is data, never write access.

A colleague's run folder (or an archive unpacked into one's own) may hold symbolic
links into the user's home at names Perceptogram writes, a copied ownership marker,
forged cache sidecars, inputs kept where a unit's folder is replaced, and images far
larger than a reconstruction. None of it may make Perceptogram write, truncate or
delete outside what it made on this machine, or read gigabytes.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from attack_tools import one_sentence, snapshot, victim
from PIL import Image
from typer.testing import CliRunner

from perceptogram._owned import MARKER, NotOwnedError, mark_owned, owned_kind
from perceptogram.cli import app
from perceptogram.config import make_config
from perceptogram.errors import PerceptogramError
from perceptogram.latents.cache import cache_key, encode_cached, hash_files
from perceptogram.pipeline.runner import Pipeline, Stage, run_pipeline

cli = CliRunner()


class MeanColour:
    """A two-number latent space: the mean colour and brightness of each image."""

    name = "mean-colour"
    shape = (2,)
    dim = 2
    image_size = 8

    def fingerprint(self):
        return "mean-colour-1"

    def encode(self, images):
        flat = images.reshape(len(images), -1, 3).astype(np.float32)
        return np.stack([flat.mean(axis=(1, 2)), flat[..., 0].mean(axis=1)], axis=1)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    paths = []
    for i in range(5):
        path = folder / f"{i}.png"
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(path)
        paths.append(path)
    return paths


def _stage(name):
    def func(config, subject, space, run_dir):
        (run_dir.unit_dir(name) / "out.txt").write_text(name)

    return Stage(name, func, lambda c, s: [(None, None)], lambda c, s, sp: {})


#: A pipeline with stages named like the real first and last ones (their folders are
#: replaced whole when recomputed).
TOY = Pipeline(stages=(_stage("data"), _stage("report")), subjects=lambda c, rd: [1])


# ------------------------------------------------------ 1. links at names we write
def test_partial_cache_file_linked_to_a_users_file_is_not_written_through(tmp_path, images):
    thesis = victim(tmp_path / "home") / "thesis.txt"
    before = thesis.read_bytes()
    run = mark_owned(tmp_path / "run", "run")
    cache = mark_owned(run / "cache" / "latents", "cache")
    space = MeanColour()
    key = cache_key(space, hash_files(images), space.image_size)  # keys are predictable
    link = cache / f".{space.name}-{key[:24]}.partial.npy"
    link.symlink_to(thesis)
    features = encode_cached(space, images, cache)  # the link is replaced, not followed
    assert thesis.read_bytes() == before
    assert features.shape == (5, 2) and not link.exists()
    link.symlink_to(thesis)
    # the run itself refuses the received folder, naming the link
    with pytest.raises(NotOwnedError, match="partial.npy is a symbolic link inside the run"):
        run_pipeline(make_config(jobs=1, output=run), TOY)
    assert thesis.read_bytes() == before


def test_cache_folder_linked_into_the_users_home_is_not_written_through(tmp_path, images):
    home = victim(tmp_path / "home")
    before = snapshot(home)
    run = mark_owned(tmp_path / "run", "run")
    (run / "cache").symlink_to(home, target_is_directory=True)
    with pytest.raises(NotOwnedError, match="cache is a symbolic link inside"):
        encode_cached(MeanColour(), images, run / "cache" / "latents")
    assert snapshot(home) == before and not (home / "latents").exists()
    with pytest.raises(NotOwnedError, match="cache is a symbolic link inside the run"):
        run_pipeline(make_config(jobs=1, output=run), TOY)
    assert snapshot(home) == before


def test_evaluation_feature_cache_is_not_written_through_a_link(tmp_path):
    from perceptogram.evaluate.features import FeatureCache

    home = victim(tmp_path / "home")
    before = snapshot(home)
    run = mark_owned(tmp_path / "run", "run")
    (run / "cache").symlink_to(home, target_is_directory=True)
    cache = FeatureCache(run / "cache" / "features")
    with pytest.warns(UserWarning, match="symbolic link"):
        cache.put("k", np.ones((3, 4), np.float32))
    assert snapshot(home) == before and cache.get("k") is not None  # kept in memory


# ------------------------------------------------ 2. inputs inside the run folder
@pytest.mark.parametrize("key", ["images_path", "labels", "covariates"])
def test_inputs_kept_inside_the_run_folder_are_never_deleted(tmp_path, key):
    run = tmp_path / "run"
    run_pipeline(make_config(jobs=1, output=run), TOY)
    folder = run / ("data" if key == "images_path" else "report") / "mine"
    folder.mkdir()
    (folder / "NOTES.txt").write_text("my notes")
    (folder / "table.csv").write_text("image,category\na.jpg,animal\n")
    before = snapshot(folder)
    dataset = {"kind": "things-eeg2", "path": str(tmp_path / "data")}
    if key == "images_path":
        config = make_config(jobs=1, output=run, dataset={**dataset, "images_path": folder})
    else:
        config = make_config(jobs=1, output=run, dataset=dataset,
                             interpretability={key: folder / "table.csv"})
    with pytest.raises(PerceptogramError, match="is inside the run directory"):
        run_pipeline(config, TOY, force=["data"])
    assert snapshot(folder) == before


# ------------------------------------------------------------ 3. copied markers
def test_marker_copied_into_a_users_folder_does_not_make_it_ours(tmp_path):
    real = tmp_path / "real"
    run_pipeline(make_config(jobs=1, output=real), TOY)
    home = victim(tmp_path / "home")
    shutil.copy(real / MARKER, home / MARKER)
    before = snapshot(home)
    assert owned_kind(home) is None
    with pytest.raises(NotOwnedError, match="copied from another folder"):
        run_pipeline(make_config(jobs=1, output=home), TOY)
    assert snapshot(home) == before
    line = one_sentence(cli.invoke(app, ["report", str(home)]).output)
    assert "perceptogram adopt" in line
    assert snapshot(home) == before


def test_a_copied_run_is_used_only_once_adopted(tmp_path):
    from perceptogram._owned import adopt_folder

    original = tmp_path / "original"
    run_pipeline(make_config(jobs=1, output=original), TOY)
    received = tmp_path / "received"
    shutil.copytree(original, received)
    with pytest.raises(NotOwnedError, match="perceptogram adopt"):
        run_pipeline(make_config(jobs=1, output=received), TOY)
    (received / "report" / "evil").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(NotOwnedError, match="evil is a symbolic link"):
        adopt_folder(received)
    (received / "report" / "evil").unlink()
    result = cli.invoke(app, ["adopt", str(received)])
    assert result.exit_code == 0, result.output
    assert owned_kind(received) == "run"
    assert run_pipeline(make_config(jobs=1, output=received), TOY).computed == []


# ------------------------------------------------------------ 4. forged files
@pytest.mark.parametrize("forge", [
    {"completed_ranges": "everything"}, {"shape": {"n": 5}}, {"completed_ranges": [[0, 10 ** 9]]},
    {"complete": True, "content": {"size": "x"}}, {"cache_format": None}, [1, 2, 3],
])
@pytest.mark.parametrize("interrupted", [False, True])
def test_forged_cache_sidecars_mean_recompute(tmp_path, images, forge, interrupted):
    cache = tmp_path / "cache"
    space = MeanColour()
    reference = np.array(encode_cached(space, images, tmp_path / "reference"))
    if interrupted:  # a partial entry: the sidecar's ranges say what to resume
        class Interrupted(MeanColour):
            calls = 0

            def encode(self, images):
                self.calls += 1
                if self.calls == 2:
                    raise KeyboardInterrupt
                return super().encode(images)

        with pytest.raises(KeyboardInterrupt):
            encode_cached(Interrupted(), images, cache, batch_size=2)
    else:
        encode_cached(space, images, cache)
    sidecar = next(cache.glob("*.json"))
    record = json.loads(sidecar.read_text())
    forged = {**record, **forge} if isinstance(forge, dict) else forge
    sidecar.write_text(json.dumps(forged))
    np.testing.assert_array_equal(encode_cached(space, images, cache), reference)


def test_same_size_garbage_in_a_latent_cache_entry_is_recomputed(tmp_path, images):
    cache = tmp_path / "cache"
    space = MeanColour()
    reference = np.array(encode_cached(space, images, cache))
    entry = next(p for p in cache.glob("*.npy") if not p.name.startswith("."))
    data = bytearray(entry.read_bytes())
    data[-8:] = np.float32([1e6, -1e6]).tobytes()
    entry.write_bytes(bytes(data))
    np.testing.assert_array_equal(encode_cached(space, images, cache), reference)


def test_huge_images_in_a_received_run_are_refused_before_decoding(tmp_path):
    from perceptogram.data.core.image_files import ImageFileError
    from perceptogram.pipeline.artifacts import load_pngs

    folder = tmp_path / "reconstruct" / "pca"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "0000.png")
    Image.new("RGB", (5000, 5000)).save(folder / "0001.png")  # 25 Mpx, a few kB of PNG
    with pytest.raises(ImageFileError, match="0001.png is 5000 x 5000 pixels"):
        load_pngs(folder)
    os.remove(folder / "0001.png")
    assert load_pngs(folder).shape == (1, 8, 8, 3)
