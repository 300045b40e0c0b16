"""Content hashes: the one implementation every cache, manifest and download uses.

- :func:`file_digest` — digest of a whole file, streamed (any :mod:`hashlib` algorithm);
- :func:`file_fingerprint` — cheap identity of a large file (size, mtime and a digest of
  its first and last MiB), for caches of inputs too big to re-hash on every run;
- :func:`files_digest` — digest of an ordered list of files (content, in order);
- :func:`array_digest` — digest of arrays (shape, dtype and bytes);
- :func:`json_digest` — digest of a JSON-serialisable value (sorted keys): settings, keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "file_digest",
    "file_fingerprint",
    "files_digest",
    "array_digest",
    "json_digest",
    "short",
]

_CHUNK = 1 << 20
_EDGE_BYTES = 1 << 20


def short(digest: str, n: int = 16) -> str:
    """The first ``n`` hexadecimal characters of ``digest`` (for names and fingerprints)."""
    return digest[:n]


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hexadecimal digest of a file's content, read in 1 MiB chunks.

    Parameters
    ----------
    path : path-like
    algorithm : str
        Any name :func:`hashlib.new` accepts (``"sha256"``, ``"md5"``, ``"blake2b"``).

    Returns
    -------
    digest : str
    """
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def file_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """Cheap identity of a (large) file: name, size, mtime, digest of its first/last MiB.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    fingerprint : dict
        JSON-serialisable; equal fingerprints mean the file is (almost surely) unchanged.
    """
    path = Path(path)
    stat = path.stat()
    hasher = hashlib.sha256()
    with open(path, "rb") as fh:
        hasher.update(fh.read(_EDGE_BYTES))
        if stat.st_size > 2 * _EDGE_BYTES:
            fh.seek(-_EDGE_BYTES, os.SEEK_END)
            hasher.update(fh.read(_EDGE_BYTES))
    return {
        "name": path.name,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256_first_last_mib": hasher.hexdigest(),
    }


def files_digest(paths: Iterable[str | os.PathLike]) -> str:
    """SHA-256 of an ordered set of files: the SHA-256 of each file's content, in order.

    Parameters
    ----------
    paths : iterable of path-like

    Returns
    -------
    digest : str

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    """
    paths = list(paths)
    hasher = hashlib.sha256(f"{len(paths)} files\n".encode())
    for path in paths:
        hasher.update(f"{file_digest(path)}\n".encode())
    return hasher.hexdigest()


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 of arrays: each one's shape, dtype and C-order bytes, in order."""
    hasher = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        hasher.update(f"{array.shape}|{array.dtype.str}|".encode())
        hasher.update(array.data)
    return hasher.hexdigest()


def json_digest(value: Any) -> str:
    """SHA-256 of a JSON-serialisable value (sorted keys, ``str`` for other objects)."""
    blob = json.dumps(value, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()
