"""``attributes``: named descriptors against hand-computed values and planted stimuli."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
from skimage.color import rgb2gray

from perceptogram.data.simulate import stimuli
from perceptogram.latents.attributes import ImageAttributes, high_frequency_power, hue_angle

NAMES = ImageAttributes.feature_names


def column(features, name):
    return features[:, NAMES.index(name)]


def uniform(rgb, size=32):
    return np.broadcast_to(np.asarray(rgb, dtype=np.uint8), (size, size, 3))


def circular_corr(a_deg, b_deg):
    """Jammalamadaka–SenGupta circular correlation."""
    a, b = np.radians(a_deg), np.radians(b_deg)
    sa = np.sin(a - np.angle(np.exp(1j * a).mean()))
    sb = np.sin(b - np.angle(np.exp(1j * b).mean()))
    return np.sum(sa * sb) / np.sqrt(np.sum(sa**2) * np.sum(sb**2))


def test_uniform_colours_give_hand_computed_values():
    colours = [(255, 0, 0), (0, 200, 0), (30, 60, 240), (200, 180, 40), (128, 128, 128)]
    images = np.stack([uniform(c) for c in colours])
    features = ImageAttributes(image_size=32).encode(images)
    assert features.shape == (5, len(NAMES)) and features.dtype == np.float32
    for row, (r, g, b) in zip(features, colours):
        h, s, v = colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)
        chroma = s * v
        values = dict(zip(NAMES, row))
        np.testing.assert_allclose(values["hue_cos"], chroma * np.cos(2 * np.pi * h), atol=1e-5)
        np.testing.assert_allclose(values["hue_sin"], chroma * np.sin(2 * np.pi * h), atol=1e-5)
        if chroma > 0:
            np.testing.assert_allclose(hue_angle(values["hue_cos"], values["hue_sin"]), 360 * h,
                                       atol=1e-3)
        np.testing.assert_allclose(values["redness"], (r - b) / 255, atol=1e-6)
        rg, yb = r - g, (r + g) / 2 - b
        np.testing.assert_allclose(values["colourfulness"], 0.3 * np.hypot(rg, yb), rtol=1e-5)
        luminance = rgb2gray(np.asarray([[[r, g, b]]], np.uint8)).item()
        np.testing.assert_allclose(values["luminance"], luminance, atol=1e-6)
        assert values["high_freq_fraction"] == 0
        assert values["high_freq_contrast"] == pytest.approx(0, abs=1e-9)


def test_colourfulness_grows_with_colour_spread():
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 256, size=(1, 32, 32, 1), dtype=np.uint8), 3, axis=3)
    colourful = rng.integers(0, 256, size=(1, 32, 32, 3), dtype=np.uint8)
    features = ImageAttributes(image_size=32).encode(np.concatenate([grey, colourful]))
    values = column(features, "colourfulness")
    assert values[0] == pytest.approx(0, abs=1e-6)
    assert values[1] > 50


def test_spectrum_obeys_parseval_and_separates_gratings():
    rng = np.random.default_rng(0)
    gray = rng.random((2, 64, 64))
    high, total = high_frequency_power(gray, cutoff=0.125)
    window = np.outer(np.hanning(64), np.hanning(64))
    # Parseval: the non-DC power is the variance of the windowed, mean-removed image.
    expected = ((gray - gray.mean(axis=(1, 2), keepdims=True)) * window).var(axis=(1, 2))
    np.testing.assert_allclose(total, expected, rtol=1e-10)
    assert np.all(high < total)
    x = np.arange(128)
    images = []
    for cycles_per_pixel in (1 / 32, 1 / 4):  # below and above the 0.125 cutoff
        wave = 128 + 60 * np.sin(2 * np.pi * cycles_per_pixel * x)
        images.append(np.repeat(np.tile(wave, (128, 1))[..., None], 3, axis=2).astype(np.uint8))
    features = ImageAttributes(image_size=128).encode(np.stack(images))
    fraction = column(features, "high_freq_fraction")
    assert fraction[0] < 0.05 and fraction[1] > 0.95


@pytest.fixture(scope="module")
def planted():
    """Random stimuli from the simulator, with every attribute varying."""
    rng = np.random.default_rng(0)
    categories = [cls.name for cls in stimuli.OBJECT_CLASSES] * 5
    attrs = stimuli.sample_attributes(categories, 3, rng)
    images = np.stack([
        stimuli.render_stimulus(
            attrs["category"][i], attrs["hue"][i], attrs["texture"][i], attrs["brightness"][i],
            attrs["size"][i], attrs["position_x"][i], attrs["orientation"][i], image_size=96,
        )
        for i in range(len(attrs["hue"]))
    ])
    return attrs, ImageAttributes().encode(images)


def test_planted_hue_and_brightness_are_recovered(planted):
    attrs, features = planted
    hue = hue_angle(column(features, "hue_cos"), column(features, "hue_sin"))
    error = np.abs((hue - attrs["hue"] + 180) % 360 - 180)
    assert error.max() < 2.0
    assert circular_corr(hue, attrs["hue"]) > 0.99
    assert np.corrcoef(column(features, "luminance"), attrs["brightness"])[0, 1] > 0.95
    groups = stimuli.hue_group(attrs["hue"])
    redness = column(features, "redness")
    assert np.all(redness[groups == "red"] > 0) and np.all(redness[groups == "blue"] < 0)


def test_planted_texture_is_recovered(planted):
    rng = np.random.default_rng(1)
    texture = rng.uniform(0, 1, 30)
    # Texture alone varies: the fine-detail contrast follows it linearly.
    images = np.stack(
        [stimuli.render_stimulus("apple", 200.0, t, 0.8, 0.6, 0.0, 0.0) for t in texture]
    )
    contrast = column(ImageAttributes().encode(images), "high_freq_contrast")
    assert np.corrcoef(contrast, texture)[0, 1] > 0.99
    # Everything varies: object area and fill luminance also change how much texture
    # the pixels carry, so the descriptor follows the planted value less closely.
    attrs, features = planted
    assert np.corrcoef(column(features, "high_freq_contrast"), attrs["texture"])[0, 1] > 0.4


def test_descriptors_do_not_depend_on_resolution():
    args = ("fish", 30.0, 0.7, 0.9, 0.6, 0.05, 10.0)
    small = stimuli.render_stimulus(*args, image_size=128)
    large = stimuli.render_stimulus(*args, image_size=256)
    features = ImageAttributes(image_size=128).encode(np.stack([small]))
    features_large = ImageAttributes(image_size=128).encode(np.stack([large]))
    np.testing.assert_allclose(features, features_large, rtol=0.1, atol=0.01)


def test_hue_is_exposed_only_as_a_vector():
    # a circular angle must never be a regression target: 359 deg and 1 deg are neighbours
    assert "hue_deg" not in NAMES
    assert ImageAttributes().dim == len(NAMES) == ImageAttributes.shape[0]
    np.testing.assert_allclose(hue_angle(np.array([1.0, 0.0, -1.0, 0.0]),
                                         np.array([0.0, 1.0, 0.0, -1.0])), [0, 90, 180, 270])


def test_hsv_is_skimage_rgb2hsv_to_the_bit():
    # grey pixels (0 / 0 hue), black, white and ties between the largest channels
    from skimage.color import rgb2hsv

    from perceptogram.latents.attributes import _hsv

    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (4, 24, 24, 3)).astype(np.float64) / 255.0
    rgb[0, :6] = 0.5
    rgb[1, :6] = 0.0
    rgb[1, 6:9] = 1.0
    rgb[2, :6, :, 0] = rgb[2, :6, :, 1]
    rgb[2, 6:12, :, 2] = rgb[2, 6:12, :, 1]
    rgb[3, :6, :, 0] = rgb[3, :6, :, 2]
    expected = rgb2hsv(rgb, channel_axis=-1)
    for ours, theirs in zip(_hsv(rgb), np.moveaxis(expected, -1, 0)):
        np.testing.assert_array_equal(ours, theirs)
