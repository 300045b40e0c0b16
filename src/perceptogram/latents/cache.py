"""Content-addressed, resumable feature cache for latent-space encodings.

A cache entry is keyed by the SHA-256 of: the cache format, the image set (the
content hash of every file, in list order), the latent space's name and
``fingerprint()`` (model, weights revision, preprocessing), the size images are
loaded at and the Perceptogram version. Changing any image, their order, the model
or the preprocessing gives a new key, so stale features are never read.

On disk, under ``cache_dir``, the entry of :class:`perceptogram._cache.ContentCache`
(the one cache implementation)::

    <space>-<key>.npy           float32 (n_images, dim), complete entries only
    <space>-<key>.json          sidecar: key parts, shape, completed image ranges, digest
    .<space>-<key>.partial.npy  features while encoding

Each encoded batch is written to the partial file and flushed to disk (``fsync``)
before the sidecar (written atomically) records it, so an interrupted run resumes
where it stopped and never trusts a half-written batch. When every image is encoded
the partial file is renamed to its final name and its digest recorded; a complete
entry whose file changed since is encoded again.

The cache folder must be Perceptogram's own (its marker bound to it): a cache that
came with a received run is not trusted and, until the run is adopted, not written.
Nothing is written through a symbolic link, and the free space is checked before
the partial file is created: a full disk gives a clear error (an ``OSError``),
never a SIGBUS.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import nullcontext

import numpy as np

import perceptogram
from perceptogram._cache import ContentCache
from perceptogram._hashing import files_digest, json_digest
from perceptogram._progress import track
from perceptogram._threads import adapt_threads, limited_threads, thread_share, usable_cpus
from perceptogram.data.core.image_files import ImageFileError, load_images
from perceptogram.errors import DataFormatError
from perceptogram.latents.base import LatentSpace, capabilities

CACHE_FORMAT = 2


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
        image_size = capabilities(space).image_size
    key = cache_key(space, hash_files(paths), image_size)
    cache = ContentCache(cache_dir, "the feature cache")
    name = f"{space.name}-{key[:24]}"
    shape = (len(paths), space.dim)

    hit = cache.load(name, key, shape=shape)
    if hit is not None:
        return hit[0]

    entry = cache.partial(name, key, shape, {
        "latent_space": space.name,
        "fingerprint": space.fingerprint(),
        "image_size": image_size,
        "n_images": len(paths),
        "perceptogram_version": perceptogram.__version__,
        "batch_size": batch_size,
    })
    todo = [
        (start, min(start + batch_size, len(paths)))
        for start in range(0, len(paths), batch_size)
        if not _covered(entry.done, start, min(start + batch_size, len(paths)))
    ]
    batches = _encoded_batches(space, paths, todo, image_size)
    for (start, stop), latents in track(batches, f"encoding {space.name}", total=len(todo)):
        if latents.shape != (stop - start, shape[1]):
            raise DataFormatError(
                f"latent space {space.name!r} returned shape {latents.shape} for "
                f"{stop - start} images; expected {(stop - start, shape[1])}"
            )
        entry.write(start, latents)
    return entry.finish()


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


def _covered(ranges: list[tuple[int, int]], start: int, stop: int) -> bool:
    """Whether ``[start, stop)`` lies inside one of the (merged) ``ranges``."""
    return any(lo <= start and stop <= hi for lo, hi in ranges)
