"""CPU threads: how many this process may use, and every thread pool set to that number.

One rule for the whole package: the threads of the processes that run at the same time
add up to at most the usable CPUs (threads x processes <= cores), and no core idles
while work remains. The executor that runs a unit gives it a share of the cores
(:func:`use_threads`); on this machine it may change the share while the unit runs,
through a :class:`ShareBoard` (a unit left alone gets every core; a unit that
starts takes cores back). Long loops read :func:`thread_share` between steps and
adapt (:func:`adapt_threads`), e.g. the feature cache encodes that many batches at
once.

Every thread pool follows the share: BLAS and OpenMP (``threadpoolctl``), torch's
intra-op pool, and the environment variables that libraries loaded later read.
:func:`tune_process` (once per process: the run's parent and every worker) makes
idle OpenMP workers sleep (``OMP_WAIT_POLICY=PASSIVE``) instead of spinning on
cores that another process needs, and keeps glibc from returning freed memory to
the kernel between batches (:func:`tune_allocator`): without it, every large
temporary (a network's activations) is a fresh ``mmap`` whose pages fault in
again, which cost as much kernel time as the computation itself.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["usable_cpus", "use_threads", "thread_share", "threads_in_use", "adapt_threads",
           "managed", "ordered_map",
           "limited_threads", "tune_process", "tune_allocator", "worker_environment",
           "ShareBoard", "follow_board"]

#: Environment variables that size thread pools of libraries loaded after they are set.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
#: Largest allocation glibc serves from its heap after :func:`tune_allocator` (the
#: most ``M_MMAP_THRESHOLD`` accepts on 64-bit Linux).
HEAP_LIMIT = 32 << 20
#: Free memory glibc keeps at the top of its heap instead of returning it.
KEEP_FREE = 512 << 20

_share: int | None = None  # the share given by use_threads, if any
_board: tuple[mmap.mmap, int] | None = None  # (board, slot) this process follows
_tuned = False


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask; else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_in_use() -> int:
    """The share last given to :func:`use_threads` (all usable CPUs if none was)."""
    return _share if _share is not None else usable_cpus()


def thread_share() -> int:
    """Threads this process may use now.

    The executor's current share when the process follows a :class:`ShareBoard`,
    else :func:`threads_in_use`.
    """
    if _board is not None:
        board, slot = _board
        value = struct.unpack_from("<i", board, 4 * slot)[0]
        if value > 0:
            return value
    return threads_in_use()


def use_threads(n: int) -> None:
    """Make ``n`` this process's share and size every thread pool to it.

    Parameters
    ----------
    n : int
        Threads for BLAS, OpenMP and torch (at least 1); also written to the
        environment variables that libraries loaded later read.
    """
    global _share
    _share = max(1, int(n))
    _size_pools(_share)


def _size_pools(n: int, loaded: bool = True) -> None:
    """Environment and torch at ``n`` threads; the loaded BLAS / OpenMP too if ``loaded``."""
    n = max(1, int(n))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)
    if loaded:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def adapt_threads() -> int:
    """Between two steps of a long loop: follow a changed share (every pool resized).

    Call where no other thread of this process is inside BLAS or torch. A no-op
    (returning the current share) outside an executor's units.

    Returns
    -------
    share : int
    """
    share = thread_share()
    if managed() and share != threads_in_use():
        use_threads(share)
    return share


def managed() -> bool:
    """Whether an executor gave this process its share (:func:`use_threads` ran)."""
    return _share is not None or _board is not None


@contextmanager
def limited_threads(n: int) -> Iterator[None]:
    """Run a block with every thread pool at ``n`` threads, then put them back as they were.

    The share (:func:`thread_share`) is not changed: a loop that runs ``share``
    single-threaded workers limits the pools to 1 and still reads its share.

    Parameters
    ----------
    n : int
    """
    from threadpoolctl import threadpool_limits

    env_before = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch = sys.modules.get("torch")
    torch_before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=max(1, n)):
        _size_pools(n, loaded=False)
        try:
            yield
        finally:
            for name, value in env_before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            torch = sys.modules.get("torch")
            if torch is not None:
                torch.set_num_threads(torch_before or threads_in_use())


def ordered_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """``fn(item)`` of every item, in order, computed by :func:`thread_share` threads.

    Each call runs with single-threaded BLAS and torch (the threads are the
    parallelism); at most two calls per thread are computed ahead of the one
    being consumed, so memory stays bounded whatever the number of items. With a
    share of one thread, a plain loop.

    Parameters
    ----------
    fn : callable
        A function of one item that releases the GIL for most of its work (NumPy,
        image codecs), independent of the other calls.
    items : iterable

    Yields
    ------
    ``fn(item)`` for each item, in the order of ``items``.
    """
    width = thread_share()
    if width <= 1:
        yield from (fn(item) for item in items)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pending: deque = deque()
    queue = iter(items)
    with limited_threads(1), ThreadPoolExecutor(width) as pool:
        while True:
            while len(pending) < 2 * width:
                item = next(queue, _END)
                if item is _END:
                    break
                pending.append(pool.submit(fn, item))
            if not pending:
                return
            yield pending.popleft().result()


_END = object()


def worker_environment(n_threads: int) -> dict[str, str]:
    """Environment of a worker process started to run units with ``n_threads`` threads.

    Thread pools sized before any library loads, OpenMP threads that sleep when idle,
    and glibc's heap tuned as by :func:`tune_allocator` from the first allocation.
    """
    env = {name: str(max(1, n_threads)) for name in THREAD_VARIABLES}
    env["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    env["MALLOC_MMAP_THRESHOLD_"] = str(HEAP_LIMIT)
    env["MALLOC_TRIM_THRESHOLD_"] = str(KEEP_FREE)
    env["MALLOC_ARENA_MAX"] = "1"
    return env


def tune_process() -> bool:
    """Tune this process for long numerical runs (once per process; idempotent).

    OpenMP threads started later sleep when idle (``OMP_WAIT_POLICY=PASSIVE``,
    unless the variable is set already): spinning OpenMP workers of small torch
    operations cost 10-20x their work on a busy machine. And glibc reuses freed
    memory instead of returning it to the kernel (:func:`tune_allocator`).

    Returns
    -------
    tuned : bool
        Whether the allocator settings are in effect.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return tune_allocator()


def tune_allocator() -> bool:
    """Let glibc reuse freed memory instead of returning it to the kernel (once per process).

    Allocations up to :data:`HEAP_LIMIT` come from the heap, up to
    :data:`KEEP_FREE` of free heap is kept, and all threads share one arena (the
    threads that encode batches concurrently would otherwise each grow and
    shrink their own). Peak memory does not grow: freed memory is reused, not
    added to. A no-op where glibc is not the C library.

    Returns
    -------
    tuned : bool
        Whether the settings are in effect.
    """
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # mallopt parameters (malloc.h): M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3, M_ARENA_MAX -8
    _tuned = all(mallopt(code, value) == 1 for code, value in
                 ((-3, HEAP_LIMIT), (-1, KEEP_FREE), (-8, 1)))
    return _tuned


class ShareBoard:
    """Thread shares of the units in flight, written by the executor, read by the units.

    An anonymous memory file (``memfd``) of one 32-bit integer per slot: the parent
    writes, each worker maps it read-only through ``/proc/<parent>/fd/<fd>`` and
    reads its slot between batches (:func:`thread_share`). Nothing is written to
    disk, and nothing is left behind when the parent dies.

    Parameters
    ----------
    n_slots : int
        Units that may run at once.

    Attributes
    ----------
    address : tuple of (str, int) or None
        ``(path, slot count)`` for :func:`follow_board`; None where anonymous memory
        files or ``/proc`` are missing (the units then keep the share they started
        with).
    """

    def __init__(self, n_slots: int) -> None:
        self.n_slots = n_slots
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self.address: tuple[str, int] | None = None
        if not (hasattr(os, "memfd_create") and os.path.isdir(f"/proc/{os.getpid()}/fd")):
            return
        try:
            self._fd = os.memfd_create("perceptogram-threads")
            os.ftruncate(self._fd, 4 * n_slots)
            self._map = mmap.mmap(self._fd, 4 * n_slots)
        except OSError:
            self.close()
            return
        self.address = (f"/proc/{os.getpid()}/fd/{self._fd}", n_slots)

    def set(self, slot: int, n_threads: int) -> None:
        """Give the unit in ``slot`` ``n_threads`` threads (0: slot free)."""
        if self._map is not None:
            struct.pack_into("<i", self._map, 4 * slot, n_threads)

    def close(self) -> None:
        """Release the memory file (followers keep their mapping until they let go)."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.address = None


def follow_board(address: tuple[str, int] | None, slot: int) -> None:
    """Read this process's share from ``slot`` of a :class:`ShareBoard` from now on.

    Parameters
    ----------
    address : tuple of (str, int) or None
        :attr:`ShareBoard.address`; None stops following any board.
    slot : int
    """
    global _board
    if _board is not None:
        _board[0].close()
        _board = None
    if address is None:
        return
    path, n_slots = address
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no access to the parent's /proc entry: keep the start share
    try:
        board = mmap.mmap(fd, 4 * n_slots, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return
    finally:
        os.close(fd)
    _board = (board, slot)
