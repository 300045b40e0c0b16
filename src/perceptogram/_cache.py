"""Content caches of arrays on disk: the one implementation every cache uses.

The latent feature cache (:mod:`perceptogram.latents.cache`), the evaluation feature
cache (:mod:`perceptogram.evaluate.features`) and the dataset's float32 EEG cache
(:mod:`perceptogram.data.formats.eeg_cache`) are each a :class:`ContentCache`: a
folder of entries, each an ``.npy`` array beside a JSON sidecar::

    <name>.npy            the array, complete entries only
    <name>.json           sidecar: key, shape, dtype, content digest, caller's labels
    .<name>.partial.npy   an entry being written row block by row block (resumable)

What every cache gets from here:

- **Only its own folder.** Entries are read and written only in a folder whose
  ownership marker is bound to it (:func:`perceptogram._owned.claim_folder`). A
  cache folder that came with a received dataset or run, or was written by an older
  version, is ignored (:attr:`ContentCache.usable` is False): its entries could have
  been forged together with their sidecars.
- **Verified like run artifacts.** The sidecar records the SHA-256 of the ``.npy``
  (files over :data:`FULL_HASH_MAX_BYTES`: size, mtime and the digest of the first
  and last MiB, :func:`~perceptogram._hashing.file_fingerprint`); an entry whose
  file no longer matches, whose sidecar is damaged, too large or of another
  format, or whose key, shape or dtype differ, counts as absent.
- **Safe writes.** Free space is checked before a file is created, files are never
  written through a link (:mod:`perceptogram._io`), complete entries are written
  atomically (array first, sidecar last), and a resumable entry is written with
  ordinary writes (no memory map: a full disk is an ``OSError``, never SIGBUS), each
  block flushed (``fsync``) before the sidecar records it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._hashing import file_digest, file_fingerprint
from perceptogram._inputs import read_input_json
from perceptogram._io import atomic_path, check_free_space, open_nofollow, write_json_atomic
from perceptogram._owned import (
    NotOwnedError,
    claim_folder,
    discard_stale_temps,
    owned_kind,
    remove_owned,
)
from perceptogram._paths import is_plain_name
from perceptogram.errors import DataFormatError

__all__ = ["ContentCache", "PartialEntry", "CACHE_FORMAT", "FULL_HASH_MAX_BYTES"]

#: Format of the sidecars written here.
CACHE_FORMAT = 2
#: Entries above this size are verified by their fingerprint rather than a full SHA-256.
FULL_HASH_MAX_BYTES = 64 << 20
#: Largest sidecar read (ours are a few kilobytes).
MAX_SIDECAR_BYTES = 4 << 20
_CHUNK_BYTES = 64 << 20
_RESERVED = frozenset({"cache_format", "key", "shape", "dtype", "complete",
                       "completed_ranges", "content"})


def _npy_header(shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                 "shape": tuple(int(n) for n in shape)})
    return buffer.getvalue()


def _content(path: Path, sha256: str | None = None) -> dict[str, Any]:
    """What identifies ``path``'s content: SHA-256 and size, or size and fingerprint."""
    size = path.stat().st_size
    if size > FULL_HASH_MAX_BYTES:
        fingerprint = {k: v for k, v in file_fingerprint(path).items() if k != "name"}
        return {"size": size, "fingerprint": fingerprint}
    return {"sha256": sha256 if sha256 is not None else file_digest(path), "size": size}


def _matches(path: Path, record: Any) -> bool:
    """Whether ``path`` still holds what ``record`` (from :func:`_content`) describes."""
    if not isinstance(record, dict):
        return False
    try:
        size = path.stat().st_size
        if size != record.get("size"):
            return False
        if size > FULL_HASH_MAX_BYTES:
            current = {k: v for k, v in file_fingerprint(path).items() if k != "name"}
            return current == record.get("fingerprint")
        return file_digest(path) == record.get("sha256")
    except OSError:
        return False


class ContentCache:
    """A folder of cached arrays, each with a JSON sidecar (see the module docstring).

    Parameters
    ----------
    directory : path-like
        The cache folder; created and marked as Perceptogram's on the first write.
    what : str
        What the cache holds, for messages (``"the feature cache"``).
    anchor : path-like or None
        A folder above ``directory`` that is claimed as a cache folder first (the
        dataset's ``.perceptogram-cache``), so that a symbolic link there is refused
        rather than followed.
    """

    def __init__(self, directory: str | os.PathLike, what: str = "the cache", *,
                 anchor: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory)
        self.what = what
        self.anchor = None if anchor is None else Path(anchor)
        self._claimed: bool | None = None

    def __repr__(self) -> str:
        return f"ContentCache({str(self.directory)!r})"

    # -- ownership -------------------------------------------------------------------
    def claim(self) -> bool:
        """Create and mark the folder if needed; whether it is Perceptogram's own.

        Temporary files that killed processes left behind are removed.
        """
        if self._claimed is None:
            if self.anchor is not None:
                claim_folder(self.anchor, "cache")  # refuses a link; an older folder is fine
            self._claimed = claim_folder(self.directory, "cache")
            if self._claimed:
                discard_stale_temps(self.directory)
        return self._claimed

    @property
    def usable(self) -> bool:
        """Whether entries may be read: the folder exists and is Perceptogram's own."""
        return self.directory.is_dir() and not self.directory.is_symlink() and (
            owned_kind(self.directory) is not None)

    # -- names -----------------------------------------------------------------------
    def _paths(self, name: str) -> tuple[Path, Path, Path]:
        if not is_plain_name(name) or name.startswith("."):
            raise ValueError(f"{name!r} is not a plain cache entry name")
        return (self.directory / f"{name}.npy", self.directory / f"{name}.json",
                self.directory / f".{name}.partial.npy")

    def sidecar(self, name: str) -> dict[str, Any] | None:
        """The sidecar of ``name`` as a dict, or None (absent, damaged, foreign folder)."""
        if not self.usable:
            return None
        path = self._paths(name)[1]
        if path.is_symlink() or not path.is_file():
            return None
        try:
            record = read_input_json(path, max_bytes=MAX_SIDECAR_BYTES, what="a cache sidecar")
        except (OSError, DataFormatError):
            return None
        if not isinstance(record, dict) or record.get("cache_format") != CACHE_FORMAT:
            return None
        return record

    @staticmethod
    def meta(record: Mapping[str, Any]) -> dict[str, Any]:
        """The caller's labels stored in a sidecar (everything but the cache's own keys)."""
        return {k: v for k, v in record.items() if k not in _RESERVED}

    # -- reading ---------------------------------------------------------------------
    def load(self, name: str, key: str, *, shape: tuple[int, ...] | None = None,
             dtype: Any = np.float32) -> tuple[np.memmap, dict[str, Any]] | None:
        """A complete, verified entry as a read-only memory map, with its sidecar.

        ``dtype`` None accepts the dtype the sidecar records.

        Returns
        -------
        (array, sidecar) or None
            None when the entry is absent, incomplete, stale (another key, shape or
            dtype), its file changed since it was written, or the folder is not ours.
        """
        record = self.sidecar(name)
        array_path = self._paths(name)[0]
        if (record is None or record.get("key") != key or record.get("complete") is not True
                or array_path.is_symlink() or not array_path.is_file()):
            return None
        if not _matches(array_path, record.get("content")):
            return None
        try:
            array = np.load(array_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        if (array.dtype.str != record.get("dtype")
                or (dtype is not None and array.dtype != np.dtype(dtype))
                or list(array.shape) != record.get("shape")) or (
                shape is not None and tuple(array.shape) != tuple(shape)):
            return None
        return array, record

    # -- writing ---------------------------------------------------------------------
    def store(self, name: str, key: str, data: np.ndarray, meta: Mapping[str, Any], *,
              dtype: Any = np.float32,
              check: Callable[[np.ndarray], None] | None = None) -> np.memmap:
        """Write ``data`` (converted to ``dtype`` block by block) as a complete entry.

        Parameters
        ----------
        name, key : str
        data : ndarray, shape (n_rows, ...)
        meta : mapping
            JSON-serialisable labels stored in the sidecar.
        dtype : dtype
        check : callable or None
            ``check(block)`` on every converted block (e.g. refuse values that
            overflowed); raise to abandon the entry.

        Returns
        -------
        array : numpy.memmap
            The entry, read-only.

        Raises
        ------
        DiskSpaceError
            Not enough free space (checked before any file is created).
        perceptogram._owned.NotOwnedError
            The folder is not Perceptogram's own (a ``PermissionError``).
        OSError
            The folder cannot be written.
        """
        dtype = np.dtype(dtype)
        array_path, sidecar_path, _ = self._paths(name)
        self._require_own()
        header = _npy_header(data.shape, dtype)
        row_bytes = max(1, int(np.prod(data.shape[1:], dtype=np.int64)) * dtype.itemsize)
        total = len(header) + row_bytes * int(data.shape[0]) if data.ndim else len(header)
        check_free_space(self.directory, total, self.what)
        step = max(1, _CHUNK_BYTES // row_bytes)
        hasher = hashlib.sha256()
        with atomic_path(array_path) as tmp, open(tmp, "wb") as fh:
            fh.write(header)
            hasher.update(header)
            for start in range(0, data.shape[0], step):
                block = np.ascontiguousarray(data[start:start + step], dtype=dtype)
                if check is not None:
                    check(block)
                view = memoryview(block).cast("B")
                fh.write(view)
                hasher.update(view)
        write_json_atomic(sidecar_path, {
            **self._reserved_free(meta), "cache_format": CACHE_FORMAT, "key": key,
            "shape": list(data.shape), "dtype": dtype.str, "complete": True,
            "completed_ranges": [[0, int(data.shape[0])]],
            "content": _content(array_path, hasher.hexdigest())})
        return np.load(array_path, mmap_mode="r", allow_pickle=False)

    def partial(self, name: str, key: str, shape: tuple[int, int],
                meta: Mapping[str, Any]) -> PartialEntry:
        """A resumable entry of float32 ``shape``, filled row block by row block.

        An earlier partial entry with the same key and shape is resumed (its
        recorded row ranges are kept); anything else under that name is replaced.

        Raises
        ------
        DiskSpaceError
            Not enough free space for the whole entry (checked before creating it).
        """
        self._require_own()
        return PartialEntry(self, name, key, shape, meta)

    def _require_own(self) -> None:
        if not self.claim():
            raise NotOwnedError(
                f"{self.directory} was not created here by Perceptogram (it came with a "
                f"copied folder or from an older version), so {self.what} is not kept "
                "there; delete that folder to let Perceptogram rebuild it")

    @staticmethod
    def _reserved_free(meta: Mapping[str, Any]) -> dict[str, Any]:
        clash = sorted(_RESERVED.intersection(meta))
        if clash:
            raise ValueError(f"cache labels may not use the reserved keys {clash}")
        return dict(meta)


class PartialEntry:
    """One resumable cache entry being written (from :meth:`ContentCache.partial`)."""

    def __init__(self, cache: ContentCache, name: str, key: str, shape: tuple[int, int],
                 meta: Mapping[str, Any]) -> None:
        self.cache = cache
        self.name = name
        self.key = key
        self.shape = (int(shape[0]), int(shape[1]))
        self.array_path, self.sidecar_path, self.partial_path = cache._paths(name)
        self.record: dict[str, Any] = {
            **cache._reserved_free(meta), "cache_format": CACHE_FORMAT, "key": key,
            "shape": list(self.shape), "dtype": np.dtype(np.float32).str,
            "complete": False, "completed_ranges": []}
        self._offset = self._resume()
        if self._offset is None:
            self._offset = self._create()

    @property
    def done(self) -> list[tuple[int, int]]:
        """Row ranges ``[start, stop)`` already written, merged and sorted."""
        return [tuple(r) for r in self.record["completed_ranges"]]

    def _resume(self) -> int | None:
        old = self.cache.sidecar(self.name)
        if (old is None or old.get("key") != self.key or old.get("complete") is not False
                or old.get("shape") != list(self.shape)
                or self.partial_path.is_symlink() or not self.partial_path.is_file()):
            return None
        ranges = old.get("completed_ranges")
        if not (isinstance(ranges, list) and all(
                isinstance(r, list) and len(r) == 2 and all(isinstance(v, int) for v in r)
                and 0 <= r[0] < r[1] <= self.shape[0] for r in ranges)):
            return None
        header = _npy_header(self.shape, np.dtype(np.float32))
        try:
            with open_nofollow(self.partial_path, "r+b") as fh:
                if fh.read(len(header)) != header:
                    return None
                if os.fstat(fh.fileno()).st_size != len(header) + 4 * self.shape[0] * self.shape[1]:
                    return None
        except (OSError, ValueError):
            return None
        merged: list[tuple[int, int]] = []
        for lo, hi in ranges:
            merged = _merge(merged, (lo, hi))
        self.record["completed_ranges"] = [list(r) for r in merged]
        return len(header)

    def _create(self) -> int:
        header = _npy_header(self.shape, np.dtype(np.float32))
        size = len(header) + 4 * self.shape[0] * self.shape[1]
        check_free_space(self.cache.directory, size, self.cache.what)
        remove_owned(self.partial_path)
        with open_nofollow(self.partial_path, "xb") as fh:
            fh.write(header)
            fh.truncate(size)
        return len(header)

    def write(self, start: int, rows: np.ndarray) -> None:
        """Write rows ``start ... start + len(rows)`` and record them (flushed first)."""
        block = np.ascontiguousarray(rows, dtype=np.float32)
        stop = start + len(block)
        if block.ndim != 2 or block.shape[1] != self.shape[1] or not 0 <= start < stop <= (
                self.shape[0]):
            raise ValueError(f"rows {start}:{stop} of shape {block.shape} do not fit the "
                             f"entry of shape {self.shape}")
        with open_nofollow(self.partial_path, "r+b") as fh:
            fh.seek(self._offset + start * 4 * self.shape[1])
            fh.write(memoryview(block).cast("B"))
            fh.flush()
            os.fsync(fh.fileno())
        self.record["completed_ranges"] = [list(r) for r in _merge(self.done, (start, stop))]
        write_json_atomic(self.sidecar_path, self.record)

    def finish(self) -> np.memmap:
        """Turn the filled partial file into the complete entry and open it read-only."""
        if self.done != [(0, self.shape[0])]:
            raise ValueError(f"{self.name}: rows {self.done} of {self.shape[0]} are written")
        os.replace(self.partial_path, self.array_path)
        self.record["complete"] = True
        self.record["content"] = _content(self.array_path)
        write_json_atomic(self.sidecar_path, self.record)
        return np.load(self.array_path, mmap_mode="r", allow_pickle=False)


def _merge(ranges: list[tuple[int, int]], new: tuple[int, int]) -> list[tuple[int, int]]:
    """Add ``new`` to sorted, disjoint half-open ranges, merging touching ones."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted([*ranges, new]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
