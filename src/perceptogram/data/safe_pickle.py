"""Read ``.npy`` files that hold a pickled object without running pickle code.

``np.save`` stores a Python dictionary as an NPY header declaring a 0-d array of
dtype ``object``, followed by a pickle of that array. ``np.load(...,
allow_pickle=True)`` then unpickles it, and a pickle can call any importable
function while it loads (``os.system`` included). Here the header is parsed with
:mod:`numpy.lib.format` and the pickle is read by an unpickler that resolves only
the handful of globals such files legitimately reference: NumPy's array, dtype
and scalar reconstructors and a few builtin container types, which build data
and call nothing else. Any other global
raises :class:`~perceptogram.errors.UnsafePickleError` *before* it is called,
so nothing from the file runs.
"""

from __future__ import annotations

import builtins
import collections
import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from perceptogram.errors import DataFormatError, UnsafePickleError

_NPY_MAGIC = b"\x93NUMPY"

_BUILTIN_TYPES = ("set", "frozenset", "bytearray", "complex")

# Exceptions the C unpickler raises on truncated or scrambled input.
_CORRUPT_PICKLE_ERRORS = (
    pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
    AttributeError, OverflowError,
)


@lru_cache(maxsize=1)
def allowed_globals() -> dict[tuple[str, str], Any]:
    """The globals a pickled NumPy dictionary may reference, by ``(module, name)``.

    Both the NumPy 1 (``numpy.core``) and NumPy 2 (``numpy._core``) spellings map
    to the objects of the installed NumPy, so files written by either load
    without importing deprecated modules.

    Returns
    -------
    table : dict
        ``{(module, name): object}``; anything absent is refused.
    """
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # NumPy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]

    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("collections", "OrderedDict"): collections.OrderedDict,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(module, "_reconstruct")] = multiarray._reconstruct
        table[(module, "scalar")] = multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        table[(module, "_frombuffer")] = numeric._frombuffer  # pickle protocol 5
    for name in _BUILTIN_TYPES:
        table[("builtins", name)] = getattr(builtins, name)
    return table


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals listed in :func:`allowed_globals`.

    Parameters
    ----------
    file : binary file object
        Positioned at the start of the pickle stream.
    """

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file, encoding="latin1")

    def find_class(self, module: str, name: str) -> Any:
        try:
            return allowed_globals()[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"the pickle asks for the forbidden global '{module}.{name}', which a "
                "data file has no reason to use; it was not loaded and nothing in it ran"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(
            "the pickle refers to a persistent object, which a data file has no reason "
            "to use; it was not loaded"
        )


def _read_header(fh: BinaryIO, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    start = fh.read(len(_NPY_MAGIC))
    if len(start) < len(_NPY_MAGIC):
        raise DataFormatError(f"{path} is truncated or corrupt: it is only {len(start)} bytes")
    if start != _NPY_MAGIC:
        raise DataFormatError(f"{path} is not a NumPy .npy file (it does not start with "
                              f"the NPY magic string)")
    fh.seek(0)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except ValueError as exc:
        raise DataFormatError(f"{path} is truncated or corrupt: its NPY header cannot be "
                              f"read ({exc})") from exc
    return shape, dtype


def load_pickled_npy(path: str | os.PathLike) -> np.ndarray:
    """Read an object-dtype ``.npy`` file with the restricted unpickler.

    Parameters
    ----------
    path : path-like
        A file written by ``np.save`` from a Python object (e.g. a dict).

    Returns
    -------
    array : ndarray of dtype object
        The stored array, with the shape its header declares.

    Raises
    ------
    UnsafePickleError
        The pickle references a global outside :func:`allowed_globals`.
    DataFormatError
        The file is not an NPY file, holds a plain numeric array, or is truncated
        or corrupt.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        shape, dtype = _read_header(fh, path)
        if not dtype.hasobject:
            raise DataFormatError(
                f"{path} holds a plain {dtype} array of shape {shape}, not a pickled "
                "dictionary"
            )
        try:
            array = RestrictedUnpickler(fh).load()
        except UnsafePickleError as exc:
            raise UnsafePickleError(f"{path}: {exc}") from None
        except _CORRUPT_PICKLE_ERRORS as exc:
            raise DataFormatError(
                f"{path} is truncated or corrupt: its pickled content cannot be read "
                f"({type(exc).__name__}: {exc})"
            ) from exc
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        raise DataFormatError(
            f"{path} is corrupt: its header declares an object array of shape {shape} "
            f"but the pickle holds {type(array).__name__}"
        )
    return array


def safe_load_pickled_dict(path: str | os.PathLike) -> dict:
    """Load a dictionary saved with ``np.save(path, a_dict)`` or ``pickle.dump`` safely.

    Equivalent to ``np.load(path, allow_pickle=True).item()`` for legitimate
    files, but only NumPy arrays, dtypes, scalars, lists, tuples, strings,
    numbers and dictionaries can be rebuilt.

    Parameters
    ----------
    path : path-like
        The ``.npy`` file.

    Returns
    -------
    content : dict

    Raises
    ------
    UnsafePickleError
        The file asks to import or call anything else.
    DataFormatError
        The file is truncated, corrupt, or does not hold a dictionary.
    """
    with open(path, "rb") as fh:
        if fh.read(1) == b"\x80":  # a plain pickle.dump stream (NICE/ATM files)
            fh.seek(0)
            return _load_plain_pickle(fh, Path(path))
    array = load_pickled_npy(path)
    content = array.item() if array.shape == () else None
    if not isinstance(content, dict):
        what = type(content).__name__ if array.shape == () else f"an array of shape {array.shape}"
        raise DataFormatError(f"{path} does not hold a dictionary (found {what})")
    return content


def _load_plain_pickle(fh: BinaryIO, path: Path) -> dict:
    try:
        content = RestrictedUnpickler(fh).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except _CORRUPT_PICKLE_ERRORS as exc:
        raise DataFormatError(f"{path} is truncated or corrupt: its pickled content cannot "
                              f"be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(content, dict):
        raise DataFormatError(f"{path} does not hold a dictionary "
                              f"(found {type(content).__name__})")
    return content
