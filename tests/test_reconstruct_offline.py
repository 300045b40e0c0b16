"""Offline reconstruction: linear pixel decoding and gallery retrieval."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import Ridge

from perceptogram.errors import DataFormatError, PerceptogramError
from perceptogram.latents.attributes import ImageAttributes
from perceptogram.latents.pca import PixelPCA
from perceptogram.reconstruct import decode_to_images, retrieve, retrieve_images


def brute_force(decoded, gallery, k, metric):
    if metric == "correlation":
        decoded = decoded - decoded.mean(axis=1, keepdims=True)
        gallery = gallery - gallery.mean(axis=1, keepdims=True)
    sim = (decoded / np.linalg.norm(decoded, axis=1, keepdims=True)) @ (
        gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    ).T
    return np.argsort(-sim, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("metric", ["cosine", "correlation"])
@pytest.mark.parametrize("k", [1, 5])
def test_retrieve_matches_brute_force_across_chunks(metric, k):
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(203, 16))
    decoded = gallery[rng.permutation(203)[:30]] + 0.5 * rng.normal(size=(30, 16))
    expected = brute_force(decoded, gallery, k, metric)
    for chunk_size in (7, 64, 1000):
        got = retrieve(decoded, gallery, k=k, metric=metric, chunk_size=chunk_size)
        assert got.shape == (30, k) and got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)


def test_identical_embeddings_are_retrieved_exactly():
    rng = np.random.default_rng(1)
    gallery = rng.normal(size=(500, 32)).astype(np.float32)
    order = rng.permutation(500)
    np.testing.assert_array_equal(retrieve(gallery[order], gallery, chunk_size=64)[:, 0], order)
    # Scaling does not matter for cosine; a shift does not matter for correlation.
    np.testing.assert_array_equal(retrieve(3 * gallery[order], gallery)[:, 0], order)
    np.testing.assert_array_equal(
        retrieve(gallery[order] + 5, gallery, metric="correlation")[:, 0], order
    )


def test_ties_go_to_the_lower_index():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 0.0]])
    indices = retrieve(np.array([[1.0, 0.0]]), gallery, k=3, chunk_size=2)
    np.testing.assert_array_equal(indices, [[0, 2, 3]])


def test_retrieve_validates_its_inputs():
    gallery = np.zeros((4, 3))
    with pytest.raises(DataFormatError, match="same number of columns"):
        retrieve(np.zeros((2, 2)), gallery)
    with pytest.raises(ValueError, match="metric"):
        retrieve(np.zeros((2, 3)), gallery, metric="euclid")
    with pytest.raises(ValueError, match="k must be"):
        retrieve(np.zeros((2, 3)), gallery, k=5)


def test_retrieve_images_from_arrays_and_files(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(12, 16, 16, 3), dtype=np.uint8)
    gallery = rng.normal(size=(12, 8))
    queries = gallery[[3, 7, 3]]
    np.testing.assert_array_equal(retrieve_images(queries, gallery, images), images[[3, 7, 3]])
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    np.testing.assert_array_equal(retrieve_images(queries, gallery, paths), images[[3, 7, 3]])
    with pytest.raises(DataFormatError, match="12 latents but 11 images"):
        retrieve_images(queries, gallery, images[:11])


def test_linear_decoding_from_simulated_eeg_reconstructs_images():
    """Planted: EEG is a linear mixture of the images' PCA scores plus noise."""
    rng = np.random.default_rng(0)
    n_train, n_test, size, n_components = 300, 20, 8, 12
    coarse = rng.normal(size=(n_train + n_test, 2, 2, 3))
    images = np.stack([
        np.asarray(Image.fromarray(((c - c.min()) / np.ptp(c) * 200 + 20).astype(np.uint8)).resize(
            (size, size), Image.Resampling.BILINEAR))
        for c in coarse
    ])
    train, test = images[:n_train], images[n_train:]
    space = PixelPCA(n_components=n_components, image_size=size).fit(train)
    latents = space.encode(images)
    forward = rng.normal(size=(n_components, 64))
    eeg = latents @ forward + 0.05 * rng.normal(size=(len(images), 64))
    decoder = Ridge(alpha=1e-3).fit(eeg[:n_train], latents[:n_train])
    predicted = decoder.predict(eeg[n_train:])
    reconstructions = decode_to_images(space, predicted, batch_size=6)
    assert reconstructions.shape == test.shape and reconstructions.dtype == np.uint8
    np.testing.assert_array_equal(reconstructions, space.decode(predicted))  # batching is invisible
    pixcorr = [np.corrcoef(r.ravel(), t.ravel())[0, 1] for r, t in zip(reconstructions, test)]
    assert np.mean(pixcorr) > 0.9
    # Each reconstruction is closer to its own image than to the other test images.
    residuals = reconstructions[:, None].astype(float) - test[None].astype(float)
    distances = (residuals**2).sum(axis=(2, 3, 4))
    np.testing.assert_array_equal(distances.argmin(axis=1), np.arange(n_test))


def test_decode_to_images_refuses_what_it_cannot_decode():
    with pytest.raises(PerceptogramError, match="cannot turn latents back"):
        decode_to_images(ImageAttributes(), np.zeros((2, 8)))
    space = PixelPCA(n_components=3, image_size=4).fit(
        np.random.default_rng(0).integers(0, 256, size=(10, 4, 4, 3), dtype=np.uint8)
    )
    with pytest.raises(DataFormatError, match=r"\(n_images, 3\)"):
        decode_to_images(space, np.zeros((2, 4)))
    with pytest.raises(DataFormatError, match="NaN"):
        decode_to_images(space, np.full((2, 3), np.nan))
    assert decode_to_images(space, np.zeros((0, 3))).shape == (0, 4, 4, 3)
