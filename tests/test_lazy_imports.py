"""Heavy dependencies stay lazy: importing the package, the CLI or the pipeline loads none.

docs/contracts.md, "Lazy imports": torch, diffusers, transformers, matplotlib, MNE and
dask load inside the functions that use them; the command line imports the rest of the
package (and numpy) only when a command runs, so that ``perceptogram --help`` is quick.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "diffusers", "transformers", "matplotlib", "mne", "mne_bids", "dask",
         "distributed", "selenium")
#: What the command line's start (``perceptogram --help``) must not load either.
NOT_AT_CLI_START = ("numpy", "perceptogram.config", "perceptogram.pipeline")


def _loaded(module: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` a fresh interpreter holds after ``import module``."""
    code = (f"import json, sys, {module}\n"
            f"print(json.dumps([name for name in {list(names)!r} if name in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("module", ["perceptogram", "perceptogram.cli",
                                    "perceptogram.pipeline.stages"])
def test_importing_loads_no_heavy_dependency(module):
    assert _loaded(module, HEAVY) == []


def test_the_command_line_starts_without_numpy_or_the_pipeline():
    assert _loaded("perceptogram.cli", NOT_AT_CLI_START) == []
