"""Procedural stimuli: every planted attribute can be measured back from the pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr
from skimage.color import rgb2gray, rgb2hsv

from perceptogram.data.simulate import stimuli
from perceptogram.data.simulate.dataset import load_ground_truth


def _object_pixels(image: np.ndarray) -> np.ndarray:
    """Object pixels are the saturated ones (the background is grey)."""
    return rgb2hsv(image)[..., 1] > 0.4


def _mean_hue(image: np.ndarray) -> float:
    hsv = rgb2hsv(image)
    hue = hsv[..., 0][_object_pixels(image)] * 2.0 * np.pi
    return float(np.rad2deg(np.angle(np.mean(np.exp(1j * hue)))) % 360.0)


def _hue_error(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _high_frequency_energy(image: np.ndarray, cutoff: float = 16.0) -> float:
    """Power above ``cutoff`` cycles per image over the squared mean luminance."""
    gray = rgb2gray(image)
    power = np.abs(np.fft.fft2(gray - gray.mean())) ** 2 / gray.size ** 2
    f = np.fft.fftfreq(gray.shape[0]) * gray.shape[0]
    radius = np.hypot(f[:, None], f[None, :])
    return float(power[radius > cutoff].sum() / gray.mean() ** 2)


def _random_stimuli(n: int, seed: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    classes = [c.name for c in stimuli.OBJECT_CLASSES]
    attrs = stimuli.sample_attributes(list(rng.choice(classes, n)), 1, rng)
    images = [stimuli.render_stimulus(
        str(attrs["category"][i]), attrs["hue"][i], attrs["texture"][i],
        attrs["brightness"][i], attrs["size"][i], attrs["position_x"][i],
        attrs["orientation"][i]) for i in range(n)]
    return attrs, images


def test_render_returns_rgb_uint8_of_requested_size():
    image = stimuli.render_stimulus("fish", 100.0, 0.5, 0.8, 0.6, 0.0, 0.0, image_size=96)
    assert image.shape == (96, 96, 3)
    assert image.dtype == np.uint8


def test_object_hue_matches_planted_hue():
    attrs, images = _random_stimuli(40, seed=1)
    errors = [_hue_error(_mean_hue(im), h) for im, h in zip(images, attrs["hue"])]
    assert max(errors) < 2.0


def test_brightness_is_a_global_luminance_factor():
    attrs, images = _random_stimuli(60, seed=2)
    # The background is grey * brightness (an 8-pixel block spans one checker period).
    background = np.array([im[:8, :8].mean() for im in images])
    expected = 255.0 * stimuli.BACKGROUND_GREY * attrs["brightness"]
    np.testing.assert_allclose(background, expected, atol=1.0)
    luminance = np.array([rgb2gray(im).mean() for im in images])
    assert np.corrcoef(luminance, attrs["brightness"])[0, 1] > 0.95


def test_texture_drives_high_spatial_frequency_energy():
    attrs, images = _random_stimuli(60, seed=3)
    energy = [_high_frequency_energy(im) for im in images]
    assert spearmanr(energy, attrs["texture"]).statistic > 0.95


def test_texture_leaves_hue_unchanged():
    smooth = stimuli.render_stimulus("apple", 240.0, 0.0, 0.9, 0.6, 0.0, 0.0)
    textured = stimuli.render_stimulus("apple", 240.0, 1.0, 0.9, 0.6, 0.0, 0.0)
    assert _high_frequency_energy(textured) > 5 * _high_frequency_energy(smooth)
    assert _hue_error(_mean_hue(smooth), 240.0) < 1.0
    assert _hue_error(_mean_hue(textured), 240.0) < 1.0


def test_geometry_is_visible_in_the_mask():
    size = 128
    left = stimuli.object_mask("fish", 0.6, -0.1, 0.0, size)
    right = stimuli.object_mask("fish", 0.6, 0.1, 0.0, size)
    cols = np.arange(size)
    centroid = [float((m.sum(axis=0) * cols).sum() / m.sum()) for m in (left, right)]
    assert centroid[1] - centroid[0] == pytest.approx(0.2 * size, abs=1.0)
    small = stimuli.object_mask("fish", 0.45, 0.0, 0.0, size)
    big = stimuli.object_mask("fish", 0.7, 0.0, 0.0, size)
    assert big.sum() / small.sum() == pytest.approx((0.7 / 0.45) ** 2, rel=0.05)
    turned = stimuli.object_mask("fish", 0.6, 0.0, 40.0, size)
    straight = stimuli.object_mask("fish", 0.6, 0.0, 0.0, size)
    assert turned.sum() == pytest.approx(straight.sum(), rel=0.03)
    assert np.abs(turned - straight).sum() > 0.3 * straight.sum()


def test_silhouettes_differ_between_classes():
    masks = {c.name: stimuli.object_mask(c.name, 0.6, 0.0, 0.0, 128) > 0.5
             for c in stimuli.OBJECT_CLASSES}
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
            assert iou < 0.7, (a, b, iou)


def test_objects_stay_inside_the_image():
    for cls in stimuli.OBJECT_CLASSES:
        for x in stimuli.ATTRIBUTE_RANGES["position_x"]:
            mask = stimuli.object_mask(cls.name, stimuli.ATTRIBUTE_RANGES["size"][1], x, 40.0)
            border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
            assert border.max() == 0.0


def test_sampled_attributes_are_independent_and_concept_structured():
    rng = np.random.default_rng(0)
    classes = [c.name for c in stimuli.OBJECT_CLASSES] * 200
    attrs = stimuli.sample_attributes(classes, 5, rng)
    n = len(classes) * 5
    hue = np.deg2rad(attrs["hue"])
    columns = np.column_stack([np.cos(hue), np.sin(hue), attrs["texture"],
                               attrs["brightness"], attrs["size"], attrs["position_x"],
                               attrs["orientation"],
                               (attrs["superclass"] == "animate").astype(float)])
    corr = np.corrcoef(columns.T)
    off_diagonal = corr[~np.eye(len(corr), dtype=bool)]
    assert np.abs(off_diagonal).max() < 4.0 / np.sqrt(n / 5)
    for name, (low, high) in stimuli.ATTRIBUTE_RANGES.items():
        assert attrs[name].min() >= low and attrs[name].max() <= high
    # images of a concept share class and resemble each other in texture
    assert (attrs["category"].reshape(-1, 5) == attrs["category"].reshape(-1, 5)[:, :1]).all()
    texture = attrs["texture"].reshape(-1, 5)
    assert texture.std(axis=1).mean() < 0.5 * texture.std()


def test_hue_group_views():
    groups = stimuli.hue_group(np.array([0.0, 355.0, 29.0, 31.0, 240.0, 215.0, 120.0]))
    assert groups.tolist() == ["red", "red", "red", "other", "blue", "blue", "other"]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown object class 'cat'"):
        stimuli.render_stimulus("cat", 0.0, 0.5, 0.5, 0.5, 0.0, 0.0)
    with pytest.raises(ValueError, match="texture"):
        stimuli.render_stimulus("fish", 0.0, 1.5, 0.5, 0.5, 0.0, 0.0)
    with pytest.raises(ValueError, match="images_per_concept"):
        stimuli.sample_attributes(["fish"], 0, np.random.default_rng(0))


def test_written_jpegs_carry_the_planted_attributes(tiny_things):
    truth = load_ground_truth(tiny_things)
    table = truth.attributes["test"]
    for i in range(len(table["image_file"])):
        path = tiny_things / "test_images" / table["concept"][i] / table["image_file"][i]
        image = np.asarray(Image.open(path).convert("RGB"))
        assert _hue_error(_mean_hue(image), table["hue"][i]) < 4.0
        assert image[:8, :8].mean() == pytest.approx(
            255.0 * stimuli.BACKGROUND_GREY * table["brightness"][i], abs=2.0)
