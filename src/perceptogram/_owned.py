"""Folders Perceptogram created, and the one guarded function that deletes anything.

Perceptogram never deletes or overwrites what it did not create. A folder it creates
to hold its own files (a run directory, a feature or EEG cache, a download staging
folder) carries a small marker file, written when the folder is created. Every removal
in the package goes through :func:`remove_owned`, which refuses any path that is not
*strictly inside* a marked folder (symbolic links resolved first), so a bad name, a
crafted config or a symlink can never make it delete a user's data.

A marker is bound to the folder it was written in: it records the folder's inode
number (``{"format": 2, "kind": ..., "folder_inode": ...}``). A copy of the marker
(``cp -r``, ``rsync``, ``tar``, ``unzip``, a marker dropped into someone else's
folder) sits in a folder with another inode and does not make that folder
Perceptogram's; neither does a marker of the first format, which was not bound. The
inode and not the device is recorded because the same folder seen over NFS from
another machine (a Dask worker) has the same inode but another device number.
:func:`adopt_folder` (``perceptogram adopt DIR``) binds the markers of a folder the
user received, or made with an older version, after checking that it holds no
symbolic link or special file.

Inside a folder Perceptogram owns, symbolic links are never followed for writing
(:func:`check_no_links`); the folders on the way are created one component at a
time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import time
from pathlib import Path

from perceptogram._paths import links_below
from perceptogram.errors import PerceptogramError

__all__ = [
    "MARKER",
    "MARKER_FORMAT",
    "NotOwnedError",
    "adopt_folder",
    "adoption_hint",
    "check_no_links",
    "claim_folder",
    "discard_stale_temps",
    "discard_temp",
    "is_temp_name",
    "mark_owned",
    "marker_state",
    "owned_kind",
    "owning_folder",
    "remove_owned",
    "temp_prefix",
]

MARKER = ".perceptogram"
MARKER_FORMAT = 2
_MAX_MARKER_BYTES = 4096
_NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class NotOwnedError(PerceptogramError, PermissionError):
    """A path Perceptogram was asked to delete or overwrite is not one it created."""


def adoption_hint(folder: str | os.PathLike) -> str:
    """The sentence for a folder whose marker is copied or of the first format."""
    return (f"{folder} carries a Perceptogram marker that was copied from another folder "
            "or written by an older version, so Perceptogram does not treat it as its own; "
            f"if it is a run or cache you received or made with an older version, run "
            f"`perceptogram adopt {folder}` once")


def _read_marker(folder: Path) -> tuple[dict | None, int | None]:
    """The marker record of ``folder`` (None if absent or unreadable) and its inode."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None, None
    try:
        inode = os.fstat(dir_fd).st_ino
        try:
            fd = os.open(MARKER, _NOFOLLOW_READ, dir_fd=dir_fd)
        except OSError:
            return None, inode
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None, inode
            raw = os.read(fd, _MAX_MARKER_BYTES)
        finally:
            os.close(fd)
    finally:
        os.close(dir_fd)
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, inode
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return None, inode
    return record, inode


def marker_state(folder: str | os.PathLike) -> str | None:
    """What ``folder``'s marker says about it.

    Returns
    -------
    state : {"ours", "copied", "legacy"} or None
        ``"ours"``: a marker bound to this folder; ``"copied"``: bound to another
        folder; ``"legacy"``: an unbound marker of the first format; None: no
        readable marker.
    """
    record, inode = _read_marker(Path(folder))
    if record is None:
        return None
    if record.get("format") != MARKER_FORMAT or "folder_inode" not in record:
        return "legacy"
    return "ours" if record.get("folder_inode") == inode else "copied"


def owned_kind(folder: str | os.PathLike) -> str | None:
    """The kind recorded in ``folder``'s marker, or None unless the marker is bound to it."""
    record, inode = _read_marker(Path(folder))
    if (record is None or record.get("format") != MARKER_FORMAT
            or record.get("folder_inode") != inode):
        return None
    return record["kind"]


def _write_marker(folder: Path, kind: str) -> None:
    """Write a marker bound to ``folder`` (never through a link; replaced atomically)."""
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        record = {"format": MARKER_FORMAT, "kind": kind,
                  "folder_inode": os.fstat(dir_fd).st_ino}
        temp = temp_prefix(MARKER) + os.urandom(6).hex()[:8]
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644, dir_fd=dir_fd)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(temp, MARKER, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError:
            os.unlink(temp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)


def check_no_links(path: str | os.PathLike) -> None:
    """Refuse to write at ``path`` through a symbolic link inside a folder Perceptogram owns.

    Walks up from ``path`` (lexically, each component seen with ``lstat``) to the
    nearest folder that carries a marker bound to it. A link on the way means a
    write would land outside what Perceptogram made (a received run whose
    ``cache`` is a link to the user's home). Outside any owned folder, nothing is
    checked: links there are the user's own choice of where things live.

    Raises
    ------
    NotOwnedError
        Naming the link.
    """
    top, links = links_below(path, lambda folder: owned_kind(folder) is not None)
    if top is not None and links:
        raise NotOwnedError(
            f"{links[-1]} is a symbolic link inside {top}, a folder Perceptogram made; it "
            "never writes through links there: remove the link (or adopt a copy of the "
            "folder without links) and run again")


def _make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) without writing through a link we would own."""
    parents = [p for p in [folder, *folder.parents] if not os.path.lexists(p)]
    for missing in reversed(parents):
        check_no_links(missing.parent)
        try:
            os.mkdir(missing)
        except FileExistsError:
            pass
    check_no_links(folder)


def mark_owned(folder: str | os.PathLike, kind: str) -> Path:
    """Create ``folder`` if needed and mark it as created by Perceptogram.

    Parameters
    ----------
    folder : path-like
        Must not exist, be empty, or already carry a marker bound to it (any kind).
    kind : str
        What the folder is (``"run"``, ``"cache"``, ``"download"``), recorded in the marker.

    Returns
    -------
    folder : Path

    Raises
    ------
    NotOwnedError
        If ``folder`` exists and is not empty without a marker bound to it (a copied
        or older marker: the message says how to adopt it), or is a link or a file,
        or a symbolic link inside an owned folder is on the way.
    """
    folder = Path(folder)
    if owned_kind(folder) is not None and not folder.is_symlink():
        return folder
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise NotOwnedError(f"{folder} exists and is not a folder; choose another path")
    if folder.is_dir() and any(folder.iterdir()):
        if _marked_meanwhile(folder):
            return folder
        if marker_state(folder) is not None:
            raise NotOwnedError(adoption_hint(folder))
        raise NotOwnedError(
            f"{folder} is not empty and was not created by Perceptogram; "
            "choose a new or empty folder"
        )
    _make_folder(folder)
    _write_marker(folder, kind)
    return folder


def _marked_meanwhile(folder: Path, timeout: float = 5.0) -> bool:
    """Whether another process is marking ``folder`` now and its marker appears.

    Two units may create the same shared folder (a cache) at once: the second sees
    the first one's temporary marker before it is renamed into place. While the
    folder's only entries are temporary markers of live processes of this host,
    wait (at most ``timeout`` seconds) for the marker.
    """
    prefix = f".{MARKER}.tmp-"
    host = _host()
    deadline = time.monotonic() + timeout
    while owned_kind(folder) is None:
        names = [entry.name for entry in folder.iterdir()]
        writers = [_TEMP_NAME.match(name) if name.startswith(prefix) else None
                   for name in names]
        if not names or not all(match is not None and match.group(2) == host
                                and _alive(int(match.group(1))) for match in writers):
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def adopt_folder(folder: str | os.PathLike) -> list[Path]:
    """Bind the markers of a folder Perceptogram made elsewhere (or with an older version).

    A run directory (or cache) received from a colleague, restored from a backup or
    written by an older version carries markers that are not bound to its folders,
    so Perceptogram will not write or delete there. Adopting it is the user's
    explicit statement that the folder is theirs to let Perceptogram manage. The
    whole tree is checked first: a symbolic link or a special file (FIFO, socket,
    device) anywhere in it is refused, since Perceptogram never makes one.

    Parameters
    ----------
    folder : path-like
        A folder (not a link) whose top carries a Perceptogram marker.

    Returns
    -------
    adopted : list of Path
        The folders whose markers were bound (the top first).

    Raises
    ------
    NotOwnedError
        No marker at the top, a link or a special file in the tree.
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise NotOwnedError(f"{folder} is not a folder")
    if marker_state(folder) is None:
        raise NotOwnedError(f"{folder} carries no Perceptogram marker; only a folder "
                            "Perceptogram made can be adopted")
    marked: list[Path] = []
    for parent, dirs, files in os.walk(folder):
        for name in sorted([*dirs, *files]):
            path = Path(parent) / name
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                raise NotOwnedError(f"{path} is a symbolic link; Perceptogram never makes "
                                    f"one, so {folder} is not adopted: remove it first")
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise NotOwnedError(f"{path} is not a regular file or folder; {folder} is "
                                    "not adopted: remove it first")
        if MARKER in files:
            marked.append(Path(parent))
    for path in marked:
        record, _ = _read_marker(path)
        if record is not None:
            _write_marker(path, record["kind"])
    return [p for p in marked if owned_kind(p) is not None]


def owning_folder(path: str | os.PathLike) -> Path | None:
    """The nearest folder strictly above ``path`` (symlinks resolved) that is ours, or None."""
    return _marked_parent(Path(os.path.realpath(path)))


def _marked_parent(resolved: Path) -> Path | None:
    for parent in resolved.parents:
        if owned_kind(parent) is not None:
            return parent
    return None


def remove_owned(path: str | os.PathLike, *, missing_ok: bool = True,
                 marked_kind: str | None = None) -> None:
    """Delete a file or folder that lies strictly inside a folder Perceptogram marked.

    This is the only function in the package that deletes. A symbolic link is
    removed as a link (its target is never followed); anything else is resolved
    first and must lie strictly inside a folder whose marker is bound to it
    (a copied marker does not count).

    Parameters
    ----------
    path : path-like
    missing_ok : bool
        If False, a missing path raises :class:`FileNotFoundError`.
    marked_kind : str or None
        Also allow ``path`` to be a folder (not a link) that itself carries a marker
        of this kind, and delete it whole: for a staging folder that
        Perceptogram created and marked where the parent is not its own (a
        simulated dataset written next to the user's files).

    Raises
    ------
    NotOwnedError
        If ``path`` is not strictly inside a folder marked by :func:`mark_owned`
        (nor, with ``marked_kind``, a folder marked as that kind).
    """
    path = Path(path)
    if not path.is_symlink() and not path.exists():
        if missing_ok:
            return
        raise FileNotFoundError(f"{path} does not exist")
    # A link is judged by where it sits, not by where it points.
    where = (Path(os.path.realpath(path.parent)) / path.name if path.is_symlink()
             else Path(os.path.realpath(path)))
    if (marked_kind is not None and not path.is_symlink() and where.is_dir()
            and owned_kind(where) == marked_kind):
        shutil.rmtree(where)
        return
    owner = _marked_parent(where)
    if owner is None or where == owner:
        raise NotOwnedError(
            f"refusing to delete {path}: it is not inside a folder created by Perceptogram"
        )
    if path.is_symlink() or not path.is_dir():
        try:
            where.unlink()
        except IsADirectoryError:  # a folder swapped in since: never followed
            raise NotOwnedError(f"refusing to delete {path}: it changed while being "
                                "removed") from None
    else:
        shutil.rmtree(where)


def claim_folder(folder: str | os.PathLike, kind: str) -> bool:
    """Mark ``folder`` as Perceptogram's if it is new or empty.

    A non-empty folder without a marker bound to it (a cache written by an older
    version, or one that came with a received dataset) is not Perceptogram's: the
    caller must neither trust nor write its entries.

    Parameters
    ----------
    folder : path-like
    kind : str
        Recorded in the marker (``"cache"``).

    Returns
    -------
    owned : bool
        Whether ``folder`` now carries a marker bound to it.

    Raises
    ------
    NotOwnedError
        ``folder`` exists and is not a folder (or is a symbolic link), or a link
        inside an owned folder is on the way.
    """
    check_no_links(folder)
    try:
        mark_owned(folder, kind)
    except NotOwnedError:
        folder = Path(folder)
        if folder.is_symlink() or not folder.is_dir():
            raise
        return False
    return owned_kind(folder) is not None


# Temporary files are named ``.<final name>.tmp-<pid>-<host>-<random><suffix>``: the
# writer's process id and host say whether a leftover belongs to a process that is gone.
_TEMP_NAME = re.compile(r"^\..+\.tmp-(\d+)-([A-Za-z0-9]{0,16})-[A-Za-z0-9_]{8}[^/]*$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16]


def temp_prefix(name: str) -> str:
    """Prefix for a temporary file standing in for ``name`` (pass to ``mkstemp``)."""
    return f".{name}.tmp-{os.getpid()}-{_host()}-"


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is the name of a temporary file made with :func:`temp_prefix`."""
    return _TEMP_NAME.match(name) is not None


def discard_temp(path: str | os.PathLike) -> None:
    """Delete one of Perceptogram's temporary files (a plain file or link), if present.

    Only a name made by :func:`temp_prefix` is accepted, so this cannot delete
    anything else, whatever folder it is in.

    Raises
    ------
    NotOwnedError
        ``path`` is not named like a Perceptogram temporary file, or is a folder.
    """
    path = Path(path)
    if not is_temp_name(path.name):
        raise NotOwnedError(f"refusing to delete {path}: it is not a Perceptogram "
                            "temporary file")
    if path.is_dir() and not path.is_symlink():
        raise NotOwnedError(f"refusing to delete {path}: it is a folder")
    path.unlink(missing_ok=True)


def discard_stale_temps(folder: str | os.PathLike) -> int:
    """Delete temporary files left in ``folder`` by processes of this host that are gone.

    A run killed with SIGKILL cannot clean up; the next one calls this. Files
    of a live process, or written on another host, are kept.

    Returns
    -------
    n_removed : int
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    host = _host()
    for entry in folder.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if match is None or match.group(2) != host or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            continue
        discard_temp(entry)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
