"""Typed results of the interpret stage for one subject.

:mod:`perceptogram.pipeline.attribute_maps` computes them,
:mod:`perceptogram.pipeline.attribute_map_files` saves them and
:mod:`perceptogram.pipeline.attribute_map_figures` draws them; none of the three
imports another's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perceptogram.interpret.collinearity import Collinearity
from perceptogram.interpret.design import AttributeDesign
from perceptogram.interpret.labels import LabelTrust

__all__ = ["AttributeMap", "SemanticLabels", "Pictures", "JointTest", "SubjectMaps"]


@dataclass
class AttributeMap:
    """One attribute map of one subject.

    Attributes
    ----------
    name : str
        E.g. ``"hue: red − blue"``.
    attribute : str
    source : str
        ``"eeg"`` (test EEG regressed / contrasted) or ``"perceptogram"``.
    space : str or None
        Latent space of a perceptogram map.
    kind : str
        ``"partial effect"``, ``"marginal effect (attribute alone)"`` (beside
        the partial effect of a collinear attribute) or ``"group contrast
        (marginal)"``.
    effect : ndarray, shape (n_channels, n_times)
        In the data's units.
    t : ndarray, shape (n_channels, n_times)
    mask : ndarray of bool, shape (n_channels, n_times) or None
        Samples in significant clusters (None: not tested).
    summary : dict
        What ``summary.json`` records (peak or the reason for none, cluster p).
    group_means : ndarray, shape (n_groups, n_channels, n_times) or None
        Mean map of each group (group contrasts only), groups as in
        ``summary["groups"]``.
    """

    name: str
    attribute: str
    source: str
    space: str | None
    kind: str
    effect: np.ndarray
    t: np.ndarray
    mask: np.ndarray | None
    summary: dict[str, Any] = field(default_factory=dict)
    group_means: np.ndarray | None = None


@dataclass(frozen=True)
class SemanticLabels:
    """Semantic group of each test picture, where it came from, and how far it holds.

    Attributes
    ----------
    groups : ndarray of str, shape (n_images,)
        A name from ``interpretability.semantic_groups`` or ``"other"`` (or
        ``"unsupervised cluster k"``).
    source : str
        Where the labels came from, in words.
    columns : dict of str to ndarray, shape (n_images,)
        Extra columns of ``groups.csv`` (a table's own label; the classifier's
        top class and probabilities).
    trust : LabelTrust or None
        Confidence of classifier labels (None for a table or clusters).
    """

    groups: np.ndarray
    source: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    trust: LabelTrust | None = None

    @property
    def usable(self) -> bool:
        """False when the classifier did not recognise most pictures (no semantic map)."""
        return self.trust is None or self.trust.trusted


@dataclass(frozen=True)
class Pictures:
    """The test pictures: names and what was measured on them.

    Attributes
    ----------
    image_files, concepts : tuple of str, length n_images
    pixels : dict of str to ndarray, shape (n_images,)
        From :func:`perceptogram.interpret.design.pixel_attributes`.
    semantic : SemanticLabels or None
        None when ``semantic`` is not mapped.
    """

    image_files: tuple[str, ...]
    concepts: tuple[str, ...]
    pixels: dict[str, np.ndarray]
    semantic: SemanticLabels | None


@dataclass(frozen=True)
class JointTest:
    """Joint F test of one collinear set of attributes on the test EEG.

    Attributes
    ----------
    attributes : tuple of str
    columns : tuple of str
        Their design columns, tested together.
    statistic : ndarray, shape (n_channels, n_times)
        F map.
    mask : ndarray of bool, shape (n_channels, n_times) or None
        Samples in significant clusters (None: not tested).
    summary : dict
        Cluster p, peak (largest F in a significant cluster) or why none, and
        the sentence the summary shows.
    """

    attributes: tuple[str, ...]
    columns: tuple[str, ...]
    statistic: np.ndarray
    mask: np.ndarray | None
    summary: dict[str, Any]


@dataclass
class SubjectMaps:
    """Everything the save and draw steps need.

    Attributes
    ----------
    ch_names : tuple of str
    times : ndarray, shape (n_times,)
    unit : str
    maps : list of AttributeMap
        The first map of each attribute is its main one (the test-EEG partial
        effect by default).
    probes : dict
    probe_arrays : dict of str to ndarray
    method : str
        ``"partial"`` or ``"contrast"``.
    transductive : bool
        The paper preset.
    spaces : dict of str to str
        Latent space of each attribute's perceptogram map.
    pictures : Pictures or None
    design : AttributeDesign or None
        Partial method only.
    collinearity : Collinearity or None
        Partial method only.
    joint_tests : list of JointTest
    skipped : dict of str to str
        Attributes not mapped, and why.
    notes : list of str
        Sentences for the summary (collinear attributes, untrusted labels).
    """

    ch_names: tuple[str, ...]
    times: np.ndarray
    unit: str
    maps: list[AttributeMap]
    probes: dict[str, Any]
    probe_arrays: dict[str, np.ndarray]
    method: str = "partial"
    transductive: bool = False
    spaces: dict[str, str] = field(default_factory=dict)
    pictures: Pictures | None = None
    design: AttributeDesign | None = None
    collinearity: Collinearity | None = None
    joint_tests: list[JointTest] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Factor from the data's stored unit to ``unit`` (maps are in display units).
    unit_scale: float = 1.0
    #: Electrode positions stored in the recording (NaN rows: none); None: templates.
    positions: np.ndarray | None = None
