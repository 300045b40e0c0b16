"""Haufe patterns and decode->encode projections against MNE and planted forward models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge as SkRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

from perceptogram.data.core.containers import EEGFeatures
from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.linear.patterns import (
    ChannelTimeMaps,
    IllConditionedSourcesWarning,
    LatentEncoder,
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


def _correlated_multi_output(n=3000, seed=0):
    """Three planted sources, strongly correlated with each other, and noisy EEG."""
    rng = np.random.default_rng(seed)
    mixing = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.6, 0.5, 0.62]])
    S = rng.standard_normal((n, 3)) @ mixing.T  # correlations 0.6-0.8
    A = rng.standard_normal((3, len(CH_NAMES) * len(TIMES)))
    X = S @ A + 0.5 * rng.standard_normal((n, A.shape[1]))
    return X, S, A


@pytest.mark.parametrize("p_above_n", [False, True])
def test_joint_haufe_matches_mne_linear_model_on_correlated_targets(p_above_n):
    mne_decoding = pytest.importorskip("mne.decoding")
    from sklearn.linear_model import LinearRegression

    X, S, _ = _correlated_multi_output(n=20 if p_above_n else 3000)
    decoder = Ridge(10.0, dtype="float64").fit(X, S)
    # the exact formula (with n < p the decoded targets are nearly collinear: cond 79)
    ours = haufe_patterns(decoder, X, ch_names=CH_NAMES, times=TIMES,
                          max_condition=None).data.reshape(3, -1)
    # MNE's LinearModel inverts the covariance of the targets it is fitted on; fitted by
    # least squares on the decoder's own predictions it recovers the decoder's filters, and
    # its patterns_ are then Haufe's A = Cov(X) W Cov(Yhat)^-1 of our decoder.
    Yhat = decoder.predict(X)
    lm = mne_decoding.LinearModel(LinearRegression()).fit(X, Yhat)
    if not p_above_n:
        np.testing.assert_allclose(lm.filters_, decoder.coef_, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(ours, lm.patterns_, rtol=1e-6, atol=1e-10)
    # the joint formula from its definition, for every shape
    cov_x = np.cov(X.T)
    expected = (cov_x @ decoder.coef_.T @ np.linalg.pinv(np.cov(Yhat.T))).T
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-10)
    # with correlated targets the marginal formula is a different (mixed) pattern
    marginal = haufe_patterns(decoder, X, ch_names=CH_NAMES, times=TIMES,
                              method="marginal").data.reshape(3, -1)
    assert not np.allclose(marginal, ours, rtol=0.05)


def test_joint_haufe_recovers_correlated_planted_patterns_where_marginal_mixes_them():
    X, S, A = _correlated_multi_output()
    decoder = Ridge(1.0, dtype="float64").fit(X, S)
    joint = haufe_patterns(decoder, X, ch_names=CH_NAMES, times=TIMES).data.reshape(3, -1)
    marginal = haufe_patterns(decoder, X, ch_names=CH_NAMES, times=TIMES,
                              method="marginal").data.reshape(3, -1)
    r_joint = [np.corrcoef(joint[k], A[k])[0, 1] for k in range(3)]
    r_marginal = [np.corrcoef(marginal[k], A[k])[0, 1] for k in range(3)]
    assert min(r_joint) > 0.99
    assert min(r_marginal) < 0.95  # each marginal map absorbs its correlated neighbours


def test_joint_haufe_with_more_directions_than_features_is_the_pseudo_inverse_formula():
    # K = 50 directions of a 40-d latent read through 30 EEG features: Cov(S) is 50 x 50
    # of rank 30; the thin-SVD route must equal the textbook pinv formula
    X, S, _ = forward_model(n=200)
    rng = np.random.default_rng(4)
    Y = S @ rng.standard_normal((3, 40)) + 0.5 * rng.standard_normal((200, 40))
    decoder = Ridge(5.0, dtype="float64").fit(X, Y)
    directions = rng.standard_normal((50, 40))
    ours = haufe_patterns(decoder, X, directions, ch_names=CH_NAMES, times=TIMES,
                          batch_size=7, max_condition=None).data.reshape(50, -1)
    filters = decoder.coef_.T @ directions.T
    sources = X @ filters
    expected = (np.cov(X.T) @ filters @ np.linalg.pinv(np.cov(sources.T), hermitian=True)).T
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-8 * np.abs(expected).max())
    zero = haufe_patterns(decoder, X, np.zeros((2, 40)), ch_names=CH_NAMES, times=TIMES)
    assert not zero.data.any()  # directions the decoder ignores give zero maps
    with pytest.raises(ValueError, match="'joint' or 'marginal'"):
        haufe_patterns(decoder, X, ch_names=CH_NAMES, times=TIMES, method="mne")


def _nearly_collinear_sources(seed, n=300, rho=0.95, shared=0.9, weak=0.3):
    """Two planted sources correlating at ``rho``, the first weak, with related patterns."""
    rng = np.random.default_rng(seed)
    ch_names, times = [f"E{k}" for k in range(16)], np.arange(20) * 0.01
    p = len(ch_names) * len(times)
    A = rng.standard_normal((2, p))
    A[1] = shared * A[0] + np.sqrt(1 - shared ** 2) * A[1]
    A[0] *= weak
    z = rng.standard_normal((n, 2))
    S = np.column_stack([z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho ** 2) * z[:, 1]])
    noise = rng.standard_normal((n, p)) @ (rng.standard_normal((p, p)) / np.sqrt(p))
    return S @ A + 2.0 * noise, S, A, ch_names, times


@pytest.mark.parametrize("seed", [0, 1])
def test_joint_haufe_regularises_nearly_collinear_decoded_sources(seed):
    # sources correlating at 0.95; the cross-validated ridge decodes them at 0.99
    X, S, A, ch_names, times = _nearly_collinear_sources(seed)
    decoder = RidgeCV(cv="kfold", dtype="float64").fit(X, S)
    assert np.corrcoef(decoder.predict(X).T)[0, 1] > 0.98
    exact = haufe_patterns(decoder, X, ch_names=ch_names, times=times, max_condition=None)
    with pytest.warns(IllConditionedSourcesWarning, match="nearly collinear"):
        shrunk = haufe_patterns(decoder, X, ch_names=ch_names, times=times)
    r_exact = [np.corrcoef(exact.data[k].ravel(), A[k])[0, 1] for k in range(2)]
    r_shrunk = [np.corrcoef(shrunk.data[k].ravel(), A[k])[0, 1] for k in range(2)]
    assert min(r_exact) < 0.5  # the exact joint formula misses the weak source
    assert min(r_shrunk) > 0.8, r_shrunk  # right sign, right shape
    assert shrunk.notes and "condition number" in shrunk.notes[0] and not exact.notes


def _direct_shrunk_patterns(X, filters, max_condition):
    """Shrunk joint patterns with the K x K correlation of the sources, by definition."""
    sources = X @ filters
    sd = sources.std(axis=0, ddof=1)
    R = np.corrcoef(sources.T)
    e = np.linalg.eigvalsh(R)
    e = e[e > e.max() * len(e) * np.finfo(float).eps]
    gap = e.max() - max_condition * e.min()
    lam = gap / (max_condition - 1 + gap)
    shrunk = (1 - lam) * R + lam * np.eye(len(R))
    # the shrunk correlation has exactly the wanted condition number (non-zero spectrum)
    f = np.linalg.eigvalsh((1 - lam) * np.diag(e) + lam * np.eye(len(e)))
    np.testing.assert_allclose(f.max() / f.min(), max_condition, rtol=1e-6)
    cov_xs = np.cov(X.T) @ filters / sd  # Cov(X, standardised sources)
    return (cov_xs @ np.linalg.inv(shrunk)).T / sd[:, None]


@pytest.mark.parametrize("n_directions", [3, 50])
def test_shrunk_joint_patterns_equal_the_formula_with_a_shrunk_correlation(n_directions):
    # both routes (K <= p, and K = 50 > p = 30 through the r x r row space)
    X, S, _ = _correlated_multi_output(n=200)
    rng = np.random.default_rng(3)
    decoder = Ridge(5.0, dtype="float64").fit(X, S)
    directions = (np.eye(3) if n_directions == 3
                  else rng.standard_normal((n_directions, 3)))
    with pytest.warns(IllConditionedSourcesWarning):
        ours = haufe_patterns(decoder, X, directions, ch_names=CH_NAMES, times=TIMES,
                              max_condition=2.0).data.reshape(n_directions, -1)
    expected = _direct_shrunk_patterns(X, decoder.coef_.T @ directions.T, 2.0)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-8 * np.abs(expected).max())
    # well-conditioned sources are left to the exact formula, without a note
    plain = haufe_patterns(decoder, X, ch_names=CH_NAMES, times=TIMES)
    assert plain.notes == ()
    with pytest.raises(ValueError, match="max_condition"):
        haufe_patterns(decoder, X, ch_names=CH_NAMES, times=TIMES, max_condition=1.0)


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
                          batch_size=1, method="marginal")
    # ridge is linear in the targets: the decoder of Y @ d[0] has filter W^T d[0]
    single = Ridge(5.0, dtype="float64").fit(X, Y @ d[0])
    expected = haufe_patterns(single, X, ch_names=CH_NAMES, times=TIMES)
    np.testing.assert_allclose(maps["a"], expected.data[0], rtol=1e-8)
    # one direction alone: joint and marginal are the same formula
    alone = haufe_patterns(model, X, d[0], ch_names=CH_NAMES, times=TIMES)
    np.testing.assert_allclose(alone.data[0], maps["a"], rtol=1e-8)
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


@parametrize_with_checks([LatentEncoder(alpha=1.0), LatentEncoder(alpha=1.0, dtype="float64")])
def test_latent_encoder_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)


def test_latent_encoder_clones_predicts_in_data_units_and_keeps_its_maps():
    X, S, _ = forward_model(n=600)
    encoder = LatentEncoder(alpha=10.0, dtype="float64")
    assert encoder.get_params()["alpha"] == 10.0
    copy = clone(encoder).set_params(alpha=1e3)
    assert copy.alpha == 1e3 and encoder.alpha == 10.0
    encoder.fit(S, X, ch_names=CH_NAMES, times=TIMES)
    assert not hasattr(copy, "ridge_")  # clone copies parameters, not the fit
    Sz = (S - S.mean(0)) / S.std(0)
    Xz = (X - X.mean(0)) / X.std(0)
    reference = SkRidge(alpha=10.0).fit(Sz, Xz)
    expected = reference.predict((S[:5] - S.mean(0)) / S.std(0)) * X.std(0) + X.mean(0)
    np.testing.assert_allclose(encoder.predict(S[:5]), expected, rtol=1e-8)
    assert encoder.score(S, X) > 0.5 and encoder.n_features_in_ == 3
    maps = encoder.project(S[:5])
    np.testing.assert_allclose(maps.data.reshape(5, -1), (expected - X.mean(0)) / X.std(0),
                               rtol=1e-8)
    plain = LatentEncoder(alpha=10.0).fit(S, X)
    assert plain.predict(S[:2]).shape == (2, X.shape[1])
    with pytest.raises(DataFormatError, match="without channel names"):
        plain.direction_maps(np.ones(3))
    with pytest.raises(NotFittedError):
        LatentEncoder().project(S[:2])
