"""One registry implementation for every extension point.

Datasets, latent spaces, generators, feature networks and evaluation protocols are
each a :class:`Registry`: a name -> factory table filled by a ``register`` decorator
in the module that implements the entry, plus

- the package's built-in modules, imported on first use (so registering costs
  nothing at import time and heavy dependencies stay lazy inside the factories);
- plugins declared as entry points (``[project.entry-points."perceptogram.<group>"]``),
  loaded on first use in every process, so that a plugin registered in user code also
  exists in worker processes (joblib, Dask);
- modules named in a run's configuration (``plugins: [my_lab.spaces]``), imported
  with :func:`import_plugins` in the parent and in every worker.

Each entry may say whether it is usable on this machine (weights present, extra
installed) through an ``availability`` callable; ``perceptogram list`` prints it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from perceptogram.errors import PerceptogramError

__all__ = ["Registry", "RegistryEntry", "UnknownNameError", "import_plugins", "unknown_name"]

T = TypeVar("T")


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
        for point in entry_points(group=self.group):
            try:
                point.load()
            except Exception as exc:
                raise PerceptogramError(
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


def import_plugins(modules: Iterable[str]) -> None:
    """Import user modules that register entries (``plugins`` in a run's configuration).

    Raises
    ------
    PerceptogramError
        If a module cannot be imported (one sentence naming it).
    """
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise PerceptogramError(f"plugin module {module!r} could not be imported: {exc}") \
                from None
