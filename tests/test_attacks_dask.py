"""Attacks through a Dask cluster: a scheduler runs code by design; the rest is bounded.

A Dask scheduler executes what its clients submit and a client unpickles what workers
return (docs/cluster.md says whom a cluster must be trusted by). What Perceptogram
controls is enforced: connecting waits a documented, announced time and ends in one
sentence; addresses that need TLS or UCX say so; a scheduler that answers garbage is
one sentence, not an "Internal error"; the filesystem probe never fetches (and so
never unpickles) anything a worker sends.
"""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest

pytest.importorskip("distributed")

from perceptogram.errors import PerceptogramError  # noqa: E402
from perceptogram.pipeline.executors import DaskExecutor  # noqa: E402


class FakeScheduler:
    """A TCP server on 127.0.0.1 that accepts connections and answers ``reply`` (or nothing)."""

    def __init__(self, reply: bytes | None = None):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.reply = reply
        self.connections: list[socket.socket] = []
        self.address = f"tcp://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(connection)
            if self.reply is not None:
                try:
                    connection.recv(1 << 16)
                    connection.sendall(self.reply)
                except OSError:
                    pass

    def close(self):
        self.server.close()
        for connection in self.connections:
            connection.close()


def _start_within(executor, folder, seconds):
    """``executor.start`` in a thread: its outcome, or "HANG" after ``seconds``."""
    box = {}

    def target():
        try:
            executor.start(folder, [])
            box["outcome"] = "started"
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            box["outcome"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return box.get("outcome", "HANG")


def test_a_silent_scheduler_is_one_sentence_within_the_timeout(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("PERCEPTOGRAM_QUIET", raising=False)
    scheduler = FakeScheduler()
    try:
        outcome = _start_within(DaskExecutor(scheduler.address, timeout=2), tmp_path, 30)
    finally:
        scheduler.close()
    assert isinstance(outcome, PerceptogramError), outcome
    assert "cannot connect to the Dask scheduler" in str(outcome)
    assert "within 2 s" in str(outcome)
    assert "Connecting to the Dask scheduler at tcp://127.0.0.1" in capfd.readouterr().err


def test_a_scheduler_answering_garbage_is_one_sentence(tmp_path):
    huge_frame = struct.pack("<Q", 1) + struct.pack("<Q", int(3.5 * 2**30)) + b"x" * 64
    scheduler = FakeScheduler(reply=huge_frame)
    try:
        outcome = _start_within(DaskExecutor(scheduler.address, timeout=5), tmp_path, 30)
    finally:
        scheduler.close()
    assert isinstance(outcome, PerceptogramError), outcome
    assert "cannot connect to the Dask scheduler" in str(outcome)
    assert "\n" not in str(outcome) and len(str(outcome)) < 600


@pytest.mark.parametrize("address, words", [
    ("tls://127.0.0.1:1", "uses TLS but no certificate is configured"),
    ("ucx://127.0.0.1:1", "needs the ucxx package"),
    ("gopher://127.0.0.1:1", "is not tcp://, tls://"),
])
def test_addresses_that_need_more_say_what(tmp_path, address, words, monkeypatch):
    for name in list(os.environ):
        if name.startswith("DASK_DISTRIBUTED__COMM__TLS"):
            monkeypatch.delenv(name)
    outcome = _start_within(DaskExecutor(address, timeout=2), tmp_path, 30)
    assert isinstance(outcome, PerceptogramError), outcome
    assert words in str(outcome)


def test_the_filesystem_probe_never_fetches_what_a_worker_returns(tmp_path, monkeypatch):
    import distributed

    fetched = []

    def refuse(self, *args, **kwargs):
        fetched.append(self.key)
        raise AssertionError("a worker's result was fetched (and unpickled)")

    executor = DaskExecutor(n_workers=1, processes=False, timeout=30)
    monkeypatch.setattr(distributed.Future, "result", refuse)
    monkeypatch.setattr(distributed.Client, "gather", refuse)
    try:
        executor.start(tmp_path, [])
    finally:
        monkeypatch.undo()
        executor.close()
    assert fetched == []


HOSTILE = '''
import os


class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + os.environ["PG_SENTINEL"],))


def probe(folder, name, token):
    with open(os.path.join(folder, name), "w") as fh:
        fh.write(token)
    return Payload()
'''


def test_a_hostile_worker_result_is_never_unpickled_by_the_probe(tmp_path, monkeypatch):
    """A worker (process) returns a pickle that runs os.system when loaded."""
    import perceptogram.pipeline.executors as executors

    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "hostile_probe.py").write_text(HOSTILE)
    monkeypatch.syspath_prepend(str(modules))
    sentinel = tmp_path / "pwned"
    monkeypatch.setenv("PG_SENTINEL", str(sentinel))
    import hostile_probe

    monkeypatch.setattr(executors, "_probe", hostile_probe.probe)
    executor = DaskExecutor(n_workers=1, processes=True, timeout=60)
    try:
        executor.start(tmp_path / "run", [])
    except PerceptogramError:
        pass
    finally:
        executor.close()
    assert not sentinel.exists()


def test_a_real_scheduler_at_an_address_is_reached(tmp_path):
    import distributed

    cluster = distributed.LocalCluster(n_workers=1, processes=False, protocol="tcp",
                                       dashboard_address=None)
    executor = DaskExecutor(cluster.scheduler_address, timeout=30)
    try:
        executor.start(tmp_path, [])
        assert executor.map(abs, [(-1,), (-2,)], n_jobs=1, gpu=[False, False],
                            description="abs") == [1, 2]
    finally:
        executor.close()
        cluster.close()
