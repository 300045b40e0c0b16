"""The run's dataset, opened through the dataset registry from its configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perceptogram.config import Config
from perceptogram.data.formats.base import open_dataset
from perceptogram.errors import DataFormatError

__all__ = ["open_run_dataset", "run_image_paths", "subject_rows", "pool_by_image"]


def open_run_dataset(config: Config):
    """The run's :class:`~perceptogram.data.formats.base.Dataset`.

    A simulated dataset is written in the official layout and read as
    ``things-eeg2``; ``auto`` detects the format from the files.
    """
    kind = "things-eeg2" if config.dataset.kind == "simulated" else config.dataset.kind
    dataset = open_dataset(kind, config.data_root(), config.dataset.images_path,
                           **config.dataset.options)
    if config.dataset.kind == "simulated":
        dataset.unit = "simulated"  # the simulator writes the official layout
    return dataset


def run_image_paths(config: Config, split: str) -> list[Path]:
    """Image paths of ``split`` (``"train"`` or ``"test"``) in EEG row order."""
    return open_run_dataset(config).images().image_paths(split)


def subject_rows(values, features):
    """The rows of a per-picture-table array that one subject's features hold.

    Latents (``features/<space>/{train,test}.npy``) and image paths are computed
    once per picture table; a subject whose recording lost every epoch of some
    pictures has features for a subset only, in
    ``features.image_index`` order. Every stage that pairs a subject's EEG with
    latents or images goes through this function.

    Parameters
    ----------
    values : ndarray, shape (n_table_pictures, ...) or sequence
        One entry per picture of the split's table.
    features : EEGFeatures or EEGEpochs
        The subject's rows of that split.

    Returns
    -------
    ndarray or list
        ``values[features.image_index]``, one entry per feature row.

    Raises
    ------
    DataFormatError
        The features name a picture the table does not have (the latents are
        from another dataset).
    """
    index = features.image_index
    if len(index) and int(index.max()) >= len(values):
        raise DataFormatError(
            f"the EEG features name picture {int(index.max())} of a table of {len(values)}: "
            "features and latents come from different datasets; recompute with --force "
            "features")
    if isinstance(values, np.ndarray):
        return values[index]
    return [values[i] for i in index]


def pool_by_image(decoded: np.ndarray, true: np.ndarray, images) -> tuple[np.ndarray, np.ndarray]:
    """Latents per image: the rows that show one image averaged (decoded) or taken once (true).

    Several rows (pictures) may show one image, e.g. groups of its epochs written by
    ``perceptogram data import --epochs-per-row``; their true latents are identical,
    so retrieval and identification among rows would rank ties. Latent metrics
    compare images instead: the decoded latents of an image's rows are averaged, as
    its epochs are.

    Parameters
    ----------
    decoded, true : ndarray, shape (n_rows, n_latent)
    images : sequence, length n_rows
        The image (path) of each row.

    Returns
    -------
    decoded, true : ndarray, shape (n_images, n_latent)
        The inputs themselves when every row shows its own image; otherwise one row
        per distinct image, in order of first appearance.
    """
    keys = [str(image) for image in images]
    first: dict[str, int] = {}
    for row, key in enumerate(keys):
        first.setdefault(key, row)
    if len(first) == len(keys):
        return decoded, true
    position = {key: i for i, key in enumerate(first)}
    index = np.array([position[key] for key in keys])
    pooled = np.zeros((len(first), decoded.shape[1]), dtype=np.float64)
    np.add.at(pooled, index, decoded)
    counts = np.bincount(index, minlength=len(first))
    return (pooled / counts[:, None]).astype(decoded.dtype), true[list(first.values())]
