"""Memory-mappable float32 copies of large arrays read from slow source files.

A source file (e.g. a 900 MB pickled THINGS-EEG2 split) is converted once into a
plain ``.npy`` file of float32 beside a small JSON sidecar. Later loads open the
``.npy`` with ``mmap_mode="r"`` (milliseconds, no pickle, no copy in memory). The
sidecar records a fingerprint of the source (size, modification time and the
SHA-256 of its first and last MiB), so a replaced or edited source invalidates
the cached copy. The ``.npy`` is written before the sidecar, both atomically: a
sidecar that matches always describes a complete array.

Writing is safe on a full disk: the declared size is checked against the source
file (a tiny file cannot make a huge cache) and against the free space before
anything is created, the array is written with ordinary file writes (no memory
map, hence no SIGBUS), and a failed write leaves no temporary file. A cache
folder Perceptogram creates is marked as its own; temporary files left by a
killed run are removed by the next one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._hashing import file_fingerprint
from perceptogram._io import atomic_path, check_free_space, write_json_atomic
from perceptogram._owned import claim_folder, discard_stale_temps
from perceptogram.errors import DataFormatError

CACHE_FORMAT_VERSION = 1
_CHUNK_BYTES = 64 << 20
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
        ``<cache_dir>/<stem>.float32.npy`` and ``<cache_dir>/<stem>.json``.
    """
    stem = Path(source).stem
    cache_dir = Path(cache_dir)
    return cache_dir / f"{stem}.float32.npy", cache_dir / f"{stem}.json"


def load_cached(source: str | os.PathLike, cache_dir: str | os.PathLike
                ) -> tuple[np.memmap, dict[str, Any]] | None:
    """Open the cached copy of ``source`` if it exists and is current.

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
        or it is stale or damaged (the caller then rebuilds it).
    """
    array_path, sidecar_path = cache_files(source, cache_dir)
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        if (sidecar["format_version"] != CACHE_FORMAT_VERSION
                or sidecar["source"] != file_fingerprint(source)):
            return None
        array = np.load(array_path, mmap_mode="r", allow_pickle=False)
        meta = dict(sidecar["meta"])
        shape = list(sidecar["shape"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if array.dtype != np.float32 or list(array.shape) != shape:
        return None
    return array, meta


def store(source: str | os.PathLike, cache_dir: str | os.PathLike, data: np.ndarray,
          meta: Mapping[str, Any]) -> tuple[np.memmap, dict[str, Any]]:
    """Write ``data`` as float32 into the cache of ``source`` and open it memory-mapped.

    Parameters
    ----------
    source : path-like
        The original file (only fingerprinted, never modified).
    cache_dir : path-like
        Folder for the cache; created if needed.
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
        The cache folder cannot be written.
    """
    array_path, sidecar_path = cache_files(source, cache_dir)
    n_values = int(np.prod(data.shape, dtype=np.int64))
    source_size = os.stat(source).st_size
    if n_values * 4 > _MAX_GROWTH * source_size + _GROWTH_SLACK:
        raise DataFormatError(
            f"{source} ({source_size} bytes) cannot hold the {n_values} values of shape "
            f"{tuple(data.shape)} it declares; it was not cached")
    fingerprint = file_fingerprint(source)
    header = _npy_header(data.shape)
    claim_folder(cache_dir, "cache")
    discard_stale_temps(cache_dir)
    check_free_space(cache_dir, len(header) + 4 * n_values, f"the cache of {source}")
    row_bytes = max(1, int(np.prod(data.shape[1:], dtype=np.int64)) * 4)
    step = max(1, _CHUNK_BYTES // row_bytes)
    with atomic_path(array_path) as tmp, open(tmp, "wb") as fh:
        fh.write(header)
        for start in range(0, data.shape[0], step):
            block = np.ascontiguousarray(data[start:start + step], dtype=np.float32)
            if not np.isfinite(block).all():
                raise DataFormatError(
                    f"{source} holds values beyond the float32 range (|x| > 3.4e38); "
                    "they cannot be cached as float32"
                )
            fh.write(memoryview(block).cast("B"))
    write_json_atomic(sidecar_path, {
        "format_version": CACHE_FORMAT_VERSION,
        "source": fingerprint,
        "shape": list(data.shape),
        "meta": dict(meta),
    })
    return np.load(array_path, mmap_mode="r", allow_pickle=False), dict(meta)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """NPY header of a C-ordered float32 array of ``shape``."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                 "fortran_order": False, "shape": tuple(int(n) for n in shape)})
    return buffer.getvalue()
