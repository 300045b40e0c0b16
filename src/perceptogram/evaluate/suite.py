"""Evaluate one subject's reconstructions or decoded latents into tidy rows.

Each public function is a short sequence of steps (validate, score per image,
summarise into rows), each step a small function below it:

- :func:`score_reconstructions`: every registered image metric
  (:mod:`perceptogram.evaluate.metric_registry`; PixCorr and SSIM built in) from
  one resizing pass, then every feature network, under an evaluation protocol
  (:mod:`perceptogram.evaluate.protocols`), optionally averaged over several
  generation seeds; returns the rows and the per-image scores
  (:func:`evaluate_reconstructions`: the rows only);
- :func:`evaluate_latents`: latents brought to training units
  (:func:`~perceptogram.evaluate.metrics.standardize_latents`), then every
  registered latent metric (retrieval, per-dimension r and R², two-way
  identification built in).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perceptogram._progress import track
from perceptogram.errors import DataFormatError, MissingDependencyError, MissingWeightsError
from perceptogram.evaluate import metrics as M
from perceptogram.evaluate import stats
from perceptogram.evaluate.features import FeatureCache, extract_features, image_digest
from perceptogram.evaluate.image_pairs import check_pairs, resized_pairs, to_uint8
from perceptogram.evaluate.metric_registry import (
    ImageMetric,
    LatentScoring,
    RowMaker,
    image_metrics,
    latent_metrics,
)
from perceptogram.evaluate.networks import (
    DEFAULT_NETWORKS,
    FeatureNetwork,
    get_network,
    group_by_model,
)
from perceptogram.evaluate.protocols import DEFAULT_PROTOCOL, EvaluationProtocol, get_protocol
from perceptogram.evaluate.tables import MetricRow

__all__ = ["ReconstructionScores", "evaluate_latents", "evaluate_reconstructions",
           "image_scores", "score_reconstructions"]


@dataclass(frozen=True)
class ReconstructionScores:
    """The metric rows of one subject and method, and the per-image scores behind them.

    Attributes
    ----------
    rows : list of MetricRow
        One row per image metric, then one per feature network.
    per_image : dict of str to ndarray, shape (n_images,)
        Image metric name (``"pixcorr"``, ``"ssim"``, ...) -> its per-image score,
        averaged over the generation seeds.
    """

    rows: list[MetricRow]
    per_image: dict[str, np.ndarray]


# --------------------------------------------------------------------- reconstructions


def evaluate_reconstructions(
    recons: np.ndarray | Sequence[np.ndarray],
    ground_truths: np.ndarray,
    **kwargs,
) -> list[MetricRow]:
    """Compute the field's reconstruction metrics for one subject and method.

    The rows of :func:`score_reconstructions` (same parameters).

    Returns
    -------
    rows : list of MetricRow
        One row per image metric (PixCorr, SSIM, then any registered one), then
        one per network of ``networks``.
    """
    return score_reconstructions(recons, ground_truths, **kwargs).rows


def score_reconstructions(
    recons: np.ndarray | Sequence[np.ndarray],
    ground_truths: np.ndarray,
    *,
    networks: Sequence[str | FeatureNetwork] = DEFAULT_NETWORKS,
    subject: int | str | None = None,
    method: str = "",
    protocol: str | EvaluationProtocol = DEFAULT_PROTOCOL,
    image_size: int | None = None,
    weights: Mapping[str, str | os.PathLike] | None = None,
    cache: FeatureCache | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    n_boot: int = 1000,
    n_perm: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> ReconstructionScores:
    """Score one subject's reconstructions: rows of every metric, and per-image scores.

    The image metrics (PixCorr, SSIM and any registered
    :class:`~perceptogram.evaluate.metric_registry.ImageMetric`) always run (fully
    offline), from one resizing pass. Each feature network runs if it can be
    loaded from what is available locally; otherwise its rows say ``"skipped:
    <reason>"`` and the rest of the table is still produced. With several
    generation seeds, every per-image score is averaged over the seeds before the
    mean over images (and the bootstrap over images).

    Parameters
    ----------
    recons : ndarray, shape (n_images, height, width, 3), or sequence of them
        Reconstructions, ``uint8`` or float in ``[0, 1]``; a sequence holds one
        batch per generation seed (the same images in the same order).
    ground_truths : ndarray, shape (n_images, height_gt, width_gt, 3)
        The seen images, paired by index; may differ in size from ``recons``.
    networks : sequence of str or FeatureNetwork
        Feature metrics to compute (names from
        :func:`~perceptogram.evaluate.networks.available_networks`).
    subject : int, str or None
        Subject identifier written in the rows.
    method : str
        Method name written in the rows.
    protocol : str or EvaluationProtocol
        Evaluation protocol (``"mindeye"`` or ``"perceptogram"``, see
        :mod:`perceptogram.evaluate.protocols`): image sizes of the image metrics
        and of the networks; written in every row.
    image_size : int or None
        Override of the protocol's image-metric size (``None``: the protocol's).
    weights : mapping of str to path, optional
        Local weights per model key (``"alexnet"``, ``"inception_v3"``,
        ``"clip"``, ``"efficientnet_b1"``, ``"swav"``): a ``torch.export``
        (``.pt2``) or TorchScript file, or a
        Hugging Face directory for CLIP.
    cache : FeatureCache or None
        Share one cache across subjects so ground-truth features are computed once.
    batch_size : int
        Images per forward pass.
    device : str
        Torch device for the networks.
    n_boot : int
        Bootstrap resamples over images for the confidence intervals.
    n_perm : int
        Permutations for the two-way identification p-values.
    ci : float
        Confidence-interval coverage.
    seed : int
        Seed of the bootstrap and permutations.

    Returns
    -------
    ReconstructionScores
        Rows in the order of the image metrics, then ``networks``; per-image
        scores of every image metric.
    """
    seeds, ground_truths = _check_seeds(recons, ground_truths)
    protocol = get_protocol(protocol)
    size = protocol.pixel_size if image_size is None else image_size
    rows = RowMaker(subject, method, protocol.name, len(ground_truths), len(seeds), n_boot,
                    ci, seed)
    metrics = image_metrics()
    per_image = image_scores(seeds, ground_truths, size, metrics)
    seed_note = f"; per-image scores averaged over {len(seeds)} seeds" if len(seeds) > 1 else ""
    out = [rows.mean_row(metric.label, per_image[metric.name], chance=metric.chance,
                         higher_is_better=metric.higher_is_better,
                         notes=f"{metric.description}, both images resized to {size} px"
                               f"{seed_note}; {rows.boot_note}")
           for metric in metrics]
    requested = [protocol.network(get_network(name)) for name in networks]
    run = _NetworkRun(rows, {k: Path(v) for k, v in (weights or {}).items()},
                      FeatureCache() if cache is None else cache, batch_size, device, n_perm)
    results = _network_rows(run, requested, seeds, ground_truths)
    return ReconstructionScores(out + [results[network.name] for network in requested],
                                per_image)


def _check_seeds(recons: np.ndarray | Sequence[np.ndarray], ground_truths: np.ndarray
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """Validate one batch of reconstructions per seed against the ground truths."""
    batches = list(recons) if isinstance(recons, (list, tuple)) else [recons]
    if not batches:
        raise DataFormatError("no reconstructions were given (an empty list of seeds)")
    seeds = []
    for batch in batches:
        batch, ground_truths = check_pairs(batch, ground_truths)
        seeds.append(batch)
    return seeds, ground_truths


def image_scores(seeds: Sequence[np.ndarray], ground_truths: np.ndarray,
                 image_size: int | None, metrics: Sequence[ImageMetric] | None = None,
                 batch_size: int = M.IMAGE_BATCH) -> dict[str, np.ndarray]:
    """Per-image score of every image metric, averaged over generation seeds.

    Each seed's reconstructions and the ground truths are resized once, batch by
    batch, and every metric scores the same resized batch.

    Parameters
    ----------
    seeds : sequence of ndarray, shape (n_images, height, width, 3)
        One batch of reconstructions per seed.
    ground_truths : ndarray, shape (n_images, height_gt, width_gt, 3)
    image_size : int or None
        Side both images are resized to (``None``: compared at their own size).
    metrics : sequence of ImageMetric or None
        Default: every registered image metric.
    batch_size : int
        Images resized at a time.

    Returns
    -------
    scores : dict of str to ndarray of float64, shape (n_images,)
    """
    metrics = image_metrics() if metrics is None else list(metrics)
    if not metrics:
        return {}
    per_seed: dict[str, list[np.ndarray]] = {metric.name: [] for metric in metrics}
    n_batches = -(-len(ground_truths) // batch_size)
    description = " and ".join(metric.name for metric in metrics)
    for batch in seeds:
        batch, truths = check_pairs(batch, ground_truths)
        parts: dict[str, list[np.ndarray]] = {metric.name: [] for metric in metrics}
        for rec, gt in track(resized_pairs(batch, truths, image_size, batch_size),
                             description, total=n_batches):
            for metric in metrics:
                parts[metric.name].append(np.asarray(metric.score(rec, gt), dtype=np.float64))
        for name, values in parts.items():
            per_seed[name].append(np.concatenate(values))
    return {name: np.mean(values, axis=0) for name, values in per_seed.items()}


@dataclass(frozen=True)
class _NetworkRun:
    """How the feature networks of one evaluation run: rows, weights, cache, device."""

    rows: RowMaker
    weights: dict[str, Path]
    cache: FeatureCache
    batch_size: int
    device: str
    n_perm: int


def _network_rows(run: _NetworkRun, requested: list[FeatureNetwork], seeds: list[np.ndarray],
                  ground_truths: np.ndarray) -> dict[str, MetricRow]:
    """One row per requested network (skipped rows for networks that cannot load)."""
    if not requested:
        return {}
    images = [to_uint8(ground_truths)] + [to_uint8(batch) for batch in seeds]
    results: dict[str, MetricRow] = {}
    for model, group in group_by_model(requested).items():
        try:
            feats = _group_features(group, run.weights.get(model), images, run)
        except (MissingWeightsError, MissingDependencyError) as exc:
            results.update({network.name: _skipped_row(run.rows, network, exc)
                            for network in group})
            continue
        for network in group:
            gt_f, *rec_f = feats[network.layer]
            results[network.name] = _network_row(run.rows, network, rec_f, gt_f, run.n_perm)
    return results


def _skipped_row(rows: RowMaker, network: FeatureNetwork, exc: Exception) -> MetricRow:
    return rows.make(network.label, math.nan, chance=0.5 if network.kind == "two_way" else None,
                     higher_is_better=network.kind == "two_way", status=f"skipped: {exc}",
                     notes=network.description)


def _network_row(rows: RowMaker, network: FeatureNetwork, rec_f: list[np.ndarray],
                 gt_f: np.ndarray, n_perm: int) -> MetricRow:
    """Two-way identification or correlation distance of one network's features."""
    size = f" at {network.preprocess.size} px" if network.preprocess is not None else ""
    description = network.description + size + (
        "" if network.comparable else "; extra metric without published numbers")
    if rows.n_seeds > 1:
        description += f"; per-image scores averaged over {rows.n_seeds} seeds"
    if network.kind == "two_way":
        scores = np.mean([M.two_way_identification(f, gt_f) for f in rec_f], axis=0)
        _, p = stats.two_way_permutation_test(rec_f, gt_f, n_perm=n_perm, seed=rows.seed)
        return rows.mean_row(
            network.label, scores, p_value=p, chance=0.5,
            notes=f"{description}; p: permutation test of the recon-ground-truth pairing "
                  f"({n_perm} permutations); {rows.boot_note}",
        )
    scores = np.mean([M.correlation_distance(f, gt_f) for f in rec_f], axis=0)
    return rows.mean_row(network.label, scores, higher_is_better=False,
                         notes=f"{description}; lower is better; {rows.boot_note}")


def _group_features(group: list[FeatureNetwork], weights_path: Path | None,
                    batches: list[np.ndarray], run: _NetworkRun
                    ) -> dict[str, list[np.ndarray]]:
    """Features of each image batch for every layer of one model.

    The model is loaded only if some layer is not in the cache. Cache keys name
    the model, weights, input preprocessing (size changes with the protocol),
    layer and image digest.

    Returns
    -------
    features : dict
        ``layer -> [features of batches[0], features of batches[1], ...]``.
    """
    first = group[0]
    layers = list(dict.fromkeys(network.layer for network in group))
    tag = f"{first.model}|{weights_path or 'default'}|{first.preprocess!r}"
    out: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    loaded = None
    for i, batch in enumerate(batches):
        digest = image_digest(batch)
        keys = {layer: f"{tag}|{layer}|{digest}" for layer in layers}
        missing = [layer for layer in layers if run.cache.get(keys[layer]) is None]
        if missing:
            if loaded is None:
                loaded = first.loader(weights_path)
            which = "ground truths" if i == 0 else "reconstructions"
            computed = extract_features(
                loaded, missing, batch, preprocess=first.preprocess,
                batch_size=run.batch_size, device=run.device,
                description=f"{first.model} features of {which}",
            )
            for layer, value in computed.items():
                run.cache.put(keys[layer], value)
        for layer in layers:
            out[layer].append(run.cache.get(keys[layer]))
    return out


# ------------------------------------------------------------------------- latents


def evaluate_latents(
    decoded: np.ndarray,
    true: np.ndarray,
    *,
    subject: int | str | None = None,
    method: str = "",
    ks: Sequence[int] = (1, 5),
    similarities: Sequence[str] = ("cosine", "correlation"),
    train_mean: np.ndarray | None = None,
    train_std: np.ndarray | None = None,
    protocol: str = "",
    n_boot: int = 1000,
    n_perm: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> list[MetricRow]:
    """Latent-space metrics of decoded latents for one subject and method.

    Every registered :class:`~perceptogram.evaluate.metric_registry.LatentMetric`;
    built in (:mod:`perceptogram.evaluate.latent_metrics`):

    - zero-shot N-way retrieval, top-``k`` for each ``k`` in ``ks`` and each
      similarity (chance ``k / N``; one-sided binomial p-value),
    - mean over dimensions of the per-dimension Pearson r and R² across images
      (constant dimensions excluded, and counted in the notes),
    - two-way identification in latent space (permutation p-value).

    Every comparison across dimensions (retrieval, two-way identification) is
    made in training units: each dimension centred on the training latents' mean
    and divided by their standard deviation, constant training dimensions
    dropped (:func:`~perceptogram.evaluate.metrics.standardize_latents`).
    Without it, a dimension in large units (a hue in degrees beside fractions)
    decides every correlation alone.

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
        Decoded latents of the test images (token latents flattened per image).
    true : ndarray, shape (n_images, n_latent)
        True latents of the same images, paired by index.
    subject : int, str or None
    method : str
        Method name written in the rows (include the latent space, e.g.
        ``"ridge / unclip"``).
    ks : sequence of int
        Top-k levels.
    similarities : sequence of {"cosine", "correlation"}
    train_mean, train_std : ndarray, shape (n_latent,), or None
        Mean and standard deviation of the *training* latents (never of the
        test set, which would be transductive). Both: latents standardised.
        ``train_mean`` only: latents centred (removes the common offset that
        dominates cosine similarity of non-negative CNN features). Neither: raw
        vectors, as the field compares CLIP embeddings.
    protocol : str
        Evaluation protocol of the run, written in the rows (no protocol
        changes latent metrics).
    n_boot, n_perm, ci, seed
        As in :func:`score_reconstructions`.

    Returns
    -------
    rows : list of MetricRow
    """
    decoded, true = M.check_latents(decoded, true)
    scaled_decoded, scaled_true, kept = M.standardize_latents(decoded, true, train_mean,
                                                              train_std)
    if not kept.any():
        raise DataFormatError("every latent dimension is constant in the training latents; "
                              "there is nothing to evaluate")
    scoring = LatentScoring(
        rows=RowMaker(subject, method, protocol, len(decoded), 1, n_boot, ci, seed),
        decoded=decoded[:, kept], true=true[:, kept],
        scaled_decoded=scaled_decoded, scaled_true=scaled_true,
        n_dropped=int(np.count_nonzero(~kept)), units=_units_note(train_mean, train_std, kept),
        ks=tuple(ks), similarities=tuple(similarities), n_perm=n_perm)
    return [row for metric in latent_metrics() for row in metric.rows(scoring)]


def _units_note(train_mean: np.ndarray | None, train_std: np.ndarray | None,
                kept: np.ndarray) -> str:
    if train_std is not None:
        dropped = np.count_nonzero(~kept)
        return ("; latents standardised with the training latents' mean and SD"
                + (f" ({dropped} dimensions constant in training dropped)" if dropped else ""))
    if train_mean is not None:
        return "; latents centred on the training-latent mean"
    return "; raw latents (not standardised)"
