"""Atomic file writes: write to a temporary file beside the target, then rename.

Nothing half-written is ever left under the final name: the temporary file is
flushed to disk (``fsync``) before it replaces the target, and removed (by
:func:`perceptogram._owned.discard_temp`, which only deletes such temporary
files) when the write fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from perceptogram._owned import discard_temp, temp_prefix


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
    path.parent.mkdir(parents=True, exist_ok=True)
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

    from perceptogram.errors import DiskSpaceError

    free = shutil.disk_usage(folder).free
    if free < n_bytes + _FREE_SPACE_MARGIN:
        raise DiskSpaceError(
            f"{what} needs {n_bytes / 1e6:.1f} MB but only {free / 1e6:.1f} MB are free in "
            f"{folder}; free some space or choose another folder")


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
