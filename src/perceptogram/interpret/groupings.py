"""Groupings of images by attribute, derived from the images and their latents.

A :class:`Grouping` assigns each image to one of a few named groups (or to none),
so that maps can be averaged per group and groups contrasted. Every grouping here
is computed from data — embeddings, attribute values, a user's CSV — never from
hard-coded index ranges, so the same call gives the same groups on another
dataset.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perceptogram._inputs import excerpt, read_input_text
from perceptogram.errors import DataFormatError
from perceptogram.interpret.labels import MAX_TABLE_BYTES, match_table_keys, mismatch_examples

UNASSIGNED = -1


@dataclass(frozen=True)
class Grouping:
    """Assignment of images to named groups.

    Parameters
    ----------
    name : str
        What the grouping is about (``"semantic"``, ``"hue"``, ...).
    labels : ndarray of int, shape (n_images,)
        Group index of each image, in ``range(len(group_names))``, or ``-1``
        for an image that belongs to no group (e.g. the middle of a top/bottom-k
        split).
    group_names : tuple of str, length n_groups
        Name of each group.
    """

    name: str
    labels: np.ndarray
    group_names: tuple[str, ...]

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataFormatError(
                f"Grouping '{self.name}': labels must be a 1-D integer array, got "
                f"dtype {labels.dtype} and shape {labels.shape}"
            )
        names = tuple(str(n) for n in self.group_names)
        if len(set(names)) != len(names):
            raise DataFormatError(f"Grouping '{self.name}': duplicate group names {names}")
        bad = (labels < UNASSIGNED) | (labels >= len(names))
        if bad.any():
            raise DataFormatError(
                f"Grouping '{self.name}': labels must lie in -1..{len(names) - 1}, "
                f"got {sorted(set(labels[bad].tolist()))}"
            )
        object.__setattr__(self, "labels", labels.astype(np.int64))
        object.__setattr__(self, "group_names", names)

    @property
    def n_images(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    def index(self, group: str | int) -> int:
        """Return the integer index of ``group`` (a name or an index)."""
        if isinstance(group, (int, np.integer)):
            if not 0 <= group < self.n_groups:
                raise KeyError(f"Grouping '{self.name}' has no group {group}")
            return int(group)
        try:
            return self.group_names.index(group)
        except ValueError:
            raise KeyError(
                f"Grouping '{self.name}' has no group '{group}'; "
                f"groups are {list(self.group_names)}"
            ) from None

    def mask(self, group: str | int) -> np.ndarray:
        """Boolean mask, shape (n_images,), of the images in ``group``."""
        return self.labels == self.index(group)

    def counts(self) -> dict[str, int]:
        """Number of images in each group."""
        return {g: int(np.sum(self.labels == i)) for i, g in enumerate(self.group_names)}


def split_grouping(
    values: np.ndarray,
    name: str,
    *,
    k: int | None = None,
    quantile: float | None = None,
    low_name: str = "low",
    high_name: str = "high",
) -> Grouping:
    """Split images into a low and a high group by a scalar attribute.

    Exactly one of ``k`` and ``quantile`` is given: the ``k`` lowest and ``k``
    highest images, or the images below the ``quantile`` and above the
    ``1 - quantile`` quantile (``quantile=0.5`` splits at the median; values
    tied with the median join the smaller side, so a binary attribute splits
    into its two values). Ties of a ``k`` split are broken by image order, so
    the result is reproducible.

    Parameters
    ----------
    values : ndarray, shape (n_images,)
        Attribute value per image (e.g. luminance).
    name : str
        Name of the grouping.
    k : int or None
        Size of each extreme group.
    quantile : float or None
        Fraction in ``(0, 0.5]`` of images in each extreme group.
    low_name, high_name : str
        Names of the low and high groups.

    Returns
    -------
    Grouping
        Groups ``(low_name, high_name)``; images in between get label ``-1``.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise DataFormatError(f"split_grouping: values must be 1-D, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise DataFormatError(f"split_grouping: values for '{name}' contain NaN or inf")
    if (k is None) == (quantile is None):
        raise ValueError("split_grouping: give exactly one of k and quantile")
    n = values.shape[0]
    labels = np.full(n, UNASSIGNED, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    if k is not None:
        if not 1 <= k <= n // 2:
            raise ValueError(f"split_grouping: k must be in 1..{n // 2} for {n} images, got {k}")
        labels[order[:k]] = 0
        labels[order[n - k:]] = 1
    else:
        if not 0.0 < quantile <= 0.5:
            raise ValueError(f"split_grouping: quantile must be in (0, 0.5], got {quantile}")
        lo, hi = np.quantile(values, [quantile, 1.0 - quantile])
        labels[values <= lo] = 0
        labels[values >= hi] = 1
        if quantile == 0.5:  # values tied with the median join the smaller side
            below, above = values < lo, values > lo
            labels[below], labels[above] = 0, 1
            labels[values == lo] = 0 if below.sum() <= above.sum() else 1
    return Grouping(name, labels, (low_name, high_name))


def categorical_grouping(
    values: Sequence | np.ndarray,
    name: str,
    *,
    order: Sequence[str] | None = None,
) -> Grouping:
    """One group per distinct value of a categorical attribute.

    Parameters
    ----------
    values : sequence or ndarray, shape (n_images,)
        Category of each image (e.g. ``"animate"`` / ``"food"``, or a
        red/blue/other hue view).
    name : str
        Name of the grouping.
    order : sequence of str or None
        Group names in the wanted order; images whose value is not listed get
        label ``-1`` (e.g. ``order=("red", "blue")`` drops ``"other"``).
        Default: the sorted distinct values.

    Returns
    -------
    Grouping
    """
    values = np.asarray([str(v) for v in values])
    if values.ndim != 1:
        raise DataFormatError(f"categorical_grouping: values must be 1-D, got {values.shape}")
    names = tuple(sorted(set(values.tolist()))) if order is None else tuple(order)
    labels = np.full(values.shape[0], UNASSIGNED, dtype=np.int64)
    for i, group in enumerate(names):
        labels[values == group] = i
    return Grouping(name, labels, names)


def hue_grouping(
    hue_deg: np.ndarray,
    *,
    red_deg: float = 0.0,
    blue_deg: float = 240.0,
    tolerance_deg: float = 60.0,
    name: str = "hue",
) -> Grouping:
    """Red vs blue images by their hue angle.

    An image is "red" when its hue lies within ``tolerance_deg`` of
    ``red_deg`` on the colour circle, "blue" when within ``tolerance_deg`` of
    ``blue_deg``, and unassigned otherwise.

    Parameters
    ----------
    hue_deg : ndarray, shape (n_images,)
        Hue angle of each image in degrees (HSV convention: red 0, green 120,
        blue 240).
    red_deg, blue_deg, tolerance_deg : float
        Centres of the two groups and their half-width, in degrees.
    name : str
        Name of the grouping.

    Returns
    -------
    Grouping
        Groups ``("red", "blue")``.
    """
    hue = np.asarray(hue_deg, dtype=float)
    if hue.ndim != 1 or not np.all(np.isfinite(hue)):
        raise DataFormatError("hue_grouping: hue_deg must be a finite 1-D array")
    if 2 * tolerance_deg > _circular_distance(red_deg, blue_deg):
        raise ValueError(
            f"hue_grouping: tolerance {tolerance_deg} deg makes the red and blue "
            "windows overlap"
        )
    labels = np.full(hue.shape[0], UNASSIGNED, dtype=np.int64)
    labels[_circular_distance(hue, red_deg) <= tolerance_deg] = 0
    labels[_circular_distance(hue, blue_deg) <= tolerance_deg] = 1
    return Grouping(name, labels, ("red", "blue"))


def _circular_distance(a, b):
    d = np.abs(np.asarray(a, dtype=float) - b) % 360.0
    return np.minimum(d, 360.0 - d)


def semantic_grouping(
    embeddings: np.ndarray,
    n_clusters: int,
    *,
    concepts: Sequence[str] | None = None,
    method: str = "ward",
    metric: str = "euclidean",
    normalize: bool = True,
    name: str = "semantic",
) -> Grouping:
    """Hierarchical clustering of image embeddings into named semantic groups.

    Parameters
    ----------
    embeddings : ndarray, shape (n_images, n_features)
        Image embeddings (CLIP, the offline ``effnet`` space, ...).
    n_clusters : int
        Number of clusters (the dendrogram is cut to give at most this many).
    concepts : sequence of str or None, length n_images
        Concept name of each image (e.g. ``"00017_red_apple"``). When given,
        each cluster is named after the concept-name token that is most
        frequent among its members relative to the other clusters; otherwise
        clusters are named ``"cluster 1"``, ``"cluster 2"``, ...
    method : str
        Linkage method of :func:`scipy.cluster.hierarchy.linkage`.
    metric : str
        Distance metric (must be ``"euclidean"`` for ``"ward"``).
    normalize : bool
        Scale each embedding to unit norm first (cosine geometry).
    name : str
        Name of the grouping.

    Returns
    -------
    Grouping
        Clusters ordered by decreasing size (ties: first member's image order).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    Z = np.asarray(embeddings, dtype=np.float64)
    if Z.ndim != 2 or Z.shape[0] < 2:
        raise DataFormatError(
            f"semantic_grouping: embeddings must have shape (n_images >= 2, n_features), "
            f"got {Z.shape}"
        )
    if not np.all(np.isfinite(Z)):
        raise DataFormatError("semantic_grouping: embeddings contain NaN or inf")
    if not 1 <= n_clusters <= Z.shape[0]:
        raise ValueError(
            f"semantic_grouping: n_clusters must be in 1..{Z.shape[0]}, got {n_clusters}"
        )
    if concepts is not None and len(concepts) != Z.shape[0]:
        raise DataFormatError(
            f"semantic_grouping: {len(concepts)} concepts for {Z.shape[0]} embeddings"
        )
    if normalize:
        Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    raw = fcluster(linkage(Z, method=method, metric=metric), t=n_clusters,
                   criterion="maxclust")
    ids = sorted(set(raw.tolist()),
                 key=lambda c: (-np.sum(raw == c), int(np.argmax(raw == c))))
    labels = np.empty(Z.shape[0], dtype=np.int64)
    for new, old in enumerate(ids):
        labels[raw == old] = new
    if concepts is None:
        names = tuple(f"cluster {i + 1}" for i in range(len(ids)))
    else:
        names = name_clusters(labels, concepts)
    return Grouping(name, labels, names)


def concept_tokens(concept: str) -> list[str]:
    """Words of a concept name: ``"00017_red_apple"`` gives ``["red", "apple"]``."""
    return [t for t in re.split(r"[_\s\-]+", concept.lower()) if t and not t.isdigit()]


def name_clusters(labels: np.ndarray, concepts: Sequence[str]) -> tuple[str, ...]:
    """Name each cluster after its most distinctive concept-name token.

    The score of a token for a cluster is the fraction of the cluster's
    distinct concepts that contain it minus the fraction of the other
    clusters' concepts that contain it. Names that would repeat get the
    cluster number appended.

    Parameters
    ----------
    labels : ndarray of int, shape (n_images,)
        Cluster index of each image, ``0..n_clusters - 1``.
    concepts : sequence of str, length n_images
        Concept name of each image.

    Returns
    -------
    tuple of str, length n_clusters
    """
    labels = np.asarray(labels)
    n_clusters = int(labels.max()) + 1
    members = [sorted({concepts[i] for i in np.flatnonzero(labels == c)})
               for c in range(n_clusters)]
    counts = [Counter(t for c in m for t in set(concept_tokens(c))) for m in members]
    total = sum(counts, Counter())
    n_all = sum(len(m) for m in members)
    names = []
    for c in range(n_clusters):
        n_in, n_out = len(members[c]), n_all - len(members[c])

        def score(tok, c=c, n_in=n_in, n_out=n_out):
            inside = counts[c][tok] / max(n_in, 1)
            outside = (total[tok] - counts[c][tok]) / max(n_out, 1)
            return (inside - outside, inside, tok)

        best = max(counts[c], key=score) if counts[c] else f"cluster {c + 1}"
        names.append(best)
    duplicated = {n for n in names if names.count(n) > 1}
    return tuple(f"{n} {c + 1}" if n in duplicated else n for c, n in enumerate(names))


def grouping_from_csv(
    path: str | os.PathLike,
    image_files: Sequence[str | os.PathLike],
    *,
    name: str | None = None,
    image_column: str = "image",
    label_column: str = "label",
    concepts: Sequence[str] | None = None,
) -> Grouping:
    """Read user-defined groups from a CSV of image → label.

    Parameters
    ----------
    path : path-like
        CSV with a header containing ``image_column`` and ``label_column``.
        An image is named by its path relative to the image folder, its file
        name, or its concept (see
        :func:`perceptogram.interpret.labels.match_table_keys`). Images of the
        dataset that the CSV does not list get label ``-1``.
    image_files : sequence of str or path-like, length n_images
        Image paths or file names of the dataset, in row order (e.g.
        ``EEGFeatures.image_files``).
    name : str or None
        Name of the grouping; defaults to the CSV's file stem.
    image_column, label_column : str
        Column names.
    concepts : sequence of str, length n_images, optional
        Concept of each image, for tables keyed by concept.

    Returns
    -------
    Grouping
        Groups named by the labels in order of first appearance in the CSV.
    """
    from pathlib import Path

    path = Path(path)
    text = read_input_text(path, max_bytes=MAX_TABLE_BYTES, what="the grouping table")
    reader = csv.DictReader(text.splitlines())
    try:
        missing = {image_column, label_column} - set(reader.fieldnames or ())
        if missing:
            raise DataFormatError(f"{path}: missing column(s) {sorted(missing)}; found "
                                  f"{excerpt(reader.fieldnames, 200)}")
        rows = [((r[image_column] or "").strip(), (r[label_column] or "").strip())
                for r in reader]
    except csv.Error as exc:
        raise DataFormatError(f"{path}, line {reader.line_num}: not a readable table row "
                              f"({excerpt(exc, 120)})") from None
    concepts = [""] * len(image_files) if concepts is None else list(concepts)
    keys = [key for key, _ in rows]
    found = match_table_keys(keys, image_files, concepts)
    used = set(found[found >= 0].tolist())
    unknown = [k for k in range(len(rows)) if k not in used]
    if unknown:
        raise DataFormatError(
            f"{path}: {len(unknown)} image(s) not in the dataset; "
            + mismatch_examples([keys[k] for k in unknown], image_files, concepts)
        )
    group_names = list(dict.fromkeys(label for _, label in rows))
    labels = np.array([group_names.index(rows[k][1]) if k >= 0 else UNASSIGNED
                       for k in found], dtype=np.int64)
    return Grouping(name or path.stem, labels, tuple(group_names))
