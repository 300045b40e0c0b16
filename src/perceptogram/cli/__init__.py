"""The ``perceptogram`` command line (typer). Thin: parses, calls, prints."""

from perceptogram.cli.app import app, main

__all__ = ["app", "main"]
