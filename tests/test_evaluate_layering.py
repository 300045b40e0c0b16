"""Layering of the modules this area owns, and the one implementation of shared helpers."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import perceptogram
from perceptogram._images import check_images
from perceptogram.errors import DataFormatError

PACKAGE = Path(perceptogram.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every perceptogram module a file imports (at top level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("perceptogram")}


@pytest.mark.parametrize("folder, forbidden", [
    ("nets", ("perceptogram.latents", "perceptogram.evaluate", "perceptogram.interpret")),
    ("evaluate", ("perceptogram.interpret", "perceptogram.pipeline", "perceptogram.latents")),
])
def test_lower_layers_do_not_import_higher_ones(folder, forbidden):
    for path in (PACKAGE / folder).glob("*.py"):
        bad = [m for m in _imports(path) if m.startswith(forbidden)]
        assert not bad, f"{path.name} imports {bad}"


def test_one_check_images_and_one_per_dimension_correlation():
    definitions = {"check_images": [], "dimension_correlation": []}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name in definitions:
                definitions[node.name].append(path.relative_to(PACKAGE).as_posix())
    assert definitions == {"check_images": ["_images.py"],
                           "dimension_correlation": ["_stats.py"]}


def test_check_images_refuses_with_one_sentence():
    images = np.zeros((2, 8, 8, 3), np.uint8)
    assert check_images(images) is images
    with pytest.raises(DataFormatError, match="must be uint8 RGB; got dtype float64"):
        check_images(images / 255.0)
    assert check_images(images / 255.0, allow_float=True).dtype == np.float64
    with pytest.raises(DataFormatError, match=r"shape \(n_images, height, width, 3\)"):
        check_images(np.zeros((8, 8, 3), np.uint8), "ground truths")
    with pytest.raises(DataFormatError, match="not all finite values in"):
        check_images(np.full((1, 8, 8, 3), 2.0), allow_float=True)


def test_constant_columns_have_no_correlation_in_metrics_and_probes():
    from perceptogram.evaluate.metrics import latent_correlation
    from perceptogram.interpret.quality import mean_correlation

    rng = np.random.default_rng(0)
    true = rng.normal(size=(30, 3))
    true[:, 1] = 0.7
    decoded = true + 0.1 * rng.normal(size=true.shape)
    r = latent_correlation(decoded, true)
    assert np.isnan(r[1]) and np.all(np.isfinite(r[[0, 2]]))
    # the probes' quality excludes the constant column instead of counting it as 0
    assert mean_correlation(true, decoded) == pytest.approx(np.mean(r[[0, 2]]))
    assert np.isnan(mean_correlation(np.ones((5, 2)), rng.normal(size=(5, 2))))
