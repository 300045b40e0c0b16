"""The field's reconstruction and latent-space metrics, as pure functions.

Every metric returns **one score per image** (shape ``(n_images,)``); the number
reported in papers is the mean over images. Keeping the per-image scores lets
:mod:`perceptogram.evaluate.stats` bootstrap confidence intervals over images.

Pairwise comparisons are vectorised: rows are z-scored once and all
``n_images × n_images`` correlations come from one matrix product.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from perceptogram._io import check_memory
from perceptogram._progress import track
from perceptogram._stats import CONSTANT_RTOL, dimension_correlation, row_similarity
from perceptogram.errors import DataFormatError
from perceptogram.evaluate.image_pairs import (
    DEFAULT_IMAGE_SIZE,
    check_pairs,
    resized_pairs,
    rgb_to_gray,
)
from perceptogram.evaluate.metric_registry import ImageMetric, register_metric

# SSIM constants of Wang et al. (2004), as scikit-image applies them with
# ``gaussian_weights=True``: an 11-tap Gaussian window (sigma 1.5, truncated at
# 3.5 sigma), K1 = 0.01, K2 = 0.03, population covariances, data range 1.
_SSIM_SIGMA = 1.5
_SSIM_TRUNCATE = 3.5
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


#: Image pairs resized and scored at a time: the filters work image by image anyway,
#: and a small batch keeps the float64 temporaries (about 4 MB per 425-px RGB image)
#: in the heap instead of fresh zeroed pages (16 at a time took 1.8x the time, with
#: the difference in kernel time: benchmarks/bench_evaluate.py).
IMAGE_BATCH = 4


def pixcorr(
    recons: np.ndarray,
    ground_truths: np.ndarray,
    *,
    image_size: int | None = DEFAULT_IMAGE_SIZE,
    batch_size: int = IMAGE_BATCH,
) -> np.ndarray:
    """Pixel correlation (PixCorr) of each reconstruction with its ground truth.

    Both images are resized to ``image_size`` px (bilinear, antialiased), scaled
    to ``[0, 1]``, flattened over pixels and RGB channels, and correlated
    (Pearson r).

    Parameters
    ----------
    recons : ndarray, shape (n_images, height, width, 3)
        Reconstructions, ``uint8`` or float in ``[0, 1]``.
    ground_truths : ndarray, shape (n_images, height_gt, width_gt, 3)
        The images that were seen, paired with ``recons`` by index.
    image_size : int or None
        Common side length; the default 425 follows the MindEye /
        Brain-Diffuser evaluation code (see
        :data:`perceptogram.evaluate.image_pairs.DEFAULT_IMAGE_SIZE`). ``None``
        compares the images at their own (equal) size.
    batch_size : int
        Images resized at a time.

    Returns
    -------
    scores : ndarray of float64, shape (n_images,)
        Pearson r per image; PixCorr is ``scores.mean()``.
    """
    return pixcorr_and_ssim(recons, ground_truths, image_size=image_size,
                            batch_size=batch_size, which=("pixcorr",))[0]


def ssim(
    recons: np.ndarray,
    ground_truths: np.ndarray,
    *,
    image_size: int | None = DEFAULT_IMAGE_SIZE,
    batch_size: int = IMAGE_BATCH,
) -> np.ndarray:
    """Structural similarity (SSIM) of each reconstruction with its ground truth.

    The field's convention: both images resized to ``image_size`` px, converted
    to grayscale with :func:`skimage.color.rgb2gray`, and compared with
    ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1.0)``. This function computes
    exactly that, vectorised over a batch of images (one Gaussian filter call
    per statistic instead of one per image).

    Parameters
    ----------
    recons : ndarray, shape (n_images, height, width, 3)
        Reconstructions, ``uint8`` or float in ``[0, 1]``.
    ground_truths : ndarray, shape (n_images, height_gt, width_gt, 3)
        The images that were seen, paired with ``recons`` by index.
    image_size : int or None
        Common side length (default 425, as in the MindEye evaluation code).
    batch_size : int
        Images processed at a time.

    Returns
    -------
    scores : ndarray of float64, shape (n_images,)
        Mean SSIM per image; the reported SSIM is ``scores.mean()``.
    """
    return pixcorr_and_ssim(recons, ground_truths, image_size=image_size,
                            batch_size=batch_size, which=("ssim",))[0]


def pixcorr_and_ssim(
    recons: np.ndarray,
    ground_truths: np.ndarray,
    *,
    image_size: int | None = DEFAULT_IMAGE_SIZE,
    batch_size: int = IMAGE_BATCH,
    which: tuple[str, ...] = ("pixcorr", "ssim"),
) -> tuple[np.ndarray, ...]:
    """PixCorr and SSIM per image from one resizing pass (see :func:`pixcorr`, :func:`ssim`).

    Parameters
    ----------
    recons : ndarray, shape (n_images, height, width, 3)
    ground_truths : ndarray, shape (n_images, height_gt, width_gt, 3)
    image_size : int or None
    batch_size : int
    which : tuple of {"pixcorr", "ssim"}
        Metrics to compute, in the order returned.

    Returns
    -------
    scores : tuple of ndarray of float64, shape (n_images,)
        One array per entry of ``which``.
    """
    recons, ground_truths = check_pairs(recons, ground_truths)
    scores: dict[str, list[np.ndarray]] = {name: [] for name in which}
    side = image_size if image_size is not None else max(recons.shape[1:3])
    per_image = _BYTES_PER_PIXEL * side * side
    check_memory(per_image, f"PixCorr and SSIM at {side} px",
                 "lower metrics.image_size (the protocols use 425 or 512 px)")
    batch_size = max(1, min(batch_size, _BATCH_BYTES // per_image))
    batches = resized_pairs(recons, ground_truths, image_size, batch_size)
    n_batches = -(-len(recons) // batch_size)
    score = {"pixcorr": pixcorr_batch, "ssim": ssim_batch}
    for rec, gt in track(batches, " and ".join(which), total=n_batches):
        for name in which:
            scores[name].append(score[name](rec, gt))
    return tuple(np.concatenate(scores[name]) for name in which)


def pixcorr_batch(recons: np.ndarray, ground_truths: np.ndarray) -> np.ndarray:
    """PixCorr of matched images already at one size: float (n, s, s, 3) pairs -> (n,)."""
    return paired_correlation(recons.reshape(len(recons), -1),
                              ground_truths.reshape(len(ground_truths), -1))


def ssim_batch(recons: np.ndarray, ground_truths: np.ndarray) -> np.ndarray:
    """SSIM of matched images already at one size: float (n, s, s, 3) pairs -> (n,)."""
    return _ssim_gray(rgb_to_gray(recons), rgb_to_gray(ground_truths))


#: Peak bytes per pixel of one image pair in :func:`pixcorr_and_ssim` (float64 RGB and
#: grey copies of both images and the SSIM filter maps), and the budget of one batch.
_BYTES_PER_PIXEL = 128
_BATCH_BYTES = 1 << 30


def _ssim_gray(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean SSIM of matched grayscale images, shape (n, height, width) -> (n,)."""
    radius = int(_SSIM_TRUNCATE * _SSIM_SIGMA + 0.5)
    if min(x.shape[1:]) < 2 * radius + 1:
        raise DataFormatError(
            f"SSIM needs images of at least {2 * radius + 1} px; got {x.shape[1:]}"
        )

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(
            a, sigma=_SSIM_SIGMA, truncate=_SSIM_TRUNCATE, mode="reflect", axes=(1, 2)
        )

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s[:, radius:-radius, radius:-radius].mean(axis=(1, 2), dtype=np.float64)


def _check_features(a: np.ndarray, b: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a)
    b = np.asarray(b)
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    if a.shape != b.shape:
        raise DataFormatError(
            f"{what} must have matching shapes (n_images, n_features); got {a.shape} and {b.shape}"
        )
    if len(a) < 2:
        raise DataFormatError(f"{what} need at least 2 images")
    return a, b


def paired_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matched rows of two arrays.

    Parameters
    ----------
    a, b : ndarray, shape (n_images, n_features)

    Returns
    -------
    r : ndarray, shape (n_images,)
        ``r[i] = pearsonr(a[i], b[i])``; NaN where a row is constant (the one NaN
        policy of :func:`perceptogram._stats.dimension_correlation`, applied to rows).
    """
    return dimension_correlation(np.asarray(a).T, np.asarray(b).T)


def correlation_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All Pearson correlations between the rows of ``a`` and the rows of ``b``.

    Parameters
    ----------
    a : ndarray, shape (n_a, n_features)
    b : ndarray, shape (n_b, n_features)

    Returns
    -------
    r : ndarray, shape (n_a, n_b)
        ``r[i, j] = pearsonr(a[i], b[j])``; NaN for a constant row (the NaN policy
        of :mod:`perceptogram._stats`).
    """
    return row_similarity(a, b, "correlation")


#: ``similarity_matrix(a (n_a, d), b (n_b, d), metric="cosine") -> (n_a, n_b)``: cosine
#: similarity or Pearson correlation between all rows (the one implementation,
#: :func:`perceptogram._stats.row_similarity`; NaN for a row without spread).
similarity_matrix = row_similarity


def two_way_identification(recon_features: np.ndarray, gt_features: np.ndarray) -> np.ndarray:
    """Two-way identification score of each reconstruction.

    For reconstruction *i*, the fraction of the other N − 1 ground truths *j*
    whose correlation with it, ``r(recon_i, gt_j)``, is strictly lower than its
    correlation with its own ground truth, ``r(recon_i, gt_i)``; chance is 0.5.
    This is the variant of the MindEye / Brain-Diffuser evaluation code
    (MedARC-AI/fMRI-reconstruction-NSD ``src/Reconstruction_Metrics.ipynb``:
    ``r = corrcoef(gt, recon)[:N, N:]; success = r < diag(r)`` summed over the
    ground-truth axis and divided by N − 1): the reconstruction is fixed and the
    candidate ground truths vary. Ties count as failures.

    Parameters
    ----------
    recon_features : ndarray, shape (n_images, ...)
        Features of the reconstructions (flattened per image).
    gt_features : ndarray, shape (n_images, ...)
        Features of the ground truths, paired by index.

    Returns
    -------
    scores : ndarray of float64, shape (n_images,)
        Per-reconstruction fraction in ``[0, 1]``; the metric is ``scores.mean()``.
    """
    recon_features, gt_features = _check_features(
        recon_features, gt_features, "reconstruction and ground-truth features"
    )
    r = correlation_matrix(recon_features, gt_features)
    return (r < np.diag(r)[:, None]).sum(axis=1) / (len(r) - 1)


def correlation_distance(recon_features: np.ndarray, gt_features: np.ndarray) -> np.ndarray:
    """Correlation distance ``1 − r`` between each reconstruction and its ground truth.

    Used with EfficientNet-B1 and SwAV ResNet-50 average-pooled features (lower is
    better); equals :func:`scipy.spatial.distance.correlation` per pair.

    Parameters
    ----------
    recon_features : ndarray, shape (n_images, ...)
    gt_features : ndarray, shape (n_images, ...)

    Returns
    -------
    distances : ndarray of float64, shape (n_images,)
        In ``[0, 2]``; the metric is ``distances.mean()``.
    """
    recon_features, gt_features = _check_features(
        recon_features, gt_features, "reconstruction and ground-truth features"
    )
    return 1.0 - paired_correlation(recon_features, gt_features)


def retrieval_ranks(
    decoded: np.ndarray, candidates: np.ndarray, metric: str = "cosine"
) -> np.ndarray:
    """Rank of each image's own candidate among all N candidates (0 = best).

    The rank is the number of *other* candidates at least as similar to the
    decoded vector as the true one, so ties count against the decoder. A NaN
    similarity (a row without spread, see :mod:`perceptogram._stats`) is the
    worst: a NaN candidate never outranks the true one, and an image whose own
    similarity is NaN gets the last rank (``N - 1``, a miss at every ``k < N``).

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
        Decoded latents.
    candidates : ndarray, shape (n_images, n_latent)
        True latents of the same images, paired by index (the N-way gallery).
    metric : {"cosine", "correlation"}
        Similarity used to rank the candidates.

    Returns
    -------
    ranks : ndarray of int, shape (n_images,)
    """
    decoded, candidates = _check_features(decoded, candidates, "decoded and true latents")
    s = similarity_matrix(decoded, candidates, metric)
    own = np.diag(s)[:, None]
    ranks = (s >= own).sum(axis=1) - 1
    return np.where(np.isnan(own[:, 0]), len(s) - 1, ranks)


def retrieval_accuracy(
    decoded: np.ndarray, candidates: np.ndarray, k: int = 1, metric: str = "cosine"
) -> np.ndarray:
    """Zero-shot N-way top-``k`` retrieval hits.

    For each decoded latent, the N candidate latents (one per test image) are
    ranked by similarity; a hit is the true image among the ``k`` best. Chance
    is ``k / N``.

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
    candidates : ndarray, shape (n_images, n_latent)
    k : int
        How many top-ranked candidates count as a hit.
    metric : {"cosine", "correlation"}

    Returns
    -------
    hits : ndarray of float64, shape (n_images,)
        1.0 for a hit, 0.0 otherwise; top-``k`` accuracy is ``hits.mean()``.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    return (retrieval_ranks(decoded, candidates, metric) < k).astype(np.float64)


def check_latents(decoded: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate decoded and true latents and flatten each image's latent.

    Parameters
    ----------
    decoded : array-like, shape (n_images, ...)
    true : array-like, shape (n_images, ...)
        Paired by index; token latents are flattened per image.

    Returns
    -------
    decoded, true : ndarray, shape (n_images, n_latent)
    """
    return _check_features(decoded, true, "decoded and true latents")


def standardize_latents(
    decoded: np.ndarray,
    true: np.ndarray,
    train_mean: np.ndarray | None = None,
    train_std: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bring decoded and true latents to training units before comparing them.

    Latent dimensions come in different units (a hue in degrees beside a texture
    fraction; CLIP dimensions of unequal spread): a correlation or cosine over
    dimensions would be dominated by the widest ones. Each dimension is centred
    on the *training* latents' mean and divided by their standard deviation, so
    the evaluation is non-transductive (no test statistic is used). Dimensions
    that are constant in training carry no information and are dropped.

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
    true : ndarray, shape (n_images, n_latent)
    train_mean : ndarray, shape (n_latent,), or None
        Mean of the training latents; ``None`` leaves the latents uncentred
        (and then ``train_std`` must be ``None`` too).
    train_std : ndarray, shape (n_latent,), or None
        Standard deviation of the training latents; ``None`` only centres.

    Returns
    -------
    decoded, true : ndarray of float64, shape (n_images, n_kept)
    kept : ndarray of bool, shape (n_latent,)
        Dimensions kept (not constant in training; all of them when
        ``train_std`` is None).
    """
    decoded, true = _check_features(decoded, true, "decoded and true latents")
    decoded = decoded.astype(np.float64)
    true = true.astype(np.float64)
    kept = np.ones(decoded.shape[1], dtype=bool)
    if train_mean is None:
        if train_std is not None:
            raise ValueError("train_std needs train_mean (standardising centres first)")
        return decoded, true, kept
    mean = _training_stat(train_mean, decoded.shape[1], "train_mean")
    decoded = decoded - mean
    true = true - mean
    if train_std is None:
        return decoded, true, kept
    std = _training_stat(train_std, decoded.shape[1], "train_std")
    if np.any(std < 0):
        raise DataFormatError("train_std has negative values; pass standard deviations")
    kept = std > CONSTANT_RTOL * np.maximum(np.abs(mean), np.finfo(np.float64).tiny)
    return decoded[:, kept] / std[kept], true[:, kept] / std[kept], kept


def latent_statistics(latents: np.ndarray, batch_size: int = 1024
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each latent dimension, in float64, in row blocks.

    Two passes over ``latents`` (which may be memory-mapped): the full array is
    never copied, so a 16,540 x 36,864 VAE latent costs two rows of float64
    accumulators, not a 5 GB float64 copy.

    Parameters
    ----------
    latents : ndarray, shape (n_train, n_latent)
        Training latents.
    batch_size : int
        Rows read at a time.

    Returns
    -------
    mean, std : ndarray of float64, shape (n_latent,)
        ``std`` with ``ddof=0``.
    """
    latents = latents.reshape(len(latents), -1)
    if len(latents) == 0:
        raise DataFormatError("no training latents to compute statistics from")
    total = np.zeros(latents.shape[1])
    for start in range(0, len(latents), batch_size):
        total += latents[start:start + batch_size].sum(axis=0, dtype=np.float64)
    mean = total / len(latents)
    squares = np.zeros(latents.shape[1])
    for start in range(0, len(latents), batch_size):
        centred = latents[start:start + batch_size].astype(np.float64) - mean
        squares += np.einsum("ij,ij->j", centred, centred)
    return mean, np.sqrt(squares / len(latents))


def _training_stat(values: np.ndarray, n_latent: int, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape != (n_latent,):
        raise DataFormatError(f"{name} has {values.size} values for {n_latent} latent dimensions")
    if not np.isfinite(values).all():
        raise DataFormatError(f"{name} has NaN or infinite values")
    return values


def latent_correlation(decoded: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Pearson r between decoded and true values of each latent dimension, across images.

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
    true : ndarray, shape (n_images, n_latent)

    Returns
    -------
    r : ndarray of float64, shape (n_latent,)
        NaN for a dimension that is constant in either array (the one NaN
        policy of :func:`perceptogram._stats.dimension_correlation`).
    """
    decoded, true = _check_features(decoded, true, "decoded and true latents")
    return dimension_correlation(true, decoded)


def latent_r2(decoded: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Coefficient of determination of each decoded latent dimension.

    ``R² = 1 − Σ (true − decoded)² / Σ (true − mean(true))²`` over images, as
    :func:`sklearn.metrics.r2_score` with ``multioutput="raw_values"``.

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
    true : ndarray, shape (n_images, n_latent)

    Returns
    -------
    r2 : ndarray of float64, shape (n_latent,)
        NaN for a dimension whose true values are constant.
    """
    decoded, true = _check_features(decoded, true, "decoded and true latents")
    ss_res, ss_tot, constant = _r2_terms(decoded, true)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, np.nan, 1.0 - ss_res.sum(axis=0) / ss_tot)


def latent_r2_per_image(decoded: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Each image's share of the mean-over-dimensions R², so that R² is their mean.

    With ``v_k`` the (population) variance of dimension *k* of the true latents
    over the N images, image *i* scores ``q_i = 1 − mean_k (true_ik − decoded_ik)² / v_k``
    over the non-constant dimensions; ``q.mean()`` equals
    ``nanmean(latent_r2(decoded, true))``. Bootstrapping these scores over images
    (as every other per-image metric) keeps the test set's spread ``v_k`` fixed,
    so each resample computes the same estimator and the interval contains the
    point estimate (the plug-in R² of a resample is biased down by the duplicated
    images and, averaged over many dimensions, falls entirely below it).

    Parameters
    ----------
    decoded : ndarray, shape (n_images, n_latent)
    true : ndarray, shape (n_images, n_latent)

    Returns
    -------
    scores : ndarray of float64, shape (n_images,)
        NaN for every image when all dimensions are constant.
    """
    decoded, true = _check_features(decoded, true, "decoded and true latents")
    ss_res, ss_tot, constant = _r2_terms(decoded, true)
    if constant.all():
        return np.full(len(decoded), np.nan)
    variance = ss_tot[~constant] / len(decoded)
    return 1.0 - (ss_res[:, ~constant] / variance).mean(axis=1)


def _r2_terms(decoded: np.ndarray, true: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Squared residuals (n, k), total sums of squares (k,) and constant dimensions (k,)."""
    decoded = decoded.astype(np.float64)
    true = true.astype(np.float64)
    centred = true - true.mean(axis=0)
    ss_tot = np.einsum("ij,ij->j", centred, centred)
    scale = np.abs(true).max(axis=0)
    constant = np.sqrt(ss_tot / len(true)) <= CONSTANT_RTOL * scale
    return (true - decoded) ** 2, ss_tot, constant


register_metric(ImageMetric(
    "pixcorr", "PixCorr", pixcorr_batch, "Pearson r of RGB pixels", order=0))
register_metric(ImageMetric(
    "ssim", "SSIM", ssim_batch, "grayscale, Gaussian sigma 1.5", order=1))
