"""Folders Perceptogram created, and the one guarded function that deletes anything.

Perceptogram never deletes or overwrites what it did not create. A folder it creates
to hold its own files (a run directory, a feature or EEG cache, a download staging
folder) carries a small marker file, written when the folder is created. Every removal
in the package goes through :func:`remove_owned`, which refuses any path that is not
*strictly inside* a marked folder (symbolic links resolved first), so a bad name, a
crafted config or a symlink can never make it delete a user's data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path

from perceptogram.errors import PerceptogramError

__all__ = [
    "MARKER",
    "MARKER_FORMAT",
    "NotOwnedError",
    "claim_folder",
    "discard_stale_temps",
    "discard_temp",
    "is_temp_name",
    "mark_owned",
    "owned_kind",
    "owning_folder",
    "remove_owned",
    "temp_prefix",
]

MARKER = ".perceptogram"
MARKER_FORMAT = 1


class NotOwnedError(PerceptogramError, PermissionError):
    """A path Perceptogram was asked to delete or overwrite is not one it created."""


def mark_owned(folder: str | os.PathLike, kind: str) -> Path:
    """Create ``folder`` if needed and mark it as created by Perceptogram.

    Parameters
    ----------
    folder : path-like
        Must not exist, be empty, or already be marked (as any kind).
    kind : str
        What the folder is (``"run"``, ``"cache"``, ``"download"``), recorded in the marker.

    Returns
    -------
    folder : Path

    Raises
    ------
    NotOwnedError
        If ``folder`` exists, is not empty and carries no marker.
    """
    folder = Path(folder)
    if owned_kind(folder) is not None:
        return folder
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise NotOwnedError(f"{folder} exists and is not a folder; choose another path")
    if folder.is_dir() and any(folder.iterdir()):
        raise NotOwnedError(
            f"{folder} is not empty and was not created by Perceptogram; "
            "choose a new or empty folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    marker.write_text(json.dumps({"format": MARKER_FORMAT, "kind": kind}) + "\n",
                      encoding="utf-8")
    return folder


def owned_kind(folder: str | os.PathLike) -> str | None:
    """The kind recorded in ``folder``'s marker, or None if it carries none."""
    marker = Path(folder) / MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        record = json.loads(marker.read_text(encoding="utf-8")[:4096])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        return None
    return record["kind"]


def owning_folder(path: str | os.PathLike) -> Path | None:
    """The nearest marked folder strictly above ``path`` (symlinks resolved), or None."""
    return _marked_parent(Path(path).resolve())


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
    first and must lie strictly inside a marked folder.

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
    where = path.parent.resolve() / path.name if path.is_symlink() else path.resolve()
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
        where.unlink()
    else:
        shutil.rmtree(where)


def claim_folder(folder: str | os.PathLike, kind: str) -> bool:
    """Mark ``folder`` as Perceptogram's if it is new or empty; accept a legacy one.

    Caches written by older versions carry no marker: such a non-empty folder
    is used as it is (nothing in it becomes deletable by :func:`remove_owned`;
    only this process's temporary files, by :func:`discard_temp`).

    Parameters
    ----------
    folder : path-like
    kind : str
        Recorded in the marker (``"cache"``).

    Returns
    -------
    owned : bool
        Whether ``folder`` now carries a marker.

    Raises
    ------
    NotOwnedError
        ``folder`` exists and is not a folder (or is a symbolic link).
    """
    try:
        mark_owned(folder, kind)
    except NotOwnedError:
        folder = Path(folder)
        if folder.is_symlink() or not folder.is_dir():
            raise
        return False
    return True


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
