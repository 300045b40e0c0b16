"""The one registry implementation: registration, lookup errors, availability, plugins."""

import sys
import types

import pytest

from perceptogram._registry import Registry, UnknownNameError, import_plugins
from perceptogram.errors import PerceptogramError
from perceptogram.latents import available_latent_spaces, get_latent_space


def test_register_lookup_and_duplicates():
    reg = Registry("widget", "perceptogram.test_widgets")

    @reg.register("a", availability=lambda: "needs the 'x' extra")
    def make_a(size=1):
        """Makes an A."""
        return ("a", size)

    assert reg.names() == ["a"] and "a" in reg and "b" not in reg
    assert reg.build("a", size=3) == ("a", 3)
    assert reg.entry("a").summary == "Makes an A."
    assert reg.entry("a").missing() == "needs the 'x' extra"
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", lambda: None)
    with pytest.raises(UnknownNameError, match="unknown widget '../x'; available: a"):
        reg.get("../x")


def test_latent_space_registry_names_builtins_and_rejects_unknown():
    assert {"attributes", "effnet", "pca", "unclip"} <= set(available_latent_spaces())
    with pytest.raises(PerceptogramError, match="unknown latent space '/abs/victim'"):
        get_latent_space("/abs/victim")


def test_import_plugins_registers_and_reports_missing(monkeypatch):
    module = types.ModuleType("perceptogram_test_plugin")
    reg = Registry("gizmo", "perceptogram.test_gizmos")
    module.__dict__["loaded"] = reg.register("g")(object)
    monkeypatch.setitem(sys.modules, "perceptogram_test_plugin", module)
    import_plugins(["perceptogram_test_plugin"])
    assert reg.names() == ["g"]
    with pytest.raises(PerceptogramError, match="'no_such_module_xyz' could not be imported"):
        import_plugins(["no_such_module_xyz"])
