"""Progress bars shared by every long step (rich), silenced by ``--quiet``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

from perceptogram._text import for_rich

T = TypeVar("T")

_QUIET_ENV = "PERCEPTOGRAM_QUIET"


def set_quiet(quiet: bool) -> None:
    """Switch progress bars off (``True``) or on for this process and its children."""
    if quiet:
        os.environ[_QUIET_ENV] = "1"
    else:
        os.environ.pop(_QUIET_ENV, None)


def is_quiet() -> bool:
    """Whether progress bars are switched off."""
    return os.environ.get(_QUIET_ENV, "") not in ("", "0")


def track(iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``iterable`` while showing a rich progress bar on stderr.

    Parameters
    ----------
    iterable : iterable
        The work items.
    description : str
        What is being done, shown left of the bar (as written: markup and control
        characters in it are not interpreted).
    total : int or None
        Number of items, if ``len(iterable)`` is not available.
    """
    if is_quiet():
        yield from iterable
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    console = Console(stderr=True)
    if not console.is_terminal:
        # Logs and pipes get no bar: a live display there only writes blank lines.
        yield from iterable
        return
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(for_rich(description), total=total)
        for item in iterable:
            yield item
            progress.advance(task)


def say(message: str) -> None:
    """Print one status line on stderr (unless quiet): what is being waited for, and how long.

    Unlike :func:`track`, the line also reaches logs and pipes, so a long wait is never
    silent there. ``message`` is shown as written (markup and control characters inert).
    """
    if is_quiet():
        return
    from rich.console import Console

    Console(stderr=True).print(for_rich(message), highlight=False, soft_wrap=True)
