"""What a report shows: the content model the pipeline gathers and the renderers read.

:class:`ReportContent` holds everything of one run's page: metric rows and comparison
tables, image strips (reconstructions, retrievals), figure references with captions,
the data and collinearity summaries (:class:`RowCounts`, :class:`DesignSummary`) and the
cross-subject / noise-ceiling section (:class:`EvaluationSection` of
:class:`RecordTable`). :mod:`perceptogram.report.html` renders it as one page,
:mod:`perceptogram.report.mne_report` as an ``mne.Report``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ImageStrip", "FigureRef", "RowCounts", "DesignSummary", "RecordTable",
           "EvaluationSection", "ReportContent"]


@dataclass(frozen=True)
class ImageStrip:
    """A labelled row of images, optionally with one caption per image.

    Parameters
    ----------
    label : str
    images : ndarray of uint8, shape (n_images, H, W, 3)
    captions : sequence of str, length n_images
    highlight : sequence of bool, length n_images
        Images to outline (e.g. a correct retrieval).
    """

    label: str
    images: np.ndarray
    captions: Sequence[str] = ()
    highlight: Sequence[bool] = ()


@dataclass(frozen=True)
class FigureRef:
    """A PNG figure file to embed.

    Parameters
    ----------
    path : Path
        The PNG embedded in the page.
    caption : str
        What is plotted, over which subjects, with which test.
    full : str or None
        Link (relative to the page) to the full-size file (SVG or PNG) opened
        by a click on the figure.
    scalp_px : float or None
        Width in pixels of the narrowest head outline in the PNG (scalp
        figures only); the page records it so that a browser can check the
        drawn size.
    group : str
        E.g. the subject: consecutive figures of one group are shown
        together, the first group open and the others folded.
    """

    path: Path
    caption: str
    full: str | None = None
    scalp_px: float | None = None
    group: str = ""


@dataclass(frozen=True)
class RowCounts:
    """What the test set of one subject holds: rows and distinct images.

    A row is one input of the decoder: the average of the epochs of one image
    (with ``perceptogram data import --epochs-per-row K``, of one group of up to
    K epochs, so that several rows show the same image).

    Parameters
    ----------
    rows : int
        Test rows.
    images : int
        Distinct test images among them.
    epochs : tuple of int or None
        Fewest and most epochs averaged in a row (None: not recorded).
    """

    rows: int
    images: int
    epochs: tuple[int, int] | None = None

    @property
    def pooled(self) -> bool:
        """Whether several rows show one image."""
        return self.rows != self.images

    def describe(self) -> str:
        """E.g. ``"156 rows (each the average of 8-10 epochs) of 8 distinct images"``."""
        if self.epochs is None:
            each = ""
        else:
            low, high = self.epochs
            span = f"{low}" if low == high else f"{low}-{high}"
            each = f" (each the average of {span} epoch{'s' * (high != 1)})"
        if not self.pooled:
            return f"{self.images} images, one row each{each}"
        return f"{self.rows} rows{each} of {self.images} distinct images"


@dataclass(frozen=True)
class DesignSummary:
    """How one subject's picture attributes go together in the maps' regression.

    Parameters
    ----------
    subject : str
        E.g. ``"sub-01"``.
    vif : dict of str to float
        Attribute -> variance inflation factor (``GVIF^(1/df)`` for attributes of
        several columns).
    vif_threshold : float
        VIF above which an attribute counts as collinear.
    columns : tuple of str, length n_columns
        Design columns (without the intercept).
    correlation : ndarray, shape (n_columns, n_columns)
        Their Pearson correlation.
    collinear_sets : tuple of tuple of str
    joint_tests : tuple of dict
        Per collinear set: ``attributes``, ``cluster_min_p``, ``significant``,
        ``sentence`` and ``n_permutations`` (from ``summary.json``).
    labels : str
        The sentence on the confidence of classifier labels ("" for a label
        table or no semantic attribute).
    skipped : dict of str to str
        Attribute or design column -> why it has no map.
    """

    subject: str
    vif: dict[str, float]
    vif_threshold: float
    columns: tuple[str, ...]
    correlation: np.ndarray
    collinear_sets: tuple[tuple[str, ...], ...] = ()
    joint_tests: tuple[dict[str, Any], ...] = ()
    labels: str = ""
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordTable:
    """A titled table of plain records.

    Parameters
    ----------
    title : str
    columns : sequence of tuple of (str, str)
        (key of the records, column heading), in order.
    records : sequence of mapping
        One per row. A value is shown as text (str), a number (float, int), a
        mean ± SEM (a pair of numbers) or "–" (None, NaN).
    note : str
        Shown under the table (what the numbers are, over which subjects).
    """

    title: str
    columns: Sequence[tuple[str, str]]
    records: Sequence[Any]
    note: str = ""


@dataclass(frozen=True)
class EvaluationSection:
    """Within vs across subjects, noise ceilings and repetition curves.

    Parameters
    ----------
    lead : str
    tables : sequence of RecordTable
    figures : sequence of FigureRef
        Reliability over time and repetition curves (grouped by subject).
    notes : sequence of str
        How the numbers were computed, what cannot be derived.
    """

    lead: str
    tables: Sequence[RecordTable] = ()
    figures: Sequence[FigureRef] = ()
    notes: Sequence[str] = ()


@dataclass
class ReportContent:
    """Everything the report shows.

    Parameters
    ----------
    title : str
    settings : dict
        The run configuration (shown as YAML).
    notes : list of str
        Caveats the reader must see (e.g. transductive rescaling).
    timings : dict of str to float
        Stage -> compute seconds.
    metrics : list of perceptogram.evaluate.tables.MetricRow
        Per-subject rows (one per subject × method × metric); the page adds the
        mean ± SEM over subjects.
    comparisons : dict of str to list of perceptogram.evaluate.tables.ComparisonRow
        Title -> our subject means beside published results, each with its
        scope, N-way, differences and citation.
    reconstructions : dict of str to list of ImageStrip
        Section heading (e.g. ``"sub-01 · pca decoding"``) -> strips.
    retrievals : dict of str to list of ImageStrip
    perceptograms : dict of str to list of FigureRef
        Attribute -> scalp-map and channel × time figures.
    electrodes : list of FigureRef
        Electrode-preference and time-course figures.
    artifacts : list of tuple of (str, str)
        (label, relative href) of downloadable tables.
    summary : list of str
        Headline sentences at the top.
    data_units : str
        What the maps' units are for this run (shown in the glossary).
    data_notes : list of str
        What reading the dataset noted (dropped pictures, unplaced channels,
        unit doubts, events not in the table, ...).
    data_table : list of dict
        Per subject and split: ``subject``, ``split``, ``rows``, ``images``,
        ``epochs`` (min, max, total or None), ``channels``.
    counts : dict of str to RowCounts
        Subject label -> its test rows and distinct images (what N counts).
    designs : list of DesignSummary
        Per subject shown: VIF, correlation matrix, joint tests, label confidence.
    attribute_notes : dict of str to dict of str to list of str
        Attribute -> group (subject) -> sentences shown above that subject's maps
        of the attribute (collinearity, joint test).
    evaluation : EvaluationSection or None
        Within vs across subjects with noise ceilings, and repetition curves.
    """

    title: str
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    metrics: list[Any] = field(default_factory=list)
    comparisons: dict[str, list[Any]] = field(default_factory=dict)
    reconstructions: dict[str, list[ImageStrip]] = field(default_factory=dict)
    retrievals: dict[str, list[ImageStrip]] = field(default_factory=dict)
    perceptograms: dict[str, list[FigureRef]] = field(default_factory=dict)
    electrodes: list[FigureRef] = field(default_factory=list)
    artifacts: list[tuple[str, str]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    data_units: str = ""
    data_notes: list[str] = field(default_factory=list)
    data_table: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, RowCounts] = field(default_factory=dict)
    designs: list[DesignSummary] = field(default_factory=list)
    attribute_notes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    evaluation: EvaluationSection | None = None
