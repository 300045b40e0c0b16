"""RSA: RDMs against a direct computation, time course against a planted geometry."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from perceptogram.interpret.rsa import rdm, rsa_timecourse


def test_rdm_is_one_minus_pearson():
    x = np.random.default_rng(0).normal(size=(6, 9))
    np.testing.assert_allclose(squareform(rdm(x)), 1 - np.corrcoef(x), atol=1e-12)


def test_rsa_peaks_where_the_latent_geometry_is_planted():
    rng = np.random.default_rng(1)
    n, n_ch, n_t, planted = 40, 17, 30, 12
    latents = rng.normal(size=(n, 5))
    eeg = rng.normal(size=(n, n_ch, n_t))
    eeg[:, :, planted] = latents @ rng.normal(size=(5, n_ch)) + 0.3 * rng.normal(size=(n, n_ch))
    rho = rsa_timecourse(eeg, latents)
    assert rho.shape == (n_t,)
    assert int(np.argmax(rho)) == planted
    assert rho[planted] > 0.5
    assert np.abs(np.delete(rho, planted)).max() < 0.2
    expected = spearmanr(rdm(eeg[:, :, planted]), rdm(latents)).statistic
    np.testing.assert_allclose(rho[planted], expected)


def test_rsa_window_concatenates_neighbouring_samples():
    rng = np.random.default_rng(2)
    eeg, latents = rng.normal(size=(10, 4, 6)), rng.normal(size=(10, 3))
    rho = rsa_timecourse(eeg, latents, window=3)
    expected = spearmanr(rdm(eeg[:, :, 1:4].reshape(10, -1)), rdm(latents)).statistic
    np.testing.assert_allclose(rho[2], expected)
