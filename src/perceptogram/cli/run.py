"""``perceptogram demo``, ``run``, the per-stage commands, ``report`` and ``config``."""

from __future__ import annotations

from pathlib import Path

import typer

from perceptogram._progress import is_quiet, set_quiet
from perceptogram._text import for_rich
from perceptogram.cli._common import console, friendly_errors
from perceptogram.errors import PerceptogramError

_STAGE_HELP = {
    "features": "Prepare EEG features and encode the stimuli in each latent space.",
    "fit": "Fit the ridge decoders (alpha chosen by cross-validation on training data).",
    "predict": "Decode the test EEG into latents.",
    "reconstruct": "Turn decoded latents into images (PCA decoding, retrieval, unCLIP).",
    "evaluate": "Score decoded latents and reconstructions.",
    "reliability": "Split-half reliability of each subject's test EEG (evaluation.noise_ceilings).",
    "repetitions": "Each decoder's latent-r noise ceiling and its scores against the number of "
                   "averaged test repetitions.",
    "cross-subject": "Leave-one-subject-out decoding, without and with alignment "
                     "(evaluation.cross_subject; at least 2 subjects).",
    "interpret": "Compute and draw perceptograms, electrode preference and time courses.",
}

_FORCE = typer.Option(
    None, "--force", "-f", metavar="STAGE",
    help="Recompute this stage and everything downstream (repeatable).",
)
_JOBS = typer.Option(
    None, "--jobs", "-j", min=1,
    help="Parallel processes for subjects (default: as many as memory and CPUs allow).",
)
_EXECUTOR = typer.Option(
    "local", "--executor",
    help="Where units run: local (joblib processes) or dask (a dask.distributed cluster).",
)
_SCHEDULER = typer.Option(
    None, "--scheduler", metavar="ADDRESS",
    help="Dask scheduler address (tcp://host:8786); default: a LocalCluster of --jobs workers.",
)


def _print_timings(summary) -> None:
    from rich.table import Table

    table = Table(title="Wall time per stage (stages on one row ran together)",
                  show_edge=False)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stages, seconds in summary.waves:
        table.add_row(" + ".join(stages), f"{seconds:.1f}")
    table.add_row("[bold]total[/bold]", f"[bold]{summary.total_seconds:.1f}[/bold]")
    console.print(table)
    console.print(f"{len(summary.computed)} units computed, {len(summary.skipped)} up to date"
                  f" ({summary.jobs} process{'es' * (summary.jobs != 1)}).")


def _finish(config, summary, quiet: bool, until: str | None = None) -> None:
    import json

    # What a command does (config, pipeline, _owned, _io) loads when it runs:
    # `perceptogram --help` starts without it (docs/contracts.md, "Lazy imports").
    from perceptogram.pipeline.rundir import RunDir

    run_dir = RunDir(config.output)
    quiet = quiet or is_quiet()
    if not quiet:
        _print_timings(summary)
    report = run_dir.report_path
    if until not in (None, "report"):  # the report (and its headline) may be stale
        return
    if report.is_file():
        if not quiet:
            headline = run_dir.unit_dir("report") / "headline.json"
            for line in json.loads(headline.read_text(encoding="utf-8")):
                console.print(for_rich(line), highlight=False, soft_wrap=True)
        console.print(f"Report: {for_rich(report)}", highlight=False, soft_wrap=True)


def _run(config_path: Path, until: str | None, force: list[str] | None, jobs: int | None,
         out: Path | None, executor: str = "local", scheduler: str | None = None,
         received: bool = False) -> None:
    from perceptogram.config import load_config
    from perceptogram.pipeline.rundir import check_received_config
    from perceptogram.pipeline.runner import run_pipeline
    from perceptogram.pipeline.stages import PIPELINE

    config = load_config(config_path)
    if out is not None:
        config = config.model_copy(update={"output": out})
    if received:
        check_received_config(config, out)
    summary = run_pipeline(config, PIPELINE, until=until, force=force or (), jobs=jobs,
                           executor=executor, scheduler=scheduler)
    _finish(config, summary, quiet=False, until=until)


def _stage_command(app: typer.Typer, stage: str) -> None:
    @app.command(stage, help=_STAGE_HELP[stage] + " Runs the stages it needs first; "
                 "up-to-date results are reused.")
    @friendly_errors
    def command(
        config: Path = typer.Argument(..., help="Run configuration (YAML)."),
        force: list[str] = _FORCE,
        jobs: int = _JOBS,
        executor: str = _EXECUTOR,
        scheduler: str = _SCHEDULER,
    ) -> None:
        _run(config, stage, force, jobs, None, executor, scheduler)


def register(app: typer.Typer) -> None:
    """Attach the pipeline commands to the root ``app``."""

    @app.command("demo")
    @friendly_errors
    def demo(
        out: Path = typer.Option(Path("perceptogram-demo"), "--out", "-o",
                                 help="Run directory (an earlier demo there is resumed)."),
        size: str = typer.Option("default", "--size",
                                 help="tiny | small | default (simulated data)."),
        data: str = typer.Option(
            "simulated", "--data",
            help="simulated (THINGS-EEG2-style, planted effects) | p300 (a real 4-channel "
            "recording shipped with the package: rare cat pictures among dogs)."),
        jobs: int = _JOBS,
        force: list[str] = _FORCE,
        quiet: bool = typer.Option(False, "--quiet", "-q",
                                   help="Only print the report's path."),
        executor: str = _EXECUTOR,
        scheduler: str = _SCHEDULER,
    ) -> None:
        """Run everything offline on simulated or real EEG and write a report.

        Simulated (default): EEG with planted patterns; encodes the stimuli
        (EfficientNet-Lite0, pixel PCA, image attributes), fits ridge decoders with
        cross-validation, reconstructs (PCA decoding + retrieval), evaluates, draws
        perceptograms. --data p300: the same on a real Muse recording (imported
        first into OUT/imported/p300), with the target − non-target map.
        """
        from perceptogram.pipeline.demo import DEMO_DATA, DEMO_SIZES, demo_config, prepare_demo_data
        from perceptogram.pipeline.runner import run_pipeline
        from perceptogram.pipeline.stages import PIPELINE

        if size not in DEMO_SIZES:
            raise ValueError(f"--size must be one of {', '.join(DEMO_SIZES)}, not {size!r}")
        if data not in DEMO_DATA:
            raise ValueError(f"--data must be one of {', '.join(DEMO_DATA)}, not {data!r}")
        if quiet:
            set_quiet(True)
        config = demo_config(out, size, jobs, data)
        prepare_demo_data(config, data)
        summary = run_pipeline(config, PIPELINE, force=force or (), executor=executor,
                               scheduler=scheduler)
        _finish(config, summary, quiet)

    @app.command("run")
    @friendly_errors
    def run(
        config: Path = typer.Argument(..., help="Run configuration (YAML); see "
                                      "`perceptogram config`."),
        force: list[str] = _FORCE,
        jobs: int = _JOBS,
        out: Path = typer.Option(None, "--out", "-o", help="Override the config's output."),
        executor: str = _EXECUTOR,
        scheduler: str = _SCHEDULER,
    ) -> None:
        """Run every stage of a configuration, reusing up-to-date results."""
        _run(config, None, force, jobs, out, executor, scheduler)

    for stage in _STAGE_HELP:
        _stage_command(app, stage)

    @app.command("report")
    @friendly_errors
    def report(
        run_dir: Path = typer.Argument(..., help="A run directory."),
        format: str = typer.Option("html", "--format",
                                   help="html, or mne: also write report/report-mne.html "
                                        "(an mne.Report with the same content)."),
    ) -> None:
        """(Re)write the HTML report of a run directory (computing what is missing)."""
        from perceptogram._owned import NotOwnedError, adoption_hint, marker_state, owned_kind

        if format not in ("html", "mne"):
            raise PerceptogramError(f"--format must be html or mne, got {format!r}")
        if marker_state(run_dir) in ("copied", "legacy"):
            raise NotOwnedError(adoption_hint(run_dir))
        if owned_kind(run_dir) != "run" or not (run_dir / "config.yaml").is_file():
            raise FileNotFoundError(
                f"{run_dir} is not a run directory (no Perceptogram run marker or no "
                "config.yaml); give a folder that `perceptogram run` wrote")
        _run(run_dir / "config.yaml", "report", None, None, run_dir, received=True)
        if format == "mne":
            from perceptogram.config import load_config
            from perceptogram.pipeline.reporting import export_mne_report
            from perceptogram.pipeline.rundir import RunDir

            config = load_config(run_dir / "config.yaml").model_copy(
                update={"output": run_dir})
            path = export_mne_report(config, RunDir(run_dir))
            console.print(f"MNE report: {for_rich(path)}", highlight=False, soft_wrap=True)

    @app.command("config")
    @friendly_errors
    def config_cmd(
        write: Path = typer.Option(None, "--write", "-w",
                                   help="Write the commented default here instead of printing."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    ) -> None:
        """Print (or write) the default run configuration, with a comment on every key."""
        from perceptogram._io import write_text_atomic
        from perceptogram.config import default_config_yaml

        text = default_config_yaml()
        if write is None:
            typer.echo(text, nl=False)
            return
        if write.exists() and not overwrite:
            raise PerceptogramError(f"{write} exists; pass --overwrite to replace it")
        write_text_atomic(write, text)
        console.print(f"Wrote {write}", highlight=False)
