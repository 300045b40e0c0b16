"""``perceptogram data ...``: download and inspect THINGS-EEG2-layout folders."""

from __future__ import annotations

import typer

data_app = typer.Typer(help="Download THINGS-EEG2 and inspect what a data folder holds.",
                       no_args_is_help=True)
