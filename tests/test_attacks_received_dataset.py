"""Attacks through a received dataset folder: its files are data, never write access.

A dataset copied from a colleague (or unpacked from an archive) may carry a download
staging folder with a copied marker and ``.part`` links into the user's home, subject
folders that are links, an EEG cache of same-size garbage, tables with odd encodings,
huge fields, colliding names, and damaged files. Downloads must verify what they
fetch and restore what was deleted; every refusal is one sentence naming the file.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from attack_tools import snapshot, victim
from test_data_download import LOCAL, FakeOSF, Sleeps, _release
from test_data_loading import make_dataset

from perceptogram._owned import MARKER, NotOwnedError, mark_owned
from perceptogram.data.fetch.download import DOWNLOAD_DIRNAME, download, plan_download
from perceptogram.data.fetch.http import RetryPolicy
from perceptogram.data.formats.things_eeg2 import CACHE_DIRNAME, load_subject
from perceptogram.errors import DataFormatError, PerceptogramError


@pytest.fixture
def osf():
    server = FakeOSF(_release())
    yield server
    server.close()


def _download(root, osf, **kwargs):
    kwargs.setdefault("what", "images")
    return download(root, kwargs.pop("subjects", None), api_url=osf.api, policy=LOCAL,
                    retry=RetryPolicy(sleep=Sleeps()), **kwargs)


def _copied_marker(folder, elsewhere):
    """A marker copied from a real staging folder into ``folder`` (a received dataset's)."""
    real = mark_owned(elsewhere / DOWNLOAD_DIRNAME, "download")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(real / MARKER, folder / MARKER)


# ------------------------------------------------------------------ 1. downloads
def test_copied_staging_folder_with_a_part_link_cannot_overwrite_a_users_file(tmp_path, osf):
    root = victim(tmp_path / "data")
    staging = root / DOWNLOAD_DIRNAME
    _copied_marker(staging, tmp_path / "elsewhere")
    (staging / "image_metadata.npy.part").symlink_to("../thesis.txt")
    (staging / "training_images.zip.part").symlink_to("../report/paper.tex")
    before = snapshot(root)
    with pytest.raises(NotOwnedError, match="not created by Perceptogram on this machine"):
        _download(root, osf)
    assert snapshot(root) == before


def test_part_link_in_our_own_staging_folder_is_not_written_through(tmp_path, osf):
    root = victim(tmp_path / "data")
    staging = mark_owned(root / DOWNLOAD_DIRNAME, "download")
    (staging / "image_metadata.npy.part").symlink_to("../thesis.txt")
    before = snapshot(root)
    with pytest.raises(NotOwnedError, match="symbolic link"):
        _download(root, osf)
    assert snapshot(root) == before


def test_subject_folder_linked_elsewhere_is_not_written_through(tmp_path, osf):
    home = victim(tmp_path / "home")
    before = snapshot(home)
    root = tmp_path / "data"
    root.mkdir()
    (root / "sub-02").symlink_to(home, target_is_directory=True)
    with pytest.raises(NotOwnedError, match="sub-02 is a symbolic link"):
        _download(root, osf, subjects=[2], what="eeg")
    assert snapshot(home) == before


def test_listing_without_checksums_is_refused_before_downloading(tmp_path, osf):
    osf.listed_hashes["image_metadata.npy"] = {}
    with pytest.raises(DataFormatError, match="gives no checksum for image_metadata.npy"):
        _download(tmp_path / "data", osf)
    assert not [r for r in osf.requests if "/download/" in r]


def test_a_file_deleted_from_an_unpacked_archive_is_restored(tmp_path, osf):
    root = tmp_path / "data"
    _download(root, osf)
    image = next((root / "test_images").rglob("*.jpg"))
    content = image.read_bytes()
    image.unlink()
    _download(root, osf)
    assert image.read_bytes() == content
    image.write_bytes(b"edited by the user")  # a changed file is never replaced
    (root / "test_images" / "extra.txt").write_text("mine")
    _download(root, osf, what="eeg", subjects=[1])  # other items: untouched
    assert image.read_bytes() == b"edited by the user"
    with pytest.raises(PerceptogramError, match="was changed since it was unpacked"):
        _download(root, osf)
    assert image.read_bytes() == b"edited by the user"


def test_a_subject_that_does_not_exist_is_refused_before_the_network(osf):
    with pytest.raises(DataFormatError, match="there is no subject 11"):
        plan_download([11], api_url=osf.api, policy=LOCAL, retry=RetryPolicy(sleep=Sleeps()))
    assert osf.requests == []


# ----------------------------------------------------------------- 2. the EEG cache
def _cached_array(root):
    return next(p for p in (root / CACHE_DIRNAME / "sub-01").glob("*training*.npy"))


def _garbage(path):
    """Same-size, finite garbage in place of a cached array's values (header kept)."""
    data = bytearray(path.read_bytes())
    data[-4000:] = np.full(1000, 7.0, np.float32).tobytes()
    path.write_bytes(bytes(data))


def test_same_size_garbage_in_the_eeg_cache_is_never_used(tmp_path):
    train, _, _ = make_dataset(tmp_path)
    load_subject(tmp_path, 1)  # builds the cache
    _garbage(_cached_array(tmp_path))
    loaded, _ = load_subject(tmp_path, 1)
    np.testing.assert_array_equal(loaded.data, train.astype(np.float32))


def test_eeg_cache_that_came_with_a_copied_dataset_is_not_trusted(tmp_path):
    original = tmp_path / "original"
    train, _, _ = make_dataset(original)
    load_subject(original, 1)
    received = tmp_path / "received"
    shutil.copytree(original, received)  # copy2 keeps the sources' mtimes
    array = _cached_array(received)
    _garbage(array)
    sidecar = array.with_suffix(".json")  # the sender forges a matching digest too
    record = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    if "content" in record:
        from perceptogram._cache import _content

        record["content"] = _content(array)
        sidecar.write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="was not created here by Perceptogram"):
        loaded, _ = load_subject(received, 1)
    np.testing.assert_array_equal(loaded.data, train.astype(np.float32))


def test_eeg_cache_folder_linked_into_the_users_home_is_not_written_through(tmp_path):
    home = victim(tmp_path / "home")
    before = snapshot(home)
    train, _, _ = make_dataset(tmp_path / "data")
    (tmp_path / "data" / CACHE_DIRNAME).symlink_to(home, target_is_directory=True)
    with pytest.warns(UserWarning, match="cannot write the cache"):
        loaded, _ = load_subject(tmp_path / "data", 1)
    np.testing.assert_array_equal(loaded.data, train.astype(np.float32))
    assert snapshot(home) == before and not (home / "sub-01").exists()


# -------------------------------------------------------------- 3. tables and files
@pytest.fixture(scope="module")
def mne_dataset(tmp_path_factory):
    from datasets_fixtures import mne_epochs

    from perceptogram.data.simulate.dataset import simulate_dataset

    base = tmp_path_factory.mktemp("mne")
    sim = simulate_dataset(base / "sim", n_subjects=1, n_train_concepts=4,
                           images_per_concept=1, n_test_concepts=2, n_train_repetitions=2,
                           n_test_repetitions=2)
    return sim, mne_epochs(sim, base / "mne")


def _copy_mne(mne_dataset, tmp_path):
    sim, folder = mne_dataset
    dest = tmp_path / "mne"
    shutil.copytree(folder, dest)
    return sim, dest


def _open_mne(sim, dest):
    from perceptogram.data.formats.base import open_dataset

    return open_dataset("mne", dest, sim)


@pytest.mark.parametrize("table, words", [
    (b"split,event_id,image,concept\ntrain,1,caf\xe9.jpg,x\n", "is not UTF-8 text .line 2"),
    (b"split,event_id,image,concept\ntrain,1,\"" + b"a" * (20 << 20) + b"\",x\n",
     "line 2: not a readable CSV row"),
])
def test_odd_image_tables_are_one_sentence_naming_the_file(mne_dataset, tmp_path, table,
                                                          words):
    sim, dest = _copy_mne(mne_dataset, tmp_path)
    (dest / "images.csv").write_bytes(table)
    with pytest.raises(DataFormatError, match=words) as info:
        _open_mne(sim, dest).images()
    assert str(dest / "images.csv") in str(info.value) and len(str(info.value)) < 400


def test_truncated_fif_file_is_one_sentence_naming_it(mne_dataset, tmp_path):
    sim, dest = _copy_mne(mne_dataset, tmp_path)
    fif = dest / "sub-01_train-epo.fif"
    fif.write_bytes(fif.read_bytes()[: fif.stat().st_size // 2])
    with pytest.raises(DataFormatError, match="sub-01_train-epo.fif is not a readable MNE"):
        _open_mne(sim, dest).load_subject(1)


def test_channel_names_that_are_not_text_are_refused_naming_the_file(tmp_path):
    from perceptogram.data.formats.things_eeg2 import read_eeg_file

    path = tmp_path / "x.npy"
    np.save(path, {"preprocessed_eeg_data": np.zeros((2, 1, 2, 3)),
                   "ch_names": ["Cz", "O\udc80z"], "times": np.arange(3) / 100.0},
            allow_pickle=True)
    with pytest.raises(DataFormatError, match="'ch_names' item 1 is not valid text") as info:
        read_eeg_file(path)
    assert str(path) in str(info.value)


def test_a_200k_character_label_is_one_sentence(tmp_path):
    from perceptogram.interpret.labels import labels_from_table

    table = tmp_path / "labels.csv"
    table.write_text("image,category\na.jpg," + "x" * 200_000 + "\n")
    with pytest.raises(DataFormatError, match="labels.csv, line 2") as info:
        labels_from_table(table, ["a.jpg"], ["00001_a"])
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("names", [("Xy", "xy"), ("x y", "x_y"), ("x.y", "X-Y")])
def test_covariates_whose_maps_would_share_a_file_are_refused(tmp_path, names):
    from perceptogram.interpret.labels import covariates_from_table

    table = tmp_path / "cov.csv"
    table.write_text(f"image,{names[0]},{names[1]}\na.jpg,1,2\nb.jpg,3,4\n")
    with pytest.raises(DataFormatError, match="would have the same name"):
        covariates_from_table(table, ["a.jpg", "b.jpg"], ["00001_a", "00002_b"])


# ------------------------------------------------------------------ 4. waits that speak
def test_a_busy_server_s_retry_after_wait_is_announced_and_bounded(tmp_path, osf, capfd,
                                                                   monkeypatch):
    monkeypatch.delenv("PERCEPTOGRAM_QUIET", raising=False)
    osf.fail_next = [(503, {"Retry-After": "86400"})]
    sleeps = Sleeps()
    download(tmp_path / "data", None, what="images", api_url=osf.api, policy=LOCAL,
             retry=RetryPolicy(sleep=sleeps))
    assert sleeps == [60.0]  # a day asked for, the documented cap waited
    err = " ".join(capfd.readouterr().err.split())
    assert "answered HTTP 503 (Service Unavailable); waiting 60 s (as its Retry-After asks) " \
           "before try 2 of 6" in err
    assert "Listing the files of OSF project y63gw" in err


def test_a_trickling_listing_is_cut_off_at_its_deadline(tmp_path, monkeypatch):
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from perceptogram.data.fetch import http
    from perceptogram.data.fetch.download import list_osf_files
    from perceptogram.errors import OfflineError

    class Trickle(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "60")
            self.end_headers()
            try:
                for _ in range(60):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setattr(http, "READ_DEADLINE_S", 1.0, raising=False)
    try:
        start = time.monotonic()
        with pytest.raises(OfflineError, match="did not arrive within 1 s"):
            list_osf_files("anp5v", api_url=f"http://127.0.0.1:{httpd.server_address[1]}/v2",
                           policy=LOCAL, retry=RetryPolicy(attempts=1, sleep=Sleeps()))
        assert time.monotonic() - start < 10
    finally:
        httpd.shutdown()
        httpd.server_close()
