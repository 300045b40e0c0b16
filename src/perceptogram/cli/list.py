"""``perceptogram list``: every registry, one line per entry, and whether it is usable here."""

from __future__ import annotations

import importlib

import typer

from perceptogram._text import for_rich
from perceptogram.cli._common import console, friendly_errors

#: (title, module, attribute) of every registry.
REGISTRIES = (
    ("datasets", "perceptogram.data.formats.base", "DATASETS"),
    ("latent spaces", "perceptogram.latents.base", "LATENT_SPACES"),
    ("generators", "perceptogram.reconstruct.base", "GENERATORS"),  # and offline methods
    ("metrics", "perceptogram.evaluate.metric_registry", "METRICS"),
    ("metric networks", "perceptogram.evaluate.networks", "NETWORKS"),
    ("evaluation protocols", "perceptogram.evaluate.protocols", "PROTOCOLS"),
    ("executors", "perceptogram.pipeline.executors", "EXECUTORS"),
)


def _clean(text: object) -> str:
    """One line of text for rich: control characters and markup made harmless."""
    return " ".join(for_rich(text).split())


def registry_lines(registries=REGISTRIES) -> list[str]:
    """The lines ``perceptogram list`` prints (rich markup, user text escaped).

    Parameters
    ----------
    registries : sequence of (title, module, attribute)

    Returns
    -------
    lines : list of str
        A title line per registry, then ``name  ok|missing: why  summary`` per entry.
    """
    # loads when the command runs, not at `perceptogram --help` (docs/contracts.md)
    from perceptogram._registry import Registry

    lines: list[str] = []
    for title, module_name, attribute in registries:
        registry = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(registry, Registry):
            raise TypeError(f"{module_name}.{attribute} is not a Registry")
        lines.append(f"[bold]{_clean(title)}[/bold]")
        for entry in registry.entries():
            missing = entry.missing()
            state = "[green]usable[/green]" if missing is None else \
                f"[yellow]not usable here[/yellow] ({_clean(missing)})"
            lines.append(f"  {_clean(entry.name)}: {_clean(entry.summary)} - {state}")
    return lines


def register(app: typer.Typer) -> None:
    """Attach ``list`` to the root ``app``."""

    @app.command("list")
    @friendly_errors
    def list_registries() -> None:
        """List datasets, latent spaces, generators (every reconstruction method), metrics,
        metric networks, evaluation protocols and executors.

        Each entry says whether it is usable on this machine (optional extra
        installed, weights in the local cache) and, if not, what to install or
        download.
        """
        for line in registry_lines():
            console.print(line, soft_wrap=True, highlight=False)
