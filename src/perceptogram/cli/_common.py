"""Shared command-line plumbing: one-sentence errors, console, verbosity."""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from perceptogram._text import for_rich
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


def _one_sentence(exc: BaseException | str) -> str:
    """The exception's message as one sentence, for ``Error: <sentence>``.

    The first letter is capitalised only when the sentence starts with a plain
    lower-case word: a path or a name (``mycfg.yaml``, ``sub-01``) keeps its case.
    """
    msg = str(exc).strip() or type(exc).__name__
    first = msg.split(maxsplit=1)[0]
    if first.isascii() and first.isalpha() and first.islower():
        msg = msg[0].upper() + msg[1:]
    return msg if msg.endswith((".", "!", "?")) else msg + "."


_OS_ERRORS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.ENAMETOOLONG: "a file name is too long",
    errno.EISDIR: "a folder is where a file was expected",
    errno.ENOTDIR: "a file is where a folder was expected",
    errno.EFBIG: "a file grew past the largest size allowed (the shell's file-size limit, "
                 "ulimit -f, or the file system's)",
    errno.ELOOP: "too many levels of symbolic links",
}
_OS_ADVICE = {
    errno.ENOSPC: "free some space or choose an output folder on another disk, then run "
                  "the same command again to resume",
    errno.EDQUOT: "free some space or choose an output folder on another disk, then run "
                  "the same command again to resume",
    errno.EROFS: "choose an output folder you can write to",
    errno.ENAMETOOLONG: "choose shorter names",
    errno.EISDIR: "give the path of a file, not of a folder",
    errno.ENOTDIR: "check the path",
    errno.EFBIG: "raise the limit (ulimit -f unlimited) or write to another file system, "
                 "then run the same command again to resume",
}


def environment_error(exc: BaseException) -> str | None:
    """One sentence for a failure caused by the machine rather than by a bug, or None.

    Permission denied, disk full, quota exceeded, read-only file system, a name
    too long, out of memory and too deep a recursion are not bugs of Perceptogram:
    the sentence says what happened and what to do.
    """
    if isinstance(exc, MemoryError):
        return ("ran out of memory; run with fewer parallel processes (--jobs 1), fewer "
                "subjects or latent spaces, or on a machine with more memory")
    if isinstance(exc, RecursionError):
        return ("an input is nested too deeply to be processed (maximum recursion depth "
                "reached); the file is probably damaged or crafted")
    if isinstance(exc, OSError) and exc.errno in _OS_ERRORS:
        where = exc.filename if exc.filename is not None else None
        what = _OS_ERRORS[exc.errno] + (f": {where}" if where is not None else "")
        advice = _OS_ADVICE.get(exc.errno, "check the permissions of that path, or choose "
                                "another one")
        return f"{what}; {advice}"
    return None


def friendly_errors(func: F) -> F:
    """Turn exceptions into one clear sentence on stderr and a trustworthy exit code.

    Errors caused by input (:class:`~perceptogram.errors.PerceptogramError`,
    ``FileNotFoundError``, ``ValueError``) or by the machine (see
    :func:`environment_error`) exit with 1; anything else exits with 3. Text in
    the message is shown as written (rich markup escaped, control characters
    removed).
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
            environment = environment_error(exc)
            expected = environment is not None or isinstance(
                exc, (PerceptogramError, FileNotFoundError, ValueError))
            if is_verbose():
                traceback.print_exc(file=sys.stderr)
            label = "Error" if expected else f"Internal error ({type(exc).__name__})"
            sentence = _one_sentence(environment if environment is not None else exc)
            err_console.print(f"[bold red]{label}:[/bold red] {for_rich(sentence)}",
                              highlight=False, soft_wrap=True)
            if not expected and not is_verbose():
                err_console.print("Run again with --verbose for the traceback.")
            raise typer.Exit(EXIT_ERROR if expected else EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]
