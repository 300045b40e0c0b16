"""How far the pictures let the attribute maps separate their attributes.

A partial-effect map holds the other attributes fixed. When an attribute goes
with others in the pictures (faces brighter and smoother than houses), few
pictures differ in it alone: its partial effect is estimated from that small
remainder, with a standard error ``sqrt(VIF)`` times what uncorrelated attributes
would give, and its test can miss an effect the attributes clearly have
together. :func:`diagnose` measures this on the design matrix:

``correlation``
    Pearson correlation of the design columns (intercept left out).
``vif``
    The variance inflation factor of each attribute, ``1 / (1 - R^2)`` of its
    column regressed on all the other columns. An attribute with several columns
    (hue: two axes; semantic: one column per group but the reference) gets the
    generalised VIF of Fox & Monette (1992), ``GVIF = det(R_aa) det(R_oo) /
    det(R)``, raised to ``1 / df`` (its number of columns) so that it reads on
    the scale of a one-column VIF and does not depend on how the attribute is
    coded (which group is the reference).
``collinear sets``
    Attributes whose VIF exceeds :data:`VIF_THRESHOLD` are *collinear*. Each is
    grouped with the collinear attributes it correlates with (first canonical
    correlation of their columns at least :data:`LINK_CORRELATION`) and with the
    other attributes that correlate with it as much (with the one it correlates
    with most when none does: it is then collinear with a combination of
    weakly correlated attributes); such a set is tested jointly (:func:`perceptogram.interpret.joint.joint_freedman_lane_test`) and
    its maps are shown beside the marginal ones.

Thresholds
----------
:data:`VIF_THRESHOLD` is 4: above it the partial effect's standard error is
more than twice what it would be with uncorrelated attributes, so its test has
the power it would have with fewer than a quarter of the pictures. The usual
rules of thumb are 5 or 10 (e.g. James et al., *An Introduction to Statistical
Learning*, 2013, section 3.3.3); picture sets are small, and on a 48-picture
face/house set a category column with a VIF of 4.4 already hid a face − house
effect that a trial-level test found (p = 0.02), so the threshold is set below
that case. Flagging costs only a joint test and a marginal map more. The
confounded simulator, on which the partial maps recover every planted effect,
stays below it (largest VIF 3.7).
:data:`LINK_CORRELATION` is 0.5: an attribute that shares at least a quarter of
its variance with a collinear one is tested with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perceptogram.errors import DataFormatError

__all__ = ["VIF_THRESHOLD", "LINK_CORRELATION", "Collinearity", "diagnose", "joint_sentence"]

#: Variance inflation factor above which an attribute is collinear (see the module notes).
VIF_THRESHOLD = 4.0
#: Canonical correlation at which an attribute joins a collinear one's set.
LINK_CORRELATION = 0.5


@dataclass(frozen=True)
class Collinearity:
    """Collinearity of the attributes of a design.

    Parameters
    ----------
    columns : tuple of str, length n_columns
        Design columns without the intercept.
    correlation : ndarray, shape (n_columns, n_columns)
        Their (weighted) Pearson correlation.
    column_vif : ndarray, shape (n_columns,)
        VIF of each column.
    attributes : tuple of str, length n_attributes
    attribute_columns : dict of str to tuple of str
        The columns of each attribute.
    vif : ndarray, shape (n_attributes,)
        VIF of each attribute (``GVIF^(1/df)`` for attributes of several columns).
    attribute_correlation : ndarray, shape (n_attributes, n_attributes)
        First canonical correlation of the columns of each pair of attributes
        (``|r|`` for one column each); 1 on the diagonal.
    sets : tuple of tuple of str
        Collinear sets of attributes, each in design order.
    """

    columns: tuple[str, ...]
    correlation: np.ndarray
    column_vif: np.ndarray
    attributes: tuple[str, ...]
    attribute_columns: dict[str, tuple[str, ...]]
    vif: np.ndarray
    attribute_correlation: np.ndarray
    sets: tuple[tuple[str, ...], ...]

    def vif_of(self, attribute: str) -> float:
        """VIF of one attribute."""
        return float(self.vif[self.attributes.index(attribute)])

    def largest_correlation(self, attributes: Sequence[str]) -> float:
        """Largest canonical correlation between two of ``attributes``."""
        index = [self.attributes.index(a) for a in attributes]
        block = self.attribute_correlation[np.ix_(index, index)]
        off = block[~np.eye(len(index), dtype=bool)]
        return float(off.max()) if off.size else 0.0

    def as_dict(self) -> dict[str, Any]:
        """What ``summary.json`` records (JSON types, rounded to 4 decimals)."""
        def r4(x: float) -> float:
            return float(round(float(x), 4))

        return {
            "vif_threshold": VIF_THRESHOLD,
            "link_correlation": LINK_CORRELATION,
            "vif": {a: r4(v) for a, v in zip(self.attributes, self.vif)},
            "attribute_columns": {a: list(c) for a, c in self.attribute_columns.items()},
            "columns": list(self.columns),
            "correlation": [[r4(v) for v in row] for row in self.correlation],
            "column_vif": {c: r4(v) for c, v in zip(self.columns, self.column_vif)},
            "attribute_correlation": {
                "attributes": list(self.attributes),
                "matrix": [[r4(v) for v in row] for row in self.attribute_correlation]},
            "collinear_sets": [list(s) for s in self.sets],
        }


def _correlation(matrix: np.ndarray, weight: np.ndarray) -> np.ndarray:
    w = weight / weight.sum()
    centred = matrix - w @ matrix
    cov = centred.T @ (centred * w[:, None])
    sd = np.sqrt(np.diag(cov))
    if np.any(sd <= 0):
        raise DataFormatError("a design column does not vary: it has no correlation")
    return np.clip(cov / np.outer(sd, sd), -1.0, 1.0)


def _logdet(matrix: np.ndarray) -> float:
    if matrix.size == 0:
        return 0.0
    sign, value = np.linalg.slogdet(matrix)
    return float(value) if sign > 0 else -np.inf


def _canonical(R: np.ndarray, a: list[int], b: list[int]) -> float:
    """Largest canonical correlation of column sets ``a`` and ``b`` given their correlation."""
    from scipy import linalg

    try:
        la = linalg.cholesky(R[np.ix_(a, a)], lower=True)
        lb = linalg.cholesky(R[np.ix_(b, b)], lower=True)
    except linalg.LinAlgError:
        return 1.0
    whitened = linalg.solve_triangular(la, R[np.ix_(a, b)], lower=True)
    whitened = linalg.solve_triangular(lb, whitened.T, lower=True).T
    return float(min(1.0, np.linalg.svd(whitened, compute_uv=False).max()))


def _sets(attributes: tuple[str, ...], vif: np.ndarray, link: np.ndarray
          ) -> tuple[tuple[str, ...], ...]:
    """Collinear attributes grouped with the attributes they go with (see module notes)."""
    flagged = [k for k, v in enumerate(vif) if v > VIF_THRESHOLD]
    components: list[set[int]] = []
    for k in flagged:  # connected components of the flagged attributes
        joined = [c for c in components if any(link[k, m] >= LINK_CORRELATION for m in c)]
        merged = {k}.union(*joined)
        components = [c for c in components if c not in joined] + [merged]
    out: list[tuple[str, ...]] = []
    for component in components:
        partners = {m for m in range(len(attributes)) if m not in flagged
                    and any(link[k, m] >= LINK_CORRELATION for k in component)}
        if len(component) == 1 and not partners:  # collinear with several weak partners
            (k,) = component
            partners = {int(np.argmax(np.where(np.arange(len(attributes)) == k, -1.0,
                                               link[k])))}
        members = tuple(attributes[m] for m in sorted(component | partners))
        if members not in out:
            out.append(members)
    return tuple(out)


def diagnose(matrix: np.ndarray, columns: Sequence[str],
             attribute_columns: Mapping[str, Sequence[str]], *,
             sample_weight: np.ndarray | None = None) -> Collinearity:
    """Correlation, VIF and collinear sets of a design's attributes.

    Parameters
    ----------
    matrix : ndarray, shape (n_images, n_columns)
        Design matrix; a column called ``"intercept"`` is left out.
    columns : sequence of str, length n_columns
    attribute_columns : mapping of str to sequence of str
        The columns of each attribute, in design order (columns of no
        attribute are ignored).
    sample_weight : ndarray, shape (n_images,), optional
        Weights of the images (as in weighted least squares).

    Returns
    -------
    Collinearity
    """
    columns = tuple(columns)
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(columns):
        raise DataFormatError(f"a design of shape {matrix.shape} for {len(columns)} columns")
    weight = (np.ones(len(matrix)) if sample_weight is None
              else np.asarray(sample_weight, dtype=np.float64))
    keep = [k for k, c in enumerate(columns) if c != "intercept"]
    names = tuple(columns[k] for k in keep)
    attributes = tuple(a for a, cols in attribute_columns.items()
                       if cols and all(c in names for c in cols))
    groups = {a: tuple(attribute_columns[a]) for a in attributes}
    if not names:
        return Collinearity((), np.zeros((0, 0)), np.zeros(0), (), {}, np.zeros(0),
                            np.zeros((0, 0)), ())
    R = _correlation(matrix[:, keep], weight)
    try:
        column_vif = np.diag(np.linalg.inv(R)).copy()
    except np.linalg.LinAlgError:
        column_vif = np.full(len(names), np.inf)
    logdet = _logdet(R)
    index = {a: [names.index(c) for c in groups[a]] for a in attributes}
    vif = np.empty(len(attributes))
    for k, a in enumerate(attributes):
        inside = index[a]
        outside = [m for m in range(len(names)) if m not in inside]
        log_gvif = _logdet(R[np.ix_(inside, inside)]) + _logdet(
            R[np.ix_(outside, outside)]) - logdet
        vif[k] = np.exp(log_gvif / len(inside)) if np.isfinite(logdet) else np.inf
    link = np.eye(len(attributes))
    for i, a in enumerate(attributes):
        for j in range(i + 1, len(attributes)):
            link[i, j] = link[j, i] = _canonical(R, index[a], index[attributes[j]])
    return Collinearity(names, R, column_vif, attributes, groups, vif, link,
                        _sets(attributes, vif, link))


def _listed(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def joint_sentence(attributes: Sequence[str], collinearity: Collinearity, *,
                   joint_p: float | None, alpha: float,
                   partial_significant: Sequence[str]) -> str:
    """One sentence on what the pictures can say about a collinear set of attributes.

    Never "no effect" when the joint test finds one: if it does and no partial
    map does, the sentence says that there is an effect and that these pictures
    cannot tell which attribute carries it.

    Parameters
    ----------
    attributes : sequence of str
        A collinear set (from :attr:`Collinearity.sets`).
    collinearity : Collinearity
    joint_p : float or None
        Smallest cluster p of the joint test (None: not tested).
    alpha : float
        Cluster-level significance.
    partial_significant : sequence of str
        The attributes of the set whose partial map has a significant cluster.

    Returns
    -------
    str
    """
    together = (f"{_listed(attributes)} go together in these pictures (|r| up to "
                f"{collinearity.largest_correlation(attributes):.2f}, VIF up to "
                f"{max(collinearity.vif_of(a) for a in attributes):.1f})")
    if joint_p is None:
        return (f"{together}, so the pictures cannot separate their effects; their joint test "
                "was not run (no permutations).")
    if joint_p < alpha and not partial_significant:
        return (f"There is an effect, and these pictures cannot tell which attribute carries "
                f"it: {together}, so none of their partial maps has a significant cluster, "
                f"while their joint test has one (cluster p = {joint_p:.3f}).")
    if joint_p < alpha:
        return (f"There is an effect of {_listed(attributes)} together (joint test: cluster "
                f"p = {joint_p:.3f}), but these pictures cannot fully separate them: "
                f"{together}; the partial maps credit it to "
                f"{_listed(partial_significant)}: read them beside the marginal maps.")
    return (f"{together}, so the pictures cannot separate their effects; their joint test "
            f"finds no significant cluster either (smallest cluster p = {joint_p:.3f}).")
