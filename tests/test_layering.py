"""Layering of every subpackage, as docs/contracts.md writes it, and no import cycle.

The allowed arrows are written once, in the ``layering`` block of docs/contracts.md;
this test reads them from there and checks every import of every module (at the top
of a file or inside a function).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import perceptogram

PACKAGE = Path(perceptogram.__file__).resolve().parent
CONTRACTS = Path(__file__).resolve().parents[1] / "docs" / "contracts.md"


def _allowed() -> tuple[set[str], dict[str, set[str]]]:
    """(infrastructure, {package: packages it may import}) from docs/contracts.md."""
    block = re.search(r"```layering\n(.*?)```", CONTRACTS.read_text(encoding="utf-8"), re.S)
    assert block, "docs/contracts.md has no ```layering block"
    arrows = {}
    for line in block.group(1).splitlines():
        name, _, targets = line.partition(":")
        arrows[name.strip()] = set(targets.split())
    return arrows.pop("infrastructure"), arrows


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    """``perceptogram.data.core.prepare`` -> ``data.core``; ``perceptogram.config`` -> ``config``."""
    parts = module.split(".")[1:]
    if not parts:
        return "perceptogram"
    if parts[0] == "data" and len(parts) > 1:
        return f"data.{parts[1]}"
    return parts[0]


def _imports(path: Path) -> set[str]:
    """Every perceptogram module or name a file imports, top level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "perceptogram"}


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_contracts_name_every_subpackage():
    infrastructure, arrows = _allowed()
    layers = {_layer(module) for module in MODULES}
    assert layers <= infrastructure | set(arrows), layers - infrastructure - set(arrows)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layering(module):
    infrastructure, arrows = _allowed()
    layer = _layer(module)
    allowed = infrastructure | {layer} | arrows.get(layer, set())
    if layer in infrastructure:  # infrastructure imports only infrastructure
        allowed = infrastructure
    bad = sorted({name for name in _imports(MODULES[module])
                  if name in MODULES and _layer(name) not in allowed})
    assert not bad, f"{module} ({layer}) imports {bad}; docs/contracts.md allows {sorted(allowed)}"


def test_no_import_cycle_between_files():
    # A package's __init__ only re-exports its modules: arrows into it do not count.
    graph = {module: {name for name in _imports(path) if name in MODULES and name != module
                      and MODULES[name].name != "__init__.py"}
             for module, path in MODULES.items()}
    cycles = _cycles(graph)
    assert not cycles, f"import cycles: {cycles}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_check_finds_a_planted_cycle_and_a_wrong_arrow():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    infrastructure, arrows = _allowed()
    assert "latents" not in arrows["evaluate"] and "pipeline" not in arrows["reconstruct"]
