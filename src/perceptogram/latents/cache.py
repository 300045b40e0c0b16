"""Content-addressed, resumable feature cache for latent-space encodings.

A cache entry is keyed by the SHA-256 of: the cache format, the image set (the
content hash of every file, in list order), the latent space's name and
``fingerprint()`` (model, weights revision, preprocessing), the size images are
loaded at and the Perceptogram version. Changing any image, their order, the model
or the preprocessing gives a new key, so stale features are never read.

On disk, under ``cache_dir``::

    <space>-<key>.npy           float32 (n_images, dim), complete entries only
    <space>-<key>.json          manifest: key parts, shape, completed image ranges
    .<space>-<key>.partial.npy  memory-mapped features while encoding

Each encoded batch is written to the partial file and flushed to disk (``fsync``)
before the manifest (written atomically) records it, so an interrupted run resumes
where it stopped and never trusts a half-written batch. When every image is encoded
the partial file is renamed to its final name.

The partial file is written with ordinary file writes, not a memory map, after
checking that the disk has room for all of it: a full disk gives a clear error
(an ``OSError``), never a SIGBUS. The cache folder is marked as Perceptogram's
when it creates it; temporary files left by a killed run are removed on the next.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np

import perceptogram
from perceptogram._hashing import files_digest, json_digest
from perceptogram._io import check_free_space, write_json_atomic
from perceptogram._owned import claim_folder, discard_stale_temps
from perceptogram._progress import track
from perceptogram._threads import adapt_threads, limited_threads, thread_share, usable_cpus
from perceptogram.data.core.image_files import ImageFileError, load_images
from perceptogram.errors import DataFormatError
from perceptogram.latents.base import LatentSpace

CACHE_FORMAT = 1


def hash_files(paths: Sequence[str | os.PathLike]) -> str:
    """SHA-256 of an ordered image set: the content hash of each file, in order.

    Parameters
    ----------
    paths : sequence of path-like

    Returns
    -------
    digest : str
        Hexadecimal SHA-256.

    Raises
    ------
    perceptogram.data.core.image_files.ImageFileError
        If a file is missing.
    """
    missing = next((p for p in paths if not os.path.isfile(p)), None)
    if missing is not None:
        raise ImageFileError(f"image file not found: {os.fspath(missing)}")
    return files_digest(track(paths, "hashing images"))


def cache_key(space: LatentSpace, image_set_hash: str, image_size: int | None) -> str:
    """Key of the features of ``space`` on an image set loaded at ``image_size``.

    Parameters
    ----------
    space : LatentSpace
    image_set_hash : str
        From :func:`hash_files`.
    image_size : int or None
        Side the images are loaded at (``None``: native size).

    Returns
    -------
    key : str
        Hexadecimal SHA-256.
    """
    parts = {
        "cache_format": CACHE_FORMAT,
        "image_set": image_set_hash,
        "latent_space": space.name,
        "fingerprint": space.fingerprint(),
        "image_size": image_size,
        "perceptogram_version": perceptogram.__version__,
    }
    return json_digest(parts)


def encode_cached(
    space: LatentSpace,
    paths: Sequence[str | os.PathLike],
    cache_dir: str | os.PathLike,
    batch_size: int = 32,
    image_size: int | None = None,
) -> np.ndarray:
    """Encode image files with ``space``, reading from / writing to the feature cache.

    Parameters
    ----------
    space : LatentSpace
        The latent space (for fitted spaces such as ``pca``, fitted already).
    paths : sequence of path-like
        Image files; row ``i`` of the result belongs to ``paths[i]``.
    cache_dir : path-like
        Directory of the cache (created if needed).
    batch_size : int
        Images loaded and encoded per step; also the unit of resumption.
    image_size : int or None
        Side (px) images are loaded at (shorter side + centre crop). ``None`` uses
        ``space.image_size`` when the space has one, else the files' native size.

    Returns
    -------
    features : numpy.memmap of float32, shape (n_images, dim)
        Read-only, memory-mapped from the cache file.

    Raises
    ------
    perceptogram.data.core.image_files.ImageFileError
        If an image file is missing or unreadable.
    perceptogram.errors.DataFormatError
        If ``space.encode`` returns an array of the wrong shape.

    Examples
    --------
    >>> import tempfile
    >>> from perceptogram.data.simulate.dataset import simulate_dataset
    >>> from perceptogram.data.formats.things_eeg2 import load_image_metadata
    >>> from perceptogram.latents import get_latent_space
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     root = simulate_dataset(f"{tmp}/things", n_train_concepts=3,
    ...                             images_per_concept=2, n_test_concepts=2,
    ...                             n_train_repetitions=2, n_test_repetitions=2)
    ...     paths = load_image_metadata(root).image_paths("train")
    ...     space = get_latent_space("attributes")
    ...     first = encode_cached(space, paths, f"{tmp}/cache")
    ...     again = encode_cached(space, paths, f"{tmp}/cache")  # read from the cache
    ...     print(first.shape == (6, space.dim), bool((first == again).all()))
    True True
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    paths = list(paths)
    if not paths:
        raise DataFormatError("encode_cached needs at least one image file")
    if image_size is None:
        image_size = getattr(space, "image_size", None)
    key = cache_key(space, hash_files(paths), image_size)
    entry = _Entry(Path(cache_dir), space.name, key)
    shape = (len(paths), space.dim)

    features = entry.read_complete(shape)
    if features is not None:
        return features

    claim_folder(entry.directory, "cache")
    discard_stale_temps(entry.directory)
    manifest = entry.read_manifest()
    offset = entry.partial_offset(shape) if manifest is not None else None
    if offset is not None and tuple(manifest["shape"]) == shape:
        done = [tuple(r) for r in manifest["completed_ranges"]]
    else:
        offset = entry.create_partial(shape)
        done = []
        manifest = {
            "key": key,
            "latent_space": space.name,
            "fingerprint": space.fingerprint(),
            "image_size": image_size,
            "n_images": len(paths),
            "shape": list(shape),
            "dtype": "float32",
            "perceptogram_version": perceptogram.__version__,
            "cache_format": CACHE_FORMAT,
            "complete": False,
            "completed_ranges": [],
        }
    manifest["batch_size"] = batch_size

    todo = [
        (start, min(start + batch_size, len(paths)))
        for start in range(0, len(paths), batch_size)
        if not _covered(done, start, min(start + batch_size, len(paths)))
    ]
    row_bytes = 4 * shape[1]
    with open(entry.partial, "r+b") as out:
        batches = _encoded_batches(space, paths, todo, image_size)
        for (start, stop), latents in track(batches, f"encoding {space.name}", total=len(todo)):
            if latents.shape != (stop - start, shape[1]):
                raise DataFormatError(
                    f"latent space {space.name!r} returned shape {latents.shape} for "
                    f"{stop - start} images; expected {(stop - start, shape[1])}"
                )
            out.seek(offset + start * row_bytes)
            out.write(memoryview(np.ascontiguousarray(latents, dtype=np.float32)).cast("B"))
            out.flush()
            os.fsync(out.fileno())
            done = _merge(done, (start, stop))
            manifest["completed_ranges"] = [list(r) for r in done]
            write_json_atomic(entry.manifest, manifest)

    os.replace(entry.partial, entry.features)
    manifest["complete"] = True
    write_json_atomic(entry.manifest, manifest)
    return np.load(entry.features, mmap_mode="r")


def _encoded_batches(space: LatentSpace, paths: list, todo: list[tuple[int, int]],
                     image_size: int | None) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    """``((start, stop), latents)`` of every batch in ``todo``, in order, pipelined.

    The next batch's files are decoded while the current one is encoded. A space
    whose ``encodes_concurrently`` is true (a pure function of the images, e.g. a
    CPU network in inference mode) encodes as many batches at once as this process
    has threads (:func:`perceptogram._threads.thread_share`, read between batches,
    so an encoding that is left alone takes over the cores other units hand back),
    each with single-threaded BLAS and torch: no thread waits on another inside a
    layer. Other spaces encode one batch at a time with every thread of the share.
    """
    from concurrent.futures import ThreadPoolExecutor

    concurrent = bool(getattr(space, "encodes_concurrently", False))

    def load(bounds: tuple[int, int]) -> np.ndarray:
        return load_images(paths[bounds[0]:bounds[1]], image_size)

    def encode(bounds: tuple[int, int]) -> np.ndarray:
        return np.asarray(space.encode(load(bounds)))

    pending: deque = deque()
    queue = iter(todo)
    pool = ThreadPoolExecutor(max_workers=usable_cpus() + 1,
                              thread_name_prefix="perceptogram-encode")
    try:
        with limited_threads(1) if concurrent else nullcontext():
            while True:
                if not concurrent:
                    adapt_threads()  # no batch is being encoded at this point
                # concurrent: `share` batches loaded and encoded by the pool; otherwise
                # the next batch is decoded while this thread encodes the current one
                width = thread_share() if concurrent else 2
                while len(pending) < width:
                    bounds = next(queue, None)
                    if bounds is None:
                        break
                    pending.append((bounds, pool.submit(encode if concurrent else load, bounds)))
                if not pending:
                    return
                bounds, future = pending.popleft()
                result = future.result()
                yield bounds, (result if concurrent else np.asarray(space.encode(result)))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Entry:
    """File names of one cache entry."""

    def __init__(self, directory: Path, space_name: str, key: str) -> None:
        stem = f"{space_name}-{key[:24]}"
        self.directory = directory
        self.features = directory / f"{stem}.npy"
        self.manifest = directory / f"{stem}.json"
        self.partial = directory / f".{stem}.partial.npy"

    def read_manifest(self) -> dict | None:
        try:
            return json.loads(self.manifest.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def partial_offset(self, shape: tuple[int, int]) -> int | None:
        """Byte offset of the data in the partial file, if it holds float32 ``shape``."""
        try:
            with open(self.partial, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)(fh)
                offset = fh.tell()
            size = self.partial.stat().st_size
        except (OSError, ValueError):
            return None
        expected_size = offset + 4 * shape[0] * shape[1]
        if header != (shape, False, np.dtype(np.float32)) or size != expected_size:
            return None
        return offset

    def create_partial(self, shape: tuple[int, int]) -> int:
        """Create the partial file at full size (checking the free space first).

        Returns
        -------
        offset : int
            Byte offset of the data.
        """
        import io

        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
        header = buffer.getvalue()
        size = len(header) + 4 * shape[0] * shape[1]
        check_free_space(self.directory, size, "the feature cache")
        with open(self.partial, "wb") as fh:
            fh.write(header)
            fh.truncate(size)
        return len(header)

    def read_complete(self, shape: tuple[int, int]) -> np.ndarray | None:
        manifest = self.read_manifest()
        if manifest is None or not manifest.get("complete") or not self.features.is_file():
            return None
        try:
            features = np.load(self.features, mmap_mode="r")
        except ValueError:
            return None
        if features.shape != shape or features.dtype != np.float32:
            return None
        return features


def _covered(ranges: list[tuple[int, int]], start: int, stop: int) -> bool:
    """Whether ``[start, stop)`` lies inside one of the (merged) ``ranges``."""
    return any(lo <= start and stop <= hi for lo, hi in ranges)


def _merge(ranges: list[tuple[int, int]], new: tuple[int, int]) -> list[tuple[int, int]]:
    """Add ``new`` to sorted, disjoint half-open ranges, merging touching ones."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted([*ranges, new]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
