"""Safe file writes: atomic, never through a link, never over what we did not make.

Nothing half-written is ever left under the final name: the temporary file is
flushed to disk (``fsync``) before it replaces the target, and removed (by
:func:`perceptogram._owned.discard_temp`, which only deletes such temporary
files) when the write fails.

Nothing is written through a symbolic link inside a folder Perceptogram owns
(:func:`perceptogram._owned.check_no_links`): folders are created one component
at a time (:func:`make_dirs`), temporary files with ``O_EXCL`` (which never follows
a link), and the final rename replaces a link rather than writing where it points.
Files written in place (a resumable cache, a download's ``.part``) are opened with
``O_NOFOLLOW`` (:func:`open_nofollow`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perceptogram._owned import NotOwnedError, check_no_links, discard_temp, temp_prefix
from perceptogram.errors import DiskSpaceError, PerceptogramError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path that replaces ``path`` only if the block succeeds.

    Parameters
    ----------
    path : path-like
        Final destination; its parent directory is created if needed.
    suffix : str or None
        Suffix of the temporary file (some writers infer the format from it);
        defaults to the suffix of ``path``.
    """
    path = Path(path)
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=temp_prefix(path.name), suffix=path.suffix if suffix is None else suffix,
        dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates the file private (0600); give it the usual permissions.
        os.chmod(tmp_path, default_mode())
        _fsync(tmp_path)
        os.replace(tmp_path, path)
    finally:
        discard_temp(tmp_path)


def make_dirs(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and its missing parents, never through a link inside an owned folder.

    Each missing component is created with ``mkdir`` (which never follows a link
    at its own name); a symbolic link on the way inside a folder Perceptogram owns
    is refused (:func:`perceptogram._owned.check_no_links`).

    Returns
    -------
    folder : Path

    Raises
    ------
    perceptogram._owned.NotOwnedError
        A symbolic link inside an owned folder is on the way.
    """
    folder = Path(folder)
    missing = [p for p in [folder, *folder.parents] if not os.path.lexists(p)]
    for path in reversed(missing):
        check_no_links(path.parent)
        try:
            os.mkdir(path, default_mode(directory=True) | 0o700)
        except FileExistsError:
            pass
    check_no_links(folder)
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(folder))
    return folder


def open_nofollow(path: str | os.PathLike, mode: str) -> io.BufferedIOBase:
    """Open a file Perceptogram writes in place, never through a symbolic link.

    Parameters
    ----------
    path : path-like
        Its folder is created with :func:`make_dirs` (so no link on the way).
    mode : {"xb", "wb", "ab", "r+b"}
        ``"xb"`` creates a new file (``O_EXCL``); ``"wb"`` truncates or creates;
        ``"ab"`` appends; ``"r+b"`` updates an existing file.

    Returns
    -------
    file : binary file object

    Raises
    ------
    perceptogram._owned.NotOwnedError
        ``path`` is a symbolic link or not a regular file.
    """
    path = Path(path)
    flags = {"xb": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
             "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
             "ab": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
             "r+b": os.O_RDWR}[mode]
    make_dirs(path.parent)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     default_mode())
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise _not_regular(path) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_regular(path)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab" if mode == "ab" else ("r+b" if mode == "r+b" else "wb"))


def _not_regular(path: Path) -> PerceptogramError:
    return NotOwnedError(f"{path} is a symbolic link or not a regular file; Perceptogram "
                         "writes only its own files there: remove it and run again")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask_from_proc() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_at_import() -> int:
    umask = _umask_from_proc()
    if umask is None:  # no /proc (macOS): read it once, while importing, single-threaded
        umask = os.umask(0o022)
        os.umask(umask)
    return umask


_IMPORT_UMASK = _umask_at_import()


def default_mode(directory: bool = False) -> int:
    """Permissions a new file (or directory) gets under the process's umask.

    The umask is read from ``/proc/self/status`` without changing it (changing
    it to read it would race with other threads creating files); where there is
    no ``/proc``, the value read once at import is used.
    """
    umask = _umask_from_proc()
    if umask is None:
        umask = _IMPORT_UMASK
    return (0o777 if directory else 0o666) & ~umask


def check_free_space(folder: str | os.PathLike, n_bytes: int, what: str) -> None:
    """Refuse to start writing ``n_bytes`` into ``folder`` when the disk lacks the room.

    Checked before a file is created, so a full disk gives a clear error rather
    than a half-written file (or, for a memory map, a SIGBUS).

    Parameters
    ----------
    folder : path-like
        An existing folder on the target file system.
    n_bytes : int
        Size of what is about to be written.
    what : str
        What is written, for the message (e.g. ``"the EEG cache"``).

    Raises
    ------
    DiskSpaceError
        Fewer than ``n_bytes`` plus a 16 MiB margin are free.
    """
    import shutil

    free = shutil.disk_usage(folder).free
    if free < n_bytes + _FREE_SPACE_MARGIN:
        raise DiskSpaceError(
            f"{what} needs {_megabytes(n_bytes)} MB but only {free / 1e6:.1f} MB are free in "
            f"{folder} (Perceptogram keeps {_FREE_SPACE_MARGIN >> 20} MB free); free some "
            "space or choose another folder")


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f}" if n_bytes >= 50_000 else f"{n_bytes / 1e6:.3f}"


_FREE_SPACE_MARGIN = 16 << 20


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


class NotEnoughMemoryError(PerceptogramError, MemoryError):
    """Work declared by a setting would not fit in the machine's memory."""


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable`` on Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def check_memory(n_bytes: int, what: str, advice: str) -> None:
    """Refuse to start work that needs more memory than the machine has available.

    Called before the work starts, so a setting that cannot fit (an image size, a
    simulation at its bounds) is one sentence rather than minutes of swapping and
    an out-of-memory kill.

    Parameters
    ----------
    n_bytes : int
        Estimated peak memory of the work.
    what : str
        The work, for the message (``"metrics.image_size 4096"``).
    advice : str
        What to change.

    Raises
    ------
    NotEnoughMemoryError
    """
    free = available_memory()
    if n_bytes > free:
        raise NotEnoughMemoryError(
            f"{what} needs about {n_bytes / 1e9:.1f} GB of memory but only "
            f"{free / 1e9:.1f} GB are available; {advice}")
