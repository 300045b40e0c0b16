"""Download THINGS-EEG2 from OSF: resumable, checksummed, bounded, safely unzipped.

The preprocessed EEG (OSF project ``anp5v``) holds one ``sub-XX.zip`` per subject
(or, equivalently, a ``sub-XX/`` folder of ``.npy`` files); the image set
(``y63gw``) holds ``image_metadata.npy``, ``training_images.zip`` and
``test_images.zip``. Files are listed through the OSF v2 API, whose listing gives
each file's size and MD5/SHA-256.

What a hostile or broken server cannot do:

- make us open anything but ``https://`` on the OSF hosts (listing links and
  redirects are checked, see :mod:`perceptogram.data.fetch.http`);
- make us read more than a file's listed size, or a listing page above 16 MiB, or wait
  for a page longer than two minutes (each wait is announced on stderr);
- make us download a file the listing gives no checksum for (MD5 or SHA-256);
- make the listing loop (pages and folders already visited are an error, and at
  most 10,000 pages are read);
- unpack a zip bomb or an archive with odd members (:mod:`perceptogram.data.fetch.zip_archives`);
- overwrite a file or folder we did not create (an existing one that differs is
  refused), or write through a symbolic link (in the staging folder or on the way to a
  file in ``root``).

Busy servers (HTTP 429, 5xx) and dropped connections are retried with exponential
backoff honouring ``Retry-After``. Every file is downloaded into the staging folder
``root/.perceptogram-downloads/`` (marked as ours) as ``<name>.part``, continued
with an HTTP ``Range`` request after an interruption (from the start if the server
ignores the range), checked against the listed hash, and only then moved into
``root`` or unpacked there. A small JSON marker per finished item records every
file it put in ``root`` with its size: a second run skips the item when they are all
there, and restores the missing ones (from the kept archive, or downloaded again)
when a file of an unpacked archive was deleted. A staging folder that came with a
received dataset (its marker copied) is not used.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import shutil
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from perceptogram._hashing import file_digest
from perceptogram._inputs import read_input_json
from perceptogram._io import make_dirs, open_nofollow, write_json_atomic
from perceptogram._owned import MARKER, NotOwnedError, mark_owned, owning_folder, remove_owned
from perceptogram._paths import links_below
from perceptogram._progress import say, track
from perceptogram.data.fetch.http import (
    OSF_HOSTS,
    READ_DEADLINE_S,
    HostPolicy,
    RetryPolicy,
    TransientError,
    call_with_retries,
    open_url,
    read_bounded,
    shown,
)
from perceptogram.data.fetch.zip_archives import ZipLimits, extract_zip, safe_relative_parts
from perceptogram.errors import DataFormatError, PerceptogramError

__all__ = [
    "OSF_API",
    "EEG_NODE",
    "IMAGES_NODE",
    "IMAGE_SET_FILES",
    "DOWNLOAD_DIRNAME",
    "RemoteFile",
    "default_policy",
    "list_osf_files",
    "fetch",
    "plan_download",
    "install",
    "download",
]

OSF_API = "https://api.osf.io/v2"
EEG_NODE = "anp5v"
IMAGES_NODE = "y63gw"
IMAGE_SET_FILES = ("image_metadata.npy", "training_images.zip", "test_images.zip")
#: Subjects of the THINGS-EEG2 release (``sub-01`` ... ``sub-10``).
N_SUBJECTS = 10
DOWNLOAD_DIRNAME = ".perceptogram-downloads"
MAX_LISTING_PAGES = 10_000
MAX_PAGE_BYTES = 16 << 20

_CHUNK = 1 << 20
_SUBJECT = re.compile(r"^sub-(\d{2,3})(?:\.zip$|/)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RemoteFile:
    """A file listed by the OSF API.

    Parameters
    ----------
    path : str
        Path inside the OSF storage, without leading slash (``"sub-01.zip"``).
    size : int
        Size in bytes; a download never reads more.
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


def default_policy(api_url: str = OSF_API) -> HostPolicy:
    """The OSF hosts, plus the host of ``api_url`` when a mirror is named (https only)."""
    host = (urllib.parse.urlsplit(api_url).hostname or "").lower()
    if not host or host in OSF_HOSTS or host.endswith(".osf.io"):
        return HostPolicy()
    return HostPolicy(hosts=(*OSF_HOSTS, host))


# --------------------------------------------------------------------------- listing


def _get_json(url: str, policy: HostPolicy, retry: RetryPolicy, timeout: float) -> Any:
    def attempt() -> bytes:
        with open_url(url, policy, timeout, {"Accept": "application/vnd.api+json"}) as response:
            return read_bounded(response, MAX_PAGE_BYTES, f"the listing page {shown(url)}")

    body = call_with_retries(attempt, retry, f"listing {shown(url)}")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise DataFormatError(f"{shown(url)} did not return a usable JSON document") from None


def _entry(entry: Any, url: str, policy: HostPolicy) -> RemoteFile | str:
    """A file entry as a RemoteFile, or a folder entry as the URL of its listing."""
    try:
        attributes = entry["attributes"]
        if attributes.get("kind") == "folder":
            related = entry["relationships"]["files"]["links"]["related"]
            return policy.check(related["href"] if isinstance(related, dict) else related)
        path = attributes.get("materialized_path") or attributes["name"]
        size = attributes["size"]
        link = entry["links"]["download"]
        hashes = (attributes.get("extra") or {}).get("hashes") or {}
    except (KeyError, TypeError, AttributeError):
        raise DataFormatError(f"the listing page {shown(url)} has a malformed entry") from None
    if not isinstance(path, str) or not isinstance(size, int) or isinstance(size, bool) \
            or size < 0 or not isinstance(hashes, dict):
        raise DataFormatError(f"the listing page {shown(url)} has a malformed entry")
    parts = safe_relative_parts(path.lstrip("/"))
    if not parts or MARKER in parts or parts[0] == DOWNLOAD_DIRNAME or _CONTROL.search(path):
        raise DataFormatError(f"{shown(url)} lists the unsafe file path {path!r}")
    digests = {k: v.lower() for k, v in hashes.items() if k in ("md5", "sha256")
               and isinstance(v, str) and re.fullmatch(r"[0-9a-fA-F]+", v)}
    return RemoteFile(path="/".join(parts), size=size, url=policy.check(link), **digests)


def list_osf_files(node: str, *, api_url: str = OSF_API, timeout: float = 60.0,
                   policy: HostPolicy | None = None, retry: RetryPolicy = RetryPolicy()
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
    policy : HostPolicy or None
        Which URLs may be opened (default: :func:`default_policy` of ``api_url``).
    retry : RetryPolicy
        Retries of busy or unreachable servers.

    Returns
    -------
    files : list of RemoteFile

    Raises
    ------
    OfflineError
        The API cannot be reached (after the retries).
    UnsafeLinkError
        A page, folder or download link is not ``https://`` on an allowed host.
    DataFormatError
        A malformed entry, an unsafe path, a file listed twice, or pages that link
        back to a page already read (or more than 10,000 pages).
    """
    if not re.fullmatch(r"[A-Za-z0-9]+", node):
        raise ValueError(f"an OSF project id is alphanumeric, not {node!r}")
    policy = policy if policy is not None else default_policy(api_url)
    files: dict[str, RemoteFile] = {}
    pending = [f"{api_url.rstrip('/')}/nodes/{node}/files/osfstorage/"]
    visited: set[str] = set()
    say(f"Listing the files of OSF project {node} (each page: at most {timeout:g} s per read "
        f"and {READ_DEADLINE_S:g} s in all, retried {retry.attempts - 1} times)")
    while pending:
        url: str | None = pending.pop()
        while url:
            if url in visited:
                raise DataFormatError(
                    f"the listing of OSF project {node} links back to {shown(url)}, a page "
                    "it already listed; refusing to loop"
                )
            if len(visited) >= MAX_LISTING_PAGES:
                raise DataFormatError(f"the listing of OSF project {node} has more than "
                                      f"{MAX_LISTING_PAGES} pages; refusing to read on")
            visited.add(url)
            page = _get_json(url, policy, retry, timeout)
            data = page.get("data") if isinstance(page, dict) else None
            links = (page.get("links") or {}) if isinstance(page, dict) else {}
            if not isinstance(data, list) or not isinstance(links, dict):
                raise DataFormatError(f"{shown(url)} is not an OSF file listing")
            for item in data:
                found = _entry(item, url, policy)
                if isinstance(found, str):
                    pending.append(found)
                elif found.path in files:
                    raise DataFormatError(f"the listing of OSF project {node} names "
                                          f"{found.path!r} twice")
                else:
                    files[found.path] = found
            url = links.get("next")
            url = policy.check(url) if url else None
    return list(files.values())


# --------------------------------------------------------------------------- one file


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


def _content_start(headers: Any) -> int | None:
    """First byte of a 206 answer (``Content-Range: bytes START-END/TOTAL``)."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*", headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _receive(remote: RemoteFile, part: Path, policy: HostPolicy, timeout: float) -> None:
    """One attempt: continue ``part`` up to ``remote.size`` bytes (never further)."""
    if part.is_symlink():
        raise NotOwnedError(f"{part} is a symbolic link; a download never writes through one: "
                            f"delete it and run the same command again")
    offset = part.stat().st_size if part.is_file() else 0
    if offset > remote.size:
        offset = 0  # not a prefix of this file: start again
    elif offset and offset == remote.size:
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    host = urllib.parse.urlsplit(remote.url).netloc
    with open_url(remote.url, policy, timeout, headers) as response:
        if offset and not (response.status == 206 and _content_start(response.headers) == offset):
            offset = 0  # the server ignored (or mangled) the range: start again
        declared = response.headers.get("Content-Length", "").strip()
        if declared.isdigit() and offset + int(declared) > remote.size:
            raise DataFormatError(
                f"the server sends {offset + int(declared)} bytes for {remote.path}, which is "
                f"listed at {remote.size} bytes; refusing to download it"
            )
        remaining = remote.size - offset
        with open_nofollow(part, "ab" if offset else "wb") as fh:
            chunks = _bounded_chunks(response, remaining, remote, host)
            for chunk in track(chunks, f"Downloading {remote.name}",
                               total=max(1, math.ceil(remaining / _CHUNK))):
                fh.write(chunk)


def _bounded_chunks(response: Any, remaining: int, remote: RemoteFile, host: str
                    ) -> Iterator[bytes]:
    try:
        while remaining:
            chunk = response.read(min(_CHUNK, remaining))
            if not chunk:
                raise TransientError(f"the connection closed {remaining} bytes before the "
                                     "end of the file", host)
            remaining -= len(chunk)
            yield chunk
        extra = response.read(1)
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError(f"the connection was lost ({exc or type(exc).__name__})",
                             host) from None
    if extra:
        raise DataFormatError(f"the server sends more than the listed {remote.size} bytes for "
                              f"{remote.path}; refusing to download it")


def _discard(path: Path) -> bool:
    """Remove a file we wrote, if it lies in a folder we own (else keep it)."""
    if owning_folder(path) is None:
        return False
    remove_owned(path)
    return True


def fetch(remote: RemoteFile, dest: str | os.PathLike, *, timeout: float = 60.0,
          policy: HostPolicy | None = None, retry: RetryPolicy = RetryPolicy()) -> Path:
    """Download one file to ``dest``, resuming ``dest.part`` and verifying its hash.

    Parameters
    ----------
    remote : RemoteFile
        What to download, with its expected size and hash.
    dest : path-like
        Final path; written only once the content is verified. An existing file
        there is kept if it matches the listing, and refused otherwise.
    timeout : float
        Seconds to wait for the server.
    policy : HostPolicy or None
        Which URLs may be opened (default: the OSF hosts).
    retry : RetryPolicy
        Retries after HTTP 429/5xx and lost connections (each resumes the ``.part``).

    Returns
    -------
    dest : Path

    Raises
    ------
    OfflineError
        The server cannot be reached or the connection keeps dropping (the
        ``.part`` file is kept so that the next call resumes).
    DataFormatError
        The server sends more than the listed size, or the size or hash does not
        match the listing (the ``.part`` file is removed when it lies in a folder
        Perceptogram created, and nothing is written under ``dest``).
    PerceptogramError
        ``dest`` exists and differs from the listed file.
    """
    dest = Path(dest)
    policy = policy if policy is not None else HostPolicy()
    if dest.is_symlink():
        raise PerceptogramError(f"{dest} is a symbolic link; move it away and run the same "
                                "command again")
    if dest.is_file():
        problem = _problem(dest, remote)
        if problem is None:
            return dest
        raise PerceptogramError(f"{dest} exists and differs from {remote.path} on the server "
                                f"({problem}); move it away and run the same command again")
    policy.check(remote.url)
    if not (remote.sha256 or remote.md5):
        raise DataFormatError(f"the listing gives no checksum for {remote.path}; a download "
                              "that cannot be verified is refused")
    part = dest.with_name(dest.name + ".part")
    make_dirs(dest.parent)
    try:
        call_with_retries(lambda: _receive(remote, part, policy, timeout), retry,
                          f"the download of {remote.path}")
    except DataFormatError:
        _discard(part)
        raise
    problem = _problem(part, remote)
    if problem:
        gone = _discard(part)
        raise DataFormatError(
            f"the download of {remote.path} is corrupt ({problem}); "
            + ("it was deleted, run the same command again to retry" if gone else
               f"delete {part} and run the same command again to retry")
        )
    os.replace(part, dest)
    return dest


# --------------------------------------------------------------------------- datasets


def _select(files: Iterable[RemoteFile], wanted: str) -> list[RemoteFile]:
    """Files that make up ``wanted``: ``<wanted>.zip``, or everything under ``<wanted>/``."""
    return [f for f in files if f.path in (wanted, f"{wanted}.zip")
            or f.path.startswith(f"{wanted}/")]


def plan_download(subjects: Iterable[int] | None = None, *,
                  what: Literal["eeg", "images", "all"] = "all", api_url: str = OSF_API,
                  eeg_node: str = EEG_NODE, images_node: str = IMAGES_NODE,
                  timeout: float = 60.0, policy: HostPolicy | None = None,
                  retry: RetryPolicy = RetryPolicy()) -> list[RemoteFile]:
    """The files to download, with their sizes (nothing is downloaded yet).

    Parameters
    ----------
    subjects : iterable of int or None
        Subject numbers; None for every subject the EEG project lists.
    what : {"eeg", "images", "all"}
        The subjects' preprocessed EEG, the image set (``image_metadata.npy`` and
        both image archives), or both.
    api_url, eeg_node, images_node : str
        Where to find the files (OSF API and project ids; change for a mirror).
    timeout, policy, retry
        See :func:`list_osf_files`.

    Returns
    -------
    files : list of RemoteFile

    Raises
    ------
    DataFormatError
        OSF does not list an expected file.
    """
    if what not in ("eeg", "images", "all"):
        raise ValueError(f"what must be 'eeg', 'images' or 'all', not {what!r}")
    if subjects is not None:
        subjects = list(subjects)
        bad = [s for s in subjects if not (isinstance(s, int) and 1 <= s <= N_SUBJECTS)]
        if bad and eeg_node == EEG_NODE and what != "images":
            raise DataFormatError(
                f"THINGS-EEG2 has subjects 1 to {N_SUBJECTS}; there is no subject "
                f"{', '.join(map(str, bad[:5]))} (nothing was downloaded)")
    policy = policy if policy is not None else default_policy(api_url)
    options = dict(api_url=api_url, timeout=timeout, policy=policy, retry=retry)
    plan: list[RemoteFile] = []
    if what in ("eeg", "all"):
        listing = list_osf_files(eeg_node, **options)
        if subjects is None:
            found = {int(m.group(1)) for f in listing if (m := _SUBJECT.match(f.path))}
            subjects = sorted(found)
        for subject in subjects:
            name = f"sub-{int(subject):02d}"
            chosen = _select(listing, name)
            if not chosen:
                raise DataFormatError(
                    f"OSF project {eeg_node} lists no {name}.zip or {name}/ folder (it has: "
                    f"{', '.join(sorted(f.path for f in listing))[:500] or 'nothing'})"
                )
            plan.extend(chosen)
    if what in ("images", "all"):
        by_name = {f.path: f for f in list_osf_files(images_node, **options)}
        missing = [name for name in IMAGE_SET_FILES if name not in by_name]
        if missing:
            raise DataFormatError(
                f"OSF project {images_node} lists no {', '.join(missing)} (it has: "
                f"{', '.join(sorted(by_name))[:500] or 'nothing'})"
            )
        plan.extend(by_name[name] for name in IMAGE_SET_FILES)
    unverifiable = [f.path for f in plan if not (f.sha256 or f.md5)]
    if unverifiable:
        raise DataFormatError(
            f"the OSF listing gives no checksum for {', '.join(unverifiable[:5])}; a download "
            "that cannot be verified is refused (nothing was downloaded)")
    return plan


def _stamp(remote: RemoteFile) -> dict[str, Any]:
    return {"path": remote.path, "size": remote.size, "md5": remote.md5,
            "sha256": remote.sha256}


def _marker(staging: Path, remote: RemoteFile) -> Path:
    return staging / f"{remote.path.replace('/', '__')}.done.json"


#: Largest record of a finished item read back (the image set lists ~17,000 files).
_MAX_RECORD_BYTES = 64 << 20


def _record(staging: Path, remote: RemoteFile) -> dict[str, Any] | None:
    """What an earlier run recorded for ``remote`` (None if absent, damaged or another file)."""
    marker = _marker(staging, remote)
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        record = read_input_json(marker, max_bytes=_MAX_RECORD_BYTES, what="a download record")
    except (OSError, DataFormatError):
        return None
    if not isinstance(record, dict) or record.get("remote") != _stamp(remote):
        return None
    outputs, files = record.get("outputs"), record.get("files", {})
    if not (isinstance(outputs, list) and outputs and isinstance(files, dict)
            and all(isinstance(p, str) and safe_relative_parts(p) for p in [*outputs, *files])
            and all(isinstance(n, int) for n in files.values())):
        return None
    return record


def _missing(root: Path, record: dict[str, Any]) -> list[str]:
    """Files of ``record`` no longer in ``root`` with their recorded size."""
    out = []
    for rel, size in record.get("files", {}).items():
        path = root.joinpath(*safe_relative_parts(rel))
        if path.is_symlink() or not path.is_file() or path.stat().st_size != size:
            out.append(rel)
    return out


def _finished(root: Path, staging: Path, remote: RemoteFile) -> list[Path] | None:
    record = _record(staging, remote)
    if record is None:
        return None
    outputs = [root.joinpath(*safe_relative_parts(p)) for p in record["outputs"]]
    if all(p.exists() for p in outputs) and not _missing(root, record):
        return outputs
    return None


def _files_below(root: Path, top: Path) -> dict[str, int]:
    """Every regular file below ``top`` (or ``top`` itself), relative to ``root``, with size."""
    if top.is_file():
        return {top.relative_to(root).as_posix(): top.stat().st_size}
    return {p.relative_to(root).as_posix(): p.stat().st_size
            for p in sorted(top.rglob("*")) if p.is_file() and not p.is_symlink()}


def _check_way(root: Path, path: Path) -> None:
    """Refuse a symbolic link between ``root`` and ``path`` (a received dataset may hold one)."""
    _, links = links_below(path, lambda folder: folder == Path(os.path.abspath(root)))
    if links:
        raise NotOwnedError(f"{links[-1]} is a symbolic link; a download does not write "
                            "through one: move it away and run the same command again")


def _install_one(remote: RemoteFile, root: Path, staging: Path, fetch_options: dict,
                 keep_archives: bool, limits: ZipLimits) -> list[Path]:
    done = _finished(root, staging, remote)
    if done is not None:
        return done
    if remote.path.endswith(".zip"):
        relative = PurePosixPath(remote.path)
        target = root.joinpath(*relative.parent.parts, relative.stem)
        _check_way(root, target)
        record = _record(staging, remote)
        restoring = record is not None and target.is_dir() and not target.is_symlink()
        if (target.exists() or target.is_symlink()) and not restoring:
            raise PerceptogramError(
                f"{target} already exists but was not unpacked from {remote.path} by "
                "`perceptogram data download`; move it away (or leave it out with --what) "
                "and run the same command again"
            )
        archive = fetch(remote, staging / remote.path, **fetch_options)
        unpack = staging / f"{remote.path.replace('/', '__')}.unpacking"
        remove_owned(unpack)  # left by an interrupted earlier run
        make_dirs(unpack)
        extract_zip(archive, unpack / target.name, limits=limits)
        if restoring:
            files = _restore(root, unpack, target, record)
        else:
            make_dirs(target.parent)
            os.rename(unpack / target.name, target)
            files = _files_below(root, target)
        remove_owned(unpack)
        if not keep_archives:
            remove_owned(archive)
        outputs = [target]
    else:
        final = root / remote.path
        _check_way(root, final)
        if final.is_symlink() or (final.exists() and not final.is_file()):
            raise PerceptogramError(f"{final} is in the way of {remote.path}; move it away "
                                    "and run the same command again")
        if final.exists():
            fetch(remote, final, **fetch_options)  # kept if it matches, refused otherwise
        else:
            staged = fetch(remote, staging / remote.path, **fetch_options)
            make_dirs(final.parent)
            os.replace(staged, final)
        outputs = [final]
        files = _files_below(root, final)
    write_json_atomic(_marker(staging, remote), {
        "remote": _stamp(remote), "outputs": [p.relative_to(root).as_posix() for p in outputs],
        "files": files})
    return outputs


def _restore(root: Path, unpack: Path, target: Path, record: dict[str, Any]) -> dict[str, int]:
    """Put back the files of an unpacked archive that were deleted since; keep the others.

    Raises
    ------
    PerceptogramError
        A file is there with another size than unpacked (changed since: never replaced).
    """
    files = dict(record["files"])
    restored = []
    for rel in _missing(root, record):
        path = root.joinpath(*safe_relative_parts(rel))
        if path.exists() or path.is_symlink():
            raise PerceptogramError(f"{path} was changed since it was unpacked from its "
                                    "archive; move it away and run the same command again")
        source = unpack.joinpath(target.name, *path.relative_to(target).parts)
        if not source.is_file():
            raise DataFormatError(f"{source.name} is no longer in the archive it was unpacked "
                                  f"from; delete {target} and run the same command again")
        _check_way(root, path.parent)
        make_dirs(path.parent)
        os.replace(source, path)
        files[rel] = path.stat().st_size
        restored.append(rel)
    if restored:
        say(f"Restored {len(restored)} file(s) missing from {target}")
    return files


def install(plan: Iterable[RemoteFile], root: str | os.PathLike, *, timeout: float = 60.0,
            policy: HostPolicy | None = None, retry: RetryPolicy = RetryPolicy(),
            keep_archives: bool = False, limits: ZipLimits = ZipLimits()) -> list[Path]:
    """Download and unpack the files of a :func:`plan_download` into ``root``.

    Parameters
    ----------
    plan : iterable of RemoteFile
    root : path-like
        Dataset root; created if needed. Ends up in the THINGS-EEG2 layout
        (``sub-XX/preprocessed_eeg_*.npy``, ``image_metadata.npy``,
        ``training_images/``, ``test_images/``).
    timeout, policy, retry
        See :func:`fetch` (default policy: the OSF hosts).
    keep_archives : bool
        Keep the ``.zip`` files in ``root/.perceptogram-downloads`` after unpacking.
    limits : ZipLimits
        Caps on what an archive may unpack to.

    Returns
    -------
    paths : list of Path
        Top-level files and folders that are now present.

    Raises
    ------
    OfflineError
        The server cannot be reached; run again later, finished files are skipped
        and partial ones resume.
    DataFormatError
        A download does not match the listing, or an archive is unsafe.
    PerceptogramError
        A file or folder in ``root`` is in the way, or the disk is too full.
    """
    plan = list(plan)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        staging = mark_owned(root / DOWNLOAD_DIRNAME, "download")
    except NotOwnedError:
        raise NotOwnedError(
            f"{root / DOWNLOAD_DIRNAME} was not created by Perceptogram on this machine (it "
            "came with the data, or from an older version); delete it and run the same "
            "command again") from None
    pending = [r for r in plan if _finished(root, staging, r) is None]
    needed = sum(r.size for r in pending)
    free = shutil.disk_usage(staging).free
    if needed > free:
        raise PerceptogramError(f"the download needs {needed / 1e9:.2f} GB but only "
                                f"{free / 1e9:.2f} GB are free under {root}")
    fetch_options = dict(timeout=timeout, policy=policy if policy is not None else HostPolicy(),
                         retry=retry)
    paths: list[Path] = []
    for remote in plan:
        for path in _install_one(remote, root, staging, fetch_options, keep_archives, limits):
            top = root / path.relative_to(root).parts[0]
            if top not in paths:
                paths.append(top)
    return paths


def download(root: str | os.PathLike, subjects: Iterable[int] | None = None, *,
             what: Literal["eeg", "images", "all"] = "all", api_url: str = OSF_API,
             eeg_node: str = EEG_NODE, images_node: str = IMAGES_NODE,
             keep_archives: bool = False, timeout: float = 60.0,
             policy: HostPolicy | None = None, retry: RetryPolicy = RetryPolicy(),
             limits: ZipLimits = ZipLimits()) -> list[Path]:
    """Download subjects' preprocessed EEG and/or the image set into ``root``.

    :func:`plan_download` followed by :func:`install`; see both for the parameters.

    Parameters
    ----------
    root : path-like
    subjects : iterable of int or None
        None: every subject on OSF.
    what : {"eeg", "images", "all"}

    Returns
    -------
    paths : list of Path
        Top-level files and folders that are now present.
    """
    policy = policy if policy is not None else default_policy(api_url)
    plan = plan_download(subjects, what=what, api_url=api_url, eeg_node=eeg_node,
                         images_node=images_node, timeout=timeout, policy=policy, retry=retry)
    return install(plan, root, timeout=timeout, policy=policy, retry=retry,
                   keep_archives=keep_archives, limits=limits)
