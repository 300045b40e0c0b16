"""Numerics of perceptogram.evaluate.metrics against scikit-image, scipy and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import correlation as scipy_correlation_distance
from scipy.stats import pearsonr
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity
from sklearn.metrics import r2_score

from perceptogram.errors import DataFormatError
from perceptogram.evaluate import metrics as M
from perceptogram.evaluate.image_pairs import DEFAULT_IMAGE_SIZE, resize


def _smooth_images(rng, n, size):
    """Natural-ish images: low-frequency noise, uint8."""
    coarse = rng.random((n, 6, 6, 3))
    return np.round(resize(coarse, size) * 255).astype(np.uint8)


def test_default_image_size_is_the_field_convention():
    assert DEFAULT_IMAGE_SIZE == 425


def test_ssim_equals_skimage_with_conventional_arguments():
    rng = np.random.default_rng(0)
    gt = _smooth_images(rng, 4, 40)
    rec = np.clip(gt / 255.0 + rng.normal(0, 0.1, gt.shape), 0, 1)
    ours = M.ssim(rec, gt, image_size=None)
    expected = [
        structural_similarity(
            rgb2gray(r), rgb2gray(g / 255.0), gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=1.0,
        )
        for r, g in zip(rec, gt)
    ]
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_ssim_resizes_both_images_before_comparing():
    rng = np.random.default_rng(1)
    gt = _smooth_images(rng, 3, 50)
    rec = _smooth_images(rng, 3, 20)
    ours = M.ssim(rec, gt, image_size=32)
    r32, g32 = resize(rec, 32), resize(gt, 32)
    expected = [
        structural_similarity(rgb2gray(r), rgb2gray(g), gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=1.0)
        for r, g in zip(r32, g32)
    ]
    np.testing.assert_allclose(ours, expected, rtol=1e-10)


def test_pixcorr_equals_pearson_per_image():
    rng = np.random.default_rng(2)
    gt = _smooth_images(rng, 5, 24)
    rec = rng.random((5, 16, 16, 3))
    ours = M.pixcorr(rec, gt, image_size=24)
    r24 = resize(rec, 24)
    expected = [pearsonr(r.ravel(), (g / 255.0).ravel())[0] for r, g in zip(r24, gt)]
    np.testing.assert_allclose(ours, expected, rtol=1e-10)


def test_pixcorr_and_ssim_of_identical_images_are_one():
    gt = _smooth_images(np.random.default_rng(3), 3, 30)
    np.testing.assert_allclose(M.pixcorr(gt, gt, image_size=None), 1.0)
    np.testing.assert_allclose(M.ssim(gt, gt, image_size=None), 1.0)


def test_image_validation():
    good = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(DataFormatError, match="RGB"):
        M.pixcorr(np.zeros((2, 8, 8)), good)
    with pytest.raises(DataFormatError, match=r"\[0, 1\]"):
        M.pixcorr(np.full((2, 8, 8, 3), 3.0), good)
    with pytest.raises(DataFormatError, match="paired"):
        M.pixcorr(good[:1], good)
    with pytest.raises(DataFormatError, match="image_size"):
        M.pixcorr(good, np.zeros((2, 9, 9, 3), np.uint8), image_size=None)


def _two_way_brute_force(rec, gt):
    n = len(rec)
    scores = np.zeros(n)
    for i in range(n):
        own = np.corrcoef(rec[i], gt[i])[0, 1]
        wins = sum(np.corrcoef(rec[i], gt[j])[0, 1] < own for j in range(n) if j != i)
        scores[i] = wins / (n - 1)
    return scores


def test_two_way_identification_equals_brute_force_double_loop():
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(30, 50))
    rec = 0.5 * gt + rng.normal(size=gt.shape)
    np.testing.assert_allclose(M.two_way_identification(rec, gt), _two_way_brute_force(rec, gt))


def test_two_way_identification_identical_is_one_and_shuffled_is_chance():
    rng = np.random.default_rng(5)
    gt = rng.normal(size=(200, 64))
    assert M.two_way_identification(gt, gt).mean() == 1.0
    shuffled = gt[rng.permutation(200)]
    assert abs(M.two_way_identification(shuffled, gt).mean() - 0.5) < 0.05


def test_correlation_distance_equals_scipy():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(7, 3, 4)), rng.normal(size=(7, 3, 4))
    expected = [scipy_correlation_distance(x.ravel(), y.ravel()) for x, y in zip(a, b)]
    np.testing.assert_allclose(M.correlation_distance(a, b), expected, rtol=1e-10)


@pytest.mark.parametrize("metric", ["cosine", "correlation"])
def test_retrieval_identical_is_perfect_and_random_is_chance(metric):
    rng = np.random.default_rng(7)
    true = rng.normal(size=(200, 32))
    assert M.retrieval_accuracy(true, true, k=1, metric=metric).mean() == 1.0
    top1 = [M.retrieval_accuracy(rng.normal(size=(200, 32)), true, 1, metric).mean()
            for _ in range(10)]
    top5 = [M.retrieval_accuracy(rng.normal(size=(200, 32)), true, 5, metric).mean()
            for _ in range(10)]
    assert abs(np.mean(top1) - 1 / 200) < 0.01
    assert abs(np.mean(top5) - 5 / 200) < 0.015


def test_retrieval_ranks_brute_force_and_ties_count_against():
    rng = np.random.default_rng(8)
    true = rng.normal(size=(12, 5))
    dec = true + rng.normal(size=true.shape)
    sim = [[np.dot(d, t) / np.linalg.norm(d) / np.linalg.norm(t) for t in true] for d in dec]
    expected = [sum(s[j] > s[i] for j in range(12)) for i, s in enumerate(sim)]
    np.testing.assert_array_equal(M.retrieval_ranks(dec, true, "cosine"), expected)
    tied = np.ones((4, 3))  # all candidates identical: no image can be singled out
    assert M.retrieval_accuracy(tied, tied, k=1).sum() == 0


def test_latent_r_and_r2_match_scipy_and_sklearn():
    rng = np.random.default_rng(9)
    true = rng.normal(size=(40, 6))
    dec = 0.7 * true + 0.3 * rng.normal(size=true.shape)
    expected_r = [pearsonr(dec[:, k], true[:, k])[0] for k in range(6)]
    np.testing.assert_allclose(M.latent_correlation(dec, true), expected_r, rtol=1e-10)
    np.testing.assert_allclose(
        M.latent_r2(dec, true), r2_score(true, dec, multioutput="raw_values"), rtol=1e-10
    )


def test_latent_statistics_in_blocks_equal_numpy_in_float64():
    rng = np.random.default_rng(0)
    latents = (1e3 + rng.normal(size=(103, 7))).astype(np.float32)
    mean, std = M.latent_statistics(latents, batch_size=10)
    np.testing.assert_allclose(mean, latents.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, latents.astype(np.float64).std(0), rtol=1e-10)
