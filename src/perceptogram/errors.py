"""Exceptions raised by Perceptogram.

Every error a user can cause by giving bad input derives from
:class:`PerceptogramError`, so that the command line can print it as one clear
sentence (the traceback stays behind ``--verbose``).
"""

from __future__ import annotations


class PerceptogramError(Exception):
    """Base class for errors caused by input, configuration or environment."""


class ConfigError(PerceptogramError, ValueError):
    """A configuration file or value is invalid; the message names the key path."""


class DataFormatError(PerceptogramError, ValueError):
    """A file or array does not have the expected layout, shape, dtype or values."""


class UnsafePickleError(DataFormatError):
    """A pickled file asked to run code that a data file has no reason to run."""


class ChannelMismatchError(DataFormatError):
    """Channel names or sample times disagree between two pieces of data."""


class DiskSpaceError(PerceptogramError, OSError):
    """A folder lacks the free space a file about to be written needs."""


class MissingDependencyError(PerceptogramError, ImportError):
    """An optional dependency is not installed; the message says what to install."""


class MissingWeightsError(PerceptogramError, FileNotFoundError):
    """Pretrained weights are not available locally; the message says how to get them."""


class OfflineError(PerceptogramError, ConnectionError):
    """A download was requested but the remote host cannot be reached."""


def require(module: str, extra: str | None = None, purpose: str = ""):
    """Import an optional dependency or raise :class:`MissingDependencyError`.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"diffusers"``.
    extra : str or None
        The ``perceptogram`` extra that installs it, e.g. ``"diffusion"``.
    purpose : str
        What the module is needed for, used in the error message.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised via monkeypatching
        hint = (
            f"pip install 'perceptogram[{extra}]'" if extra else f"pip install {module}"
        )
        why = f" for {purpose}" if purpose else ""
        raise MissingDependencyError(
            f"the optional dependency '{module}' is needed{why} but is not installed; "
            f"install it with: {hint}"
        ) from exc
