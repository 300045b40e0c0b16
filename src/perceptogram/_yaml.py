"""The strict YAML reader of configuration files (no aliases, duplicate keys or deep nesting)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from perceptogram._inputs import InputFileError, open_input
from perceptogram.errors import ConfigError

__all__ = ["read_strict_yaml"]


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader without anchors/aliases, duplicate keys or deep nesting.

    Aliases let a few hundred bytes expand into gigabytes (the "billion laughs");
    a configuration has no use for them. A duplicate key would silently keep the
    last value. Nesting is capped so that a crafted file cannot exhaust the stack.
    """

    max_depth = 32

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ConfigError(
                f"YAML anchors and aliases ('&', '*') are not allowed in a configuration "
                f"(line {event.start_mark.line + 1}); write the values out"
            )
        depth = getattr(self, "_depth", 0)
        if depth >= self.max_depth:
            raise ConfigError(
                f"the configuration is nested more than {self.max_depth} levels deep "
                f"(line {event.start_mark.line + 1})"
            )
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable: the base class reports it
                continue
            if duplicate:
                raise ConfigError(
                    f"the key {key!r} appears twice in one mapping "
                    f"(line {key_node.start_mark.line + 1}); keep one"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_strict_yaml(path: Path, *, max_bytes: int, max_depth: int) -> Any:
    """Parse a configuration file without anchors/aliases, duplicate keys or deep nesting.

    Parameters
    ----------
    path : Path
        A regular file of at most ``max_bytes`` bytes of UTF-8 text.
    max_bytes, max_depth : int

    Raises
    ------
    ConfigError
        One sentence naming the file and, where known, the line.
    """
    if path.stat().st_size > max_bytes:
        raise ConfigError(
            f"{path} is {path.stat().st_size:,} bytes; a configuration file is at most "
            f"{max_bytes:,} bytes"
        )
    try:
        with open_input(path, "the configuration file") as fh:  # not /proc, a FIFO, a device
            raw = fh.read(max_bytes + 1)
    except InputFileError as exc:
        raise ConfigError(str(exc)) from None
    if len(raw) > max_bytes:
        raise ConfigError(f"{path} is larger than {max_bytes:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    loader = None
    try:
        loader = _StrictLoader(text)  # the reader already refuses control characters
        loader.max_depth = max_depth
        return loader.get_single_data()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path} is not valid YAML: {problem}{where}") from None
    finally:
        if loader is not None:
            loader.dispose()
