"""Docstring ``Examples`` of the public estimators and loaders run as doctests.

Equivalent to ``pytest --doctest-modules`` on these modules, without changing
the default options of the whole suite.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "perceptogram",
    "perceptogram.linear.ridge",
    "perceptogram.data.core.prepare",
    "perceptogram.data.core.channels",
    "perceptogram.data.formats.things_eeg2",
    "perceptogram.latents.cache",
]

DOCUMENTED = [
    ("perceptogram.linear.ridge", "Ridge"),
    ("perceptogram.linear.ridge", "RidgeCV"),
    ("perceptogram.data.core.prepare", "prepare"),
    ("perceptogram.data.formats.things_eeg2", "load_subject"),
    ("perceptogram.data.formats.things_eeg2", "load_image_metadata"),
    ("perceptogram.latents.cache", "encode_cached"),
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


@pytest.mark.parametrize(("module", "name"), DOCUMENTED)
def test_public_api_has_an_examples_section(module, name):
    doc = getattr(importlib.import_module(module), name).__doc__
    assert "\n    Examples\n    --------\n" in doc
