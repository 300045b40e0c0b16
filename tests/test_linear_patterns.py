"""Haufe patterns and decode->encode projections against MNE and planted forward models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge as SkRidge

from perceptogram.data.containers import EEGFeatures
from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.linear.patterns import (
    ChannelTimeMaps,
    decode_encode_patterns,
    haufe_patterns,
)
from perceptogram.linear.ridge import Ridge, RidgeCV

CH_NAMES = ("O1", "Oz", "O2", "P7", "P8")
TIMES = np.arange(6) * 0.01


def forward_model(n=4000, n_sources=3, noise=1.0, seed=0):
    """EEG = sources x planted channel-time patterns + white noise."""
    rng = np.random.default_rng(seed)
    n_features = len(CH_NAMES) * len(TIMES)
    patterns = rng.standard_normal((n_sources, n_features))
    sources = rng.standard_normal((n, n_sources)) * np.array([1.0, 2.0, 0.5])[:n_sources]
    X = sources @ patterns + noise * rng.standard_normal((n, n_features))
    return X, sources, patterns


def test_haufe_matches_mne_linear_model():
    mne_decoding = pytest.importorskip("mne.decoding")
    X, S, _ = forward_model()
    y = S[:, 1]
    lm = mne_decoding.LinearModel(SkRidge(alpha=10.0)).fit(X, y)
    ours = haufe_patterns(Ridge(10.0, dtype="float64").fit(X, y), X, ch_names=CH_NAMES,
                          times=TIMES)
    # MNE leaves a single-target pattern unnormalised: Cov(X) w; ours is divided by Var(X w)
    var = np.var(X @ lm.filters_, ddof=1)
    np.testing.assert_allclose(ours.data[0].ravel() * var, lm.patterns_, rtol=1e-8)


def test_haufe_recovers_planted_patterns():
    # a single-direction pattern is Cov(X, s) / Var(s_hat): the planted amplitude
    # comes back when the sources are decoded almost perfectly (high SNR)
    X, S, A = forward_model(noise=0.3)
    model = RidgeCV(cv="group").fit(X, S, groups=np.arange(len(X)) // 10)
    maps = haufe_patterns(model, X, ch_names=CH_NAMES, times=TIMES)
    assert maps.data.shape == (3, len(CH_NAMES), len(TIMES))
    for k in range(3):
        recovered = maps.data[k].ravel()
        assert np.corrcoef(recovered, A[k])[0, 1] > 0.99
        np.testing.assert_allclose(np.linalg.norm(recovered) / np.linalg.norm(A[k]), 1.0,
                                   atol=0.05)


def test_haufe_direction_equals_decoder_of_projected_targets():
    X, S, _ = forward_model(n=500)
    rng = np.random.default_rng(1)
    Y = S @ rng.standard_normal((3, 40))  # 40 latent dimensions
    d = rng.standard_normal((2, 40))
    model = Ridge(5.0, dtype="float64").fit(X, Y)
    maps = haufe_patterns(model, X, d, ch_names=CH_NAMES, times=TIMES, names=["a", "b"],
                          batch_size=1)
    # ridge is linear in the targets: the decoder of Y @ d[0] has filter W^T d[0]
    single = Ridge(5.0, dtype="float64").fit(X, Y @ d[0])
    expected = haufe_patterns(single, X, ch_names=CH_NAMES, times=TIMES)
    np.testing.assert_allclose(maps["a"], expected.data[0], rtol=1e-8)
    scaled = haufe_patterns(model, X, -3.0 * d[1], ch_names=CH_NAMES, times=TIMES)
    # the pattern is in EEG units per unit of the source d.x: scaling d by c divides it by c
    np.testing.assert_allclose(scaled.data[0], maps["b"] / -3.0, rtol=1e-8)


def test_maps_are_channel_major():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, len(CH_NAMES) * len(TIMES)))
    channel, time = 3, 4
    y = X[:, channel * len(TIMES) + time] + 0.1 * rng.standard_normal(2000)
    features = EEGFeatures(X, CH_NAMES, TIMES, tuple(map(str, range(2000))),
                           tuple(map(str, range(2000))))
    maps = haufe_patterns(Ridge(1.0).fit(X, y), features)
    peak = np.unravel_index(np.argmax(np.abs(maps.data[0])), maps.data[0].shape)
    assert peak == (channel, time)
    assert maps.ch_names == CH_NAMES and maps.names == ("direction 0",)


def test_decode_encode_matches_manual_encoder():
    X, S, _ = forward_model(n=800)
    decoded = S[:5] * 0.7
    maps = decode_encode_patterns(decoded, S, X, alpha=1e3, ch_names=CH_NAMES, times=TIMES,
                                  dtype="float64")
    Sz = (S - S.mean(0)) / S.std(0)
    Xz = (X - X.mean(0)) / X.std(0)
    encoder = SkRidge(alpha=1e3).fit(Sz, Xz)
    expected = encoder.predict((decoded - S.mean(0)) / S.std(0))
    np.testing.assert_allclose(maps.data.reshape(5, -1), expected, rtol=1e-8, atol=1e-10)
    assert maps.names == tuple(f"image {i}" for i in range(5))


def test_decode_encode_recovers_planted_patterns():
    X, S, A = forward_model(n=3000)
    unit = np.eye(3) * S.std(0) + S.mean(0)  # one standard deviation along each source
    maps = decode_encode_patterns(unit, S, X, ch_names=CH_NAMES, times=TIMES,
                                  names=["s0", "s1", "s2"])
    for k, name in enumerate(maps.names):
        assert np.corrcoef(maps[name].ravel(), A[k] / X.std(0))[0, 1] > 0.99


def test_pattern_input_errors():
    X, S, _ = forward_model(n=100)
    model = Ridge().fit(X, S)
    with pytest.raises(ChannelMismatchError, match="features"):
        haufe_patterns(model, X, ch_names=CH_NAMES[:-1], times=TIMES)
    with pytest.raises(DataFormatError, match="latent dimensions"):
        haufe_patterns(model, X, np.ones(4), ch_names=CH_NAMES, times=TIMES)
    with pytest.raises(ValueError, match="ch_names and times"):
        haufe_patterns(model, X)
    with pytest.raises(DataFormatError, match="decoded latents"):
        decode_encode_patterns(np.ones((2, 4)), S, X, ch_names=CH_NAMES, times=TIMES)
    with pytest.raises(DataFormatError, match="n_maps"):
        ChannelTimeMaps(np.zeros((2, 5, 6)), CH_NAMES, TIMES, ("only one",))
