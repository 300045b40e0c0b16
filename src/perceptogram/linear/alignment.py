"""Maps from each subject's response space to a shared space, fitted on training pictures.

Two subjects who saw the same pictures respond through different heads: the same
sources reach the electrodes through different mixing, so a decoder fitted on one
subject reads another subject's EEG in the wrong basis. When the subjects saw the
same training pictures (THINGS-EEG2: all 16,540 of them), a linear map from each
subject's responses to a shared space can be fitted on those responses, averaged
per picture, before any decoder sees them:

- a **shared template** (:func:`shared_template`): generalised Procrustes
  analysis of the training subjects' responses to the pictures all of them saw
  (start from one subject's responses, rotate every subject onto the template,
  average the rotated responses, repeat a few times);
- one **map per subject** (:func:`fit_map`) onto that template:
  ``"procrustes"`` (orthogonal: rotations and reflections only, no scaling,
  pulled towards the identity by a prior whose weight is chosen by grouped
  cross-validation over the pictures, :func:`procrustes_cv`; weight 0 is the
  classical solution) or ``"ridge"`` (any linear map, ridge-regularised with
  alpha chosen by grouped cross-validation); ``"none"`` is the identity.
  A training subject is mapped onto the template *without its own responses*
  (leave-one-out), so that it is fitted as a new subject is.

A held-out subject's map is fitted on *its own training responses only*
(:meth:`SharedSpace.map_subject`): its test responses never enter any fit.

Why a prior: with noisy picture averages, the classical Procrustes rotation is
well determined in the directions that carry shared signal and arbitrary in the
others, where it scrambles each subject's noise differently. Subjects recorded
with one montage start out roughly aligned, so the identity is a sensible prior;
cross-validation sets its weight to about 0 when the heads differ and large
when they agree (simulation numbers in ``docs/cross-subject.md``).

Maps act either on whole feature vectors (``space="features"``, a
``(n_channels * n_times)`` square map; needs many more pictures than features)
or on channels (``space="channels"``, one ``n_channels x n_channels`` map
applied at every time sample, i.e. ``kron(M, I_times)`` on the channel-major
features; every picture x time sample is an observation). Channel maps are the
shape of a difference in electrode mixing and need far fewer pictures.

Features are expected centred per subject on its training means: maps have no
offset. Centre, align, then scale (as :mod:`perceptogram.cross_subject` does):
a per-feature z-score before a channel map would differ between time samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perceptogram.errors import DataFormatError
from perceptogram.linear.cv import make_splits
from perceptogram.linear.ridge import RidgeCV

#: Alignment methods, ``"none"`` first.
METHODS = ("none", "procrustes", "ridge")
#: Where a map acts: on channels (shared over time) or on whole feature vectors.
SPACES = ("channels", "features")
#: Candidate weights of the identity prior of Procrustes maps, relative to the mean
#: singular value of the cross-product (0: classical Procrustes).
PRIOR_WEIGHTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: Candidate regularisations of ridge maps: 19 values log-spaced in [1e-2, 1e7] (a
#: channel map sees n_pictures x n_times observations, so its Gram diagonal is large).
MAP_ALPHAS = tuple(float(a) for a in np.logspace(-2, 7, 19))


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Orthogonal matrix that best rotates ``source`` onto ``target``.

    Solves ``min ||source @ R - target||_F`` over orthogonal ``R``: with the SVD
    ``source^T target = U S V^T``, ``R = U V^T`` (Schönemann, 1966).

    Parameters
    ----------
    source, target : ndarray, shape (n_observations, n_dims)

    Returns
    -------
    R : ndarray, shape (n_dims, n_dims)
        Orthogonal (``R^T R = I``).
    """
    u, _, vt = np.linalg.svd(np.asarray(source, np.float64).T @ np.asarray(target, np.float64))
    return u @ vt


def _polar(cross: np.ndarray) -> tuple[np.ndarray, float]:
    """Orthogonal polar factor of ``cross`` and its mean singular value."""
    u, sing, vt = np.linalg.svd(cross)
    return u @ vt, float(sing.mean()) if sing.size else 0.0


def procrustes_cv(source: np.ndarray, target: np.ndarray, groups: Any, *,
                  weights: Sequence[float] = PRIOR_WEIGHTS, n_splits: int = 5
                  ) -> tuple[np.ndarray, float]:
    """Procrustes rotation pulled towards the identity, the pull chosen by grouped CV.

    Maximises ``tr(R^T (source^T target + lam I))`` over orthogonal ``R``
    (``R = polar(source^T target + lam I)``), i.e. the classical fit plus
    ``lam tr(R)``, a reward for staying near the identity. ``lam = w * s`` with
    ``s`` the mean singular value of the cross-product and ``w`` the weight in
    ``weights`` whose rotations, fitted without a fold, best predict the
    fold's target (squared error, summed over folds). Because ``R`` is
    orthogonal, ``|source_val R - target_val|^2`` needs only the fold's
    cross-product: the search costs one small SVD per weight and fold.

    Parameters
    ----------
    source, target : ndarray, shape (n_observations, n_dims)
    groups : array-like, shape (n_observations,)
        Observations of one group share a fold (a picture's time samples, a
        concept's pictures).
    weights : sequence of float
        Candidate prior weights (include 0 for the classical solution).
    n_splits : int

    Returns
    -------
    R : ndarray, shape (n_dims, n_dims)
        Orthogonal.
    weight : float
        The chosen weight.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    total = source.T @ target
    eye = np.eye(total.shape[0])
    weights = [float(w) for w in weights]
    if len(weights) > 1:
        errors = np.zeros(len(weights))
        for train, val in make_splits("group", n_splits, len(source), groups):
            val_cross = source[val].T @ target[val]
            train_cross = total - val_cross
            scale = _polar(train_cross)[1]
            for i, w in enumerate(weights):
                R = _polar(train_cross + w * scale * eye)[0]
                errors[i] -= 2.0 * np.sum(R * val_cross)  # |.|^2 terms do not depend on R
        weight = weights[int(np.argmin(errors))]
    else:
        weight = weights[0]
    return _polar(total + weight * _polar(total)[1] * eye)[0], weight


def channel_rows(X: np.ndarray, n_channels: int) -> np.ndarray:
    """Channel-major features as one observation per picture and time sample.

    Parameters
    ----------
    X : ndarray, shape (n_pictures, n_channels * n_times)
        Flattened channel-major (all samples of channel 0, then channel 1, ...).
    n_channels : int

    Returns
    -------
    rows : ndarray, shape (n_pictures * n_times, n_channels)
    """
    n, p = X.shape
    if n_channels < 1 or p % n_channels:
        raise DataFormatError(f"{p} features are not a whole number of samples of "
                              f"{n_channels} channels")
    return X.reshape(n, n_channels, p // n_channels).transpose(0, 2, 1).reshape(-1, n_channels)


@dataclass(frozen=True)
class AlignmentMap:
    """A linear map from one subject's features to the shared space.

    Attributes
    ----------
    method : {"none", "procrustes", "ridge"}
    space : {"channels", "features"}
    matrix : ndarray, shape (d, d)
        ``d = n_channels`` (``space="channels"``) or ``n_features``; applied on
        the right: ``aligned = features @ matrix`` (per time sample for channels).
    n_channels : int
    alpha : ndarray, or None
        Regularisation of each output dimension (``"ridge"``, shape ``(d,)``),
        or the identity-prior weight (``"procrustes"``, shape ``(1,)``).
    """

    method: str
    space: str
    matrix: np.ndarray
    n_channels: int
    alpha: np.ndarray | None = None

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Map features to the shared space.

        Parameters
        ----------
        X : ndarray, shape (n_pictures, n_channels * n_times)

        Returns
        -------
        ndarray, shape (n_pictures, n_channels * n_times)
            Same dtype as ``X``.
        """
        X = np.asarray(X)
        if self.space == "features":
            if X.shape[-1] != self.matrix.shape[0]:
                raise DataFormatError(f"the map expects {self.matrix.shape[0]} features; "
                                      f"got {X.shape[-1]}")
            return (X @ self.matrix.astype(X.dtype, copy=False)).astype(X.dtype, copy=False)
        n, p = X.shape
        if p % self.n_channels:
            raise DataFormatError(f"{p} features are not a whole number of samples of "
                                  f"{self.n_channels} channels")
        cube = X.reshape(n, self.n_channels, p // self.n_channels)
        out = np.einsum("nct,cd->ndt", cube, self.matrix.astype(X.dtype, copy=False))
        return out.reshape(n, p).astype(X.dtype, copy=False)


def _check(method: str, space: str) -> None:
    if method not in METHODS:
        raise DataFormatError(f"alignment must be one of {METHODS}; got {method!r}")
    if space not in SPACES:
        raise DataFormatError(f"alignment space must be one of {SPACES}; got {space!r}")


def _rows(X: np.ndarray, space: str, n_channels: int) -> np.ndarray:
    return channel_rows(X, n_channels) if space == "channels" else X


def fit_map(source: np.ndarray, target: np.ndarray, *, method: str = "procrustes",
            space: str = "channels", n_channels: int = 1, groups: Any = None,
            alphas: Any = MAP_ALPHAS, prior_weights: Sequence[float] = PRIOR_WEIGHTS,
            n_splits: int = 5) -> AlignmentMap:
    """Fit one subject's map onto the shared template.

    Parameters
    ----------
    source : ndarray, shape (n_pictures, n_channels * n_times)
        The subject's training responses to the template's pictures (same
        row order as ``target``), centred with its own training means.
    target : ndarray, shape (n_pictures, n_channels * n_times)
        The shared template (:func:`shared_template`).
    method : {"none", "procrustes", "ridge"}
    space : {"channels", "features"}
    n_channels : int
        Channels of the channel-major features (``space="channels"``).
    groups : array-like, shape (n_pictures,), or None
        Group of each picture for the grouped cross-validation of the
        Procrustes prior or the ridge alpha (THINGS: concepts); ``None``: each
        picture its own group.
    alphas : sequence of float
        Candidate regularisations of the ridge map.
    prior_weights : sequence of float
        Candidate identity-prior weights of the Procrustes map
        (:func:`procrustes_cv`; ``(0.0,)`` gives the classical Procrustes).
    n_splits : int
        Folds of the cross-validation.

    Returns
    -------
    AlignmentMap
    """
    _check(method, space)
    source, target = np.asarray(source), np.asarray(target)
    if source.shape != target.shape or source.ndim != 2:
        raise DataFormatError(f"source and template must have the same shape (n_pictures, "
                              f"n_features); got {source.shape} and {target.shape}")
    d = n_channels if space == "channels" else source.shape[1]
    if method == "none":
        return AlignmentMap(method, space, np.eye(d), n_channels)
    src, tgt = _rows(source, space, n_channels), _rows(target, space, n_channels)
    groups = np.arange(source.shape[0]) if groups is None else np.asarray(groups)
    if groups.shape != (source.shape[0],):
        raise DataFormatError(f"groups must have one label per picture ({source.shape[0]})")
    if space == "channels":  # every time sample of a picture stays in the picture's fold
        groups = np.repeat(groups, source.shape[1] // n_channels)
    if method == "procrustes":
        R, weight = procrustes_cv(src, tgt, groups, weights=prior_weights, n_splits=n_splits)
        return AlignmentMap(method, space, R, n_channels, np.array([weight]))
    model = RidgeCV(alphas, cv="group", n_splits=n_splits, fit_intercept=False,
                    dtype="float64").fit(src, tgt, groups=groups)
    return AlignmentMap(method, space, np.atleast_2d(model.coef_).T.copy(), n_channels,
                        np.atleast_1d(model.alpha_))


def shared_template(responses: Sequence[np.ndarray], *, space: str = "channels",
                    n_channels: int = 1, n_iter: int = 5, tol: float = 1e-3
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Generalised Procrustes template of several subjects' responses to the same pictures.

    Starts from the first subject's responses (a coherent reference: the mean
    of subjects whose heads differ blurs their signals), rotates every subject
    onto the template (:func:`procrustes`), averages the rotated responses, and
    repeats ``n_iter`` rounds at most (or until the template moves by less than
    ``tol``, relative). After each round the template is rotated back onto the
    mean of the unaligned responses, so it stays in the electrodes' basis as far
    as the subjects agree (the basis the identity prior of :func:`procrustes_cv`
    refers to).

    Parameters
    ----------
    responses : sequence of ndarray, shape (n_pictures, n_channels * n_times)
        One per subject, rows paired by picture, centred.
    space : {"channels", "features"}
    n_channels : int
    n_iter : int
    tol : float

    Returns
    -------
    template : ndarray, shape (n_pictures, n_channels * n_times), float64
    rotations : list of ndarray, shape (d, d)
        Each subject's rotation onto the returned template.
    """
    _check("procrustes", space)
    if not responses:
        raise DataFormatError("a shared template needs at least one subject")
    stack = [np.asarray(r, dtype=np.float64) for r in responses]
    if len({r.shape for r in stack}) != 1:
        raise DataFormatError("every subject must give responses to the same pictures, in "
                              "the same order")
    rows = [_rows(r, space, n_channels) for r in stack]
    unaligned = np.mean(rows, axis=0)
    template = rows[0]
    for _ in range(max(1, n_iter)):
        rotations = [procrustes(r, template) for r in rows]
        new = np.mean([r @ R for r, R in zip(rows, rotations)], axis=0)
        new = new @ procrustes(new, unaligned)
        change = np.linalg.norm(new - template) / max(np.linalg.norm(template), 1e-300)
        template = new
        if change < tol:
            break
    rotations = [procrustes(r, template) for r in rows]
    n, p = stack[0].shape
    if space == "channels":
        template = template.reshape(n, p // n_channels, n_channels).transpose(0, 2, 1)
    return template.reshape(n, p), rotations


def _mean_by_picture(X: np.ndarray, pictures: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Mean row of each wanted picture (rows of one picture averaged)."""
    sums = np.zeros((wanted.size, X.shape[1]))
    counts = np.zeros(wanted.size)
    where = np.searchsorted(wanted, pictures)
    keep = (where < wanted.size) & (wanted[np.minimum(where, wanted.size - 1)] == pictures)
    np.add.at(sums, where[keep], X[keep])
    np.add.at(counts, where[keep], 1.0)
    return sums / counts[:, None]


class SharedSpace:
    """Shared response space of several subjects and the map of each onto it.

    Parameters
    ----------
    method : {"none", "procrustes", "ridge"}, default="procrustes"
    space : {"channels", "features"}, default="channels"
    n_channels : int, default=1
        Channels of the channel-major features (``space="channels"``).
    n_iter : int, default=5
        Rounds of generalised Procrustes analysis for the template.
    alphas : sequence of float
        Candidate regularisations of ridge maps.
    prior_weights : sequence of float
        Candidate identity-prior weights of Procrustes maps (``(0.0,)``: classical).
    n_splits : int, default=5
        Folds of the maps' grouped cross-validation.
    min_pictures : int, default=10
        Fewest shared pictures accepted.

    Attributes
    ----------
    pictures_ : ndarray of int, shape (n_shared,)
        The pictures every training subject saw (sorted), on which the template
        and every map are fitted.
    template_ : ndarray, shape (n_shared, n_channels * n_times)
    maps_ : list of AlignmentMap
        One per training subject, in the order given to :meth:`fit`, each
        fitted onto the template of the *other* training subjects (with at
        least 2 of them; onto the full template otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sources = rng.standard_normal((50, 4 * 10))          # 50 pictures, 4 ch x 10 t
    >>> mix = [np.linalg.qr(rng.standard_normal((4, 4)))[0] for _ in range(3)]
    >>> subjects = [AlignmentMap("none", "channels", m, 4).transform(sources) for m in mix]
    >>> space = SharedSpace(n_channels=4).fit(subjects, [np.arange(50)] * 3)
    >>> aligned = [m.transform(x) for m, x in zip(space.maps_, subjects)]
    >>> bool(np.allclose(aligned[0], aligned[1]))            # same space after alignment
    True
    """

    def __init__(self, method: str = "procrustes", space: str = "channels", *,
                 n_channels: int = 1, n_iter: int = 5, alphas: Any = MAP_ALPHAS,
                 prior_weights: Sequence[float] = PRIOR_WEIGHTS, n_splits: int = 5,
                 min_pictures: int = 10) -> None:
        self.method = method
        self.space = space
        self.n_channels = n_channels
        self.n_iter = n_iter
        self.alphas = alphas
        self.prior_weights = prior_weights
        self.n_splits = n_splits
        self.min_pictures = min_pictures

    def fit(self, responses: Sequence[np.ndarray], pictures: Sequence[Any],
            groups: Any = None) -> SharedSpace:
        """Build the template from the training subjects and fit each one's map.

        Parameters
        ----------
        responses : sequence of ndarray, shape (n_rows_s, n_channels * n_times)
            Each training subject's training responses (averaged per picture,
            standardised with its own training statistics).
        pictures : sequence of array-like of int, shape (n_rows_s,)
            Picture index of every row of each subject.
        groups : array-like, or None
            Group (concept) of every picture index, for ridge maps.

        Returns
        -------
        self
        """
        _check(self.method, self.space)
        if len(responses) != len(pictures) or not responses:
            raise DataFormatError("give one picture list per subject, and at least one subject")
        shared = np.asarray(pictures[0])
        for p in pictures[1:]:
            shared = np.intersect1d(shared, np.asarray(p))
        shared = np.unique(shared)
        if shared.size < self.min_pictures:
            raise DataFormatError(
                f"the subjects share {shared.size} training pictures; an alignment needs at "
                f"least {self.min_pictures} pictures that every subject saw")
        self.pictures_ = shared
        self._groups = None if groups is None else np.asarray(groups)
        stack = [_mean_by_picture(np.asarray(X), np.asarray(p), shared)
                 for X, p in zip(responses, pictures)]
        if self.method == "none":
            self.template_ = np.mean(stack, axis=0)
            self.maps_ = [self._fit_one(X) for X in stack]
            return self
        self.template_, rotations = shared_template(stack, space=self.space,
                                                    n_channels=self.n_channels,
                                                    n_iter=self.n_iter)
        n = len(stack)
        self.maps_ = []
        for X, R in zip(stack, rotations):
            own = AlignmentMap("procrustes", self.space, R, self.n_channels).transform(X)
            others = (n * self.template_ - own) / (n - 1) if n > 1 else self.template_
            self.maps_.append(self._fit_one(X, target=others))
        return self

    def _fit_one(self, source: np.ndarray, rows: np.ndarray | None = None,
                 target: np.ndarray | None = None) -> AlignmentMap:
        pictures = self.pictures_ if rows is None else self.pictures_[rows]
        if target is None:
            target = self.template_ if rows is None else self.template_[rows]
        groups = None if self._groups is None else self._groups[pictures]
        return fit_map(source, target, method=self.method, space=self.space,
                       n_channels=self.n_channels, groups=groups, alphas=self.alphas,
                       prior_weights=self.prior_weights, n_splits=self.n_splits)

    def map_subject(self, X: np.ndarray, pictures: Any) -> AlignmentMap:
        """Fit a new (held-out) subject's map from its own training responses.

        Parameters
        ----------
        X : ndarray, shape (n_rows, n_channels * n_times)
            The subject's *training* responses (never its test responses).
        pictures : array-like of int, shape (n_rows,)
            Picture index of every row. The map is fitted on the template
            pictures the subject saw (at least ``min_pictures`` of them).

        Returns
        -------
        AlignmentMap
        """
        if not hasattr(self, "template_"):
            raise DataFormatError("fit the shared space before mapping a new subject")
        pictures = np.asarray(pictures)
        rows = np.flatnonzero(np.isin(self.pictures_, pictures))
        if rows.size < self.min_pictures:
            raise DataFormatError(
                f"the subject saw {rows.size} of the {self.pictures_.size} pictures of the "
                f"shared space; its map needs at least {self.min_pictures}")
        source = _mean_by_picture(np.asarray(X), pictures, self.pictures_[rows])
        return self._fit_one(source, rows)
