"""Path confinement: the one place that decides whether a path stays inside a folder.

Names read from data or configuration become paths (image files, manifest entries,
archive members); folders are reached through symbolic links a user (or a received
folder) may have made. Every "is this inside that?" question in the package is
answered here:

- :func:`is_plain_name` / :func:`plain_path`: a name is one path component (not
  empty, ``.``, ``..``, absolute, and with no separator or NUL), so joining it to a
  folder cannot leave the folder;
- :func:`is_inside` / :func:`check_inside`: a path lies strictly inside a folder,
  with symbolic links resolved on both sides (the folder itself may be a user's link);
- :func:`links_below`: the symbolic links on the way from a folder down to a path,
  for writers that must not go through one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["is_plain_name", "plain_path", "is_inside", "check_inside", "links_below"]


def is_plain_name(part: str) -> bool:
    """Whether ``part`` is one plain file or folder name.

    Not empty, not ``.`` or ``..``, no ``/``, ``\\`` or NUL, not absolute.
    """
    return isinstance(part, str) and not (
        not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part
        or os.path.isabs(part))


def plain_path(root: str | os.PathLike, *parts: str,
               error: Callable[[str], Exception] = ValueError) -> Path:
    """``root / part / ...`` where every part is one plain path component.

    Parameters
    ----------
    root : path-like
    *parts : str
        Names read from data (concepts, file names).
    error : callable
        ``error(bad_part) -> Exception`` raised for the first part that is not plain.

    Returns
    -------
    path : Path
    """
    for part in parts:
        if not is_plain_name(part):
            raise error(part)
    return Path(root).joinpath(*parts)


def is_inside(path: str | os.PathLike, folder: str | os.PathLike, *,
              strict: bool = True) -> bool:
    """Whether ``path`` lies inside ``folder`` once symbolic links are resolved.

    Parameters
    ----------
    path, folder : path-like
    strict : bool
        True: ``path`` must lie strictly below ``folder``; False: ``folder``
        itself counts as inside.
    """
    base = os.path.realpath(folder)
    real = os.path.realpath(path)
    if real == base:
        return not strict
    return real.startswith(base.rstrip(os.sep) + os.sep)


def resolved_paths(paths: Iterable[str | os.PathLike]) -> list[str]:
    """``os.path.realpath`` of every path, each folder resolved once.

    A path whose last component is not a symbolic link resolves to its resolved
    folder joined with its name; only links (and each distinct folder) go through
    ``realpath``. For thousands of images in a few folders this is one ``lstat``
    per image instead of one per component of every image.

    Parameters
    ----------
    paths : iterable of path-like

    Returns
    -------
    list of str
    """
    folders: dict[str, str] = {}
    out = []
    for path in paths:
        path = os.fspath(path)
        folder, name = os.path.split(path)
        parts = path.split(os.sep)
        if not name or "." in parts or ".." in parts or os.path.islink(path):
            out.append(os.path.realpath(path))  # resolved as the system would, links first
            continue
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        out.append(os.path.join(folders[folder], name))
    return out


def check_inside(path: str | os.PathLike, folder: str | os.PathLike,
                 error: Callable[[], Exception], *, strict: bool = True) -> Path:
    """Return ``path`` if :func:`is_inside` ``folder``, else raise ``error()``."""
    if not is_inside(path, folder, strict=strict):
        raise error()
    return Path(path)


def links_below(path: str | os.PathLike, stop: Callable[[Path], bool]
                ) -> tuple[Path | None, list[Path]]:
    """Symbolic links on ``path``'s own components, walking up until ``stop(folder)``.

    The walk is lexical (``os.path.abspath``; nothing is resolved) and looks at each
    component with ``lstat``, so a link is seen where it sits.

    Parameters
    ----------
    path : path-like
        A file or folder (it need not exist).
    stop : callable
        ``stop(folder) -> bool``: the folder where the walk ends (e.g. one
        Perceptogram owns). A folder that is itself a link never stops the walk.

    Returns
    -------
    top, links : Path or None, list of Path
        The folder where the walk stopped (None if none did, up to the root) and the
        links found below it, nearest first.
    """
    current = Path(os.path.abspath(path))
    links: list[Path] = []
    while True:
        if os.path.islink(current):
            links.append(current)
        elif current.is_dir() and stop(current):
            return current, links
        if current.parent == current:
            return None, links
        current = current.parent
