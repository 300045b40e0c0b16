"""Perceptogram: linear, interpretable decoding of seen images from EEG."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("perceptogram")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
