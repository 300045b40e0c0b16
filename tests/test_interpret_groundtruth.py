"""Interpretability against planted ground truth (simulated THINGS-EEG2 dataset).

The simulator plants, per attribute, a known channel × time pattern with a known
latency and side of the head. Here the whole chain — decoder, encoder,
perceptograms, Haufe patterns, cluster tests, perturbation probes — must find
them again, and must find nothing for the attributes with no planted signal.

The dataset is simulated by :func:`perceptogram.data.simulate.dataset.simulate_dataset`
at twice the default single-trial SNR with 960 training and 100 test images
(EEG only, no images): at the ``small_things`` size the sampling noise of 40
test images and 480 training images keeps the weakest planted attributes
(brightness, size) below a strong-recovery threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from perceptogram.data.core.montage import channel_positions
from perceptogram.data.core.prepare import prepare
from perceptogram.data.simulate.dataset import load_ground_truth, simulate_dataset
from perceptogram.data.formats.things_eeg2 import load_subject
from perceptogram.interpret import (
    categorical_grouping,
    channel_removal_importance,
    channel_scramble_importance,
    column_correlation,
    contrast,
    group_cluster_test,
    mirror_features,
    sliding_window_curve,
    split_grouping,
    time_swap_probe,
    to_eeg_units,
    window_length_curve,
)
from perceptogram.linear.patterns import LatentEncoder, haufe_patterns
from perceptogram.linear.ridge import Ridge

PLANTED = ("brightness", "hue", "texture", "size", "superclass")
ALPHA = 3e3
#: Correlation with the planted pattern reached by every attribute (measured
#: 0.79 brightness, 0.89-0.99 others for the direction perceptograms).
MIN_R_DIRECTION = 0.75
MIN_R_HAUFE = 0.75


def fit_fixed_ridge(X, Y, groups=None):
    return Ridge(alpha=ALPHA).fit(X, Y)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = simulate_dataset(
        tmp_path_factory.mktemp("gt") / "things", n_subjects=1, n_train_concepts=120,
        images_per_concept=8, n_test_concepts=100, n_train_repetitions=4,
        n_test_repetitions=20, image_size=64, seed=3, signal_scale=2.0,
        write_images=False,
    )
    truth = load_ground_truth(root)
    train, test = prepare(*load_subject(root, 1))
    names = list(PLANTED) + list(truth.null_attributes)

    def latents(split):
        a = truth.attributes[split]
        return np.column_stack([a.get(f"feature_{n}", a[n]) for n in names]).astype(float)

    Y_train, Y_test = latents("train"), latents("test")
    decoder = fit_fixed_ridge(train.X, Y_train)
    decoded = decoder.predict(test.X)
    encoder = LatentEncoder(alpha=1e3).fit(Y_train, train)
    post = truth.times >= -1e-9
    planted = {n: truth.subjects[1].patterns[n][:, post] for n in PLANTED}
    return dict(truth=truth, train=train, test=test, names=names, Y_train=Y_train,
                Y_test=Y_test, decoder=decoder, decoded=decoded, encoder=encoder,
                planted=planted)


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _side(ch_names, channel):
    x = channel_positions([channel])[0, 0]
    return "medial" if abs(x) < 0.015 else ("right" if x > 0 else "left")


def _check_peak(m, name, fitted):
    truth, train = fitted["truth"], fitted["train"]
    ch, t = np.unravel_index(np.argmax(np.abs(m)), m.shape)
    assert abs(train.times[t] - truth.latencies[name]) <= 0.02 + 1e-9, name
    side = _side(train.ch_names, train.ch_names[ch])
    expected = truth.sides[name]
    if expected == "lateral":
        assert side in ("left", "right"), name
    else:
        assert side == expected, name


@pytest.mark.parametrize("name", PLANTED)
def test_direction_perceptogram_recovers_planted_pattern(fitted, name):
    j = fitted["names"].index(name)
    maps = fitted["encoder"].direction_maps(np.eye(len(fitted["names"]))[j], names=[name])
    m = to_eeg_units(maps, fitted["train"].scale)[name]
    assert _corr(m, fitted["planted"][name]) >= MIN_R_DIRECTION
    _check_peak(m, name, fitted)


@pytest.mark.parametrize("name", PLANTED)
def test_haufe_pattern_recovers_planted_pattern(fitted, name):
    j = fitted["names"].index(name)
    train = fitted["train"]
    maps = haufe_patterns(fitted["decoder"], train, np.eye(len(fitted["names"]))[j],
                          names=[name])
    m = to_eeg_units(maps, train.scale)[name]
    assert _corr(m, fitted["planted"][name]) >= MIN_R_HAUFE
    _check_peak(m, name, fitted)


@pytest.mark.parametrize("name", ["hue", "texture", "superclass"])
def test_group_contrast_perceptogram_recovers_planted_pattern(fitted, name):
    # Test-image perceptograms (decoded latent -> encoder), high minus low
    # half of the attribute; measured r = 0.83-0.98.
    j = fitted["names"].index(name)
    patterns = fitted["encoder"].project(fitted["decoded"])
    grouping = split_grouping(fitted["Y_test"][:, j], name, quantile=0.5)
    m = to_eeg_units(contrast(patterns, grouping, "high", "low"), fitted["train"].scale)
    assert m.names == ("high − low",) and m.ch_names == fitted["train"].ch_names
    m = m.data[0]
    assert _corr(m, fitted["planted"][name]) >= 0.8
    _check_peak(m, name, fitted)


def test_null_attributes_give_no_significant_cluster(fitted):
    test, truth = fitted["test"], fitted["truth"]
    patterns = fitted["encoder"].project(fitted["decoded"]).data
    kw = dict(ch_names=test.ch_names, times=test.times, n_permutations=200, seed=0)
    for name in truth.null_attributes:
        grouping = split_grouping(truth.attributes["test"][name], name, quantile=0.5)
        assert group_cluster_test(test.as_channel_time(), grouping, "high", "low",
                                  **kw).min_p >= 0.05, name
        assert group_cluster_test(patterns, grouping, "high", "low",
                                  **kw).min_p >= 0.05, name
    # the same test does find a planted attribute
    superclass = categorical_grouping(truth.attributes["test"]["superclass"], "superclass")
    res = group_cluster_test(test.as_channel_time(), superclass, "animate", "food", **kw)
    assert res.min_p < 0.05
    assert res.mask[test.ch_names.index("P8")].any()


def test_mirroring_degrades_the_lateralised_attribute_only(fitted):
    test, decoder, names = fitted["test"], fitted["decoder"], fitted["names"]
    Y_test = fitted["Y_test"]
    mirrored = mirror_features(test)
    lateral = column_correlation(names.index("superclass"))
    medial = column_correlation(names.index("hue"))
    base = lateral(Y_test, decoder.predict(test.X))
    assert lateral(Y_test, decoder.predict(mirrored.X)) < base - 0.3
    # a medial pattern is symmetric: mirroring leaves it decodable
    assert medial(Y_test, decoder.predict(mirrored.X)) > medial(
        Y_test, decoder.predict(test.X)) - 0.1


def test_scrambling_a_silent_channel_does_not_hurt(fitted):
    test, names = fitted["test"], fitted["names"]
    quality = column_correlation(names.index("superclass"))
    imp = channel_scramble_importance(fitted["decoder"], test, fitted["Y_test"],
                                      quality=quality, n_repeats=3)
    energy = np.sum(fitted["planted"]["superclass"] ** 2, axis=1)
    silent = int(np.argmin(energy))
    peak = test.ch_names.index(fitted["truth"].peak_channels["superclass"])
    assert abs(imp.drop[silent]) < 0.03
    assert imp.drop[peak] > 0.05
    assert imp.drop[peak] > 3 * abs(imp.drop[silent])


def test_channel_removal_finds_the_lateral_peak(fitted):
    train, test, names = fitted["train"], fitted["test"], fitted["names"]
    imp = channel_removal_importance(train, fitted["Y_train"], test, fitted["Y_test"],
                                     fit_decoder=fit_fixed_ridge,
                                     quality=column_correlation(names.index("superclass")))
    top = train.ch_names[int(np.argmax(imp.drop))]
    assert _side(train.ch_names, top) == "right"


def test_time_swap_moves_the_latent_only_over_the_planted_latency(fitted):
    truth, test, names = fitted["truth"], fitted["test"], fitted["names"]
    sup = truth.attributes["test"]["superclass"]
    animate, food = np.flatnonzero(sup == "animate"), np.flatnonzero(sup == "food")
    n = min(len(animate), len(food))
    res = time_swap_probe(fitted["decoder"], test, np.column_stack([animate[:n], food[:n]]),
                          dims=[names.index("superclass")])
    progress = res.progress.mean(axis=0)
    latency = truth.latencies["superclass"]
    covers = (res.starts <= latency) & (res.starts + res.width > latency)
    # the decoder also reads the class-specific patterns (150-250 ms), so "far"
    # means outside 80-300 ms
    far = (res.starts + res.width <= latency - 0.1) | (res.starts >= latency + 0.12)
    assert progress[covers].min() > 0.25
    assert np.abs(progress[far]).max() < 0.05
    assert abs(res.centres[np.argmax(progress)] - latency) <= 0.02 + 1e-9


def test_time_windows_find_when_the_attribute_appears(fitted):
    train, test, names = fitted["train"], fitted["test"], fitted["names"]
    quality = column_correlation(names.index("superclass"))
    latency = fitted["truth"].latencies["superclass"]
    lengths = window_length_curve(train, fitted["Y_train"], test, fitted["Y_test"],
                                  [0.1, 0.15, 0.3], fit_decoder=fit_fixed_ridge,
                                  quality=quality)
    assert lengths.values[0] < 0.4 < lengths.values[2]
    sliding = sliding_window_curve(train, fitted["Y_train"], test, fitted["Y_test"],
                                   width=0.05, step=0.02, fit_decoder=fit_fixed_ridge,
                                   quality=quality)
    assert abs(sliding.x[np.argmax(sliding.values)] - latency) <= 0.03
