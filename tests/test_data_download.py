"""download(): a fake OSF API on 127.0.0.1 serves listings and files (no real network)."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import stat
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np
import pytest

from perceptogram.data.download import (
    DOWNLOAD_DIRNAME,
    RemoteFile,
    download,
    extract_zip,
    fetch,
    list_osf_files,
)
from perceptogram.data.things_eeg2 import THINGS_CHANNELS, load_subject
from perceptogram.errors import DataFormatError, OfflineError

TIMES = np.arange(-20, 80) / 100.0
N_TRAIN, N_TEST = 4, 2


def _npy_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, obj, allow_pickle=True)
    return buffer.getvalue()


def _eeg_bytes(n_images, n_reps, seed) -> bytes:
    data = np.random.default_rng(seed).standard_normal((n_images, n_reps, 17, 100))
    return _npy_bytes({"preprocessed_eeg_data": data, "ch_names": list(THINGS_CHANNELS),
                       "times": TIMES})


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _metadata_bytes() -> bytes:
    return _npy_bytes({
        "train_img_files": [f"c{i // 2}_{i}.jpg" for i in range(N_TRAIN)],
        "train_img_concepts": [f"{i // 2 + 1:05d}_c{i // 2}" for i in range(N_TRAIN)],
        "test_img_files": [f"t{i}.jpg" for i in range(N_TEST)],
        "test_img_concepts": [f"{i + 1:05d}_t{i}" for i in range(N_TEST)],
    })


def _release() -> dict[str, dict[str, bytes]]:
    """OSF projects -> {path: content}, in the shapes the real release uses."""
    eeg = {
        # A zip whose members sit under sub-01/ (like the release).
        "sub-01.zip": _zip_bytes({
            "sub-01/preprocessed_eeg_training.npy": _eeg_bytes(N_TRAIN, 4, 1),
            "sub-01/preprocessed_eeg_test.npy": _eeg_bytes(N_TEST, 80, 2),
        }),
        # A folder of .npy files.
        "sub-02/preprocessed_eeg_training.npy": _eeg_bytes(N_TRAIN, 4, 3),
        "sub-02/preprocessed_eeg_test.npy": _eeg_bytes(N_TEST, 80, 4),
        # A zip with the files at its top level.
        "sub-03.zip": _zip_bytes({
            "preprocessed_eeg_training.npy": _eeg_bytes(N_TRAIN, 4, 5),
            "preprocessed_eeg_test.npy": _eeg_bytes(N_TEST, 80, 6),
            "__MACOSX/._preprocessed_eeg_test.npy": b"junk",
        }),
        "README.txt": b"preprocessed EEG",
    }
    images = {
        "image_metadata.npy": _metadata_bytes(),
        "training_images.zip": _zip_bytes({
            f"training_images/{i // 2 + 1:05d}_c{i // 2}/c{i // 2}_{i}.jpg": b"jpeg%d" % i
            for i in range(N_TRAIN)}),
        "test_images.zip": _zip_bytes({
            f"test_images/{i + 1:05d}_t{i}/t{i}.jpg": b"jpeg" for i in range(N_TEST)}),
    }
    return {"anp5v": eeg, "y63gw": images}


class FakeOSF:
    """Minimal OSF v2 API: paginated listings, folders, downloads with Range."""

    page_size = 2

    def __init__(self, projects):
        self.projects = projects
        self.listed_hashes: dict[str, dict[str, str]] = {}  # path -> hashes override
        self.extra_root_entries: list[dict] = []  # raw listing entries, as a server might
        self.ignore_range = False
        self.cut_next_download_at: int | None = None
        self.downloads: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def api(self):
        return f"{self.base}/v2"

    def _entries(self, node, folder):
        entries = [] if folder else list(self.extra_root_entries)
        folders = set()
        for path, content in sorted(self.projects[node].items()):
            if not path.startswith(folder):
                continue
            rest = path[len(folder):]
            if "/" in rest:
                sub = rest.split("/")[0]
                if sub not in folders:
                    folders.add(sub)
                    href = f"{self.api}/nodes/{node}/files/osfstorage/{folder}{sub}/"
                    entries.append({
                        "attributes": {"kind": "folder", "name": sub,
                                       "materialized_path": f"/{folder}{sub}/"},
                        "relationships": {"files": {"links": {"related": {"href": href}}}},
                    })
                continue
            hashes = self.listed_hashes.get(path, {
                "md5": hashlib.md5(content).hexdigest(),
                "sha256": hashlib.sha256(content).hexdigest(),
            })
            entries.append({
                "attributes": {"kind": "file", "name": rest, "size": len(content),
                               "materialized_path": f"/{path}",
                               "extra": {"hashes": hashes}},
                "links": {"download": f"{self.base}/download/{node}/{path}"},
            })
        return entries

    def handle(self, request):
        url = urlsplit(request.path)
        parts = url.path.strip("/").split("/")
        if parts[:2] == ["v2", "nodes"]:
            node, folder = parts[2], "/".join(parts[5:])
            entries = self._entries(node, f"{folder}/" if folder else "")
            page = int(url.query.partition("page=")[2] or 1)
            chunk = entries[(page - 1) * self.page_size: page * self.page_size]
            more = page * self.page_size < len(entries)
            body = json.dumps({"data": chunk, "links": {
                "next": f"{self.base}{url.path}?page={page + 1}" if more else None}}).encode()
            request.send_response(200)
            request.send_header("Content-Type", "application/vnd.api+json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
            return
        node, path = parts[1], "/".join(parts[2:])
        content = self.projects[node][path]
        start = 0
        range_header = request.headers.get("Range")
        if range_header and not self.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
        body = content[start:]
        request.send_response(206 if start else 200)
        if start:
            request.send_header("Content-Range",
                                f"bytes {start}-{len(content) - 1}/{len(content)}")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if self.cut_next_download_at is not None:
            body, self.cut_next_download_at = body[:self.cut_next_download_at], None
            request.wfile.write(body)
            request.wfile.flush()
            request.close_connection = True
            request.connection.shutdown(socket.SHUT_RDWR)
        else:
            request.wfile.write(body)
        self.downloads.append({"path": path, "range": range_header, "bytes": len(body)})

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def osf():
    server = FakeOSF(_release())
    yield server
    server.close()


def test_listing_follows_pages_and_folders(osf):
    files = list_osf_files("anp5v", api_url=osf.api)
    assert sorted(f.path for f in files) == sorted(osf.projects["anp5v"])
    by_path = {f.path: f for f in files}
    content = osf.projects["anp5v"]["sub-02/preprocessed_eeg_test.npy"]
    remote = by_path["sub-02/preprocessed_eeg_test.npy"]
    assert remote.size == len(content) and remote.name == "preprocessed_eeg_test.npy"
    assert remote.sha256 == hashlib.sha256(content).hexdigest()


def test_download_builds_the_things_layout(osf, tmp_path):
    paths = download(tmp_path, [1, 2, 3], api_url=osf.api)
    for subject in (1, 2, 3):
        assert tmp_path / f"sub-{subject:02d}" in paths
        train, test = load_subject(tmp_path, subject)
        assert train.data.shape == (N_TRAIN, 4, 17, 100)
        assert test.data.shape == (N_TEST, 80, 17, 100)
        assert train.image_files[1] == "c0_1.jpg"
    assert (tmp_path / "training_images" / "00002_c1" / "c1_3.jpg").read_bytes() == b"jpeg3"
    assert (tmp_path / "test_images" / "00001_t0" / "t0.jpg").is_file()
    assert not (tmp_path / "__MACOSX").exists() and not (tmp_path / "sub-03" / "__MACOSX").exists()
    assert not list((tmp_path / DOWNLOAD_DIRNAME).glob("*.zip"))  # archives removed
    assert not list(tmp_path.rglob("*.part"))
    # A second run skips everything that is already there.
    n_downloads = len(osf.downloads)
    assert download(tmp_path, [1, 2, 3], api_url=osf.api) == paths
    assert len(osf.downloads) == n_downloads


def test_partial_download_is_resumed_not_restarted(osf, tmp_path):
    content = osf.projects["anp5v"]["sub-01.zip"]
    half = len(content) // 2
    part = tmp_path / DOWNLOAD_DIRNAME / "sub-01.zip.part"
    part.parent.mkdir()
    part.write_bytes(content[:half])
    download(tmp_path, [1], images=False, api_url=osf.api)
    assert osf.downloads == [{"path": "sub-01.zip", "range": f"bytes={half}-",
                              "bytes": len(content) - half}]
    assert (tmp_path / "sub-01" / "preprocessed_eeg_training.npy").is_file()


def test_server_ignoring_range_restarts_cleanly(osf, tmp_path):
    osf.ignore_range = True
    remote = next(f for f in list_osf_files("y63gw", api_url=osf.api)
                  if f.path == "image_metadata.npy")
    content = osf.projects["y63gw"]["image_metadata.npy"]
    (tmp_path / "image_metadata.npy.part").write_bytes(content[:100])
    fetch(remote, tmp_path / "image_metadata.npy")
    assert (tmp_path / "image_metadata.npy").read_bytes() == content


def test_dropped_connection_keeps_the_part_for_the_next_run(osf, tmp_path):
    osf.cut_next_download_at = 1000
    with pytest.raises(OfflineError, match="run the same command again"):
        download(tmp_path, [2], images=False, api_url=osf.api)
    parts = list(tmp_path.rglob("*.part"))
    assert [p.stat().st_size for p in parts] == [1000]
    download(tmp_path, [2], images=False, api_url=osf.api)
    first, resumed = osf.downloads[:2]
    assert first["range"] is None and first["bytes"] == 1000
    assert resumed["path"] == first["path"] and resumed["range"] == "bytes=1000-"
    assert not list(tmp_path.rglob("*.part"))
    for name, content in osf.projects["anp5v"].items():
        if name.startswith("sub-02/"):
            assert (tmp_path / name).read_bytes() == content


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_corrupt_download_leaves_nothing_under_the_final_name(osf, tmp_path, algorithm):
    osf.listed_hashes["sub-01.zip"] = {algorithm: hashlib.new(algorithm, b"other").hexdigest()}
    with pytest.raises(DataFormatError, match=f"corrupt \\({algorithm} .* instead of"):
        download(tmp_path, [1], images=False, api_url=osf.api)
    assert not (tmp_path / DOWNLOAD_DIRNAME / "sub-01.zip").exists()
    assert not list(tmp_path.rglob("*.part"))
    assert not (tmp_path / "sub-01").exists()


def test_offline_is_a_clear_error(tmp_path):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OfflineError, match=r"cannot reach 127\.0\.0\.1:\d+ .*internet"):
        download(tmp_path, [1], api_url=f"http://127.0.0.1:{port}/v2", timeout=5)


def test_missing_remote_files_are_named(osf, tmp_path):
    with pytest.raises(DataFormatError, match="lists no sub-07.zip or sub-07/ folder"):
        download(tmp_path, [7], api_url=osf.api)
    del osf.projects["y63gw"]["test_images.zip"]
    with pytest.raises(DataFormatError, match="lists no test_images.zip"):
        download(tmp_path, [], api_url=osf.api)


def test_unsafe_listed_path_is_refused(osf, tmp_path):
    osf.extra_root_entries.append({
        "attributes": {"kind": "file", "name": "evil.npy", "size": 4, "extra": {},
                       "materialized_path": "/sub-01/../../evil.npy"},
        "links": {"download": f"{osf.base}/download/anp5v/evil.npy"},
    })
    with pytest.raises(DataFormatError, match="unsafe file path"):
        download(tmp_path / "root", [1], images=False, api_url=osf.api)
    assert not list(tmp_path.rglob("*evil*")) and not osf.downloads


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "sub/../../evil.txt",
                                  "..\\evil.txt", "C:/evil.txt"])
def test_unsafe_zip_members_are_refused_before_writing(tmp_path, name):
    archive = tmp_path / "dl" / "sub-01.zip"
    archive.parent.mkdir()
    archive.write_bytes(_zip_bytes({"sub-01/ok.txt": b"fine", name: b"evil"}))
    target = tmp_path / "root"
    target.mkdir()
    with pytest.raises(DataFormatError, match="unsafe"):
        extract_zip(archive, target)
    assert not list(target.rglob("*")) and not (tmp_path / "evil.txt").exists()


def test_symlink_members_are_refused(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("x/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DataFormatError, match="symbolic link"):
        extract_zip(archive, tmp_path / "out")


def test_fetch_verifies_size(osf, tmp_path):
    content = osf.projects["y63gw"]["image_metadata.npy"]
    url = f"{osf.base}/download/y63gw/image_metadata.npy"
    remote = RemoteFile(path="image_metadata.npy", size=len(content) - 10, url=url)
    with pytest.raises(DataFormatError, match="bytes instead of"):
        fetch(remote, tmp_path / "m.npy")
    assert not (tmp_path / "m.npy").exists()
