"""prepare(): repetition averaging, windowing, channel selection, flattening, z-scoring."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from perceptogram.data.core.containers import EEGEpochs
from perceptogram.data.core.prepare import prepare, time_mask
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS
from perceptogram.errors import ChannelMismatchError, DataFormatError

# MNE-style sample times: k / 100 for k = -20..79, as in the release.
TIMES = np.arange(-20, 80) / 100.0


def make_split(n_images, n_reps, seed, offset=0.0):
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((n_images, n_reps, 17, 100)) + offset).astype(np.float32)
    files = [f"img{seed}_{i}.jpg" for i in range(n_images)]
    concepts = [f"{i // 2:05d}_c" for i in range(n_images)]
    return EEGEpochs(data=data, ch_names=THINGS_CHANNELS, times=TIMES, image_files=files,
                     concepts=concepts)


@pytest.fixture
def splits():
    return make_split(12, 4, seed=0), make_split(5, 80, seed=1, offset=3.0)


def test_default_is_the_published_input(splits):
    train, test = splits
    f_train, f_test = prepare(train, test, zscore=False)
    assert f_train.X.shape == (12, 17 * 80) and f_test.X.shape == (5, 17 * 80)
    assert f_train.X.dtype == np.float32
    np.testing.assert_allclose(f_train.times, np.arange(0, 80) / 100.0)
    # Reference: explicit loops over images, channels and post-stimulus samples.
    expected = np.empty((12, 17 * 80))
    for i in range(12):
        for c in range(17):
            for k in range(80):
                expected[i, c * 80 + k] = train.data[i, :, c, 20 + k].astype(float).mean()
    np.testing.assert_allclose(f_train.X, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f_train.as_channel_time()[:, 4], expected[:, 4 * 80:5 * 80],
                               rtol=1e-5, atol=1e-6)
    assert f_train.mean is None and f_train.scale is None
    assert f_test.image_files == test.image_files and f_train.concepts == train.concepts


def test_zscore_uses_training_statistics_only(splits):
    train, test = splits
    raw_train, raw_test = prepare(train, test, zscore=False)
    f_train, f_test = prepare(train, test)
    scaler = StandardScaler().fit(raw_train.X.astype(np.float64))
    np.testing.assert_allclose(f_train.X, scaler.transform(raw_train.X), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f_test.X, scaler.transform(raw_test.X), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(f_train.mean, scaler.mean_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f_train.scale, scaler.scale_, rtol=1e-5)
    assert f_test.mean is f_train.mean
    # The test split (offset by +3) keeps its shift: it is not re-centred on itself.
    np.testing.assert_allclose(f_train.X.mean(axis=0), 0, atol=1e-5)
    assert f_test.X.mean() > 1.0


def test_time_window_is_half_open():
    mask = time_mask(TIMES, 0.1, 0.3)
    np.testing.assert_array_equal(np.flatnonzero(mask), np.arange(30, 50))
    # Float rounding of the stored times does not move samples in or out.
    mask = time_mask(TIMES + 1e-12, 0.1, 0.3)
    np.testing.assert_array_equal(np.flatnonzero(mask), np.arange(30, 50))


def test_channels_are_selected_in_the_data_order(splits):
    train, test = splits
    full, _ = prepare(train, test, zscore=False)
    sub, _ = prepare(train, test, channels=["O2", "Pz"], zscore=False)
    assert sub.ch_names == ("Pz", "O2")  # the data's channel order, not the request's
    cube = full.as_channel_time()
    np.testing.assert_array_equal(sub.as_channel_time(),
                                  cube[:, [0, THINGS_CHANNELS.index("O2")]])


def test_unknown_channel_lists_the_available_ones(splits):
    with pytest.raises(ChannelMismatchError, match=r"\['Cz'\].*available: Pz, P3"):
        prepare(*splits, channels=["Oz", "Cz"])


def test_first_n_repetitions(splits):
    train, test = splits
    f_train, f_test = prepare(train, test, n_repetitions=2, zscore=False)
    expected = train.data[:, :2, :, 20:].astype(float).mean(axis=1).reshape(12, -1)
    np.testing.assert_allclose(f_train.X, expected, rtol=1e-5, atol=1e-6)
    _, f_test = prepare(train, test, n_repetitions=(4, 10), zscore=False)
    expected = test.data[:, :10, :, 20:].astype(float).mean(axis=1).reshape(5, -1)
    np.testing.assert_allclose(f_test.X, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="n_repetitions=5 for the training split"):
        prepare(train, test, n_repetitions=5)


def test_constant_feature_gets_unit_scale():
    train = make_split(6, 2, seed=3)
    train.data[:, :, 0, 20] = 1.5
    f_train, _ = prepare(train, make_split(3, 2, seed=4))
    assert f_train.scale[0] == 1.0
    np.testing.assert_array_equal(f_train.X[:, 0], 0.0)


def test_mismatched_splits_and_empty_windows(splits):
    train, test = splits
    other = EEGEpochs(data=test.data, ch_names=THINGS_CHANNELS[::-1], times=TIMES,
                      image_files=test.image_files, concepts=test.concepts)
    with pytest.raises(ChannelMismatchError, match="differ from test channels"):
        prepare(train, other)
    shifted = EEGEpochs(data=test.data, ch_names=THINGS_CHANNELS, times=TIMES + 0.005,
                        image_files=test.image_files, concepts=test.concepts)
    with pytest.raises(ChannelMismatchError, match="different sample times"):
        prepare(train, shifted)
    with pytest.raises(DataFormatError, match="no sample in the window"):
        prepare(train, test, tmin=1.0, tmax=2.0)


def test_prepare_and_channel_subsets_share_one_resolver(splits):
    """prepare() and interpret's channel subsets select the same channels in the same order."""
    from perceptogram.interpret.electrodes import channel_indices

    train, test = splits
    wanted = ["O2", "Oz", "Pz", "P7"]
    sub, _ = prepare(train, test, channels=wanted, zscore=False)
    idx = channel_indices(wanted, train.ch_names)
    assert sub.ch_names == tuple(train.ch_names[i] for i in idx)
    with pytest.raises(ChannelMismatchError, match="twice"):
        prepare(train, test, channels=["Oz", "Oz"])
    with pytest.raises(ChannelMismatchError, match="twice"):
        channel_indices(["Oz", "Oz"], train.ch_names)
