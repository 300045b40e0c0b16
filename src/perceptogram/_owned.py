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
import shutil
from pathlib import Path

from perceptogram.errors import PerceptogramError

__all__ = [
    "MARKER",
    "MARKER_FORMAT",
    "NotOwnedError",
    "mark_owned",
    "owned_kind",
    "owning_folder",
    "remove_owned",
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
