"""Memory-mappable float32 copies of large arrays read from slow source files.

A source file (e.g. a 900 MB pickled THINGS-EEG2 split) is converted once into a
plain ``.npy`` file of float32 beside a small JSON sidecar, an entry of
:class:`perceptogram._cache.ContentCache` (the one cache implementation). Later loads
open the ``.npy`` with ``mmap_mode="r"`` (milliseconds, no pickle, no copy in
memory). The entry's key is the source's fingerprint (size, modification time and
the SHA-256 of its first and last MiB), so a replaced or edited source invalidates
the cached copy; the entry's own digest is checked like a run artifact's, so a cache
file changed since it was written is rebuilt. A cache folder that came with a
received dataset (its marker copied) or from an older version is neither read nor
written: the source is read instead.

Writing is safe on a full disk: the declared size is checked against the source
file (a tiny file cannot make a huge cache) and against the free space before
anything is created, the array is written with ordinary file writes (no memory
map, hence no SIGBUS), and a failed write leaves no temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._cache import ContentCache
from perceptogram._hashing import file_fingerprint, json_digest
from perceptogram.errors import DataFormatError

#: Folder of a dataset's EEG caches, one sub-folder per subject (``<root>/.perceptogram-cache/
#: sub-01``). It is marked as Perceptogram's too, so that a link there is never followed.
CACHE_DIRNAME = ".perceptogram-cache"
# A source stores each value in at least 2 bytes (float16), so its float32 copy is at
# most twice its size; the slack covers headers.
_MAX_GROWTH = 2
_GROWTH_SLACK = 1 << 20


def cache_files(source: str | os.PathLike, cache_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Paths of the cached array and its JSON sidecar for ``source``.

    Parameters
    ----------
    source : path-like
        The original file.
    cache_dir : path-like
        Folder holding the cache.

    Returns
    -------
    array_path, sidecar_path : Path
        ``<cache_dir>/<stem>.float32.npy`` and ``<cache_dir>/<stem>.float32.json``.
    """
    name = _name(source)
    cache_dir = Path(cache_dir)
    return cache_dir / f"{name}.npy", cache_dir / f"{name}.json"


def _name(source: str | os.PathLike) -> str:
    return f"{Path(source).stem}.float32"


def _cache(cache_dir: str | os.PathLike, source: str | os.PathLike) -> ContentCache:
    cache_dir = Path(cache_dir)
    anchor = cache_dir.parent if cache_dir.parent.name == CACHE_DIRNAME else None
    return ContentCache(cache_dir, f"the cache of {source}", anchor=anchor)


def _key(source: str | os.PathLike) -> str:
    return json_digest({"source": file_fingerprint(source), "dtype": "float32"})


def load_cached(source: str | os.PathLike, cache_dir: str | os.PathLike
                ) -> tuple[np.memmap, dict[str, Any]] | None:
    """Open the cached copy of ``source`` if it exists, is current and is intact.

    Parameters
    ----------
    source : path-like
        The original file the cache was made from.
    cache_dir : path-like
        Folder holding the cache.

    Returns
    -------
    (array, meta) or None
        ``array`` is a read-only float32 memory map; ``meta`` is the mapping passed
        to :func:`store` when the cache was written. None when there is no cache,
        it is stale, damaged or changed, or the folder is not Perceptogram's own
        (the caller then reads the source).
    """
    cache = _cache(cache_dir, source)
    try:
        hit = cache.load(_name(source), _key(source))
    except OSError:
        return None
    if hit is None:
        return None
    return hit[0], ContentCache.meta(hit[1])


def store(source: str | os.PathLike, cache_dir: str | os.PathLike, data: np.ndarray,
          meta: Mapping[str, Any]) -> tuple[np.memmap, dict[str, Any]]:
    """Write ``data`` as float32 into the cache of ``source`` and open it memory-mapped.

    Parameters
    ----------
    source : path-like
        The original file (only fingerprinted, never modified).
    cache_dir : path-like
        Folder for the cache; created (and marked as Perceptogram's) if needed.
    data : ndarray, shape (n_rows, ...)
        Array to cache; converted to float32 chunk by chunk along axis 0.
    meta : mapping
        JSON-serialisable labels stored in the sidecar (e.g. channel names).

    Returns
    -------
    (array, meta)
        The read-only float32 memory map and a copy of ``meta``.

    Raises
    ------
    DataFormatError
        A value is too large for float32, or ``data`` is larger than ``source``
        could hold.
    DiskSpaceError
        The cache folder's disk lacks the space (checked before writing).
    OSError
        The cache folder cannot be written, or is not Perceptogram's own
        (:class:`~perceptogram._owned.NotOwnedError`).
    """
    key = _key(source)
    n_values = int(np.prod(data.shape, dtype=np.int64))
    source_size = os.stat(source).st_size
    if n_values * 4 > _MAX_GROWTH * source_size + _GROWTH_SLACK:
        raise DataFormatError(
            f"{source} ({source_size} bytes) cannot hold the {n_values} values of shape "
            f"{tuple(data.shape)} it declares; it was not cached")

    def finite(block: np.ndarray) -> None:
        if not np.isfinite(block).all():
            raise DataFormatError(
                f"{source} holds values beyond the float32 range (|x| > 3.4e38); "
                "they cannot be cached as float32"
            )

    cache = _cache(cache_dir, source)
    array = cache.store(_name(source), key, data, dict(meta), check=finite)
    return array, dict(meta)
