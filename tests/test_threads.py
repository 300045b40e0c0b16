"""Thread shares: threads x processes <= cores, and cores handed back as units finish."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from perceptogram import _threads
from perceptogram.linear.backend import NumpyBackend
from perceptogram.pipeline import executors
from perceptogram.pipeline.executors import LocalExecutor, _thread_shares


@pytest.fixture(autouse=True)
def _restore_threads():
    share, board = _threads._share, _threads._board
    yield
    _threads.follow_board(None, 0)
    _threads._share, _threads._board = share, board


@pytest.mark.parametrize("cpus, units, expected", [
    (2, 1, [2]), (2, 2, [1, 1]), (16, 3, [6, 5, 5]), (2, 3, [1, 1, 1]), (4, 4, [1, 1, 1, 1]),
])
def test_shares_split_the_cores(cpus, units, expected):
    shares = _thread_shares(cpus, units)
    assert shares == expected
    assert sum(shares) <= max(cpus, units)


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd (Linux)")
def test_a_follower_reads_its_slot_of_the_board():
    board = _threads.ShareBoard(3)
    try:
        assert board.address is not None
        board.set(1, 5)
        _threads.follow_board(board.address, 1)
        assert _threads.thread_share() == 5
        board.set(1, 2)  # the parent changes the share: read at the next look
        assert _threads.thread_share() == 2
        board.set(1, 0)  # a free slot: the share the unit started with
        _threads.use_threads(1)
        assert _threads.thread_share() == 1
    finally:
        _threads.follow_board(None, 0)
        board.close()
    assert _threads.thread_share() == _threads.threads_in_use()


def test_limited_threads_restores_the_pools():
    from threadpoolctl import threadpool_info

    before = {d["prefix"]: d["num_threads"] for d in threadpool_info()}
    _threads._share = None
    with _threads.limited_threads(1):
        assert all(d["num_threads"] == 1 for d in threadpool_info())
        assert os.environ["OMP_NUM_THREADS"] == "1"
        assert _threads.thread_share() == _threads.usable_cpus()  # the share is unchanged
    assert {d["prefix"]: d["num_threads"] for d in threadpool_info()} == before
    assert not _threads.managed()


def _watch_share(seconds: float) -> tuple[int, list[int]]:
    """A long unit: its start share, then the shares it reads until it has every core
    (or ``seconds`` pass)."""
    start = _threads.threads_in_use()
    seen: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (not seen or seen[-1] < 4):
        share = _threads.thread_share()
        if not seen or seen[-1] != share:
            seen.append(share)
        time.sleep(0.02)
    return start, seen


def _short(seconds: float) -> tuple[int, list[int]]:
    time.sleep(seconds)
    return _threads.threads_in_use(), []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir() or not hasattr(os, "memfd_create"),
                    reason="needs /proc and memfd (Linux)")
def test_a_unit_left_alone_gets_the_cores_back(monkeypatch):
    # Four cores (whatever this machine has): two units start with two threads each;
    # when the short one ends and nothing waits, the long one is given all four.
    monkeypatch.setattr(executors, "usable_cpus", lambda: 4)
    executor = LocalExecutor()
    executor.start(Path("."), [])
    (long_start, long_seen), (short_start, _) = executor.map(
        _dispatch, [("watch", 60.0), ("short", 0.5)], n_jobs=2, gpu=[False, False],
        description="shares")
    assert long_start == 2 and short_start == 2  # started side by side: two cores each
    assert long_seen[-1] == 4  # read between steps once the short unit had ended


def _dispatch(kind: str, seconds: float):
    return _watch_share(seconds) if kind == "watch" else _short(seconds)


def test_worker_environment_sizes_pools_before_libraries_load():
    env = _threads.worker_environment(3)
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "3"
    assert env["MALLOC_ARENA_MAX"] == "1"
    assert int(env["MALLOC_MMAP_THRESHOLD_"]) == _threads.HEAP_LIMIT


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="needs memfd (Linux)")
def test_adapt_threads_follows_the_board_only_inside_a_unit():
    from threadpoolctl import threadpool_info

    _threads._share = None
    assert _threads.adapt_threads() == _threads.usable_cpus()  # outside a unit: nothing set
    assert not _threads.managed()
    board = _threads.ShareBoard(1)
    try:
        _threads.use_threads(1)
        _threads.follow_board(board.address, 0)
        board.set(0, 3)
        assert _threads.adapt_threads() == 3
        assert _threads.threads_in_use() == 3
        assert all(d["num_threads"] == 3 for d in threadpool_info())
    finally:
        _threads.follow_board(None, 0)
        board.close()
        _threads.use_threads(_threads.usable_cpus())


# ----------------------------------------------------- ordered maps on the share


@pytest.mark.parametrize("share", [1, 2, 3])
def test_ordered_map_keeps_order_and_bounds_the_look_ahead(share, monkeypatch):
    monkeypatch.setattr(_threads, "thread_share", lambda: share)
    lock, state = threading.Lock(), {"running": 0, "most": 0, "started": 0}

    def work(x):
        with lock:
            state["running"] += 1
            state["started"] += 1
            state["most"] = max(state["most"], state["running"])
        time.sleep(0.002 * (x % 3))
        with lock:
            state["running"] -= 1
        return x * x

    pulled = [0]

    def items():
        for x in range(40):
            pulled[0] += 1
            yield x

    consumed = 0
    for i, value in enumerate(_threads.ordered_map(work, items())):
        assert value == i * i
        consumed += 1
        assert pulled[0] <= consumed + 2 * share  # bounded look-ahead
    assert consumed == 40 and state["most"] <= share


def test_ordered_map_raises_the_first_error(monkeypatch):
    monkeypatch.setattr(_threads, "thread_share", lambda: 2)

    def work(x):
        if x == 5:
            raise ValueError("five")
        return x

    with pytest.raises(ValueError, match="five"):
        list(_threads.ordered_map(work, range(10)))


def test_map_single_threaded_follows_a_growing_share(monkeypatch):
    """Results in item order; more items run at once when the share grows mid-way."""
    import perceptogram.linear.backend as backend

    shares = iter([1, 1, 1] + [2] * 100)
    monkeypatch.setattr(backend, "thread_share", lambda: next(shares))
    monkeypatch.setattr(backend, "usable_cpus", lambda: 2)
    lock, state = threading.Lock(), {"running": 0, "most": 0}

    def work(x):
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        time.sleep(0.01)
        with lock:
            state["running"] -= 1
        return np.full(2, x)

    out = NumpyBackend("float32").map_single_threaded(work, list(range(8)))
    assert [int(o[0]) for o in out] == list(range(8))
    assert state["most"] == 2
