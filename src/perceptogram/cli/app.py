"""Root of the ``perceptogram`` command: global options and sub-commands."""

from __future__ import annotations

import typer

from perceptogram import __version__
from perceptogram._progress import set_quiet
from perceptogram.cli import adopt as adopt_cmds
from perceptogram.cli import data as data_cmds
from perceptogram.cli import list as list_cmds
from perceptogram.cli import run as run_cmds
from perceptogram.cli._common import console, set_verbose

app = typer.Typer(
    name="perceptogram",
    help=(
        "Decode what a person saw from their EEG with a linear model, reconstruct the "
        "images, score them, and read the decoder back as EEG maps (perceptograms).\n\n"
        "Start with [bold]perceptogram demo[/bold]: it runs everything offline on a "
        "simulated THINGS-EEG2-style dataset."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"perceptogram {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True,
        help="Print the version and exit.",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and details."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summaries."),
) -> None:
    # Only switch on: an unset flag leaves the caller's environment as it is.
    if verbose:
        set_verbose(True)
    if quiet:
        set_quiet(True)


def _register() -> None:
    app.add_typer(data_cmds.data_app, name="data")
    run_cmds.register(app)
    list_cmds.register(app)
    adopt_cmds.register(app)


_register()


def main() -> None:
    """Console-script entry point."""
    app()
