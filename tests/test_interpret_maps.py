"""Map arithmetic on arrays and ChannelTimeMaps; direction maps against references
(MNE's LinearModel, scikit-learn's Ridge)."""

from __future__ import annotations

import numpy as np
import pytest
from mne.decoding import LinearModel
from sklearn.linear_model import Ridge

from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.interpret.groupings import Grouping
from perceptogram.interpret.perceptogram import (
    average_subjects,
    contrast,
    group_means,
    latent_direction,
    negative_part,
    to_eeg_units,
    winner_take_all,
)
from perceptogram.linear.patterns import ChannelTimeMaps, LatentEncoder, haufe_patterns

CH_NAMES = ("O1", "Oz", "O2", "P7")
TIMES = np.arange(6) * 0.01


def test_group_means_and_contrast():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(10, 4, 6))
    g = Grouping("g", np.array([0, 1, -1, 0, 1, 1, -1, 0, 0, 1]), ("a", "b"))
    means = group_means(data, g)
    np.testing.assert_allclose(means[0], data[[0, 3, 7, 8]].mean(axis=0))
    np.testing.assert_allclose(contrast(data, g, "b", "a"), means[1] - means[0])
    with pytest.raises(DataFormatError, match="empty"):
        group_means(data, Grouping("g", np.zeros(10, int), ("a", "b")))


def test_negative_part_and_winner_take_all():
    maps = np.zeros((3, 2, 2))
    maps[0, 0, 0], maps[1, 0, 0] = -1.0, -2.0
    maps[2, 1, 1], maps[0, 1, 1] = -3.0, 5.0
    np.testing.assert_array_equal(negative_part(maps)[0, 1, 1], 0.0)
    assert negative_part(maps)[1, 0, 0] == -2.0
    wta = winner_take_all(maps)
    assert wta[0, 0] == 1 and wta[1, 1] == 2
    assert winner_take_all(maps, sign=1)[1, 1] == 0


def test_maps_keep_their_axes_through_group_arithmetic():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(6, len(CH_NAMES), len(TIMES)))
    maps = ChannelTimeMaps(data, CH_NAMES, TIMES, [f"image {i}" for i in range(6)])
    g = Grouping("g", np.array([0, 1, 0, 1, 1, 0]), ("a", "b"))
    means = group_means(maps, g)
    assert means.names == ("a", "b") and means.ch_names == CH_NAMES
    np.testing.assert_allclose(means.data, group_means(data, g))
    diff = contrast(maps, g, "a", "b")
    assert diff.names == ("a − b",)
    np.testing.assert_allclose(diff.data[0], contrast(data, g, "a", "b"))
    scale = rng.uniform(1, 2, size=len(CH_NAMES) * len(TIMES))
    np.testing.assert_allclose(to_eeg_units(diff, scale)["a − b"],
                               diff.data[0] * scale.reshape(len(CH_NAMES), -1))
    assert negative_part(maps).data.max() == 0.0
    mean, stacked = average_subjects([means, means])
    assert mean.names == ("a", "b") and stacked.shape == (2, *means.data.shape)
    with pytest.raises(ChannelMismatchError, match="feature scales"):
        to_eeg_units(diff, scale[:-1])
    other = ChannelTimeMaps(means.data, ("A", "B", "C", "D"), TIMES, means.names)
    with pytest.raises(ChannelMismatchError, match="channels or times"):
        average_subjects([means, other])


def test_haufe_pattern_of_a_latent_direction_matches_mne_linear_model():
    rng = np.random.default_rng(1)
    n, n_ch, n_t = 200, len(CH_NAMES), len(TIMES)
    X = rng.normal(size=(n, n_ch * n_t)) @ rng.normal(size=(n_ch * n_t, n_ch * n_t)) * 0.3
    Y = X @ rng.normal(size=(n_ch * n_t, 3)) + rng.normal(size=(n, 3))
    decoder = Ridge(alpha=10.0).fit(X, Y)
    g = Grouping("g", (Y[:, 0] > np.median(Y[:, 0])).astype(int), ("low", "high"))
    direction = latent_direction(Y, g, "high", "low")
    ours = haufe_patterns(decoder, X, direction, ch_names=CH_NAMES, times=TIMES)
    # Ridge is linear in its targets: the decoder of Y @ direction is coefᵀ direction.
    reference = LinearModel(Ridge(alpha=10.0)).fit(X, Y @ direction)
    score = (X - X.mean(axis=0)) @ decoder.coef_.T @ direction
    # MNE keeps Cov(X) w for a single target; Haufe's A divides by Var(score).
    np.testing.assert_allclose(ours.data[0].ravel() * score.var(ddof=1),
                               np.ravel(reference.patterns_), rtol=1e-6)


def test_encoder_direction_maps_are_steps_of_the_projection():
    rng = np.random.default_rng(3)
    latents = rng.normal(size=(300, 4)) * [1.0, 2.0, 0.5, 3.0] + 5.0
    X = latents @ rng.normal(size=(4, len(CH_NAMES) * len(TIMES)))
    X += rng.normal(size=X.shape)
    encoder = LatentEncoder(alpha=1e3, dtype="float64").fit(latents, X, ch_names=CH_NAMES,
                                                            times=TIMES)
    steps = rng.normal(size=(2, 4))
    start = rng.normal(size=(1, 4))
    maps = encoder.direction_maps(steps, names=["u", "v"])
    moved = encoder.project(np.vstack([start, start + steps]))
    np.testing.assert_allclose(maps.data, moved.data[1:] - moved.data[:1], atol=1e-10)
    # reference: scikit-learn's ridge on the z-scored latents and features
    reference = Ridge(alpha=1e3).fit(
        (latents - latents.mean(0)) / latents.std(0), (X - X.mean(0)) / X.std(0))
    np.testing.assert_allclose(maps["u"].ravel(),
                               reference.coef_ @ (steps[0] / latents.std(0)), rtol=1e-8)
    assert maps.ch_names == CH_NAMES
    with pytest.raises(DataFormatError, match="directions"):
        encoder.direction_maps(np.ones(3))


def test_latent_direction_and_subject_average():
    Y = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0], [0.0, 6.0]])
    g = Grouping("g", np.array([0, 0, 1, 1]), ("a", "b"))
    np.testing.assert_allclose(latent_direction(Y, g, "a", "b"), [2.0, -4.0])
    mean, stacked = average_subjects([np.ones((2, 3)), 3 * np.ones((2, 3))])
    assert stacked.shape == (2, 2, 3)
    np.testing.assert_allclose(mean, 2.0)
    with pytest.raises(DataFormatError, match="differ in shape"):
        average_subjects([np.ones((2, 3)), np.ones((3, 3))])
