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

from perceptogram._owned import owned_kind
from perceptogram.data.fetch.http import HostPolicy, RetryPolicy, UnsafeLinkError
from perceptogram.data.fetch.zip_archives import ZipLimits, extract_zip
from perceptogram.data.fetch.download import (
    DOWNLOAD_DIRNAME,
    RemoteFile,
    default_policy,
    fetch,
    list_osf_files,
    plan_download,
)
from perceptogram.data.fetch.download import download as _download
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS, load_subject
from perceptogram.errors import DataFormatError, OfflineError, PerceptogramError

#: The test server is plain http on 127.0.0.1; the command line never allows that.
LOCAL = HostPolicy(allow_http_localhost=True)


class Sleeps(list):
    """An injectable sleep that records the waits instead of waiting."""

    def __call__(self, seconds):
        self.append(seconds)


def download(root, subjects=None, images=True, *, retry=None, **kwargs):
    """download() against the local test server, with recorded (not real) sleeps."""
    kwargs.setdefault("what", "all" if images else "eeg")
    return _download(root, subjects, policy=LOCAL,
                     retry=retry or RetryPolicy(sleep=Sleeps()), **kwargs)

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
        self.fail_next: list[tuple[int, dict[str, str]]] = []  # (status, headers) per request
        self.listed_sizes: dict[str, int] = {}  # path -> size override in the listing
        self.self_next = False  # every listing page says it is its own next page
        self.listing_body: bytes | None = None  # served instead of every listing page
        self.requests: list[str] = []
        self.downloads: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A client that stops reading (as it must for an oversize body) breaks the pipe.
        self.httpd.handle_error = lambda request, client_address: None
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
                "attributes": {"kind": "file", "name": rest,
                               "size": self.listed_sizes.get(path, len(content)),
                               "materialized_path": f"/{path}",
                               "extra": {"hashes": hashes}},
                "links": {"download": f"{self.base}/download/{node}/{path}"},
            })
        return entries

    def handle(self, request):
        url = urlsplit(request.path)
        parts = url.path.strip("/").split("/")
        self.requests.append(request.path)
        if self.fail_next:
            status, headers = self.fail_next.pop(0)
            request.send_response(status)
            for name, value in headers.items():
                request.send_header(name, value)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if parts[:2] == ["v2", "nodes"]:
            node, folder = parts[2], "/".join(parts[5:])
            entries = self._entries(node, f"{folder}/" if folder else "")
            page = int(url.query.partition("page=")[2] or 1)
            chunk = entries[(page - 1) * self.page_size: page * self.page_size]
            more = page * self.page_size < len(entries)
            following = f"{self.base}{url.path}?page={page + 1}" if more else None
            if self.self_next:
                following = f"{self.base}{request.path}"
            body = json.dumps({"data": chunk, "links": {"next": following}}).encode()
            body = self.listing_body if self.listing_body is not None else body
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
        cut, self.cut_next_download_at = self.cut_next_download_at, None
        sent = body if cut is None else body[:cut]
        # Recorded before sending: the client may be done before this thread goes on.
        self.downloads.append({"path": path, "range": range_header, "bytes": len(sent)})
        request.wfile.write(sent)
        if cut is not None:
            request.wfile.flush()
            request.close_connection = True
            request.connection.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def osf():
    server = FakeOSF(_release())
    yield server
    server.close()


def _remote(osf, node, path):
    return next(f for f in list_osf_files(node, api_url=osf.api, policy=LOCAL) if f.path == path)


def test_listing_follows_pages_and_folders(osf):
    files = list_osf_files("anp5v", api_url=osf.api, policy=LOCAL)
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
    staging = tmp_path / DOWNLOAD_DIRNAME
    assert owned_kind(staging) == "download"
    assert not list(staging.rglob("*.zip")) and not list(staging.glob("*.unpacking"))
    assert not list(tmp_path.rglob("*.part"))
    # A second run skips everything that is already there.
    n_downloads = len(osf.downloads)
    assert download(tmp_path, [1, 2, 3], api_url=osf.api) == paths
    assert len(osf.downloads) == n_downloads


def test_what_selects_eeg_or_images_and_all_subjects_by_default(osf):
    def paths(**kwargs):
        return sorted(f.path for f in plan_download(api_url=osf.api, policy=LOCAL, **kwargs))

    assert paths(what="images") == sorted(osf.projects["y63gw"])
    eeg = sorted(p for p in osf.projects["anp5v"] if p.startswith("sub-"))
    assert paths(what="eeg") == eeg  # every subject on OSF
    assert paths(what="eeg", subjects=[2]) == [p for p in eeg if p.startswith("sub-02/")]
    assert paths(what="all", subjects=[1]) == sorted(["sub-01.zip", *osf.projects["y63gw"]])


def test_cli_prints_the_total_size_first(osf, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from perceptogram.cli.app import app
    from perceptogram.data.fetch import download as module

    # The command line never allows http://127.0.0.1; the test lets its policy do so.
    monkeypatch.setattr(module, "default_policy", lambda api_url: LOCAL)
    result = CliRunner().invoke(app, ["data", "download", str(tmp_path / "d"),
                                              "--what", "eeg", "--subject", "2",
                                              "--osf-api", osf.api])
    assert result.exit_code == 0, result.output
    total = sum(len(c) for p, c in osf.projects["anp5v"].items() if p.startswith("sub-02/"))
    first = result.output.splitlines()[0]
    assert first == (f"2 files to get, {total / 1e6:.1f} MB in total "
                     "(files already here are skipped).")
    assert (tmp_path / "d" / "sub-02" / "preprocessed_eeg_test.npy").is_file()


def test_cli_refuses_the_local_server():
    from typer.testing import CliRunner

    from perceptogram.cli.app import app

    result = CliRunner().invoke(app, ["data", "download", "x", "--what", "images",
                                              "--osf-api", "http://127.0.0.1:9/v2"])
    assert result.exit_code == 1 and "Refusing to follow the link" in result.output


def test_partial_download_is_resumed_not_restarted(osf, tmp_path):
    content = osf.projects["anp5v"]["sub-01.zip"]
    half = len(content) // 2
    download(tmp_path, [], what="images", api_url=osf.api)  # creates the staging folder
    osf.downloads.clear()
    part = tmp_path / DOWNLOAD_DIRNAME / "sub-01.zip.part"
    part.write_bytes(content[:half])
    download(tmp_path, [1], images=False, api_url=osf.api)
    assert osf.downloads == [{"path": "sub-01.zip", "range": f"bytes={half}-",
                              "bytes": len(content) - half}]
    assert (tmp_path / "sub-01" / "preprocessed_eeg_training.npy").is_file()


def test_server_ignoring_range_restarts_cleanly(osf, tmp_path):
    osf.ignore_range = True
    remote = _remote(osf, "y63gw", "image_metadata.npy")
    content = osf.projects["y63gw"]["image_metadata.npy"]
    (tmp_path / "image_metadata.npy.part").write_bytes(content[:100])
    fetch(remote, tmp_path / "image_metadata.npy", policy=LOCAL)
    assert osf.downloads == [{"path": "image_metadata.npy", "range": "bytes=100-",
                              "bytes": len(content)}]
    assert (tmp_path / "image_metadata.npy").read_bytes() == content  # not appended


def test_dropped_connection_mid_file_is_resumed(osf, tmp_path):
    osf.cut_next_download_at = 1000
    sleeps = Sleeps()
    download(tmp_path, [2], images=False, api_url=osf.api, retry=RetryPolicy(sleep=sleeps))
    first, resumed = osf.downloads[:2]
    assert first["range"] is None and first["bytes"] == 1000
    assert resumed["path"] == first["path"] and resumed["range"] == "bytes=1000-"
    assert sleeps == [1.0]
    assert not list(tmp_path.rglob("*.part"))
    for name, content in osf.projects["anp5v"].items():
        if name.startswith("sub-02/"):
            assert (tmp_path / name).read_bytes() == content


def test_dropped_connection_without_retries_keeps_the_part(osf, tmp_path):
    osf.cut_next_download_at = 1000
    with pytest.raises(OfflineError, match="run the same command again"):
        download(tmp_path, [2], images=False, api_url=osf.api,
                 retry=RetryPolicy(attempts=1, sleep=Sleeps()))
    assert [p.stat().st_size for p in tmp_path.rglob("*.part")] == [1000]
    download(tmp_path, [2], images=False, api_url=osf.api)
    assert osf.downloads[1]["range"] == "bytes=1000-"


def test_429_waits_as_long_as_retry_after_says(osf, tmp_path):
    remote = _remote(osf, "y63gw", "image_metadata.npy")
    osf.fail_next = [(429, {"Retry-After": "7"}), (429, {"Retry-After": "3600"}),
                     (503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), (503, {})]
    sleeps = Sleeps()
    fetch(remote, tmp_path / "m.npy", policy=LOCAL,
          retry=RetryPolicy(backoff=0.5, max_wait=30.0, sleep=sleeps))
    # Seconds as given; capped at max_wait; a past HTTP date means now; then backoff.
    assert sleeps == [7.0, 30.0, 0.0, 4.0]
    assert (tmp_path / "m.npy").read_bytes() == osf.projects["y63gw"]["image_metadata.npy"]


def test_retry_after_as_a_future_http_date():
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone

    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    assert 15 < RetryPolicy().delay(1, when) <= 20
    assert RetryPolicy().delay(3, "soon") == 4.0  # unparsable: exponential backoff


def test_503_forever_becomes_a_clear_error(osf, tmp_path):
    remote = _remote(osf, "y63gw", "image_metadata.npy")
    osf.fail_next = [(503, {})] * 3
    sleeps = Sleeps()
    with pytest.raises(OfflineError, match=r"failed 3 times \(127\.0\.0\.1:\d+: HTTP 503"):
        fetch(remote, tmp_path / "m.npy", policy=LOCAL,
              retry=RetryPolicy(attempts=3, sleep=sleeps))
    assert sleeps == [1.0, 2.0]
    assert not (tmp_path / "m.npy").exists()


def test_404_is_not_retried(osf, tmp_path):
    remote = _remote(osf, "y63gw", "image_metadata.npy")
    osf.fail_next = [(404, {})]
    sleeps = Sleeps()
    with pytest.raises(PerceptogramError, match="answered HTTP 404"):
        fetch(remote, tmp_path / "m.npy", policy=LOCAL, retry=RetryPolicy(sleep=sleeps))
    assert sleeps == []


def test_listing_is_retried_too(osf):
    osf.fail_next = [(502, {}), (429, {"Retry-After": "2"})]
    sleeps = Sleeps()
    files = list_osf_files("y63gw", api_url=osf.api, policy=LOCAL,
                           retry=RetryPolicy(sleep=sleeps))
    assert sorted(f.path for f in files) == sorted(osf.projects["y63gw"]) and sleeps == [1.0, 2.0]


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
    sleeps = Sleeps()
    with pytest.raises(OfflineError, match=r"127\.0\.0\.1:\d+: cannot connect.*internet"):
        download(tmp_path, [1], api_url=f"http://127.0.0.1:{port}/v2", timeout=5,
                 retry=RetryPolicy(attempts=2, sleep=sleeps))
    assert sleeps == [1.0]


def test_missing_remote_files_are_named(osf, tmp_path):
    with pytest.raises(DataFormatError, match="lists no sub-07.zip or sub-07/ folder"):
        download(tmp_path, [7], api_url=osf.api)
    del osf.projects["y63gw"]["test_images.zip"]
    with pytest.raises(DataFormatError, match="lists no test_images.zip"):
        download(tmp_path, [], api_url=osf.api)


@pytest.mark.parametrize("path", ["/sub-01/../../evil.npy", "/sub-01/.perceptogram",
                                  f"/{DOWNLOAD_DIRNAME}/x.done.json",
                                  "/sub-01/\x1b]0;evil\x07.npy"])
def test_unsafe_listed_path_is_refused(osf, tmp_path, path):
    osf.extra_root_entries.append({
        "attributes": {"kind": "file", "name": "evil.npy", "size": 4, "extra": {},
                       "materialized_path": path},
        "links": {"download": f"{osf.base}/download/anp5v/evil.npy"},
    })
    with pytest.raises(DataFormatError, match="unsafe file path"):
        download(tmp_path / "root", [1], images=False, api_url=osf.api)
    assert not list(tmp_path.rglob("*evil*")) and not osf.downloads


@pytest.mark.parametrize("link", ["file:///etc/passwd", "ftp://127.0.0.1/x",
                                  "https://evil.example.org/sub-09.zip",
                                  "https://osf.io.evil.example.org/x", "data:,hello"])
def test_links_off_the_allowed_hosts_are_refused(osf, tmp_path, link):
    osf.extra_root_entries.append({
        "attributes": {"kind": "file", "name": "sub-09.zip", "size": 4, "extra": {},
                       "materialized_path": "/sub-09.zip"},
        "links": {"download": link},
    })
    with pytest.raises(UnsafeLinkError, match="refusing to follow the link"):
        download(tmp_path, [9], images=False, api_url=osf.api)
    assert not osf.downloads and not (tmp_path / "sub-09").exists()


def test_host_policy():
    osf = HostPolicy()
    for url in ("https://api.osf.io/v2/nodes/", "https://files.de-1.osf.io/v1/x",
                "https://storage.googleapis.com/b/o"):
        assert osf.check(url) == url
    for url in ("http://api.osf.io/v2/", "https://osf.io@evil.org/", "https://evilosf.io/",
                "file:///etc/passwd", "http://127.0.0.1:8/", "https://api.osf.io:x/"):
        with pytest.raises(UnsafeLinkError):
            osf.check(url)
    assert LOCAL.check("http://127.0.0.1:8/x") and LOCAL.check("http://localhost/x")
    with pytest.raises(UnsafeLinkError):
        LOCAL.check("http://10.0.0.1/x")
    assert default_policy("https://mirror.example.org/v2").check("https://mirror.example.org/a")
    with pytest.raises(UnsafeLinkError):
        default_policy("https://mirror.example.org/v2").check("http://mirror.example.org/a")


def test_redirect_to_a_file_url_is_refused(osf, tmp_path):
    remote = _remote(osf, "y63gw", "image_metadata.npy")
    osf.fail_next = [(302, {"Location": "file:///etc/passwd"})]
    with pytest.raises(PerceptogramError):
        fetch(remote, tmp_path / "m.npy", policy=LOCAL, retry=RetryPolicy(sleep=Sleeps()))
    osf.fail_next = [(302, {"Location": "https://evil.example.org/m.npy"})]
    with pytest.raises(UnsafeLinkError, match="evil.example.org"):
        fetch(remote, tmp_path / "m.npy", policy=LOCAL, retry=RetryPolicy(sleep=Sleeps()))
    assert not (tmp_path / "m.npy").exists()


def test_body_larger_than_listed_is_refused(osf, tmp_path):
    big = b"x" * (30 << 20)
    osf.projects["y63gw"]["image_metadata.npy"] = big
    osf.listed_sizes["image_metadata.npy"] = 1000
    osf.listed_hashes["image_metadata.npy"] = {"sha256": "0" * 64}
    remote = _remote(osf, "y63gw", "image_metadata.npy")
    assert remote.size == 1000
    with pytest.raises(DataFormatError, match="listed at 1000 bytes; refusing"):
        download(tmp_path, what="images", api_url=osf.api)
    assert not (tmp_path / "image_metadata.npy").exists()
    assert not list(tmp_path.rglob("*.part"))


def test_body_larger_than_listed_without_content_length_is_cut(tmp_path):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.end_headers()  # no Content-Length: the body runs until close
            self.wfile.write(b"y" * 5000)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/f"
        with pytest.raises(DataFormatError, match="more than the listed 1000 bytes"):
            fetch(RemoteFile("f", 1000, url, sha256="0" * 64), tmp_path / "f", policy=LOCAL)
        assert not (tmp_path / "f").exists()
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("how", ["next", "folder"])
def test_link_cycles_are_detected(osf, how):
    if how == "next":
        osf.self_next = True
    else:
        osf.extra_root_entries.append({
            "attributes": {"kind": "folder", "name": "loop", "materialized_path": "/loop/"},
            "relationships": {"files": {"links": {"related": {
                "href": f"{osf.api}/nodes/anp5v/files/osfstorage/"}}}},
        })
    with pytest.raises(DataFormatError, match="links back to .* refusing to loop"):
        list_osf_files("anp5v", api_url=osf.api, policy=LOCAL)
    assert len(osf.requests) < 20


@pytest.mark.parametrize("body, message", [
    (b"[" * 100_000 + b"]" * 100_000, "did not return a usable JSON document"),
    (b"not json", "did not return a usable JSON document"),
    (b'{"data": {"a": 1}}', "is not an OSF file listing"),
    (b'{"data": [{"attributes": {"kind": "file", "name": "x", "size": -1}, "links": {}}]}',
     "malformed entry"),
    (b'{"data": [], "links": {"next": "file:///etc/passwd"}}', "refusing to follow the link"),
])
def test_odd_listing_pages_are_clear_errors(osf, body, message):
    osf.listing_body = body
    with pytest.raises(DataFormatError, match=message):
        list_osf_files("anp5v", api_url=osf.api, policy=LOCAL)


def test_listing_page_cap(osf, monkeypatch):
    from perceptogram.data.fetch import download as module

    monkeypatch.setattr(module, "MAX_LISTING_PAGES", 2)  # the project has 3 pages
    with pytest.raises(DataFormatError, match="more than 2 pages"):
        list_osf_files("anp5v", api_url=osf.api, policy=LOCAL)


def test_existing_user_files_are_never_overwritten(osf, tmp_path):
    (tmp_path / "image_metadata.npy").write_bytes(b"my own file")
    with pytest.raises(PerceptogramError, match="exists and differs"):
        download(tmp_path, what="images", api_url=osf.api)
    assert (tmp_path / "image_metadata.npy").read_bytes() == b"my own file"
    (tmp_path / "image_metadata.npy").write_bytes(osf.projects["y63gw"]["image_metadata.npy"])
    (tmp_path / "test_images").mkdir()
    (tmp_path / "test_images" / "mine.jpg").write_bytes(b"mine")
    with pytest.raises(PerceptogramError, match="test_images already exists"):
        download(tmp_path, what="images", api_url=osf.api)
    assert [p.name for p in (tmp_path / "test_images").iterdir()] == ["mine.jpg"]


def test_unowned_staging_folder_is_refused(osf, tmp_path):
    (tmp_path / DOWNLOAD_DIRNAME).mkdir()
    (tmp_path / DOWNLOAD_DIRNAME / "notes.txt").write_text("mine")
    with pytest.raises(PerceptogramError, match="not created by Perceptogram"):
        download(tmp_path, what="images", api_url=osf.api)
    assert (tmp_path / DOWNLOAD_DIRNAME / "notes.txt").read_text() == "mine"


# --------------------------------------------------------------------------- archives


def _extract(tmp_path, members=None, archive_bytes=None, **limits):
    archive = tmp_path / "dl" / "sub-01.zip"
    archive.parent.mkdir(exist_ok=True)
    archive.write_bytes(archive_bytes if archive_bytes is not None else _zip_bytes(members))
    return archive, lambda: extract_zip(archive, tmp_path / "out", limits=ZipLimits(**limits))


@pytest.mark.parametrize("name", ["../evil.txt", "/tmp/evil.txt", "sub/../../evil.txt",
                                  "..\\evil.txt", "C:/evil.txt"])
def test_unsafe_zip_members_are_refused_before_writing(tmp_path, name):
    _, extract = _extract(tmp_path, {"sub-01/ok.txt": b"fine", name: b"evil"})
    with pytest.raises(DataFormatError, match="unsafe"):
        extract()
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_extract_unnests_the_top_folder(tmp_path):
    _, extract = _extract(tmp_path, {"sub-01/a.txt": b"a", "sub-01/b/c.txt": b"c"})
    out = extract()
    assert (out / "a.txt").read_bytes() == b"a" and (out / "b" / "c.txt").read_bytes() == b"c"
    with pytest.raises(PerceptogramError, match="already exists"):
        extract()  # never into an existing folder


def test_symlink_members_are_refused(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("x/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DataFormatError, match="symbolic link"):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("shape", ["one member", "many small members", "hidden in padding"])
def test_zip_bomb_is_refused(tmp_path, shape):
    # Zeros deflate about 1000-fold.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        if shape == "one member":  # 200 MB from ~200 KB
            with zf.open("sub-01/zeros.npy", "w", force_zip64=True) as member:
                for _ in range(200):
                    member.write(bytes(1 << 20))
        elif shape == "many small members":  # each under 1 MiB, 300 MB in all
            for i in range(400):
                zf.writestr(f"z{i}.bin", bytes(750_000))
        else:  # one 60 MB bomb member next to 1 MB of noise: overall ratio ~50
            zf.writestr("noise.bin", np.random.default_rng(0).bytes(1 << 20),
                        compress_type=zipfile.ZIP_STORED)
            zf.writestr("zeros.bin", bytes(60 << 20))
    _, extract = _extract(tmp_path, archive_bytes=buffer.getvalue())
    with pytest.raises(DataFormatError, match="zip bomb"):
        extract()
    assert not (tmp_path / "out").exists()


def test_total_size_cap(tmp_path):
    _, extract = _extract(tmp_path, {f"f{i}.bin": bytes(range(256)) * 64 for i in range(4)},
                          max_bytes=50_000)
    with pytest.raises(DataFormatError, match="unpacks to 65536 bytes, more than the 50000"):
        extract()


def test_overlapping_members_are_refused(tmp_path):
    # Two central-directory entries pointing at the same local file (a "better zip bomb").
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.txt", b"payload")
        zf.writestr("b.txt", b"payload")
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        second = zf.getinfo("b.txt")
    central = data.rindex(b"PK\x01\x02")  # the last central-directory entry (b.txt)
    data[central + 42:central + 46] = (0).to_bytes(4, "little")  # its local header -> a.txt's
    assert second.header_offset > 0
    _, extract = _extract(tmp_path, archive_bytes=bytes(data))
    with pytest.raises(DataFormatError, match="overlap"):
        extract()
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_encrypted_members_are_refused(tmp_path):
    data = bytearray(_zip_bytes({"secret.txt": b"not really encrypted"}))
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        where = data.index(signature) + flags_at
        data[where] |= 0x1  # general purpose flag bit 0: encrypted
    _, extract = _extract(tmp_path, archive_bytes=bytes(data))
    with pytest.raises(DataFormatError, match="encrypted"):
        extract()


@pytest.mark.parametrize("names", [("a.txt", "a.txt"), ("A.txt", "a.txt"), ("a", "a/b.txt"),
                                   ("x/.perceptogram", "y.txt")])
def test_duplicate_and_clashing_members_are_refused(tmp_path, names):
    buffer = io.BytesIO()
    with pytest.warns(UserWarning) if names[0] == names[1] else _no_warning():
        with zipfile.ZipFile(buffer, "w") as zf:
            for name in names:
                zf.writestr(name, b"x")
    _, extract = _extract(tmp_path, archive_bytes=buffer.getvalue())
    with pytest.raises(DataFormatError, match="twice|both a file and a folder|marker"):
        extract()
    assert not (tmp_path / "out").exists()


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


def test_not_a_zip_is_a_clear_error(tmp_path):
    _, extract = _extract(tmp_path, archive_bytes=b"PK\x03\x04 not really a zip")
    with pytest.raises(DataFormatError, match="not a valid zip file"):
        extract()


def test_fetch_verifies_size(osf, tmp_path):
    content = osf.projects["y63gw"]["image_metadata.npy"]
    url = f"{osf.base}/download/y63gw/image_metadata.npy"
    remote = RemoteFile(path="image_metadata.npy", size=len(content) + 10, url=url,
                        sha256="0" * 64)
    with pytest.raises(OfflineError, match="closed 10 bytes before the end"):
        fetch(remote, tmp_path / "m.npy", policy=LOCAL,
              retry=RetryPolicy(attempts=2, sleep=Sleeps()))
    assert not (tmp_path / "m.npy").exists()
