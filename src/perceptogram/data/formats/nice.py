"""The NICE / ATM / UBP re-preprocessed THINGS-EEG2 format (``nice``).

These projects re-preprocess the raw recordings (63 channels, 250 Hz, epochs
-0.2 to 1.0 s) and save, under the official file names
(``sub-XX/preprocessed_eeg_{training,test}.npy``, folder often
``Preprocessed_data_250Hz/``), a plain ``pickle.dump`` of the same dictionary
keys: no NPY header. The data are cropped to 0-1 s (250 samples) while
``times`` keeps all 300 samples from -0.2 s. The files are read with the
restricted unpickler; the mismatch is resolved by the documented crop (the
last ``n_times`` entries of ``times`` belong to the data), recorded as a note.
Images and metadata are those of the official release.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from perceptogram.data.formats import eeg_cache
from perceptogram.data.formats.base import note, register
from perceptogram.data.formats.things_eeg2_dataset import (
    ThingsEEG2Dataset,
    _first_split_file,
    file_format,
)
from perceptogram.data.formats.safe_pickle import safe_load_pickled_dict
from perceptogram.data.formats.things_eeg2 import CACHE_DIRNAME, check_eeg_content
from perceptogram.errors import DataFormatError

__all__ = ["NiceDataset", "read_nice_file", "crop_note"]


def crop_note(n_file_times: int, times: np.ndarray) -> str:
    """The sentence recorded when ``times`` was cropped to the data."""
    return (f"NICE format: 'times' holds {n_file_times} samples but the data "
            f"{len(times)}; the last {len(times)} are used ({times[0]:.3f} to "
            f"{times[-1]:.3f} s), the documented crop of these files")


def read_nice_file(path: str | Path) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, int]:
    """Safely read one NICE-format EEG file and crop its ``times`` to the data.

    Parameters
    ----------
    path : path-like
        A plain pickle (or NPY) file with ``preprocessed_eeg_data`` of shape
        (n_images, n_repetitions, n_channels, n_times), ``ch_names``, ``times``.

    Returns
    -------
    data : ndarray, shape (n_images, n_repetitions, n_channels, n_times)
    ch_names : tuple of str, length n_channels
    times : ndarray, shape (n_times,)
        The last ``n_times`` entries of the file's ``times``.
    n_file_times : int
        How many ``times`` the file holds.

    Raises
    ------
    UnsafePickleError, DataFormatError, ChannelMismatchError
        As :func:`perceptogram.data.formats.things_eeg2.read_eeg_file`; also when
        ``times`` is shorter than the data.
    """
    path = Path(path)
    content = safe_load_pickled_dict(path)
    data, times = content.get("preprocessed_eeg_data"), content.get("times")
    n_file_times = n_times = -1
    if isinstance(data, np.ndarray) and data.ndim == 4 and times is not None:
        times = np.asarray(times)
        n_file_times, n_times = (len(times) if times.ndim == 1 else -1), data.shape[3]
        if n_file_times > n_times:
            content = {**content, "times": times[-n_times:]}
    data, ch_names, times = check_eeg_content(content, path)
    return data, ch_names, times, n_file_times


@register("nice", summary="NICE/ATM/UBP re-preprocessed EEG: plain-pickle sub-XX/"
          "preprocessed_eeg_*.npy (63 channels, 250 Hz) with the official images")
class NiceDataset(ThingsEEG2Dataset):
    """THINGS-EEG2 re-preprocessed by NICE / ATM / UBP (63 channels, 250 Hz).

    Parameters
    ----------
    path : Path
        Folder of the ``sub-XX`` folders (``Preprocessed_data_250Hz``) or its parent.
    images_path : Path or None
        Folder of the official ``image_metadata.npy`` and images, when not found
        from ``path``.
    cache : bool or "read"
        Read through the memory-mapped float32 cache (built on first use; ``"read"``:
        use it when present, write nothing).

    Notes
    -----
    Select channels with the run's ``channels`` setting, e.g. the 17 posterior
    channels of the official release
    (:data:`perceptogram.data.formats.things_eeg2.THINGS_CHANNELS`) or all 63 (null).
    """

    kind = "nice"
    file_kinds = ("pickle",)
    label = "NICE-format EEG (plain pickle files)"

    def __init__(self, path: Path, images_path: Path | None = None,
                 cache: bool | str = True) -> None:
        super().__init__(path, images_path, cache)
        first = _first_split_file(self.layout)
        if file_format(first) == "npy":
            raise DataFormatError(
                f"{first} is an official THINGS-EEG2 file (NPY, 17 channels at 100 Hz), not "
                "the NICE format (plain pickles, 63 channels at 250 Hz): use the kind "
                "things-eeg2 (or auto)")

    def _read_split(self, subject: int, split: str
                    ) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
        path = self.layout.split_file(subject, split)
        cache_dir = self.root / CACHE_DIRNAME / path.parent.name
        hit = eeg_cache.load_cached(path, cache_dir) if self.cache else None
        if hit is not None:
            data, meta = hit
            ch_names, times = tuple(meta["ch_names"]), np.asarray(meta["times"], dtype=float)
            n_file_times = int(meta.get("n_file_times", len(times)))
        else:
            raw, ch_names, times, n_file_times = read_nice_file(path)
            data = None
            if self.cache is True:
                try:
                    data, _ = eeg_cache.store(path, cache_dir, raw, {
                        "ch_names": list(ch_names), "times": times.tolist(),
                        "n_file_times": n_file_times})
                except OSError:
                    data = None
            if data is None:
                data = raw.astype(np.float32)
                if not np.isfinite(data).all():
                    raise DataFormatError(f"{path} holds values beyond the float32 range")
        if n_file_times != len(times):
            note(self, crop_note(n_file_times, times))
        return data, ch_names, times
