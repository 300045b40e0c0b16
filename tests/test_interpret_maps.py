"""Map arithmetic and Haufe patterns against references (MNE's LinearModel)."""

from __future__ import annotations

import numpy as np
import pytest
from mne.decoding import LinearModel
from sklearn.linear_model import Ridge

from perceptogram.errors import DataFormatError
from perceptogram.interpret.groupings import Grouping
from perceptogram.interpret.perceptogram import (
    average_subjects,
    contrast,
    direction_pattern,
    group_means,
    latent_direction,
    negative_part,
    winner_take_all,
)


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


def test_direction_pattern_matches_mne_linear_model():
    rng = np.random.default_rng(1)
    n, n_ch, n_t = 200, 5, 8
    X = rng.normal(size=(n, n_ch * n_t)) @ rng.normal(size=(n_ch * n_t, n_ch * n_t)) * 0.3
    Y = X @ rng.normal(size=(n_ch * n_t, 3)) + rng.normal(size=(n, 3))
    decoder = Ridge(alpha=10.0).fit(X, Y)
    direction = np.array([1.0, -0.5, 2.0])
    ours = direction_pattern(X, decoder.coef_, direction, n_ch)
    # Ridge is linear in its targets: the decoder of Y @ direction is coefᵀ direction.
    reference = LinearModel(Ridge(alpha=10.0)).fit(X, Y @ direction)
    score = (X - X.mean(axis=0)) @ decoder.coef_.T @ direction
    # MNE keeps Cov(X) w for a single target; Haufe's A divides by Var(score).
    np.testing.assert_allclose(ours.ravel() * score.var(ddof=1),
                               np.ravel(reference.patterns_), rtol=1e-6)


def test_latent_direction_and_subject_average():
    Y = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0], [0.0, 6.0]])
    g = Grouping("g", np.array([0, 0, 1, 1]), ("a", "b"))
    np.testing.assert_allclose(latent_direction(Y, g, "a", "b"), [2.0, -4.0])
    mean, stacked = average_subjects([np.ones((2, 3)), 3 * np.ones((2, 3))])
    assert stacked.shape == (2, 2, 3)
    np.testing.assert_allclose(mean, 2.0)
    with pytest.raises(DataFormatError, match="differ in shape"):
        average_subjects([np.ones((2, 3)), np.ones((3, 3))])
