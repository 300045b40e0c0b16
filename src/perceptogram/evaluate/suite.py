"""Evaluate one subject's reconstructions or decoded latents into tidy rows."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from perceptogram.errors import MissingDependencyError, MissingWeightsError
from perceptogram.evaluate import metrics as M
from perceptogram.evaluate import stats
from perceptogram.evaluate.features import FeatureCache, extract_features, image_digest
from perceptogram.evaluate.images import DEFAULT_IMAGE_SIZE, check_pairs, to_uint8
from perceptogram.evaluate.networks import (
    DEFAULT_NETWORKS,
    FeatureNetwork,
    get_network,
    group_by_model,
)
from perceptogram.evaluate.tables import MetricRow


def evaluate_reconstructions(
    recons: np.ndarray,
    ground_truths: np.ndarray,
    *,
    networks: Sequence[str | FeatureNetwork] = DEFAULT_NETWORKS,
    subject: int | str | None = None,
    method: str = "",
    image_size: int | None = DEFAULT_IMAGE_SIZE,
    weights: Mapping[str, str | os.PathLike] | None = None,
    cache: FeatureCache | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    n_boot: int = 1000,
    n_perm: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> list[MetricRow]:
    """Compute the field's reconstruction metrics for one subject and method.

    PixCorr and SSIM always run (fully offline). Each feature network runs if it
    can be loaded from what is available locally; otherwise its rows say
    ``"skipped: <reason>"`` and the rest of the table is still produced.

    Parameters
    ----------
    recons : ndarray, shape (n_images, height, width, 3)
        Reconstructions, ``uint8`` or float in ``[0, 1]``.
    ground_truths : ndarray, shape (n_images, height_gt, width_gt, 3)
        The seen images, paired by index; may differ in size from ``recons``.
    networks : sequence of str or FeatureNetwork
        Feature metrics to compute (names from
        :func:`~perceptogram.evaluate.networks.available_networks`).
    subject : int, str or None
        Subject identifier written in the rows.
    method : str
        Method name written in the rows.
    image_size : int or None
        Side length both images are resized to for PixCorr and SSIM (425 by
        convention).
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
    rows : list of MetricRow
        One row per metric, in the order PixCorr, SSIM, then ``networks``.
    """
    recons, ground_truths = check_pairs(recons, ground_truths)
    n = len(recons)
    cache = FeatureCache() if cache is None else cache
    weights = {k: Path(v) for k, v in (weights or {}).items()}
    boot_note = f"CI: {ci:.0%} percentile bootstrap over images ({n_boot} resamples)"

    def row(metric: str, scores: np.ndarray, **kwargs) -> MetricRow:
        low, high = stats.bootstrap_ci(scores, n_boot=n_boot, ci=ci, seed=seed)
        return MetricRow(subject, method, metric, float(np.nanmean(scores)), low, high,
                         n_images=n, **kwargs)

    size_note = f"both images resized to {image_size} px" if image_size else "native size"
    pix, ssim = M.pixcorr_and_ssim(recons, ground_truths, image_size=image_size)
    rows = [
        row("PixCorr", pix, notes=f"Pearson r of RGB pixels, {size_note}; {boot_note}"),
        row("SSIM", ssim, notes=f"grayscale, Gaussian sigma 1.5, {size_note}; {boot_note}"),
    ]

    requested = [get_network(name) for name in networks]
    results: dict[str, MetricRow] = {}
    if requested:
        images = to_uint8(recons), to_uint8(ground_truths)
        digests = image_digest(images[0]), image_digest(images[1])
    for model, group in group_by_model(requested).items():
        try:
            feats = _group_features(group, weights.get(model), images, digests, cache,
                                    batch_size, device)
        except (MissingWeightsError, MissingDependencyError) as exc:
            for network in group:
                results[network.name] = MetricRow(
                    subject, method, network.label, math.nan, n_images=n,
                    chance=0.5 if network.kind == "two_way" else None,
                    higher_is_better=network.kind == "two_way",
                    status=f"skipped: {exc}", notes=network.description,
                )
            continue
        for network in group:
            rec_f, gt_f = feats[network.layer]
            description = network.description + (
                "" if network.comparable else "; extra metric without published numbers"
            )
            if network.kind == "two_way":
                _, p = stats.two_way_permutation_test(rec_f, gt_f, n_perm=n_perm, seed=seed)
                results[network.name] = row(
                    network.label, M.two_way_identification(rec_f, gt_f), p_value=p, chance=0.5,
                    notes=f"{description}; p: permutation test of the recon-ground-truth "
                          f"pairing ({n_perm} permutations); {boot_note}",
                )
            else:
                results[network.name] = row(
                    network.label, M.correlation_distance(rec_f, gt_f), higher_is_better=False,
                    notes=f"{description}; lower is better; {boot_note}",
                )
    return rows + [results[network.name] for network in requested]


def _group_features(
    group: list[FeatureNetwork],
    weights_path: Path | None,
    images: tuple[np.ndarray, np.ndarray],
    digests: tuple[str, str],
    cache: FeatureCache,
    batch_size: int,
    device: str,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Features of reconstructions and ground truths for every layer of one model.

    The model is loaded only if some layer is not in the cache.
    """
    first = group[0]
    layers = list(dict.fromkeys(network.layer for network in group))
    tag = f"{first.model}|{weights_path or 'default'}"
    out: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    loaded = None
    for which, batch, digest in zip(("reconstructions", "ground truths"), images, digests):
        keys = {layer: f"{tag}|{layer}|{digest}" for layer in layers}
        missing = [layer for layer in layers if cache.get(keys[layer]) is None]
        if missing:
            if loaded is None:
                loaded = first.loader(weights_path)
            computed = extract_features(
                loaded, missing, batch, preprocess=first.preprocess, batch_size=batch_size,
                device=device, description=f"{first.model} features of {which}",
            )
            for layer, value in computed.items():
                cache.put(keys[layer], value)
        for layer in layers:
            out[layer].append(cache.get(keys[layer]))
    return {layer: (pair[0], pair[1]) for layer, pair in out.items()}


def evaluate_latents(
    decoded: np.ndarray,
    true: np.ndarray,
    *,
    subject: int | str | None = None,
    method: str = "",
    ks: Sequence[int] = (1, 5),
    similarities: Sequence[str] = ("cosine", "correlation"),
    reference_mean: np.ndarray | None = None,
    n_boot: int = 1000,
    n_perm: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> list[MetricRow]:
    """Latent-space metrics of decoded latents for one subject and method.

    - zero-shot N-way retrieval, top-``k`` for each ``k`` in ``ks`` and each
      similarity (chance ``k / N``; one-sided binomial p-value),
    - mean over dimensions of the per-dimension Pearson r and R² across images,
    - two-way identification in latent space (permutation p-value).

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
    reference_mean : ndarray, shape (n_latent,), or None
        If given, decoded and true latents are both centred on it before the
        retrieval similarities are computed. Pass the mean of the *training*
        latents (never of the test set): this keeps the evaluation
        non-transductive while removing the common offset that dominates cosine
        similarity of non-negative features (CNN activations). ``None`` (the
        field's convention for CLIP embeddings) compares the raw vectors.
    n_boot, n_perm, ci, seed
        As in :func:`evaluate_reconstructions`.

    Returns
    -------
    rows : list of MetricRow
    """
    decoded = np.asarray(decoded)
    true = np.asarray(true)
    decoded = decoded.reshape(len(decoded), -1)
    true = true.reshape(len(true), -1)
    n = len(decoded)
    boot_note = f"CI: {ci:.0%} percentile bootstrap over images ({n_boot} resamples)"
    rows = []
    centring = ""
    if reference_mean is not None:
        offset = np.asarray(reference_mean, dtype=np.float64).reshape(1, -1)
        if offset.shape[1] != decoded.shape[1]:
            raise ValueError(f"reference_mean has {offset.shape[1]} values for "
                             f"{decoded.shape[1]} latent dimensions")
        centred = (decoded - offset, true - offset)
        centring = "; latents centred on the training-latent mean"
    else:
        centred = (decoded, true)
    for similarity in similarities:
        ranks = M.retrieval_ranks(*centred, similarity)
        for k in ks:
            hits = (ranks < k).astype(np.float64)
            chance = min(k / n, 1.0)
            low, high = stats.bootstrap_ci(hits, n_boot=n_boot, ci=ci, seed=seed)
            rows.append(MetricRow(
                subject, method, f"top-{k} ({similarity})", float(hits.mean()), low, high,
                p_value=stats.binomial_pvalue(int(hits.sum()), n, chance), n_images=n,
                chance=chance,
                notes=f"{n}-way zero-shot retrieval, {similarity} similarity, ties count as "
                      f"misses; p: one-sided binomial test against {k}/{n}; {boot_note}"
                      f"{centring}",
            ))
    r, r2 = M.latent_correlation(decoded, true), M.latent_r2(decoded, true)
    intervals = stats.bootstrap_latent_ci(decoded, true, n_boot=n_boot, ci=ci, seed=seed)
    for metric, values, key, what in (
        ("latent r", r, "r", "Pearson r across images"),
        ("latent R2", r2, "r2", "R² across images"),
    ):
        finite = np.isfinite(values)
        excluded = f"; {np.count_nonzero(~finite)} constant dimensions excluded" if (
            not finite.all()) else ""
        rows.append(MetricRow(
            subject, method, metric,
            float(values[finite].mean()) if finite.any() else math.nan,
            *intervals[key], n_images=n,
            notes=f"mean over {values.size} dimensions of the {what}{excluded}; {boot_note} "
                  "(recomputed per resample)",
        ))
    score, p = stats.two_way_permutation_test(decoded, true, n_perm=n_perm, seed=seed)
    low, high = stats.bootstrap_ci(M.two_way_identification(decoded, true), n_boot=n_boot,
                                   ci=ci, seed=seed)
    rows.append(MetricRow(
        subject, method, "latent two-way", score, low, high, p_value=p, n_images=n, chance=0.5,
        notes=f"two-way identification of decoded vs true latents; p: permutation test of the "
              f"pairing ({n_perm} permutations); {boot_note}",
    ))
    return rows
