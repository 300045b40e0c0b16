"""Shared command-line plumbing: one-sentence errors, console, verbosity."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from perceptogram.errors import PerceptogramError

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True)

_VERBOSE_ENV = "PERCEPTOGRAM_VERBOSE"

#: Exit codes that scripts can rely on.
EXIT_OK = 0
EXIT_ERROR = 1  # bad input, data or configuration (a PerceptogramError)
EXIT_USAGE = 2  # wrong command-line usage (typer/click)
EXIT_INTERNAL = 3  # an unexpected failure: a bug, please report it
EXIT_INTERRUPTED = 130


def set_verbose(verbose: bool) -> None:
    if verbose:
        os.environ[_VERBOSE_ENV] = "1"
    else:
        os.environ.pop(_VERBOSE_ENV, None)


def is_verbose() -> bool:
    return os.environ.get(_VERBOSE_ENV, "") not in ("", "0")


def _one_sentence(exc: BaseException) -> str:
    msg = str(exc).strip() or type(exc).__name__
    msg = msg[0].upper() + msg[1:]
    return msg if msg.endswith((".", "!", "?")) else msg + "."


def friendly_errors(func: F) -> F:
    """Turn exceptions into one clear sentence on stderr and a trustworthy exit code.

    Errors caused by input (:class:`~perceptogram.errors.PerceptogramError`,
    ``FileNotFoundError``, ``ValueError``) exit with 1; anything else exits with 3.
    ``--verbose`` prints the traceback as well.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            err_console.print("[red]Interrupted.[/red] Run the same command again to resume.")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # noqa: BLE001 - the CLI boundary
            expected = isinstance(exc, (PerceptogramError, FileNotFoundError, ValueError))
            if is_verbose():
                traceback.print_exc(file=sys.stderr)
            label = "Error" if expected else f"Internal error ({type(exc).__name__})"
            err_console.print(f"[bold red]{label}:[/bold red] {_one_sentence(exc)}",
                              highlight=False, soft_wrap=True)
            if not expected and not is_verbose():
                err_console.print("Run again with --verbose for the traceback.")
            raise typer.Exit(EXIT_ERROR if expected else EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]
