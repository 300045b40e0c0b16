"""Montage and MNE interop: positions, to_epochs / from_epochs round trips."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from perceptogram.data.core.containers import EEGEpochs
from perceptogram.data.core.mne_convert import from_epochs, sampling_frequency, to_epochs
from perceptogram.data.core.montage import channel_positions, get_montage, make_info
from perceptogram.data.formats.things_eeg2 import THINGS_CHANNELS
from perceptogram.errors import ChannelMismatchError, DataFormatError

TIMES = np.arange(-20, 80) / 100.0


@pytest.fixture
def epochs():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((4, 3, 17, 100)).astype(np.float32)
    return EEGEpochs(data=data, ch_names=THINGS_CHANNELS, times=TIMES,
                     image_files=[f"c{i // 2}_{i}.jpg" for i in range(4)],
                     concepts=[f"{i // 2:05d}_c{i // 2}" for i in range(4)])


def test_positions_match_mne_head_coordinates():
    positions = channel_positions(THINGS_CHANNELS)
    assert positions.shape == (17, 3)
    info = mne.create_info(list(THINGS_CHANNELS), 100.0, "eeg")
    info.set_montage(mne.channels.make_standard_montage("easycap-M1"))
    reference = np.array([ch["loc"][:3] for ch in info["chs"]])
    np.testing.assert_array_equal(positions, reference)
    pos = dict(zip(THINGS_CHANNELS, positions))
    # Head coordinates: +x right, +y nose; metres (head radius about 9 cm).
    assert pos["O1"][0] < 0 < pos["O2"][0]
    assert pos["P7"][0] < pos["P3"][0] < pos["Pz"][0] < pos["P4"][0] < pos["P8"][0]
    assert pos["Oz"][1] < pos["POz"][1] < pos["Pz"][1] < 0
    assert 0.06 < np.linalg.norm(pos["Oz"]) < 0.12


def test_unknown_montage_name_is_an_error():
    with pytest.raises(ChannelMismatchError, match=r"\['XYZ'\] are not in the easycap-M1"):
        channel_positions(["Oz", "XYZ"])
    assert "Oz" in get_montage().ch_names
    info = make_info(["Oz", "Pz"], 250.0)
    assert info["sfreq"] == 250.0 and info.get_channel_types() == ["eeg", "eeg"]


def test_round_trip_per_repetition_is_exact(epochs):
    mne_epochs = to_epochs(epochs, average=False)
    assert len(mne_epochs) == 12
    # Image-major order: epoch 4 is image 1, repetition 1.
    np.testing.assert_array_equal(mne_epochs.get_data()[4], epochs.data[1, 1])
    back = from_epochs(mne_epochs, epochs.image_files, epochs.concepts, n_repetitions=3)
    np.testing.assert_array_equal(back.data, epochs.data)
    assert back.ch_names == epochs.ch_names
    np.testing.assert_array_equal(back.times, epochs.times)
    assert back.image_files == epochs.image_files and back.concepts == epochs.concepts
    np.testing.assert_array_equal(
        np.array([ch["loc"][:3] for ch in mne_epochs.info["chs"]]),
        channel_positions(THINGS_CHANNELS))


def test_averaged_epochs_and_tag_selection(epochs):
    mne_epochs = to_epochs(epochs)
    np.testing.assert_allclose(mne_epochs.get_data(),
                               epochs.data.astype(float).mean(axis=1), rtol=1e-12)
    assert mne_epochs.info["sfreq"] == pytest.approx(100.0)
    assert mne_epochs.tmin == pytest.approx(-0.2)
    # Values are kept as-is (unitless), not rescaled to Volts.
    assert np.abs(mne_epochs.get_data()).max() > 0.5
    concept = epochs.concepts[2]
    selected = mne_epochs[concept]
    np.testing.assert_array_equal(selected.get_data(), mne_epochs.get_data()[2:4])
    assert len(mne_epochs[epochs.image_files[3]]) == 1
    back = from_epochs(mne_epochs, epochs.image_files, epochs.concepts)
    assert back.data.shape == (4, 1, 17, 100)


def test_metadata_columns_when_pandas_is_available(epochs):
    pytest.importorskip("pandas")
    meta = to_epochs(epochs, average=False).metadata
    assert list(meta.columns) == ["image_file", "concept", "repetition"]
    assert meta["repetition"].tolist() == [0, 1, 2] * 4
    assert meta["image_file"].iloc[5] == epochs.image_files[1]


def test_from_epochs_checks_the_count(epochs):
    with pytest.raises(DataFormatError, match="12 epochs cannot be 4 images x 2"):
        from_epochs(to_epochs(epochs, average=False), epochs.image_files, epochs.concepts, 2)


def test_uneven_times_are_refused():
    with pytest.raises(DataFormatError, match="not evenly spaced"):
        sampling_frequency(np.array([0.0, 0.01, 0.03]))
    assert sampling_frequency(TIMES) == pytest.approx(100.0)


def test_rows_showing_one_image_get_row_tags(epochs):
    twins = EEGEpochs(data=epochs.data, ch_names=epochs.ch_names, times=epochs.times,
                      image_files=["same.jpg"] * 4, concepts=["00000_c"] * 4)
    mne_epochs = to_epochs(twins)
    assert sorted(mne_epochs.event_id) == [f"00000_c/same.jpg/row{i}" for i in range(4)]
    assert len(mne_epochs["same.jpg"]) == 4
    np.testing.assert_allclose(mne_epochs["row2"].get_data()[0],
                               epochs.data[2].astype(float).mean(axis=0), rtol=1e-12)
