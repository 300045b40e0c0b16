"""Shared tools of the attack modules (tests/test_attacks_*.py).

Each attack module plays one route by which a hostile file reaches Perceptogram (a
received run, a received dataset, a received or shared configuration, a Dask
cluster, special files) and checks that the attack ends in one clean, one-sentence
refusal (or is handled), with nothing outside what Perceptogram made touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import perceptogram

#: The package's source folder (the one this test process imports), for child processes.
SRC = Path(perceptogram.__file__).resolve().parents[1]
SECRET = "pg-secret-7f3a9c"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links not followed) -> its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def victim(folder: Path) -> Path:
    """A user's folder with a thesis, a report draft and data, none of it Perceptogram's."""
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "eeg.npy").write_bytes(b"precious EEG")
    (folder / "report").mkdir()
    (folder / "report" / "paper.tex").write_text("precious draft")
    (folder / "thesis.txt").write_text("my thesis " * 2400)
    return folder


def one_sentence(text: str) -> str:
    """The single ``Error: ...`` line of a CLI's output (asserting there is exactly one)."""
    lines = [line for line in text.splitlines() if line.strip()
             and not line.startswith(("Connecting to", "Waiting up to", "Listing the"))]
    assert len(lines) == 1, text
    assert lines[0].startswith("Error:"), text
    assert "Internal error" not in text and "Traceback" not in text, text
    return lines[0]


def run_cli(args: list[str], cwd: Path, *, env: dict[str, str] | None = None,
            timeout: float = 120, python_path: list[str] | None = None
            ) -> subprocess.CompletedProcess:
    """``python -m perceptogram ARGS`` in ``cwd`` (with the package on PYTHONPATH)."""
    paths = [str(SRC), *(python_path or [])]
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PERCEPTOGRAM_QUIET": "1",
                "COLUMNS": "400", **(env or {})}
    return subprocess.run([sys.executable, "-m", "perceptogram", *args], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def run_python(code: str, cwd: Path, *, timeout: float = 120,
               python_path: list[str] | None = None) -> subprocess.CompletedProcess:
    """``python -c CODE`` in ``cwd`` (a user's own script: ``''`` is first on sys.path)."""
    paths = [str(SRC), *(python_path or [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PERCEPTOGRAM_QUIET": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def sentinel_module(folder: Path, name: str, sentinel: Path) -> Path:
    """A module ``name`` in ``folder`` that creates ``sentinel`` when imported."""
    path = folder.joinpath(*name.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.relative_to(folder).parents:
        if parent != Path("."):
            (folder / parent / "__init__.py").touch()
    path.write_text(f"open({str(sentinel)!r}, 'w').write('pwned')\n")
    return path


def dist_info(folder: Path, dist: str, group: str, entries: dict[str, str]) -> Path:
    """A ``<dist>-0.1.dist-info`` folder declaring ``entries`` in the entry-point ``group``."""
    info = folder / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entries.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    return info
