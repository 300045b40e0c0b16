"""``perceptogram adopt``: let Perceptogram manage a folder it made elsewhere."""

from __future__ import annotations

from pathlib import Path

import typer

from perceptogram._text import for_rich
from perceptogram.cli._common import console, friendly_errors


def register(app: typer.Typer) -> None:
    """Attach ``adopt`` to the root ``app``."""

    @app.command("adopt")
    @friendly_errors
    def adopt(
        folder: Path = typer.Argument(..., help="A run directory (or cache) Perceptogram made "
                                      "elsewhere: received, copied, or from an older version."),
    ) -> None:
        """Let Perceptogram write and delete its own files in a folder it made elsewhere.

        A run directory you received, copied (cp -r, rsync, unzip) or made with an
        older version carries Perceptogram's marker, but the marker is not bound to
        this folder, so Perceptogram neither writes nor deletes there. Adopting it
        binds the markers after checking that the folder holds no symbolic link or
        special file. Only adopt a folder whose content you mean Perceptogram to
        manage.
        """
        # loads when the command runs, not at `perceptogram --help` (docs/contracts.md)
        from perceptogram._owned import adopt_folder

        adopted = adopt_folder(folder)
        console.print(f"Adopted {for_rich(folder)} ({len(adopted)} Perceptogram folder"
                      f"{'s' * (len(adopted) != 1)}); runs and reports may now write there.",
                      highlight=False, soft_wrap=True)
