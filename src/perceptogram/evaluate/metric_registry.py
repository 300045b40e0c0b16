"""The metric registry: every per-image and latent metric the evaluate stage computes.

A metric is one module that builds an :class:`ImageMetric` or a
:class:`LatentMetric` and registers it with :func:`register_metric` (or declares the
module as an entry point of the group ``perceptogram.metrics``). Every registered
metric is computed by :func:`perceptogram.evaluate.suite.score_reconstructions` /
:func:`~perceptogram.evaluate.suite.evaluate_latents`, so it appears in each
subject's ``metrics.csv``, the run's tables and the report; an image metric is
also a column of ``per_image.csv`` and may order the report's best/median/worst
grid (``metrics.best_worst_metric``). Nothing else needs an edit::

    import numpy as np
    from perceptogram.evaluate.metric_registry import ImageMetric, register_metric

    def mean_abs_error(recons, truths):  # (n, s, s, 3) float in [0, 1] -> (n,)
        return np.abs(recons - truths).mean(axis=(1, 2, 3))

    register_metric(ImageMetric("mae", "MAE", mean_abs_error,
                                "mean absolute RGB difference", higher_is_better=False))

Feature-network metrics (AlexNet, CLIP, ...) have their own registry
(:mod:`perceptogram.evaluate.networks`), because they share model loading and a
feature cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from perceptogram._registry import Registry
from perceptogram.evaluate import stats
from perceptogram.evaluate.tables import MetricRow

__all__ = [
    "DEFAULT_RANKING_METRIC",
    "METRICS",
    "ImageMetric",
    "LatentMetric",
    "LatentScoring",
    "RowMaker",
    "image_metrics",
    "latent_metrics",
    "register_metric",
    "unregister_metric",
]

#: The image metric that orders the report's best/median/worst reconstructions by default.
DEFAULT_RANKING_METRIC = "pixcorr"


@dataclass(frozen=True)
class RowMaker:
    """What every row of one evaluation shares, and how its intervals are drawn.

    Attributes
    ----------
    subject : int, str or None
    method : str
        Method name written in the rows.
    protocol : str
        Evaluation protocol written in the rows.
    n_images : int
    n_seeds : int
        Generation seeds the per-image scores were averaged over.
    n_boot : int
        Bootstrap resamples over images.
    ci : float
        Coverage of the intervals.
    seed : int
        Seed of the bootstrap and permutations.
    """

    subject: int | str | None
    method: str
    protocol: str
    n_images: int
    n_seeds: int = 1
    n_boot: int = 1000
    ci: float = 0.95
    seed: int = 0

    @property
    def boot_note(self) -> str:
        """How the intervals were drawn, for the notes column."""
        return f"CI: {self.ci:.0%} percentile bootstrap over images ({self.n_boot} resamples)"

    def make(self, metric: str, value: float,
             interval: tuple[float | None, float | None] = (None, None),
             **kwargs: Any) -> MetricRow:
        """A row of ``metric`` with the shared fields filled in."""
        return MetricRow(self.subject, self.method, metric, value, *interval,
                         n_images=self.n_images, protocol=self.protocol, n_seeds=self.n_seeds,
                         **kwargs)

    def mean_row(self, metric: str, scores: np.ndarray, **kwargs: Any) -> MetricRow:
        """Row of the mean of per-image scores, with its bootstrap interval."""
        interval = stats.bootstrap_ci(scores, n_boot=self.n_boot, ci=self.ci, seed=self.seed)
        return self.make(metric, float(np.nanmean(scores)), interval, **kwargs)


@dataclass(frozen=True)
class ImageMetric:
    """A per-image score of reconstructions against the images that were seen.

    Parameters
    ----------
    name : str
        Registry key and column of ``per_image.csv`` (``"pixcorr"``).
    label : str
        Metric name in the tables (``"PixCorr"``).
    score : callable
        ``score(recons, truths) -> (n,)`` on one batch of matched images, both float
        in ``[0, 1]`` of shape ``(n, size, size, 3)``, already resized to the
        protocol's pixel size (resized once for every image metric).
    description : str
        How the score is computed; the notes add the size, seeds and interval.
    higher_is_better : bool
    chance : float or None
    order : int
        Position among the image metrics in the tables (then by name).
    """

    name: str
    label: str
    score: Callable[[np.ndarray, np.ndarray], np.ndarray]
    description: str = ""
    higher_is_better: bool = True
    chance: float | None = None
    order: int = 100


@dataclass(frozen=True)
class LatentScoring:
    """Decoded and true latents of one subject and space, as the latent metrics read them.

    Attributes
    ----------
    rows : RowMaker
    decoded, true : ndarray, shape (n_images, n_kept)
        Latents, dimensions constant in training dropped, in their own units.
    scaled_decoded, scaled_true : ndarray of float64, shape (n_images, n_kept)
        The same in training units (centred / standardised as the run asks).
    n_dropped : int
        Dimensions dropped because they were constant in training.
    units : str
        Note saying which units ``scaled_*`` are in (appended to the notes).
    ks : sequence of int
        Top-k levels of retrieval metrics.
    similarities : sequence of str
        Similarities of retrieval metrics (``"cosine"``, ``"correlation"``).
    n_perm : int
        Permutations of permutation tests.
    """

    rows: RowMaker
    decoded: np.ndarray
    true: np.ndarray
    scaled_decoded: np.ndarray
    scaled_true: np.ndarray
    n_dropped: int
    units: str
    ks: Sequence[int] = (1, 5)
    similarities: Sequence[str] = ("cosine",)
    n_perm: int = 1000


@dataclass(frozen=True)
class LatentMetric:
    """Rows computed from decoded vs true latents (retrieval, per-dimension r, ...).

    Parameters
    ----------
    name : str
        Registry key.
    rows : callable
        ``rows(scoring: LatentScoring) -> list[MetricRow]``; use
        ``scoring.rows.mean_row(label, per_image_scores, ...)`` for the mean of a
        per-image score with its bootstrap interval.
    description : str
        One line for ``perceptogram list``.
    order : int
        Position among the latent metrics in the tables (then by name).
    """

    name: str
    rows: Callable[[LatentScoring], list[MetricRow]]
    description: str = ""
    order: int = 100


METRICS: Registry[ImageMetric | LatentMetric] = Registry(
    "metric", "perceptogram.metrics",
    builtin_modules=["perceptogram.evaluate.metrics", "perceptogram.evaluate.latent_metrics"],
)


def register_metric(metric: ImageMetric | LatentMetric, *, overwrite: bool = False,
                    availability: Callable[[], str | None] | None = None
                    ) -> ImageMetric | LatentMetric:
    """Add a metric to the registry; the evaluate stage computes every registered one.

    Parameters
    ----------
    metric : ImageMetric or LatentMetric
    overwrite : bool
        Replace an entry of the same name instead of raising.
    availability : callable or None
        ``availability() -> None`` when usable here, else what is missing.

    Returns
    -------
    metric : ImageMetric or LatentMetric
    """
    if not isinstance(metric, (ImageMetric, LatentMetric)):
        raise TypeError(f"expected an ImageMetric or a LatentMetric; got {type(metric).__name__}")
    summary = (f"{metric.label} (per image): {metric.description}"
               if isinstance(metric, ImageMetric) else f"latent: {metric.description}")
    METRICS.add(metric.name, metric, summary=summary, availability=availability,
                overwrite=overwrite)
    return metric


def unregister_metric(name: str) -> None:
    """Remove a metric from the registry (no error if absent)."""
    METRICS.remove(name)


def _of_kind(kind: type) -> list:
    found = [entry.factory for entry in METRICS.entries() if isinstance(entry.factory, kind)]
    return sorted(found, key=lambda metric: (metric.order, metric.name))


def image_metrics() -> list[ImageMetric]:
    """The registered image metrics, in table order."""
    return _of_kind(ImageMetric)


def latent_metrics() -> list[LatentMetric]:
    """The registered latent metrics, in table order."""
    return _of_kind(LatentMetric)
