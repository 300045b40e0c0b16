"""Image files and the content-addressed, resumable feature cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import perceptogram
from perceptogram.data.core.image_files import (
    ImageFileError,
    iter_image_batches,
    load_images,
    resize_center_crop,
)
from perceptogram.errors import DataFormatError
from perceptogram.latents.cache import encode_cached


class CountingSpace:
    """A tiny latent space (mean colour + a pixel) that counts its encode calls."""

    name = "counting"
    shape = (4,)
    dim = 4
    image_size = 8

    def __init__(self, fail_on_call=None, version="1"):
        self.calls = 0
        self.images_seen = 0
        self.fail_on_call = fail_on_call
        self.version = version

    def fingerprint(self):
        return f"counting-v{self.version}"

    def encode(self, images):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("simulated interrupt")
        self.images_seen += len(images)
        x = images.astype(np.float32)
        return np.column_stack([x.mean(axis=(1, 2)), x[:, 0, 0, 0]])


@pytest.fixture
def image_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(10):
        path = tmp_path / "images" / f"img{i:02d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def expected_features(paths):
    return CountingSpace().encode(load_images(paths, 8))


def test_second_run_reads_instead_of_computing(image_files, tmp_path):
    first = CountingSpace()
    features = encode_cached(first, image_files, tmp_path / "cache", batch_size=3)
    assert first.calls == 4 and first.images_seen == 10
    assert features.shape == (10, 4) and features.dtype == np.float32
    assert isinstance(features, np.memmap)
    np.testing.assert_allclose(features, expected_features(image_files), rtol=1e-6)
    second = CountingSpace()
    again = encode_cached(second, image_files, tmp_path / "cache", batch_size=3)
    assert second.calls == 0
    np.testing.assert_array_equal(again, features)
    manifests = list((tmp_path / "cache").glob("*.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["complete"] and manifest["completed_ranges"] == [[0, 10]]
    assert manifest["perceptogram_version"] == perceptogram.__version__
    assert manifest["fingerprint"] == "counting-v1"


def test_interrupted_run_resumes_without_recomputing(image_files, tmp_path):
    cache = tmp_path / "cache"
    failing = CountingSpace(fail_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        encode_cached(failing, image_files, cache, batch_size=3)
    assert failing.images_seen == 6
    assert not list(cache.glob("counting-*.npy"))  # no complete entry yet
    manifest = json.loads(next(cache.glob("*.json")).read_text())
    assert not manifest["complete"] and manifest["completed_ranges"] == [[0, 6]]
    resumed = CountingSpace()
    features = encode_cached(resumed, image_files, cache, batch_size=3)
    assert resumed.calls == 2 and resumed.images_seen == 4
    np.testing.assert_allclose(features, expected_features(image_files), rtol=1e-6)
    assert not list(cache.glob(".*partial*"))


def test_resume_with_another_batch_size_keeps_covered_images(image_files, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        encode_cached(CountingSpace(fail_on_call=3), image_files, cache, batch_size=3)
    resumed = CountingSpace()
    features = encode_cached(resumed, image_files, cache, batch_size=2)
    # Images 0-5 are done; batches [6, 8) and [8, 10) remain.
    assert resumed.images_seen == 4
    np.testing.assert_allclose(features, expected_features(image_files), rtol=1e-6)


def test_changed_image_or_space_invalidates(image_files, tmp_path):
    cache = tmp_path / "cache"
    encode_cached(CountingSpace(), image_files, cache, batch_size=4)
    Image.fromarray(np.zeros((10, 12, 3), dtype=np.uint8)).save(image_files[7])
    after_edit = CountingSpace()
    features = encode_cached(after_edit, image_files, cache, batch_size=4)
    assert after_edit.images_seen == 10
    np.testing.assert_allclose(features[7], 0)
    new_model = CountingSpace(version="2")
    encode_cached(new_model, image_files, cache, batch_size=4)
    assert new_model.images_seen == 10
    reordered = CountingSpace()
    features_reordered = encode_cached(reordered, image_files[::-1], cache, batch_size=4)
    assert reordered.images_seen == 10
    np.testing.assert_array_equal(features_reordered, features[::-1])
    assert len(list(cache.glob("counting-*.npy"))) == 4  # original, edited, v2, reordered


def test_wrong_encoder_output_is_reported(image_files, tmp_path):
    class Broken(CountingSpace):
        def encode(self, images):
            return np.zeros((len(images), 3), dtype=np.float32)

    with pytest.raises(DataFormatError, match=r"expected \(3, 4\)"):
        encode_cached(Broken(), image_files, tmp_path / "cache", batch_size=3)


def test_missing_file_is_named(image_files, tmp_path):
    image_files[4].unlink()
    with pytest.raises(ImageFileError, match="img04.png"):
        encode_cached(CountingSpace(), image_files, tmp_path / "cache")


def test_load_images_converts_resizes_and_names_bad_files(tmp_path):
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((30, 20), 90, dtype=np.uint8)).save(tmp_path / "grey.png")
    images = load_images([tmp_path / "rgba.png", tmp_path / "grey.png"], 16)
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8
    assert np.all(images[0] == [200, 0, 0]) and np.all(images[1] == 90)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(ImageFileError, match="broken.jpg"):
        load_images([tmp_path / "broken.jpg"], 16)
    with pytest.raises(ImageFileError, match="absent.png"):
        load_images([tmp_path / "absent.png"], 16)
    with pytest.raises(DataFormatError, match="different sizes"):
        load_images([tmp_path / "rgba.png", tmp_path / "grey.png"])
    batches = list(iter_image_batches([tmp_path / "rgba.png"] * 5, 8, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]


def test_resize_center_crop_keeps_the_centre():
    image = np.zeros((40, 100, 3), dtype=np.uint8)
    image[:, 20:80] = 255  # a white band around the central 40 columns
    out = resize_center_crop(image, 20)
    assert out.shape == (20, 20, 3)
    # Shorter side 40 → 20 (scale 1/2): the crop keeps columns 30..70, all white.
    assert out.min() >= 250
    image[:, 20:80] = 0
    image[:, 45:55] = 255  # now a narrow central band: black margins are kept
    out = resize_center_crop(image, 20)
    assert out[:, :3].max() < 5 and out[:, 9:11].min() > 200


def test_offline_spaces_are_registered_and_follow_the_protocol():
    from perceptogram.latents import (
        DecodableLatentSpace,
        LatentSpace,
        available_latent_spaces,
        get_latent_space,
    )
    from perceptogram.latents.attributes import ImageAttributes
    from perceptogram.latents.effnet import EffNetSpace
    from perceptogram.latents.pca import PixelICA, PixelPCA

    assert {"attributes", "effnet", "ica", "pca"} <= set(available_latent_spaces())
    expected = {
        "attributes": ImageAttributes, "effnet": EffNetSpace, "ica": PixelICA, "pca": PixelPCA
    }
    for name, cls in expected.items():
        space = get_latent_space(name)
        assert type(space) is cls and space.name == name
    assert isinstance(get_latent_space("effnet"), LatentSpace)
    assert isinstance(get_latent_space("attributes"), LatentSpace)
    images = np.random.default_rng(0).integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    fitted = get_latent_space("pca", n_components=3, image_size=8).fit(images)
    assert isinstance(fitted, DecodableLatentSpace)


def test_full_disk_is_refused_before_the_partial_file_exists(image_files, tmp_path,
                                                             monkeypatch):
    import shutil

    from perceptogram._owned import owned_kind
    from perceptogram.errors import DiskSpaceError

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1 << 20))
    cache = tmp_path / "cache"
    with pytest.raises(DiskSpaceError, match="the feature cache needs .* MB are free"):
        encode_cached(CountingSpace(), image_files, cache, batch_size=3)
    assert sorted(p.name for p in cache.iterdir()) == [".perceptogram"]
    assert owned_kind(cache) == "cache"


def test_enospc_while_encoding_is_an_error_and_the_run_resumes(image_files, tmp_path,
                                                               monkeypatch):
    import errno

    from perceptogram import _cache

    writes = []

    class FullAfterTwoBatches:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            writes.append(len(data))
            if len(writes) > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    real_open = _cache.open_nofollow

    def opener(path, mode):
        fh = real_open(path, mode)
        return FullAfterTwoBatches(fh) if mode == "r+b" else fh

    cache = tmp_path / "cache"
    monkeypatch.setattr(_cache, "open_nofollow", opener)
    with pytest.raises(OSError, match="No space left"):
        encode_cached(CountingSpace(), image_files, cache, batch_size=3)
    manifest = json.loads(next(cache.glob("*.json")).read_text())
    assert manifest["completed_ranges"] == [[0, 6]]
    monkeypatch.undo()
    resumed = CountingSpace()
    features = encode_cached(resumed, image_files, cache, batch_size=3)
    assert resumed.images_seen == 4
    np.testing.assert_allclose(features, expected_features(image_files), rtol=1e-6)


class ConcurrentSpace(CountingSpace):
    """Declares concurrent encoding and records how many batches run at once."""

    name = "concurrent"
    encodes_concurrently = True

    def __init__(self):
        import threading

        super().__init__()
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.threads = set()

    def encode(self, images):
        import threading
        import time

        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
            self.threads.add(threading.get_ident())
        time.sleep(0.05)
        try:
            return super().encode(images)
        finally:
            with self.lock:
                self.active -= 1


def test_concurrent_space_encodes_its_share_of_batches_at_once(image_files, tmp_path,
                                                                monkeypatch):
    from perceptogram.latents import cache

    monkeypatch.setattr(cache, "thread_share", lambda: 3)
    space = ConcurrentSpace()
    features = encode_cached(space, image_files, tmp_path / "cache", batch_size=2)
    np.testing.assert_array_equal(features, expected_features(image_files))  # in order
    assert space.most == 3 and len(space.threads) >= 3
    assert space.images_seen == len(image_files)


def test_other_spaces_encode_one_batch_at_a_time(image_files, tmp_path):
    space = ConcurrentSpace()
    space.encodes_concurrently = False
    encode_cached(space, image_files, tmp_path / "cache", batch_size=2)
    assert space.most == 1
