"""Thread helpers: ordered parallel maps that follow the process's thread share."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from perceptogram import _threads
from perceptogram.linear.backend import NumpyBackend


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

    consumed = 0
    for i, value in enumerate(_threads.ordered_map(work, range(40))):
        assert value == i * i
        consumed += 1
        assert state["started"] <= consumed + 2 * share  # bounded look-ahead
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
