"""Download THINGS-EEG2 from OSF: resumable, checksummed, safely unzipped.

The preprocessed EEG (OSF project ``anp5v``) holds one ``sub-XX.zip`` per subject
(or, equivalently, a ``sub-XX/`` folder of ``.npy`` files); the image set
(``y63gw``) holds ``image_metadata.npy``, ``training_images.zip`` and
``test_images.zip``. Files are listed through the OSF v2 API, whose listing gives
each file's size and MD5/SHA-256. Every file is downloaded to
``<final name>.part`` (continued with an HTTP ``Range`` request when
interrupted), checked against the listed hash, and only then renamed. Archives
are downloaded to ``root/.perceptogram-downloads/`` and unpacked into ``root``,
so that the result is the layout of :mod:`perceptogram.data.things_eeg2`. A
small JSON marker per finished item makes a second run skip it.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import stat
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from perceptogram import __version__
from perceptogram._hashing import file_digest
from perceptogram._io import atomic_path, write_json_atomic
from perceptogram._progress import track
from perceptogram.errors import DataFormatError, OfflineError, PerceptogramError

OSF_API = "https://api.osf.io/v2"
EEG_NODE = "anp5v"
IMAGES_NODE = "y63gw"
IMAGE_SET_FILES = ("image_metadata.npy", "training_images.zip", "test_images.zip")
DOWNLOAD_DIRNAME = ".perceptogram-downloads"

_CHUNK = 1 << 20
_USER_AGENT = f"perceptogram/{__version__} (+https://github.com/perceptogram)"


@dataclass(frozen=True)
class RemoteFile:
    """A file listed by the OSF API.

    Parameters
    ----------
    path : str
        Path inside the OSF storage, without leading slash (``"sub-01.zip"``).
    size : int
        Size in bytes.
    url : str
        Download link.
    md5, sha256 : str or None
        Hex digests from the listing.
    """

    path: str
    size: int
    url: str
    md5: str | None = None
    sha256: str | None = None

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


# --------------------------------------------------------------------------- HTTP


def _open(url: str, timeout: float, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - https/http only
    except urllib.error.HTTPError as exc:
        raise PerceptogramError(f"the server answered HTTP {exc.code} ({exc.reason}) for "
                                f"{url}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OfflineError(
            f"cannot reach {_host(url)} ({reason}); check the internet connection or "
            "proxy and run the same command again (finished files are kept and partial "
            "ones resume)"
        ) from exc


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    with _open(url, timeout, {"Accept": "application/vnd.api+json"}) as response:
        body = response.read()
    try:
        return json.loads(body)
    except ValueError as exc:
        raise DataFormatError(f"{url} did not return JSON") from exc


def list_osf_files(node: str, *, api_url: str = OSF_API, timeout: float = 60.0
                   ) -> list[RemoteFile]:
    """List every file of an OSF project's storage, following folders and pages.

    Parameters
    ----------
    node : str
        OSF project id, e.g. ``"anp5v"``.
    api_url : str
        Base URL of the OSF v2 API.
    timeout : float
        Seconds to wait for each response.

    Returns
    -------
    files : list of RemoteFile

    Raises
    ------
    OfflineError
        The API cannot be reached.
    """
    files: list[RemoteFile] = []
    pending = [f"{api_url.rstrip('/')}/nodes/{node}/files/osfstorage/"]
    while pending:
        url: str | None = pending.pop()
        while url:
            page = _get_json(url, timeout)
            for entry in page.get("data", []):
                attributes = entry.get("attributes", {})
                if attributes.get("kind") == "folder":
                    related = entry["relationships"]["files"]["links"]["related"]
                    pending.append(related["href"] if isinstance(related, dict) else related)
                    continue
                hashes = (attributes.get("extra") or {}).get("hashes") or {}
                path = attributes.get("materialized_path") or attributes["name"]
                parts = _relative_parts(path.lstrip("/"))
                if not parts:
                    raise DataFormatError(f"{url} lists the unsafe file path {path!r}")
                files.append(RemoteFile(path="/".join(parts), size=int(attributes["size"]),
                                        url=entry["links"]["download"],
                                        md5=hashes.get("md5"), sha256=hashes.get("sha256")))
            url = (page.get("links") or {}).get("next")
    return files


# --------------------------------------------------------------------------- one file


def _chunks(response: BinaryIO, url: str) -> Iterator[bytes]:
    while True:
        try:
            chunk = response.read(_CHUNK)
        except (TimeoutError, ConnectionError, http.client.IncompleteRead) as exc:
            raise OfflineError(
                f"the connection to {_host(url)} was lost ({exc}); run the same command "
                "again to resume the download"
            ) from exc
        if not chunk:
            return
        yield chunk


def fetch(remote: RemoteFile, dest: str | os.PathLike, *, timeout: float = 60.0) -> Path:
    """Download one file to ``dest``, resuming ``dest.part`` and verifying its hash.

    Parameters
    ----------
    remote : RemoteFile
        What to download, with its expected size and hash.
    dest : path-like
        Final path; written only once the content is verified.
    timeout : float
        Seconds to wait for the server.

    Returns
    -------
    dest : Path

    Raises
    ------
    OfflineError
        The server cannot be reached or the connection drops (the ``.part``
        file is kept so that the next call resumes).
    DataFormatError
        The size or hash does not match the listing (the ``.part`` file is
        removed and nothing is written under ``dest``).
    """
    dest = Path(dest)
    if dest.is_file() and _problem(dest, remote) is None:
        return dest
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    if offset > remote.size:
        part.unlink()
        offset = 0
    if offset < remote.size:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with _open(remote.url, timeout, headers) as response:
            if offset and response.status != 206:
                offset = 0  # the server ignored the range: start again
            with open(part, "ab" if offset else "wb") as fh:
                n_chunks = math.ceil((remote.size - offset) / _CHUNK)
                for chunk in track(_chunks(response, remote.url),
                                   f"Downloading {remote.name}", total=n_chunks):
                    fh.write(chunk)
    _verify(part, remote)
    os.replace(part, dest)
    return dest


def _problem(path: Path, remote: RemoteFile) -> str | None:
    size = path.stat().st_size
    if size != remote.size:
        return f"{size} bytes instead of {remote.size}"
    for algorithm in ("sha256", "md5"):
        expected = getattr(remote, algorithm)
        if expected:
            actual = file_digest(path, algorithm)
            return None if actual == expected.lower() else (
                f"{algorithm} {actual} instead of {expected}")
    return None


def _verify(part: Path, remote: RemoteFile) -> None:
    size = part.stat().st_size
    if size < remote.size:
        raise OfflineError(
            f"the download of {remote.path} stopped after {size} of {remote.size} bytes; "
            "run the same command again to resume it"
        )
    problem = _problem(part, remote)
    if problem:
        part.unlink()
        raise DataFormatError(
            f"the download of {remote.path} is corrupt ({problem}); it was deleted, run "
            "the same command again to retry"
        )


# --------------------------------------------------------------------------- archives


def _relative_parts(name: str) -> tuple[str, ...] | None:
    """Components of a relative path, or None if it could leave its folder."""
    name = name.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        return None
    return tuple(p for p in parts if p not in ("", "."))


def _member_parts(info: zipfile.ZipInfo, archive: Path) -> tuple[str, ...]:
    parts = _relative_parts(info.filename)
    if parts is None:
        raise DataFormatError(f"{archive} is unsafe: member {info.filename!r} would be "
                              "written outside the target folder; nothing was extracted")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DataFormatError(f"{archive} is unsafe: member {info.filename!r} is a "
                              "symbolic link; nothing was extracted")
    return parts


def extract_zip(archive: str | os.PathLike, root: str | os.PathLike) -> list[Path]:
    """Unpack ``archive`` (``<stem>.zip``) so that its content lands in ``root/<stem>/``.

    Members already under a top folder named ``<stem>`` go to ``root``; otherwise
    they go to ``root/<stem>``. Every member name is checked before anything is
    written: absolute paths, ``..`` components and symbolic links are refused.
    Each file is written atomically; macOS ``__MACOSX`` entries are skipped.

    Parameters
    ----------
    archive : path-like
    root : path-like

    Returns
    -------
    top_level : list of Path
        ``[root / stem]``, the folder that now holds the content.

    Raises
    ------
    DataFormatError
        The archive is unsafe or not a valid zip file.
    """
    archive, root = Path(archive), Path(root)
    stem = archive.stem
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [(info, _member_parts(info, archive)) for info in zf.infolist()]
            members = [(info, parts) for info, parts in members
                       if parts and parts[0] != "__MACOSX" and not info.is_dir()]
            nested = all(parts[0] == stem and len(parts) > 1 for _, parts in members)
            base = root if nested else root / stem
            for info, parts in track(members, f"Unpacking {archive.name}"):
                with zf.open(info) as src, atomic_path(base.joinpath(*parts)) as tmp:
                    with open(tmp, "wb") as dst:
                        shutil.copyfileobj(src, dst, _CHUNK)
    except zipfile.BadZipFile as exc:
        raise DataFormatError(f"{archive} is not a valid zip file ({exc})") from exc
    return [root / stem]


# --------------------------------------------------------------------------- datasets


def _select(files: Iterable[RemoteFile], wanted: str) -> list[RemoteFile]:
    """Files that make up ``wanted``: ``<wanted>`` itself, or everything under ``<wanted>/``."""
    return [f for f in files if f.path in (wanted, f"{wanted}.zip")
            or f.path.startswith(f"{wanted}/")]


def _install(remote: RemoteFile, root: Path, timeout: float, keep_archives: bool) -> list[Path]:
    staging = root / DOWNLOAD_DIRNAME
    marker = staging / f"{remote.path.replace('/', '__')}.done.json"
    stamp = {"path": remote.path, "size": remote.size, "md5": remote.md5,
             "sha256": remote.sha256}
    if marker.is_file():
        record = json.loads(marker.read_text(encoding="utf-8"))
        outputs = [root / p for p in record.get("outputs", [])]
        if record.get("remote") == stamp and outputs and all(p.exists() for p in outputs):
            return outputs
    if remote.path.endswith(".zip"):
        archive = fetch(remote, staging / remote.path, timeout=timeout)
        outputs = extract_zip(archive, root / PurePosixPath(remote.path).parent)
        if not keep_archives:
            archive.unlink()
    else:
        outputs = [fetch(remote, root / remote.path, timeout=timeout)]
    write_json_atomic(marker, {"remote": stamp,
                               "outputs": [str(p.relative_to(root)) for p in outputs]})
    return outputs


def download(root: str | os.PathLike, subjects: Iterable[int], *, images: bool = True,
             api_url: str = OSF_API, eeg_node: str = EEG_NODE,
             images_node: str = IMAGES_NODE, keep_archives: bool = False,
             timeout: float = 60.0) -> list[Path]:
    """Download subjects' preprocessed EEG and the image set into ``root``.

    Parameters
    ----------
    root : path-like
        Dataset root; created if needed. Ends up in the THINGS-EEG2 layout
        (``sub-XX/preprocessed_eeg_*.npy``, ``image_metadata.npy``,
        ``training_images/``, ``test_images/``).
    subjects : iterable of int
        Subject numbers (1 to 10 in the release); empty for the image set only.
    images : bool
        Also download ``image_metadata.npy`` and the two image archives.
    api_url, eeg_node, images_node : str
        Where to find the files (OSF API and project ids; change for a mirror).
    keep_archives : bool
        Keep the ``.zip`` files in ``root/.perceptogram-downloads`` after unpacking.
    timeout : float
        Seconds to wait for the server on each request.

    Returns
    -------
    paths : list of Path
        Top-level files and folders that are now present.

    Raises
    ------
    OfflineError
        OSF cannot be reached; run again later, finished files are skipped and
        partial ones resume.
    DataFormatError
        A download does not match its checksum, an archive is unsafe, or OSF does
        not list an expected file.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    subjects = [int(s) for s in subjects]
    plan: list[RemoteFile] = []
    if subjects:
        listing = list_osf_files(eeg_node, api_url=api_url, timeout=timeout)
        for subject in subjects:
            name = f"sub-{subject:02d}"
            chosen = _select(listing, name)
            if not chosen:
                raise DataFormatError(
                    f"OSF project {eeg_node} lists no {name}.zip or {name}/ folder (it has: "
                    f"{', '.join(sorted(f.path for f in listing)) or 'nothing'})"
                )
            plan.extend(chosen)
    if images:
        listing = list_osf_files(images_node, api_url=api_url, timeout=timeout)
        by_name = {f.path: f for f in listing}
        missing = [name for name in IMAGE_SET_FILES if name not in by_name]
        if missing:
            raise DataFormatError(
                f"OSF project {images_node} lists no {', '.join(missing)} (it has: "
                f"{', '.join(sorted(by_name)) or 'nothing'})"
            )
        plan.extend(by_name[name] for name in IMAGE_SET_FILES)
    paths: list[Path] = []
    for remote in plan:
        for path in _install(remote, root, timeout, keep_archives):
            top = root / path.relative_to(root).parts[0]
            if top not in paths:
                paths.append(top)
    return paths
