"""The one registry implementation: registration, lookup errors, availability, plugins."""

import textwrap

import pytest

from perceptogram._registry import PluginError, Registry, UnknownNameError, check_plugins
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


def make_plugin(folder, dist, group, entries, modules):
    """An installed-looking distribution in ``folder``: a dist-info and its modules."""
    info = folder / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entries.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    for name, code in modules.items():
        (folder / name).write_text(textwrap.dedent(code))
    return folder


GIZMO = """
from test_registry_gizmos import REGISTRY
REGISTRY.register("g")(object)
"""


def test_installed_entry_points_register_and_plugins_are_checked_not_imported(
        tmp_path, monkeypatch):
    import sys
    import types

    registry = Registry("gizmo", "perceptogram.test_gizmos")
    holder = types.ModuleType("test_registry_gizmos")
    holder.REGISTRY = registry
    monkeypatch.setitem(sys.modules, "test_registry_gizmos", holder)
    site = make_plugin(tmp_path / "site", "gizmo-lab", "perceptogram.test_gizmos",
                       {"g": "gizmo_lab_plugin"}, {"gizmo_lab_plugin.py": GIZMO})
    monkeypatch.syspath_prepend(str(site))
    assert check_plugins(["gizmo-lab", "gizmo_lab", "g"]) == ["gizmo-lab", "gizmo_lab", "g"]
    assert "gizmo_lab_plugin" not in sys.modules  # checking imports nothing
    assert registry.names() == ["g"]  # the registry loads installed entry points
    monkeypatch.delitem(sys.modules, "gizmo_lab_plugin")
    for name, words in (("no_such_plugin", "not installed here"),
                        ("venv.__main__", "not a plugin name"), ("../x", "not a plugin name")):
        with pytest.raises(PluginError, match=words):
            check_plugins([name])
