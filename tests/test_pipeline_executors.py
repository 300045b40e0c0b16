"""Executors: local joblib (workers die with the parent), Dask (same results), plugins."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
import yaml

from perceptogram._owned import adopt_folder
from perceptogram.config import ConfigError, config_to_dict, make_config
from perceptogram.errors import PerceptogramError
from perceptogram.pipeline.demo import demo_config
from perceptogram.pipeline.executors import (
    EXECUTORS,
    DaskExecutor,
    LocalExecutor,
    make_executor,
)
from perceptogram.pipeline.runner import run_pipeline
from perceptogram.pipeline.stages import PIPELINE

SRC = Path(__file__).resolve().parents[1] / "src"
distributed = pytest.importorskip("distributed")


def _digests(run: Path) -> dict[str, str]:
    """Every unit's manifest digest (the hash of every file it wrote), by unit folder.

    Two units differ between any two runs, whatever the executor: ``data`` records the
    simulated files' modification times and ``report`` shows the run's path and wall
    times. The simulated files themselves stand in for ``data``; ``report`` only
    renders what the other units computed.
    """
    from perceptogram._hashing import files_digest

    out = {}
    for manifest in run.rglob("manifest.json"):
        unit = manifest.parent.relative_to(run).as_posix()
        if unit not in ("data", "report"):
            out[unit] = json.loads(manifest.read_text())["digest"]
    dataset = run / "data" / "things"  # without the loader's cache (it records mtimes)
    out["data/things"] = files_digest(sorted(
        p for p in dataset.rglob("*")
        if p.is_file() and not p.relative_to(dataset).parts[0].startswith(".")))
    return out


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The tiny demo with the local executor, one process, BLAS on one thread.

    Float32 BLAS results depend on the number of BLAS threads in the last bit (and a
    near-tie between two alphas can then flip), so the executors are compared with
    the same BLAS threading: one thread, as in every worker process.
    """
    out = tmp_path_factory.mktemp("local") / "run"
    with threadpool_limits(limits=1):
        run_pipeline(demo_config(out, "tiny", jobs=1), PIPELINE)
    return out


def _square(x):
    return x * x


def _gpu_restrictions(x):
    worker = distributed.get_worker()
    return worker.state.tasks[worker.get_current_task()].resource_restrictions


# --------------------------------------------------------------------------- registry


def test_executors_are_a_registry():
    assert {"local", "dask"} <= set(EXECUTORS.names())
    assert isinstance(make_executor("local"), LocalExecutor)
    with pytest.raises(PerceptogramError, match="unknown executor 'ray'; available: dask"):
        make_executor("ray")


def test_unknown_executor_is_refused_before_the_run_directory_exists(tmp_path):
    with pytest.raises(PerceptogramError, match="unknown executor 'ray'"):
        run_pipeline(demo_config(tmp_path / "run", "tiny"), PIPELINE, executor="ray")
    assert not (tmp_path / "run").exists()


def test_local_executor_keeps_order():
    executor = LocalExecutor()
    executor.start(Path("."), [])
    calls = [(i,) for i in range(7)]
    assert executor.map(_square, calls, n_jobs=1, gpu=[False] * 7, description="sq") == [
        i * i for i in range(7)]
    assert executor.map(_square, calls, n_jobs=2, gpu=[False] * 7, description="sq") == [
        i * i for i in range(7)]


_HELD: list = []


def _hold(n_bytes: int | None) -> int:
    """Keep ``n_bytes`` of touched memory in this worker past the unit's end (None:
    release what it keeps)."""
    if n_bytes is None:
        _HELD.clear()
        time.sleep(0.2)
    else:
        _HELD.append(np.ones(n_bytes // 8))
        time.sleep(1.2)  # loky checks a worker's memory after a unit, at most once a second
    return os.getpid()


def test_workers_that_keep_memory_between_units_are_not_replaced():
    # Loky replaces a worker whose memory grew by 300 MB after its first unit; ours keep
    # freed heap and loaded models on purpose, and a replacement costs its imports again.
    executor = LocalExecutor()
    executor.start(Path("."), [])
    calls = [(0,), (0,), (400 << 20,), (400 << 20,), *[(None,)] * 6]
    pids = executor.map(_hold, calls, n_jobs=2, gpu=[False] * len(calls), description="hold")
    assert len(set(pids)) <= 2, "a worker was replaced"


# --------------------------------------------------------------------------- dask


def test_dask_executor_gives_the_local_results(local_run, tmp_path):
    """Two-worker LocalCluster of threads (process start-up would double the test's time;
    the slow test below uses processes) against the local executor in this process."""
    out = tmp_path / "run"
    executor = DaskExecutor(n_workers=2, processes=False)
    try:
        with threadpool_limits(limits=1):  # worker threads share this process's BLAS
            summary = run_pipeline(demo_config(out, "tiny"), PIPELINE, executor=executor)
        assert len(executor._workers()) == 2
    finally:
        executor.close()
    assert summary.skipped == []
    reference = _digests(local_run)
    assert len(reference) == 23 and _digests(out) == reference
    assert not (out / ".perceptogram-probe").exists() or not any(
        p.name != ".perceptogram" for p in (out / ".perceptogram-probe").iterdir())


@pytest.mark.slow
def test_cli_demo_on_a_dask_local_cluster_of_processes(tmp_path):
    """`perceptogram demo --size tiny --executor dask`: two worker processes, same digests
    as two local worker processes.

    Worker processes (loky or Dask) run BLAS with one thread, the parent with all
    cores: float32 results of ``--jobs 1`` and ``--jobs 2`` differ in the last bit, so
    each executor is compared with the other's processes.
    """
    digests = {}
    for executor in ("local", "dask"):
        out = tmp_path / executor
        result = subprocess.run(
            [sys.executable, "-m", "perceptogram", "demo", "--size", "tiny", "--out",
             str(out), "--jobs", "2", "--executor", executor, "--quiet"],
            env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True,
            timeout=600)
        assert result.returncode == 0, result.stderr
        digests[executor] = _digests(out)
    assert len(digests["local"]) == 23 and digests["dask"] == digests["local"]


def test_gpu_units_are_annotated_and_need_a_gpu_worker(tmp_path):
    executor = DaskExecutor(n_workers=1, processes=False, gpu=True)
    try:
        executor.start(tmp_path, [])
        found = executor.map(_gpu_restrictions, [(0,), (1,)], n_jobs=1, gpu=[True, False],
                             description="encode")
    finally:
        executor.close()
    assert found[0] == {"GPU": 1} and not found[1]
    executor = DaskExecutor(n_workers=1, processes=False)  # no GPU resource
    try:
        executor.start(tmp_path, [])
        with pytest.raises(PerceptogramError, match="needs a GPU but no worker .* 'GPU' "
                                                    "resource"):
            executor.map(_gpu_restrictions, [(0,)], n_jobs=1, gpu=[True],
                         description="reconstruct")
    finally:
        executor.close()


def test_gpu_units_of_the_pipeline(monkeypatch, tmp_path):
    """With device cuda, latent-space feature units and generator units ask for a GPU."""
    import perceptogram.pipeline.runner as runner

    seen = {}

    class Recorder(LocalExecutor):
        def map(self, func, calls, *, n_jobs, gpu, description):
            seen.update({(description, c[2].subject, c[2].space): g
                         for c, g in zip(calls, gpu)})
            return [0.0] * len(calls)

    config = make_config(device="cuda", latents={"spaces": ["pca", "unclip"]},
                         reconstruction={"methods": ["pca", "unclip"]},
                         interpretability={"space": "pca"})
    from perceptogram.pipeline.rundir import Unit

    for stage_name, units in (("features", [(1, None), (None, "pca"), (None, "unclip")]),
                              ("reconstruct", [(1, "pca"), (1, "unclip")])):
        stage = PIPELINE.stage(stage_name)
        todo = [(stage, Unit(stage_name, s, sp), "k", {}, {}) for s, sp in units]
        runner._map_units(config, None, todo, 1, Recorder())
    assert seen == {("features", 1, None): False, ("features", None, "pca"): True,
                    ("features", None, "unclip"): True, ("reconstruct", 1, "pca"): False,
                    ("reconstruct", 1, "unclip"): True}
    seen.clear()
    todo = [(PIPELINE.stage("features"), Unit("features", None, "pca"), "k", {}, {})]
    runner._map_units(config.model_copy(update={"device": "cpu"}), None, todo, 1, Recorder())
    assert seen == {("features", None, "pca"): False}


def _unwritable(folder, name, token):
    raise PermissionError(13, "Permission denied", str(Path(folder) / name))


def _elsewhere(folder, name, token):
    return token  # as if the worker wrote to its own disk


@pytest.mark.parametrize("probe, message", [
    (_unwritable, "could not write into the run directory .*the probe failed"),
    (_elsewhere, "writes the run directory .* on a different filesystem"),
])
def test_run_directory_must_be_shared_with_the_workers(monkeypatch, tmp_path, probe, message):
    import perceptogram.pipeline.executors as executors

    monkeypatch.setattr(executors, "_probe", probe)
    executor = DaskExecutor(n_workers=1, processes=False)
    try:
        with pytest.raises(PerceptogramError, match=message):
            run_pipeline(demo_config(tmp_path / "run", "tiny"), PIPELINE, executor=executor)
    finally:
        executor.close()
    assert not (tmp_path / "run" / "data").exists()  # refused before any stage ran


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    executor = DaskExecutor("tcp://127.0.0.1:9", timeout=0.5)
    with pytest.raises(PerceptogramError, match="cannot connect to the Dask scheduler at "
                                                "'tcp://127.0.0.1:9'"):
        executor.start(tmp_path, [])
    with pytest.raises(PerceptogramError, match="needs the Dask executor"):
        run_pipeline(demo_config(tmp_path / "r", "tiny"), PIPELINE, scheduler="tcp://x:1")


# --------------------------------------------------------------------------- plugins


PLUGIN = '''
import os
from pathlib import Path

import numpy as np

from perceptogram.latents.base import register


class MeanRGB:
    """Mean colour of each image (a test plugin)."""

    shape = (3,)

    def __init__(self, name="mean-rgb", gain=1.0):
        self.name, self.gain = name, gain

    @property
    def dim(self):
        return 3

    def fingerprint(self):
        return f"{self.name}-1"

    def encode(self, images):
        (Path(os.environ["PLUGIN_PIDS"]) / str(os.getpid())).touch()
        return self.gain * images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float32)


register("mean-rgb")(MeanRGB)
register("mean-rgb-2")(lambda: MeanRGB("mean-rgb-2", 2.0))
'''


def _install_plugin(folder):
    """``folder`` holds pg_test_plugin.py and an installed-looking distribution declaring it."""
    folder.mkdir()
    (folder / "pg_test_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = folder / "pg_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pg-test-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[perceptogram.latent_spaces]\nmean-rgb = pg_test_plugin\n")
    return folder


def test_plugins_are_installed_plugins_never_modules_to_import():
    for name in ("json", "os.path", "my_lab.spaces"):
        with pytest.raises(ConfigError, match="is not installed here"):
            make_config(plugins=[name])
    for bad in (["../evil"], ["a b"], ["/abs/path"], [""], ["venv.__main__"]):
        with pytest.raises(ConfigError, match="not a plugin name"):
            make_config(plugins=bad)


@pytest.mark.parametrize("executor", ["local", pytest.param("dask", marks=pytest.mark.slow)])
def test_plugin_latent_spaces_run_in_worker_processes(local_run, tmp_path, executor,
                                                      monkeypatch):
    """Latent spaces of an installed plugin (an entry point) work in two worker processes
    (loky, or a Dask LocalCluster)."""
    modules = _install_plugin(tmp_path / "modules")
    monkeypatch.syspath_prepend(str(modules))  # the config checks its plugins when loaded
    pids = tmp_path / "pids"
    pids.mkdir()
    run = tmp_path / "run"
    shutil.copytree(local_run, run)  # only the plugin's units are new
    adopt_folder(run)  # a copied run is adopted before Perceptogram writes in it
    data = config_to_dict(demo_config(run, "tiny", jobs=2))
    data["latents"]["spaces"] += ["mean-rgb", "mean-rgb-2"]
    data["plugins"] = ["pg-test-plugin"]
    # written as text: this process loaded its registries before the plugin was installed
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(modules)]),
           "PLUGIN_PIDS": str(pids)}
    # The two new feature units (one per plugin space) run in two worker processes.
    process = subprocess.Popen([sys.executable, "-m", "perceptogram", "features",
                                str(tmp_path / "config.yaml"), "--executor", executor], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr + stdout
    timings = json.loads((run / "timings.json").read_text())
    assert sorted(timings["computed"]) == ["features[mean-rgb-2]", "features[mean-rgb]"]
    encoders = {int(p.name) for p in pids.iterdir()}
    assert encoders and process.pid not in encoders
    assert (run / "features" / "mean-rgb-2" / "test.npy").is_file()
    assert yaml.safe_load((run / "config.yaml").read_text())["plugins"] == ["pg-test-plugin"]


# --------------------------------------------------------------------------- workers die


NAPPER = '''
import os
import sys
import time
from pathlib import Path

from perceptogram.pipeline.executors import LocalExecutor


def nap(folder):
    (Path(folder) / str(os.getpid())).write_text(str(os.getppid()))
    time.sleep(120)


if __name__ == "__main__":
    LocalExecutor().map(nap, [(sys.argv[1],), (sys.argv[1],)], n_jobs=2, gpu=[False, False],
                        description="nap")
'''


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_local_workers_exit_when_the_parent_is_killed(tmp_path):
    (tmp_path / "napper.py").write_text(textwrap.dedent(NAPPER))
    pids = tmp_path / "pids"
    pids.mkdir()
    parent = subprocess.Popen(
        [sys.executable, str(tmp_path / "napper.py"), str(pids)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(tmp_path)])})
    started: dict[int, int] = {}  # worker pid -> its parent's pid
    try:
        deadline = time.monotonic() + 120
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            started = {int(p.name): int(text) for p in pids.iterdir() if (text := p.read_text())}
        workers = list(started)
        assert len(workers) == 2, "the workers did not start"
        assert set(started.values()) == {parent.pid}
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers), "workers outlived their parent"
    finally:
        for pid in [parent.pid, *started]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
