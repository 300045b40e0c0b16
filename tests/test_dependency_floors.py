"""constraints-min.txt (the minimum-versions CI job) pins exactly the floors pyproject declares."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def declared_floors() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in ("diffusion", "test"):
        requirements += project["optional-dependencies"][extra]
    floors = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[a-z,]+\])?\s*>=\s*([0-9][0-9A-Za-z.]*)", requirement)
        assert match, f"{requirement!r} must be written NAME>=FLOOR"
        floors[_name(match[1])] = match[2]
    return floors


def pinned() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints-min.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_name(name)] = version
    return pins


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_every_floor_is_pinned_in_the_minimum_versions_job():
    floors, pins = declared_floors(), pinned()
    assert set(pins) == set(floors)
    for name, floor in floors.items():
        assert _release(pins[name]) == _release(floor), (name, floor, pins[name])


def test_python_floor_is_the_tested_one():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.11"
