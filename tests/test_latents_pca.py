"""``pca`` and ``ica`` pixel spaces: streaming fit, exact decoders, saving."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

from perceptogram.data.core.image_files import resize_images
from perceptogram.errors import DataFormatError, PerceptogramError
from perceptogram.latents.pca import PixelICA, PixelPCA

SIZE = 12
N_FACTORS = 10


def low_rank_images(n, seed, noise=3.0):
    """Images made of N_FACTORS smooth basis images plus a little pixel noise."""
    basis_rng = np.random.default_rng(1234)  # the same basis for every call
    coarse = basis_rng.normal(size=(N_FACTORS, 4, 4, 3))
    basis = np.stack([
        np.asarray(Image.fromarray(((c - c.min()) / np.ptp(c) * 255).astype(np.uint8)).resize(
            (SIZE, SIZE), Image.Resampling.BICUBIC), dtype=float) - 127.5
        for c in coarse
    ])
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(n, N_FACTORS)) * np.linspace(0.25, 0.05, N_FACTORS)
    pixels = np.tensordot(weights, basis, axes=1) + noise * rng.normal(size=(n, SIZE, SIZE, 3))
    pixels += 128
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def train():
    return low_rank_images(150, seed=0)


@pytest.fixture(scope="module")
def held_out():
    return low_rank_images(40, seed=1)


def flat(images):
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


@pytest.mark.parametrize("image_size", [SIZE, 5])  # fewer / more images than pixel values
def test_streaming_fit_equals_one_shot_sklearn_pca(train, image_size):
    train = resize_images(train, image_size)
    space = PixelPCA(n_components=20, image_size=image_size, batch_size=16).fit(train)
    reference = PCA(n_components=20, svd_solver="full").fit(flat(train))
    np.testing.assert_allclose(space.mean_, reference.mean_, atol=1e-6)
    # Components agree up to sign (here even in sign: both use scikit-learn's convention).
    signs = np.sign(np.sum(space.components_ * reference.components_, axis=1))
    np.testing.assert_allclose(space.components_ * signs[:, None], reference.components_, atol=1e-4)
    np.testing.assert_allclose(space.explained_variance_, reference.explained_variance_, rtol=1e-4)
    np.testing.assert_allclose(
        space.explained_variance_ratio_, reference.explained_variance_ratio_, rtol=1e-4
    )
    np.testing.assert_allclose(space.encode(train), reference.transform(flat(train)), atol=1e-4)


def test_more_components_than_the_images_span_are_still_orthonormal(train):
    # 40 images repeating 4 distinct ones span 3 directions around their mean: the
    # components past the third are any orthonormal completion, the first three exact.
    images = np.tile(train[:4], (10, 1, 1, 1))
    space = PixelPCA(n_components=6, image_size=SIZE, batch_size=16).fit(images)
    reference = PCA(n_components=3, svd_solver="full").fit(flat(images))
    components = space.components_.astype(float)
    np.testing.assert_allclose(components @ components.T, np.eye(6), atol=1e-5)
    signs = np.sign(np.sum(components[:3] * reference.components_, axis=1))
    np.testing.assert_allclose(components[:3] * signs[:, None], reference.components_,
                               atol=1e-4)
    np.testing.assert_allclose(space.explained_variance_[3:], 0.0, atol=1e-8)


def test_fit_sources_agree_and_images_are_resized(train, tmp_path):
    from_array = PixelPCA(n_components=8, image_size=SIZE, batch_size=32).fit(train)
    from_batches = PixelPCA(n_components=8, image_size=SIZE).fit(iter([train[:70], train[70:]]))
    paths = []
    for i, image in enumerate(train):
        paths.append(tmp_path / f"{i:03d}.png")
        Image.fromarray(image).save(paths[-1])
    from_files = PixelPCA(n_components=8, image_size=SIZE, batch_size=64).fit(paths)
    for other in (from_batches, from_files):
        np.testing.assert_allclose(other.components_, from_array.components_, atol=1e-5)
    # Larger inputs are resized to image_size before projection.
    big = np.repeat(np.repeat(train[:5], 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(
        from_array.encode(big), from_array.encode(resize_images(big, SIZE)), atol=1e-6
    )


def test_round_trip_error_on_held_out_images(train, held_out):
    errors = []
    for k in (1, 3, 6, N_FACTORS):
        space = PixelPCA(n_components=k, image_size=SIZE).fit(train)
        decoded = space.decode(space.encode(held_out))
        assert decoded.shape == held_out.shape and decoded.dtype == np.uint8
        errors.append(np.sqrt(np.mean((decoded.astype(float) - held_out) ** 2)))
    assert np.all(np.diff(errors) < 0), errors
    # With every factor kept, what is left is about the planted pixel noise (3 levels).
    assert errors[-1] < 4.0
    assert errors[0] > 3 * errors[-1]


def test_n_components_is_capped_to_the_data(train):
    space = PixelPCA(n_components=1000, image_size=SIZE).fit(train[:30])
    assert space.dim == 30 and space.shape == (30,)
    # All components kept: training images come back exactly (up to uint8 rounding).
    decoded = space.decode(space.encode(train[:30]))
    assert np.abs(decoded.astype(int) - train[:30]).max() <= 1


def test_save_load_round_trip(train, tmp_path):
    space = PixelPCA(n_components=5, image_size=SIZE).fit(train)
    path = space.save(tmp_path / "pixels")
    assert path.suffix == ".safetensors" and path.with_suffix(".json").is_file()
    loaded = PixelPCA.load(path)
    assert loaded.fingerprint() == space.fingerprint()
    np.testing.assert_array_equal(loaded.encode(train[:4]), space.encode(train[:4]))
    with pytest.raises(DataFormatError, match="'pca'"):
        PixelICA.load(path)


def test_fingerprint_tracks_the_fit(train):
    a = PixelPCA(n_components=5, image_size=SIZE).fit(train[:100])
    b = PixelPCA(n_components=5, image_size=SIZE).fit(train[50:])
    assert a.fingerprint() != b.fingerprint()


def test_unfitted_and_bad_inputs(train):
    space = PixelPCA(n_components=5, image_size=SIZE)
    with pytest.raises(NotFittedError, match="fit"):
        space.encode(train[:2])
    with pytest.raises(DataFormatError, match="at least 2"):
        space.fit(train[:1])
    space.fit(train)
    with pytest.raises(DataFormatError, match=r"\(n_images, 5\)"):
        space.decode(np.zeros((2, 4)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # Gaussian data
def test_ica_decode_inverts_encode(train):
    space = PixelICA(n_components=N_FACTORS, image_size=SIZE).fit(train)
    pca = PixelPCA(n_components=N_FACTORS, image_size=SIZE).fit(train)
    latents = space.encode(train)
    assert latents.shape == (len(train), N_FACTORS) and latents.dtype == np.float32
    # Sources are white: unit variance, uncorrelated.
    np.testing.assert_allclose(np.cov(latents.T), np.eye(N_FACTORS), atol=0.05)
    # Same subspace as PCA, so decoding gives the PCA reconstruction.
    diff = space.decode(latents).astype(int) - pca.decode(pca.encode(train)).astype(int)
    assert np.abs(diff).max() <= 1
    full = PixelICA(n_components=30, image_size=SIZE).fit(train[:30])
    assert full.dim == 29  # the rank of 30 centred images
    assert np.abs(full.decode(full.encode(train[:30])).astype(int) - train[:30]).max() <= 1


def test_ica_recovers_planted_independent_sources():
    rng = np.random.default_rng(0)
    n, n_sources = 400, 3
    sources = rng.laplace(size=(n, n_sources))  # super-Gaussian, as ICA needs
    mixing = rng.normal(size=(n_sources, SIZE * SIZE * 3)) * 12
    pixels = 128 + sources @ mixing + rng.normal(size=(n, SIZE * SIZE * 3))
    images = np.clip(np.rint(pixels), 0, 255).astype(np.uint8).reshape(n, SIZE, SIZE, 3)
    space = PixelICA(n_components=n_sources, image_size=SIZE, random_state=1).fit(images)
    recovered = space.encode(images)
    corr = np.abs(np.corrcoef(sources.T, recovered.T)[:n_sources, n_sources:])
    assert np.all(corr.max(axis=1) > 0.95), corr


def test_ica_refuses_one_shot_iterators(train):
    with pytest.raises(PerceptogramError, match="twice"):
        PixelICA(n_components=3, image_size=SIZE).fit(iter([train]))
