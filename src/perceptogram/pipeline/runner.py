"""Run stages in order over their units, skipping what is up to date.

The runner knows nothing about EEG: a :class:`Pipeline` is an ordered list of
:class:`Stage` objects, each a plain function of ``(config, subject, space,
run_dir)`` plus two small callables that say which units it has and which
settings it depends on. Units of one stage are independent, so they can run in
parallel processes (``jobs``). Stages run in *waves* (:meth:`Pipeline.waves`):
each stage as late as the stages that read it allow, so that stages no stage
between them depends on (the scores, the noise ceilings, the perceptograms) share
one pool of processes, longest units first. The executor gives each unit in
flight a share of the CPU cores (threads x processes <= cores), and the cores of
finished units to the units still running.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

try:
    import resource
except ImportError:  # not on Windows: units are then timed without their CPU time
    resource = None  # type: ignore[assignment]

from perceptogram._io import available_memory, make_dirs, write_json_atomic
from perceptogram._owned import MARKER, owned_kind, remove_owned
from perceptogram._paths import is_inside
from perceptogram._progress import is_quiet
from perceptogram._registry import check_plugins
from perceptogram._threads import tune_process
from perceptogram._text import for_rich
from perceptogram.config import Config, save_config
from perceptogram.data.formats.mne_import import IMPORT_KIND
from perceptogram.errors import PerceptogramError
from perceptogram.pipeline.executors import Executor, make_executor
from perceptogram.pipeline.rundir import (
    LOCK_FILE,
    RunDir,
    Unit,
    check_input_locations,
    check_output_location,
)

__all__ = ["Stage", "Pipeline", "RunSummary", "run_pipeline", "default_jobs"]

StageFunc = Callable[[Config, "int | None", "str | None", RunDir], None]
UnitsFunc = Callable[[Config, Sequence[int]], list[tuple["int | None", "str | None"]]]
SettingsFunc = Callable[[Config, "int | None", "str | None"], dict[str, Any]]


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    Parameters
    ----------
    name : str
        Stage name; also the folder of its artifacts in the run directory.
    func : callable
        ``func(config, subject, space, run_dir)`` writes the unit's artifacts into
        ``run_dir.unit_dir(name, subject, space)``. Must be a module-level
        function so that it can run in another process.
    units : callable
        ``units(config, subjects) -> list of (subject or None, space or None)``.
    settings : callable
        ``settings(config, subject, space) -> dict``: the configuration values the
        unit's result depends on (nothing else, so unrelated edits do not
        invalidate it).
    requires : tuple of str
        Upstream stages whose matching units this stage reads.
    parallel : bool
        Whether its units may run in separate processes.
    uses_device : callable or None
        ``uses_device(config, subject, space) -> bool``: whether the unit runs a
        model (latent space, generator) on ``config.device``; with a CUDA device,
        such units need a GPU worker. Must be a module-level function.
    cost : float
        Rough wall time of one unit relative to other stages' units (default 1):
        within a wave, units of costlier stages start first, so that the longest
        ones do not end the wave alone on one core.
    folder_per_space : bool
        Its units have no space but write one subfolder per latent space (e.g. one
        fit per subject that decodes into every space); a downstream unit of space
        *s* depends only on the files in subfolder *s*
        (:meth:`~perceptogram.pipeline.rundir.RunDir.digest` with ``part``).
    """

    name: str
    func: StageFunc
    units: UnitsFunc
    settings: SettingsFunc
    requires: tuple[str, ...] = ()
    parallel: bool = True
    uses_device: Callable[[Config, "int | None", "str | None"], bool] | None = None
    cost: float = 1.0
    folder_per_space: bool = False


@dataclass(frozen=True)
class Pipeline:
    """An ordered list of stages and how to find the subjects of a run.

    Parameters
    ----------
    stages : sequence of Stage
        In execution order; every stage's ``requires`` must come before it.
    subjects : callable
        ``subjects(config, run_dir) -> list of int``, called after the first stage
        (which typically provides the data).
    memory_per_unit : callable or None
        ``memory_per_unit(config, run_dir) -> bytes``: rough peak memory of one unit,
        for the default number of parallel jobs.
    preflight : callable or None
        ``preflight(config, stage_names)``: raises, before the run directory is
        touched, when the stages that will run cannot run here (e.g. missing weights).
    """

    stages: tuple[Stage, ...]
    subjects: Callable[[Config, RunDir], list[int]]
    memory_per_unit: Callable[[Config, RunDir], int] | None = None
    preflight: Callable[[Config, list[str]], None] | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for stage in self.stages:
            missing = [r for r in stage.requires if r not in seen]
            if missing:
                raise ValueError(f"stage {stage.name!r} requires {missing}, which run later")
            if stage.name in seen:
                raise ValueError(f"two stages are named {stage.name!r}")
            seen.add(stage.name)

    @property
    def names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise PerceptogramError(
            f"unknown stage {name!r}; the stages are: {', '.join(self.names)}"
        )

    def downstream(self, names: Iterable[str]) -> set[str]:
        """The named stages and every stage that (transitively) requires them."""
        closed = {self.stage(n).name for n in names}
        for stage in self.stages:
            if closed.intersection(stage.requires):
                closed.add(stage.name)
        return closed

    def waves(self, names: Sequence[str]) -> list[list[Stage]]:
        """The named stages grouped into waves that run one after another.

        Each stage runs as late as the named stages that require it allow: its
        wave is counted back from the end (a stage nothing requires is in the last
        wave; any other, in the wave before the earliest of the stages that require
        it). Stages of one wave never require each other, so their units can share
        one pool of processes. A stage that is not parallel gets a wave of its own
        (before the others of its wave). Waves and the stages in them keep the
        pipeline's order.
        """
        chosen = [stage for stage in self.stages if stage.name in names]
        level: dict[str, int] = {}
        for stage in reversed(chosen):
            readers = [level[other.name] for other in chosen
                       if stage.name in other.requires]
            level[stage.name] = 1 + max(readers) if readers else 0
        waves: list[list[Stage]] = []
        for depth in sorted(set(level.values()), reverse=True):
            stages = [stage for stage in chosen if level[stage.name] == depth]
            waves += [[stage] for stage in stages if not stage.parallel]
            together = [stage for stage in stages if stage.parallel]
            if together:
                waves.append(together)
        return waves

    def upstream(self, name: str) -> list[str]:
        """The named stage and everything it (transitively) requires, in order."""
        needed = {name}
        for stage in reversed(self.stages):
            if stage.name in needed:
                needed.update(stage.requires)
        return [n for n in self.names if n in needed]


@dataclass
class RunSummary:
    """What a call to :func:`run_pipeline` did.

    Attributes
    ----------
    computed : list of str
        Labels of the units that were (re)computed.
    skipped : list of str
        Labels of the units that were up to date.
    stage_seconds : dict of str to float
        Wall time of each stage in this call, from the start of its wave to the end
        of its last unit (skipped units cost almost nothing); stages of one wave
        overlap.
    waves : list of (list of str, float)
        The stages run together and the wall time of each wave.
    total_seconds : float
        Wall time of the run (the sum of the waves').
    subjects : list of int
    jobs : int
    """

    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    waves: list[tuple[list[str], float]] = field(default_factory=list)
    total_seconds: float = 0.0
    subjects: list[int] = field(default_factory=list)
    jobs: int = 1


def default_jobs(n_units: int, bytes_per_unit: int, memory: int | None = None,
                 n_cpus: int | None = None) -> int:
    """Parallel processes that fit: at most one per CPU, per unit, and per memory share.

    Parameters
    ----------
    n_units : int
        Independent units waiting to run.
    bytes_per_unit : int
        Rough peak memory of one unit.
    memory : int or None
        Available memory in bytes (default: :func:`perceptogram._io.available_memory`); only half
        of it is planned for, leaving room for the parent and the OS.
    n_cpus : int or None
        CPUs usable by this process (default: the affinity mask).
    """
    if memory is None:
        memory = available_memory()
    if n_cpus is None:
        n_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    by_memory = max(1, int(0.5 * memory // max(bytes_per_unit, 1)))
    return max(1, min(n_units, n_cpus, by_memory))


def _run_unit(stage: Stage, config: Config, unit: Unit, run_dir: RunDir,
              key: str, settings: dict[str, Any], inputs: dict[str, str]) -> dict[str, float]:
    """Compute and seal one unit; its wall time and the CPU time of the process meanwhile."""
    run_dir.clear(unit)
    make_dirs(run_dir.path(unit))
    before = resource.getrusage(resource.RUSAGE_SELF) if resource is not None else None
    start = time.perf_counter()
    stage.func(config, unit.subject, unit.space, run_dir)
    elapsed = time.perf_counter() - start
    run_dir.seal(unit, key, settings, inputs, elapsed)
    times = {"wall": elapsed, "end": time.time()}
    if before is not None:
        after = resource.getrusage(resource.RUSAGE_SELF)
        times.update(user=after.ru_utime - before.ru_utime, sys=after.ru_stime - before.ru_stime)
    return times


def _say(message: str) -> None:
    if not is_quiet():
        from rich.console import Console

        Console(stderr=True).print(message, highlight=False)


def _imported_example(config: Config) -> bool:
    """The dataset is a folder ``perceptogram data import`` wrote (the p300 demo's copy of
    a shipped recording): Perceptogram's own, like a simulation, so it may lie in the run."""
    return config.dataset.path is not None and owned_kind(config.dataset.path) == IMPORT_KIND


def run_pipeline(
    config: Config,
    pipeline: Pipeline,
    *,
    until: str | None = None,
    force: Iterable[str] = (),
    jobs: int | None = None,
    executor: str | Executor = "local",
    scheduler: str | None = None,
) -> RunSummary:
    """Run the pipeline's stages in ``config.output``, skipping up-to-date units.

    Parameters
    ----------
    config : Config
    pipeline : Pipeline
    until : str or None
        Stop after this stage (and run only the stages it needs); None runs all.
    force : iterable of str
        Recompute these stages and everything downstream of them, even if their
        units look up to date.
    jobs : int or None
        Parallel processes for the units of a stage; None uses ``config.jobs``,
        then a memory-aware default. For a Dask ``LocalCluster``: its workers.
    executor : str or Executor
        ``"local"`` (joblib processes), ``"dask"``, another registered name, or an
        :class:`~perceptogram.pipeline.executors.Executor` (e.g. a ``DaskExecutor``
        around the client of a ``dask_jobqueue`` cluster; the caller closes it).
    scheduler : str or None
        Address of a Dask scheduler (``executor="dask"``); None starts a LocalCluster.

    Returns
    -------
    RunSummary

    Notes
    -----
    Each completed unit is sealed by its manifest the moment it finishes, so an
    interrupted run (Ctrl-C, a crash, a killed job) resumes at the first unit
    without a manifest. Timings of this call are written to ``timings.json``: wall
    seconds of each stage and unit, and the CPU seconds (user, kernel) that the
    process running a unit spent meanwhile.

    Threads: the units in flight share the usable CPUs, threads x processes <= cores
    (see :class:`~perceptogram.pipeline.executors.LocalExecutor`); every process is
    tuned once (:func:`perceptogram._threads.tune_process`: idle OpenMP threads
    sleep, glibc reuses freed memory).

    The run directory must be new, empty or an earlier run's (it is marked as
    Perceptogram's when created); the run holds its lock throughout, and first
    removes the temporary files a killed run left behind.
    """
    names = pipeline.upstream(until) if until is not None else pipeline.names
    forced = pipeline.downstream(force)
    simulated = config.dataset.kind == "simulated"
    imported = _imported_example(config)
    tune_process()
    check_output_location(config.output, config.dataset.path,
                          dataset_is_simulated=simulated or imported)
    check_input_locations(config.output, _input_paths(config, imported),
                          simulated=config.data_root() if simulated else None)
    check_plugins(config.plugins)
    if pipeline.preflight is not None:
        pipeline.preflight(config, names)
    created = not os.path.lexists(config.output)
    runner, owned = _executor(executor, scheduler, jobs if jobs is not None else config.jobs,
                              config)
    try:
        run_dir = RunDir(config.output)
        run_dir.claim()
        try:
            with run_dir.lock():
                return _run_locked(config, pipeline, run_dir, names, forced, jobs, runner)
        except (PerceptogramError, FileNotFoundError):
            if created:
                _discard_refused_run(run_dir, pipeline)
            raise
    finally:
        if owned:
            runner.close()


def _input_paths(config: Config, imported: bool = False) -> dict[str, Any]:
    """The configuration's input paths, by key (they must stay outside the run directory).

    A simulated dataset, or a recording the demo imported (``imported``), is
    Perceptogram's own: it and the tables inside it are not the user's inputs.
    """
    settings = config.interpretability
    inputs = {"dataset.images_path": config.dataset.images_path,
              "interpretability.labels": getattr(settings, "labels", None),
              "interpretability.covariates": getattr(settings, "covariates", None)}
    if config.dataset.kind != "simulated" and not imported:
        inputs["dataset.path"] = config.dataset.path
    own = (config.dataset.path if imported
           else config.data_root() if config.dataset.kind == "simulated" else None)
    if own is not None:  # e.g. the simulator's label table of its planted classes
        inputs = {key: path for key, path in inputs.items()
                  if path is None or not is_inside(path, own, strict=False)}
    return inputs


def _discard_refused_run(run_dir: RunDir, pipeline: Pipeline) -> None:
    """Remove a run directory this call created when the run was refused at its start.

    A run refused while its first stage checks the data (a missing dataset, a
    subject that is not there) leaves nothing behind; once a later stage has
    written anything, the folder is kept so that the run can resume.
    """
    first = pipeline.stages[0].name if pipeline.stages else None
    keep = {MARKER, LOCK_FILE, "config.yaml", "timings.json", first}
    if all(entry.name in keep for entry in run_dir.root.iterdir()):
        remove_owned(run_dir.root, marked_kind="run")


def _run_locked(config: Config, pipeline: Pipeline, run_dir: RunDir, names: list[str],
                forced: set[str], jobs: int | None, runner: Executor) -> RunSummary:
    stale = run_dir.remove_stale_temps()
    if stale:
        _say(f"Removed {len(stale)} temporary file(s) left by an interrupted run.")
    save_config(config, run_dir.config_path)
    jobs = jobs if jobs is not None else config.jobs
    summary = RunSummary()
    subjects: list[int] | None = None
    done: dict[str, list[Unit]] = {}
    unit_seconds: dict[str, float] = {}
    unit_cpu: dict[str, dict[str, float]] = {}
    try:
        runner.start(run_dir.root, config.plugins)
        for wave in pipeline.waves(names):
            wave_start, wall_start = time.perf_counter(), time.time()
            todo, counts = [], []
            for stage in wave:
                pairs = stage.units(config, subjects if subjects is not None else [])
                units = [Unit(stage.name, s, sp) for s, sp in pairs]
                stage_todo = _stale_units(stage, units, config, pipeline, run_dir, done,
                                          forced, summary)
                todo += [(stage, *item) for item in stage_todo]
                counts.append((stage, len(stage_todo), len(units)))
                done[stage.name] = units
            ends: dict[str, float] = {}
            if todo:
                n_jobs = 1
                if wave[0].parallel and len(todo) > 1:
                    n_jobs = jobs if jobs is not None else _default_jobs(
                        config, pipeline, run_dir, len(todo))
                    n_jobs = min(n_jobs, len(todo))
                summary.jobs = max(summary.jobs, n_jobs)
                _say(", ".join(f"[bold]{stage.name}[/bold]: {n} to compute, {total - n} up to "
                               "date" for stage, n, total in counts)
                     + (f"; {n_jobs} processes" if n_jobs > 1 else ""))
                # Costlier stages' units first (stable: pipeline order otherwise).
                todo.sort(key=lambda item: -item[0].cost)
                for (stage, unit, *_), times in zip(todo, _map_units(config, run_dir, todo,
                                                                     n_jobs, runner)):
                    unit_seconds[unit.label] = round(times["wall"], 3)
                    if "user" in times:
                        unit_cpu[unit.label] = {k: round(times[k], 3) for k in ("user", "sys")}
                    ends[stage.name] = max(ends.get(stage.name, wall_start), times["end"])
                    summary.computed.append(unit.label)
            wave_seconds = time.perf_counter() - wave_start
            for stage in wave:
                seconds = wave_seconds if len(wave) == 1 else min(
                    wave_seconds, max(0.0, ends.get(stage.name, wall_start) - wall_start))
                summary.stage_seconds[stage.name] = round(seconds, 3)
            summary.waves.append(([stage.name for stage in wave], round(wave_seconds, 3)))
            summary.total_seconds = round(summary.total_seconds + wave_seconds, 3)
            if subjects is None:
                subjects = list(pipeline.subjects(config, run_dir))
                summary.subjects = subjects
    finally:
        write_json_atomic(run_dir.timings_path, {
            "stages_s": summary.stage_seconds,
            "waves": [{"stages": stages, "seconds": seconds}
                      for stages, seconds in summary.waves],
            "units_s": unit_seconds,
            "units_cpu_s": unit_cpu,
            "total_s": summary.total_seconds,
            "jobs": summary.jobs,
            "computed": summary.computed,
            "skipped": summary.skipped,
        })
    return summary


def _stale_units(stage: Stage, units: list[Unit], config: Config, pipeline: Pipeline,
                 run_dir: RunDir, done: dict[str, list[Unit]], forced: set[str],
                 summary: RunSummary) -> list[tuple[Unit, str, dict[str, Any], dict[str, str]]]:
    """The units of ``stage`` to compute, with their keys, settings and inputs.

    Up-to-date units are added to ``summary.skipped``.
    """
    todo = []
    for unit in units:
        upstream = [(pipeline.stage(r), u) for r in stage.requires
                    for u in done.get(r, []) if unit.reads(u)]
        inputs = {u.label: run_dir.digest(u, unit.space if source.folder_per_space else None)
                  for source, u in upstream}
        settings = stage.settings(config, unit.subject, unit.space)
        key = run_dir.unit_key(settings, inputs)
        reason = "forced" if stage.name in forced else run_dir.check(unit, key)
        if reason is None:
            summary.skipped.append(unit.label)
            continue
        if reason.endswith(("changed since it was written", "is missing")):
            _say(f"{for_rich(unit.label)}: {for_rich(reason)}; recomputing it")
        todo.append((unit, key, settings, inputs))
    return todo


def _default_jobs(config: Config, pipeline: Pipeline, run_dir: RunDir, n_units: int) -> int:
    per_unit = (pipeline.memory_per_unit(config, run_dir) if pipeline.memory_per_unit
                else 2 << 30)
    return default_jobs(n_units, per_unit)


def _executor(executor: str | Executor, scheduler: str | None, jobs: int | None,
              config: Config) -> tuple[Executor, bool]:
    """The executor to use, and whether this run created it (and so closes it)."""
    if not isinstance(executor, str):
        return executor, False
    if scheduler is not None and executor != "dask":
        raise PerceptogramError("a scheduler address needs the Dask executor (--executor dask)")
    if executor == "dask":
        return make_executor("dask", scheduler=scheduler, n_workers=jobs,
                             gpu=config.device.startswith("cuda")), True
    return make_executor(executor), True


def _map_units(config: Config, run_dir: RunDir, todo: list, n_jobs: int,
               runner: Executor) -> list[dict[str, float]]:
    """Run ``(stage, unit, key, settings, inputs)`` items: in this process for a stage
    that is not parallel (alone in its wave), else through the executor."""
    calls = [(stage, config, unit, run_dir, key, settings, inputs)
             for stage, unit, key, settings, inputs in todo]
    if not todo[0][0].parallel:
        return [_run_unit(*args) for args in calls]
    on_cuda = config.device.startswith("cuda")
    gpu = [on_cuda and stage.uses_device is not None
           and stage.uses_device(config, unit.subject, unit.space)
           for stage, unit, *_ in todo]
    names = list(dict.fromkeys(stage.name for stage, *_ in todo))
    return runner.map(_run_unit, calls, n_jobs=n_jobs, gpu=gpu, description="+".join(names))
