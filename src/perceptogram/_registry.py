"""One registry implementation for every extension point.

Datasets, latent spaces, generators, feature networks and evaluation protocols are
each a :class:`Registry`: a name -> factory table filled by a ``register`` decorator
in the module that implements the entry, plus

- the package's built-in modules, imported on first use (so registering costs
  nothing at import time and heavy dependencies stay lazy inside the factories);
- plugins declared as entry points (``[project.entry-points."perceptogram.<group>"]``)
  of **installed distributions**, loaded on first use in every process, so that a
  plugin also exists in worker processes (joblib, Dask).

Code is never imported because a file says so: a run's configuration may name the
installed plugins it needs (``plugins: [my-lab-spaces]``, checked by
:func:`check_plugins` against the installed distributions' metadata, importing
nothing), but never a module. An entry point is loaded only from a distribution
installed outside the working directory (a ``*.dist-info`` folder dropped into the
folder Perceptogram runs in is not an installed plugin), never from a ``__main__``
module, and with the working directory taken off ``sys.path`` while it loads (so a
received folder cannot shadow an installed plugin's module).

Each entry may say whether it is usable on this machine (weights present, extra
installed) through an ``availability`` callable; ``perceptogram list`` prints it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from perceptogram.errors import PerceptogramError

__all__ = ["Registry", "RegistryEntry", "UnknownNameError", "PLUGIN_GROUP_PREFIX",
           "PluginError", "check_plugins", "installed_plugins", "plugin_entry_points",
           "unknown_name"]

#: Entry-point groups of Perceptogram's registries start with this.
PLUGIN_GROUP_PREFIX = "perceptogram."
#: What a plugin name in a configuration may look like (a distribution or entry-point name).
PLUGIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

T = TypeVar("T")


class PluginError(PerceptogramError):
    """A plugin is not installed, or an installed one cannot be loaded."""


class UnknownNameError(PerceptogramError, KeyError):
    """A name does not match any registered entry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def unknown_name(kind: str, names: str | Iterable[str], known: Iterable[str]
                 ) -> UnknownNameError:
    """The one "unknown X; available: ..." error.

    Parameters
    ----------
    kind : str
        What the name should have named (``"latent space"``).
    names : str or iterable of str
        The unknown name, or several unknown names found together.
    known : iterable of str
        The accepted names, in the order to list them.

    Returns
    -------
    UnknownNameError
        ``unknown <kind> 'name'; available: a, b`` (``unknown <kind>s 'x', 'y'; ...``
        for several names; ``available: none`` when nothing is registered).
    """
    names = [names] if isinstance(names, str) else list(names)
    quoted = ", ".join(repr(name) for name in names)
    plural = "s" if len(names) > 1 else ""
    return UnknownNameError(
        f"unknown {kind}{plural} {quoted}; available: {', '.join(known) or 'none'}")


@dataclass(frozen=True)
class RegistryEntry(Generic[T]):
    """One registered entry.

    Parameters
    ----------
    name : str
        The name used in configurations and on the command line.
    factory : callable
        Builds (or is) the registered object.
    summary : str
        One line for ``perceptogram list``.
    availability : callable or None
        ``availability() -> str | None``: None when usable here, otherwise one sentence
        saying what is missing (an extra, weights) and how to get it.
    """

    name: str
    factory: T
    summary: str = ""
    availability: Callable[[], str | None] | None = None

    def missing(self) -> str | None:
        """None when the entry is usable on this machine, else what is missing."""
        if self.availability is None:
            return None
        try:
            return self.availability()
        except Exception as exc:  # a broken probe must not break `perceptogram list`
            return f"availability check failed: {exc}"


class Registry(Generic[T]):
    """A name -> factory table for one kind of extension.

    Parameters
    ----------
    kind : str
        What an entry is, for messages (``"latent space"``).
    group : str
        Entry-point group of plugins (``"perceptogram.latent_spaces"``).
    builtin_modules : iterable of str
        Modules of the package that register the built-in entries when imported.
    """

    def __init__(self, kind: str, group: str, builtin_modules: Iterable[str] = ()) -> None:
        self.kind = kind
        self.group = group
        self._builtin_modules = tuple(builtin_modules)
        self._entries: dict[str, RegistryEntry[T]] = {}
        self._loaded = False

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} registered)"

    def register(self, name: str, *, summary: str = "",
                 availability: Callable[[], str | None] | None = None,
                 overwrite: bool = False) -> Callable[[T], T]:
        """Decorator registering a factory (class or function) under ``name``."""

        def decorator(factory: T) -> T:
            self.add(name, factory, summary=summary, availability=availability,
                     overwrite=overwrite)
            return factory

        return decorator

    def add(self, name: str, factory: T, *, summary: str = "",
            availability: Callable[[], str | None] | None = None,
            overwrite: bool = False) -> None:
        """Register ``factory`` under ``name`` (what :meth:`register` does)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string")
        old = self._entries.get(name)
        if old is not None and old.factory is not factory and not overwrite:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        if not summary:
            doc = (getattr(factory, "__doc__", None) or "").strip()
            summary = doc.splitlines()[0] if doc else ""
        self._entries[name] = RegistryEntry(name, factory, summary, availability)

    def remove(self, name: str) -> None:
        """Unregister ``name`` (no error if absent)."""
        self._entries.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtin_modules:
            importlib.import_module(module)
        for point in plugin_entry_points(self.group):
            try:
                with _without_working_directory():
                    point.load()
            except Exception as exc:
                raise PluginError(
                    f"the {self.kind} plugin {point.name!r} ({point.value}) failed to load: {exc}"
                ) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def entry(self, name: str) -> RegistryEntry[T]:
        """The entry registered as ``name``.

        Raises
        ------
        UnknownNameError
            Listing the registered names.
        """
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise unknown_name(self.kind, str(name) if not isinstance(name, str) else name,
                               sorted(self._entries)) from None

    def get(self, name: str) -> T:
        """The factory registered as ``name`` (see :meth:`entry`)."""
        return self.entry(name).factory

    def build(self, name: str, **kwargs: Any) -> Any:
        """Call the factory registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def entries(self) -> list[RegistryEntry[T]]:
        """All entries, sorted by name."""
        self._load()
        return [self._entries[name] for name in sorted(self._entries)]


def _working_directory() -> str:
    try:
        return os.path.realpath(os.getcwd())
    except OSError:  # the working directory was removed
        return ""


def _is_working_directory(entry: str) -> bool:
    cwd = _working_directory()
    return bool(cwd) and os.path.realpath(entry or os.curdir) == cwd


@contextlib.contextmanager
def _without_working_directory() -> Iterator[None]:
    """Take the working directory (``''``, ``.``, its path) off ``sys.path`` for the block."""
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if not _is_working_directory(p)]
    try:
        yield
    finally:
        added = [p for p in sys.path if p not in saved]
        sys.path[:] = saved + added


def _is_main_module(module: str) -> bool:
    return "__main__" in module.split(".")


def _installed(point: EntryPoint) -> bool:
    """Whether ``point`` comes from a distribution installed outside the working directory."""
    dist = getattr(point, "dist", None)
    if dist is None:
        return False
    try:
        location = os.fspath(dist.locate_file(""))
    except (TypeError, NotImplementedError):
        return False
    return not _is_working_directory(location)


def plugin_entry_points(group: str) -> list[EntryPoint]:
    """Entry points of ``group`` that may be loaded: installed, and not ``__main__`` modules.

    Raises
    ------
    PluginError
        An installed entry point names a ``__main__`` module (running one is what
        ``python -m`` does: never a plugin's job).
    """
    points = []
    for point in entry_points(group=group):
        if not _installed(point):
            continue
        if _is_main_module(point.module):
            raise PluginError(f"the plugin {point.name!r} of {group} names the module "
                              f"{point.module!r}; a __main__ module is never loaded as a plugin")
        points.append(point)
    return points


def installed_plugins() -> dict[str, set[str]]:
    """Installed plugins: distribution name -> the names it answers to.

    A plugin is a distribution installed outside the working directory that
    declares entry points in a ``perceptogram.*`` group. It answers to its
    distribution name (as written and normalised, ``My_Lab`` -> ``my-lab``), the
    names of its entry points and the modules they load. Only metadata is read:
    nothing is imported.
    """
    found: dict[str, set[str]] = {}
    points = entry_points()
    for group in points.groups:
        if not group.startswith(PLUGIN_GROUP_PREFIX):
            continue
        for point in points.select(group=group):
            if not _installed(point):
                continue
            dist = point.dist.name if point.dist is not None else point.name
            names = found.setdefault(dist, {dist, _normalise(dist)})
            names.update({point.name, point.module})
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_plugins(names: Iterable[str]) -> list[str]:
    """Check that the plugins a configuration names are installed; import nothing.

    Parameters
    ----------
    names : iterable of str
        Distribution names, entry-point names or entry-point modules of installed
        plugins (see :func:`installed_plugins`).

    Returns
    -------
    names : list of str

    Raises
    ------
    PluginError
        A name is malformed, names a ``__main__`` module, or is not an installed
        plugin (one sentence listing the installed ones).
    """
    names = list(names)
    for name in names:
        if not isinstance(name, str) or not PLUGIN_NAME.fullmatch(name) or _is_main_module(name):
            raise PluginError(f"{name!r} is not a plugin name (the name of an installed "
                              "package that declares perceptogram.* entry points)")
    if not names:
        return names
    installed = installed_plugins()
    known = {alias for aliases in installed.values() for alias in aliases}
    known |= {_normalise(alias) for alias in known}
    for name in names:
        if name not in known and _normalise(name) not in known:
            available = ", ".join(sorted(installed)) or "none"
            raise PluginError(
                f"the plugin {name!r} is not installed here (installed plugins: {available}); "
                "a configuration names installed plugins, never a module to import: install "
                "the package that declares it (pip install ...) in this environment and on "
                "every worker")
    return names
