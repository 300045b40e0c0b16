"""Reading input files: regular files only, sizes capped before reading, short excerpts.

Every file Perceptogram reads as input (a configuration, an image or label table, a
JSON sidecar, a manifest) goes through :func:`open_input` or one of the readers built
on it:

- only a **regular file** is opened: a FIFO (which would block), a device such as
  ``/dev/zero`` (which never ends), a socket or a folder is refused, and so is any
  file of ``/proc`` or ``/sys`` (``/proc/self/pagemap`` reports a size of 0 and
  reads as gigabytes; ``/proc/self/environ`` holds the user's secrets);
- the size is **capped before reading** (the declared size first, then a read of at
  most ``max_bytes + 1`` bytes, for files whose size is not what they hold);
- an error message quotes at most a short, escaped :func:`excerpt` of what a file
  holds, never its content at large.

A symbolic link made by the user (``images.csv -> ../shared/images.csv``) is
followed: where an input lives is the user's choice; what it is, is checked.
"""

from __future__ import annotations

import functools
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

from perceptogram.errors import DataFormatError

__all__ = ["InputFileError", "excerpt", "open_input", "read_input", "read_input_text",
           "read_input_json"]

#: Characters of a file's content quoted in an error message, at most.
EXCERPT_CHARS = 60
_PSEUDO_ROOTS = ("/proc", "/sys")


class InputFileError(DataFormatError):
    """An input path is not a regular file, or is larger than the reader accepts."""


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """``value`` as a short, escaped, quoted excerpt for an error message.

    Control characters, quotes and non-ASCII characters are escaped (``repr`` with
    ``ascii``), and anything longer than ``limit`` characters is cut with ``...``.
    """
    text = str(value)
    cut = len(text) > limit
    shown = ascii(text[:limit])
    return shown + ("..." if cut else "")


@functools.lru_cache(maxsize=1)
def _pseudo_devices() -> frozenset[int]:
    """Device numbers of ``/proc`` and ``/sys`` (read once per process)."""
    devices = set()
    for root in _PSEUDO_ROOTS:
        try:
            devices.add(os.stat(root).st_dev)
        except OSError:
            pass
    return frozenset(devices)


def open_input(path: str | os.PathLike, what: str = "the input file") -> io.BufferedReader:
    """Open ``path`` for reading if it is a regular file outside ``/proc`` and ``/sys``.

    Parameters
    ----------
    path : path-like
    what : str
        What the file is, for messages (``"the image table"``).

    Returns
    -------
    file : binary file object, to be closed by the caller

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    InputFileError
        ``path`` is a folder, FIFO, socket, device, or a file of ``/proc`` or ``/sys``.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise InputFileError(f"{what} {path} is a folder, not a file") from None
    except OSError as exc:
        if exc.errno is not None and os.path.exists(path) and not os.path.isfile(path):
            raise InputFileError(f"{what} {path} is not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a folder" if stat.S_ISDIR(info.st_mode) else
                    "a FIFO" if stat.S_ISFIFO(info.st_mode) else
                    "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                    else "a socket" if stat.S_ISSOCK(info.st_mode) else "a special file")
            raise InputFileError(f"{what} {path} is {kind}, not a regular file")
        if info.st_dev in _pseudo_devices():
            raise InputFileError(f"{what} {path} is a file of the system (/proc or /sys), "
                                 "not a data file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input(path: str | os.PathLike, *, max_bytes: int, what: str = "the input file"
               ) -> bytes:
    """All bytes of a regular file of at most ``max_bytes`` bytes (see :func:`open_input`).

    Raises
    ------
    InputFileError
        Not a regular file, or larger than ``max_bytes`` (checked before reading).
    """
    with open_input(path, what) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_bytes:
            raise InputFileError(_too_large(what, path, max_bytes, size))
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputFileError(_too_large(what, path, max_bytes, None))
    return data


def _too_large(what: str, path: str | os.PathLike, max_bytes: int, size: int | None) -> str:
    held = f" ({size:,} bytes)" if size is not None else ""
    return (f"{what} {path} is larger than {max_bytes:,} bytes{held}, more than such a "
            "file can need; refusing to read it")


def read_input_text(path: str | os.PathLike, *, max_bytes: int, what: str = "the input file",
                    encoding: str = "utf-8-sig") -> str:
    """The text of a regular file of at most ``max_bytes`` bytes.

    Raises
    ------
    InputFileError
        Not a regular file, too large, or not valid ``encoding`` (the message names
        the line and byte, and says how to fix it).
    """
    data = read_input(path, max_bytes=max_bytes, what=what)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputFileError(
            f"{what} {path} is not UTF-8 text (line {line}, byte {exc.start}: "
            f"{excerpt(data[exc.start:exc.start + 4])}); save it as UTF-8") from None


def read_input_json(path: str | os.PathLike, *, max_bytes: int,
                    what: str = "the JSON file") -> Any:
    """Parse a regular file of at most ``max_bytes`` bytes as JSON.

    Raises
    ------
    InputFileError
        Not a regular file, too large, not UTF-8, or not valid JSON.
    """
    text = read_input_text(path, max_bytes=max_bytes, what=what, encoding="utf-8")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        where = (f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else "")
        raise InputFileError(f"{what} {path} is not valid JSON{where}") from None
