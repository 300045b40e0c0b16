"""The run's dataset, opened through the dataset registry from its configuration."""

from __future__ import annotations

from pathlib import Path

from perceptogram.config import Config

__all__ = ["open_run_dataset", "run_image_paths"]


def open_run_dataset(config: Config):
    """The run's :class:`~perceptogram.data.formats.base.Dataset`.

    A simulated dataset is written in the official layout and read as
    ``things-eeg2``; ``auto`` detects the format from the files.
    """
    from perceptogram.data.formats.base import open_dataset

    kind = "things-eeg2" if config.dataset.kind == "simulated" else config.dataset.kind
    return open_dataset(kind, config.data_root(), config.dataset.images_path,
                        **config.dataset.options)


def run_image_paths(config: Config, split: str) -> list[Path]:
    """Image paths of ``split`` (``"train"`` or ``"test"``) in EEG row order."""
    return open_run_dataset(config).images().image_paths(split)
