"""Executors: where the units of one pipeline stage run.

The runner hands an executor the independent units of one stage at a time and waits
for all of them (the stage barrier), so manifests and up-to-date checks are the same
whatever runs the units. Two executors are registered:

- ``local`` (default): the parent process for one unit, else joblib/loky worker
  processes on this machine. Workers exit within a second when the parent dies (even
  by SIGKILL), instead of lingering until loky's idle timeout.
- ``dask``: a ``dask.distributed`` cluster: a ``LocalCluster`` when no scheduler
  address is given, else the scheduler at that address (e.g. one started on SLURM
  with ``dask-jobqueue``). Units that run a latent model or generator on a CUDA
  device are annotated with the worker resource ``GPU`` (``dask.annotate``), so they
  only run on workers started with ``--resources GPU=1``. Before anything is
  submitted, every worker writes a probe file in the run directory, which must be on
  a filesystem shared by the workers and the parent; the parent reads the file (the
  probe's result is never fetched, so nothing a worker sends is unpickled for it).

A Dask scheduler runs whatever code its clients send, and a client unpickles what
workers return: connect only to a scheduler you (or your cluster's administrators)
run, over TLS where the network is shared (``tls://`` addresses with Dask's TLS
configuration, or ``DaskExecutor(security=...)``). See docs/cluster.md.

Each unit first checks that the installed plugins the run names (``plugins``) are
installed in the process that runs it; their entry points register their latent
spaces, generators, ... there as everywhere. Nothing is imported by name.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from perceptogram._inputs import read_input_text
from perceptogram._owned import mark_owned, owning_folder, remove_owned
from perceptogram._progress import say, track
from perceptogram._registry import Registry, check_plugins
from perceptogram._threads import (
    KEEP_FREE,
    ShareBoard,
    follow_board,
    tune_process,
    usable_cpus,
    use_threads,
    worker_environment,
)
from perceptogram.errors import PerceptogramError, require

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "DaskExecutor", "make_executor"]

PROBE_DIRNAME = ".perceptogram-probe"

# loky warns when it resizes its reusable pool between stages (idle workers stop): harmless.
warnings.filterwarnings("ignore", message="A worker stopped", category=UserWarning,
                        module=r"joblib\.externals\.loky\.process_executor$")


@runtime_checkable
class Executor(Protocol):
    """Runs the independent units of one stage and returns their results in order."""

    name: str

    def start(self, run_dir: Path, plugins: Sequence[str]) -> None:
        """Prepare to run units that read and write ``run_dir`` (called once per run)."""

    def map(self, func: Callable[..., Any], calls: Sequence[tuple], *, n_jobs: int,
            gpu: Sequence[bool], description: str) -> list[Any]:
        """``[func(*args) for args in calls]``, possibly in parallel.

        Parameters
        ----------
        func : callable
            A module-level function (it may be sent to another process).
        calls : sequence of tuple
            Positional arguments of each call.
        n_jobs : int
            Parallel processes wanted on this machine (a cluster may ignore it).
        gpu : sequence of bool
            Whether each call needs a GPU.
        description : str
            What is running, for progress bars and messages.
        """

    def close(self) -> None:
        """Release processes and connections (called once per run, also on errors)."""


EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor", "perceptogram.executors")


def make_executor(name: str, **options: Any) -> Executor:
    """Build the executor registered as ``name`` with ``options`` (see each class)."""
    return EXECUTORS.build(name, **options)


@functools.lru_cache(maxsize=8)
def _plugins_here(plugins: tuple[str, ...]) -> None:
    check_plugins(plugins)


def _call(plugins: tuple[str, ...], func: Callable[..., Any], args: tuple) -> Any:
    """Run one unit in a worker: check first that the run's plugins are installed there."""
    _plugins_here(tuple(plugins))
    return func(*args)


# --------------------------------------------------------------------------- local


#: Growth of a worker's resident memory, since its first unit, beyond which loky replaces
#: it as leaking (loky's own limit is 300 MB). Workers keep up to
#: :data:`~perceptogram._threads.KEEP_FREE` of freed heap for reuse, and the modules and
#: model weights their units loaded (torch alone: about 300 MB): not leaks, and each
#: replacement cost its imports and warm-up again (about 2 s; three times in each demo
#: run at loky's limit). Beyond this limit (1 GiB) a worker is still replaced.
WORKER_GROWTH_LIMIT = KEEP_FREE + (512 << 20)


def _prepare_worker(parent_pid: int, growth_limit: int, interval: float = 0.5) -> None:
    """Worker initializer: replaced beyond ``growth_limit`` bytes, ended with its parent.

    Loky replaces the worker only when its memory grew by more than ``growth_limit``
    bytes since its first unit. A worker whose parent was killed is re-parented (``os.getppid()`` changes); loky
    would otherwise keep it alive until its idle timeout (minutes), and a unit it is
    running would go on writing into the run directory.
    """
    from joblib.externals.loky import process_executor

    # loky's module setting, read by the worker loop after each unit (absent: its default)
    if hasattr(process_executor, "_MAX_MEMORY_LEAK_SIZE"):
        process_executor._MAX_MEMORY_LEAK_SIZE = growth_limit
    if os.getppid() != parent_pid:
        return  # not a direct child: nothing reliable to watch

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="perceptogram-parent-watch", daemon=True).start()


def _thread_shares(n_cpus: int, n_units: int) -> list[int]:
    """Cores of each of ``n_units`` running units: equal shares of ``n_cpus``, the
    remainder to the units that started first (each unit at least one thread)."""
    base, extra = divmod(n_cpus, max(n_units, 1))
    return [max(1, base + (k < extra)) for k in range(n_units)]


def _call_shared(plugins: tuple[str, ...], board: tuple[str, int] | None, slot: int,
                 n_threads: int | None, func: Callable[..., Any], args: tuple) -> Any:
    """Run one unit in a worker with its thread share (``None``: leave the pools alone)."""
    tune_process()
    follow_board(board, slot)
    try:
        if n_threads is not None:
            use_threads(n_threads)
        return _call(plugins, func, args)
    finally:
        follow_board(None, slot)


@EXECUTORS.register("local", summary="joblib/loky processes on this machine (default)")
class LocalExecutor:
    """Units in the parent process (one job) or in loky worker processes.

    Threads: the units in flight share the usable CPUs (threads x processes <= cores,
    :mod:`perceptogram._threads`). A unit starts with an equal share; when a unit ends
    and none is waiting, the units still running divide its cores among them (long
    loops, such as image encoding, read their share between batches). In the parent
    process (one job) the thread pools are left as they are: every core by default.
    Workers start with one thread per pool, idle OpenMP threads that sleep instead of
    spinning, and glibc's heap tuned (:func:`perceptogram._threads.worker_environment`);
    they are reused between stages (replaced only when their memory grew by more than
    :data:`WORKER_GROWTH_LIMIT`) and exit with the parent.
    """

    name = "local"

    def __init__(self) -> None:
        self._plugins: tuple[str, ...] = ()

    def start(self, run_dir: Path, plugins: Sequence[str]) -> None:
        self._plugins = tuple(plugins)

    def map(self, func: Callable[..., Any], calls: Sequence[tuple], *, n_jobs: int,
            gpu: Sequence[bool], description: str) -> list[Any]:
        if n_jobs <= 1 or len(calls) <= 1:
            items = track(calls, description) if len(calls) > 1 else calls
            return [func(*args) for args in items]
        n_jobs = min(n_jobs, len(calls))
        results: list[Any] = [None] * len(calls)
        for index, result in track(self._completed(func, calls, n_jobs), f"{description} "
                                   f"({n_jobs} processes)", total=len(calls)):
            results[index] = result
        return results

    def _completed(self, func: Callable[..., Any], calls: Sequence[tuple], n_jobs: int
                   ) -> Iterator[tuple[int, Any]]:
        """``(index, result)`` of each call as it completes, at most ``n_jobs`` at once."""
        from concurrent.futures import FIRST_COMPLETED, wait

        from joblib.externals.loky import get_reusable_executor

        n_cpus = usable_cpus()
        pool = get_reusable_executor(max_workers=n_jobs, timeout=300,
                                     initializer=_prepare_worker,
                                     initargs=(os.getpid(), WORKER_GROWTH_LIMIT),
                                     env=worker_environment(1))
        board = ShareBoard(n_jobs)
        queue = list(enumerate(calls))[::-1]
        free = list(range(n_jobs))[::-1]
        running: dict[Any, tuple[int, int]] = {}  # future -> (index, slot), oldest first
        finished = False
        try:
            while queue or running:
                starting = min(len(queue), len(free))
                shares = _thread_shares(n_cpus, len(running) + starting)
                for (_, slot), share in zip(running.values(), shares):
                    board.set(slot, share)  # the newcomers' cores are taken back first
                for share in shares[len(running):]:
                    index, args = queue.pop()
                    slot = free.pop()
                    board.set(slot, share)
                    future = pool.submit(_call_shared, self._plugins, board.address, slot,
                                         share, func, args)
                    running[future] = (index, slot)
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    index, slot = running.pop(future)
                    board.set(slot, 0)
                    free.append(slot)
                    yield index, future.result()  # re-raises a unit's error at once
                # next turn: waiting units start in the freed slots; if none waits, the
                # units still running divide the freed cores among them
            finished = True
        finally:
            if not finished:  # an error or an interrupt: stop the units still running
                pool.shutdown(wait=True, kill_workers=True)
            board.close()

    def close(self) -> None:
        """Nothing to release: loky keeps its workers for the next run in this process."""


# --------------------------------------------------------------------------- dask


def _read_probe(path: Path) -> str | None:
    """The text of a probe file (at most 1 KiB), or None when it is missing or odd."""
    try:
        return read_input_text(path, max_bytes=1024, what="the probe file")
    except (OSError, ValueError):
        return None


def _identify(address: str, security: Any, timeout: float) -> None:
    """Ask the scheduler at ``address`` who it is, within ``timeout`` seconds.

    Raises
    ------
    PerceptogramError
        No answer in time, an answer that is not Dask's (a garbage frame, another
        server), or not a scheduler's.
    """
    import asyncio

    from distributed.comm import connect

    async def ask() -> Any:
        comm = await connect(address, timeout=timeout,
                             **security.get_connection_args("client"))
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read(deserializers=["msgpack"])  # never pickle
        finally:
            comm.abort()

    box: dict[str, Any] = {}

    def run() -> None:  # a thread of its own: the caller may be inside an event loop
        try:
            box["reply"] = asyncio.run(asyncio.wait_for(ask(), timeout))
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    thread = threading.Thread(target=run, name="perceptogram-dask-identify", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    reply = box.get("reply")
    if isinstance(reply, dict) and reply.get("type") == "Scheduler":
        return
    exc = box.get("error")
    reason = ("no answer" if "reply" not in box and exc is None else
              "an answer that is not a Dask scheduler's" if exc is None else
              "no answer" if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) else
              f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    raise PerceptogramError(
        f"cannot connect to the Dask scheduler at {address!r} ({reason}) within "
        f"{timeout:g} s; check the address, that the scheduler is running, and that it is "
        "a Dask scheduler of a compatible version")


def _call_on_worker(plugins: tuple[str, ...], shares: dict[str, int] | None,
                    func: Callable[..., Any], args: tuple) -> Any:
    """Run one unit on a Dask worker with the thread share of that worker."""
    share = None
    if shares is not None:
        from distributed import get_worker

        share = shares.get(get_worker().address)
    return _call_shared(plugins, None, 0, share, func, args)


def _dask_missing() -> str | None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return "needs dask.distributed: pip install 'perceptogram[dask]'"
    return None


def _probe(folder: str, name: str, token: str) -> None:
    """On a worker: write ``token`` into ``folder/name`` (the parent reads it back)."""
    (Path(folder) / name).write_text(token, encoding="utf-8")


#: Address schemes a scheduler may be reached by (``host:port`` alone means ``tcp://``).
_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")


def _scheme(address: str) -> str:
    scheme, sep, rest = address.partition("://")
    if not sep:
        return "tcp"
    if scheme not in _SCHEMES or not rest:
        raise PerceptogramError(
            f"the Dask scheduler address {address[:80]!r} is not tcp://, tls://, ucx://, "
            "ws:// or wss:// followed by host:port")
    return scheme


def _security(address: str, security: Any) -> Any:
    """The security settings for ``address``: given, or Dask's configuration (TLS files)."""
    distributed = require("distributed", "dask", "the Dask executor")
    scheme = _scheme(address)
    if scheme == "ucx":
        try:
            import ucxx  # noqa: F401
        except ImportError:
            raise PerceptogramError(
                f"the Dask scheduler address {address[:80]!r} uses the ucx protocol, which "
                "needs the ucxx package (and UCX) installed here; use a tcp:// or tls:// "
                "address") from None
    security = distributed.Security() if security is None else security
    if scheme in ("tls", "wss") and security.get_connection_args("client").get(
            "ssl_context") is None:
        raise PerceptogramError(
            f"the Dask scheduler address {address[:80]!r} uses TLS but no certificate is "
            "configured; set Dask's distributed.comm.tls.ca-file, .client.cert and "
            ".client.key (e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE=...), or pass "
            "security= to DaskExecutor")
    return security


@EXECUTORS.register("dask", summary="a dask.distributed cluster (LocalCluster or an address)",
                    availability=_dask_missing)
class DaskExecutor:
    """Units on a ``dask.distributed`` cluster.

    Parameters
    ----------
    scheduler : str or None
        Address of a running scheduler (``tcp://host:8786``); None starts a
        ``LocalCluster`` on this machine for the run.
    client : distributed.Client or None
        An existing client (e.g. of a ``dask_jobqueue.SLURMCluster``); it is not
        closed by :meth:`close`. Exclusive with ``scheduler``.
    n_workers : int or None
        Workers of the ``LocalCluster`` (default: one per CPU).
    processes : bool
        ``LocalCluster`` workers in separate processes (True) or threads of this one.
    gpu : bool
        Give each ``LocalCluster`` worker one ``GPU`` resource (for ``device: cuda``).
    timeout : float
        Seconds to wait for the scheduler, for a first worker and for the
        filesystem probe (each wait is announced on stderr, and ends with one
        sentence when the time is up).
    security : distributed.Security or None
        TLS settings for a ``tls://`` scheduler; None uses Dask's configuration
        (``distributed.comm.tls.*``).
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, *, client: Any = None,
                 n_workers: int | None = None, processes: bool = True, gpu: bool = False,
                 timeout: float = 60.0, security: Any = None) -> None:
        if scheduler is not None and client is not None:
            raise ValueError("give a scheduler address or a client, not both")
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.processes = processes
        self.gpu = gpu
        self.timeout = timeout
        self.security = security
        self._client = client
        self._owns_client = client is None
        self._cluster: Any = None
        self._plugins: tuple[str, ...] = ()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (connected by :meth:`start`)."""
        if self._client is None:
            raise RuntimeError("DaskExecutor.start() has not been called")
        return self._client

    def start(self, run_dir: Path, plugins: Sequence[str]) -> None:
        self._plugins = tuple(plugins)
        if self._client is None:
            self._client = self._connect()
        if not self._workers():
            say(f"Waiting up to {self.timeout:g} s for a first Dask worker to join "
                f"{self._where()}")
        try:
            self.client.wait_for_workers(1, timeout=self.timeout)
        except (TimeoutError, OSError):
            raise PerceptogramError(
                f"no Dask worker joined the scheduler at {self._where()} within "
                f"{self.timeout:g} s; start workers (`dask worker ADDRESS`) and run again"
            ) from None
        self._check_shared(Path(run_dir))

    def _where(self) -> str:
        return self.scheduler or "the LocalCluster"

    def _connect(self) -> Any:
        distributed = require("distributed", "dask", "the Dask executor")
        if self.scheduler is None:
            self._cluster = distributed.LocalCluster(
                n_workers=self.n_workers, threads_per_worker=1, processes=self.processes,
                dashboard_address=None, silence_logs=logging.WARNING,
                resources={"GPU": 1} if self.gpu else None,
                **({"env": worker_environment(1)} if self.processes else {}))
            return distributed.Client(self._cluster)
        security = _security(self.scheduler, self.security)
        say(f"Connecting to the Dask scheduler at {self.scheduler} (waiting up to "
            f"{self.timeout:g} s)")
        # Client(timeout=) does not bound every step of the handshake (a scheduler that
        # accepts the connection and never answers holds it for minutes), and a Client
        # that fails half-way deadlocks when collected: ask the scheduler who it is
        # first, on a plain connection with a deadline, reading the answer as msgpack.
        _identify(self.scheduler, security, self.timeout)
        try:
            return distributed.Client(self.scheduler, timeout=self.timeout, security=security)
        except (OSError, TimeoutError, ValueError) as exc:
            raise PerceptogramError(
                f"cannot connect to the Dask scheduler at {self.scheduler!r} ({exc}); check "
                "the address and that the scheduler is running"
            ) from None

    def _thread_shares(self) -> dict[str, int] | None:
        """Threads of a unit on each worker: its host's CPUs over the host's task slots
        (threads x processes <= cores on every host); None for a LocalCluster of
        threads, whose units share this process's thread pools."""
        if self._cluster is not None and not self.processes:
            return None
        cpus = self.client.run(usable_cpus)
        workers = self._workers()
        slots: dict[str, int] = {}
        for info in workers.values():
            slots[info.get("host", "")] = slots.get(info.get("host", ""), 0) + int(
                info.get("nthreads", 1))
        return {address: max(1, cpus.get(address, 1) // max(slots[info.get("host", "")], 1))
                for address, info in workers.items()}

    def _workers(self) -> dict[str, dict[str, Any]]:
        return dict(self.client.scheduler_info(n_workers=-1)["workers"])

    def _check_shared(self, run_dir: Path) -> None:
        """Every worker writes a probe into the run directory; the parent reads it back."""
        from distributed import wait

        folder = mark_owned(run_dir / PROBE_DIRNAME, "probe")
        token = uuid.uuid4().hex
        workers = sorted(self._workers())
        futures = {address: self.client.submit(_probe, os.path.realpath(folder),
                                               f"{token}-{i}", f"{token} {address}",
                                               workers=[address], allow_other_workers=False,
                                               pure=False)
                   for i, address in enumerate(workers)}
        try:
            try:
                wait(list(futures.values()), timeout=self.timeout)
            except TimeoutError:
                pass  # the futures still pending are named below
            for i, (address, future) in enumerate(futures.items()):
                expected = f"{token} {address}"
                if future.status != "finished":
                    how = ("failed; its log has the reason" if future.status == "error" else
                           f"did not finish within {self.timeout:g} s")
                    raise PerceptogramError(
                        f"the Dask worker {address} could not write into the run directory "
                        f"{run_dir} (the probe {how}); put the run directory on a filesystem "
                        "that every worker mounts at the same path, and check its permissions")
                probe = folder / f"{token}-{i}"
                if _read_probe(probe) != expected:
                    raise PerceptogramError(
                        f"the Dask worker {address} writes the run directory {run_dir} on a "
                        "different filesystem than this process; put it on a filesystem that "
                        "every worker mounts at the same path"
                    )
        finally:
            for i in range(len(workers)):
                remove_owned(folder / f"{token}-{i}")
            if owning_folder(folder) is not None:
                remove_owned(folder)

    def map(self, func: Callable[..., Any], calls: Sequence[tuple], *, n_jobs: int,
            gpu: Sequence[bool], description: str) -> list[Any]:
        import dask
        from distributed import as_completed

        if any(gpu) and not any(w.get("resources", {}).get("GPU")
                                for w in self._workers().values()):
            raise PerceptogramError(
                f"{description} needs a GPU but no worker of {self._where()} has the 'GPU' "
                "resource; start GPU workers with `dask worker ADDRESS --resources GPU=1`"
            )
        shares = self._thread_shares()
        futures = []
        for args, on_gpu in zip(calls, gpu):
            with dask.annotate(resources={"GPU": 1}) if on_gpu else contextlib.nullcontext():
                futures.append(self.client.submit(_call_on_worker, self._plugins, shares, func,
                                                  args, pure=False))
        try:
            for future in track(as_completed(futures), f"{description} (Dask)",
                                total=len(futures)):
                future.result()  # re-raises a unit's error as soon as it happens
            return [future.result() for future in futures]
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
