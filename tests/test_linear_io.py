"""Save/load of ridge models: round trip, metadata, mismatch and corruption errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perceptogram import __version__
from perceptogram.errors import ChannelMismatchError, DataFormatError
from perceptogram.linear.io import load_model, save_model
from perceptogram.linear.ridge import Ridge, RidgeCV

CH_NAMES = ["O1", "Oz", "O2"]
TIMES = [0.0, 0.01, 0.02, 0.03]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 12)).astype(np.float32)
    Y = (X @ rng.standard_normal((12, 5)) + rng.standard_normal((60, 5))).astype(np.float32)
    return X, Y, np.arange(60) // 3


@pytest.mark.parametrize("make", [
    lambda X, Y, g: RidgeCV(cv="group", n_splits=4, rescale="train").fit(X, Y, groups=g),
    lambda X, Y, g: RidgeCV(cv="loo", alpha_per_target=False).fit(X, Y[:, 0]),
    lambda X, Y, g: Ridge(alpha=np.arange(1.0, 6.0), rescale="transductive").fit(X, Y),
], ids=["RidgeCV-group-train", "RidgeCV-loo-single", "Ridge-transductive"])
def test_round_trip(tmp_path, data, make):
    X, Y, groups = data
    model = make(X, Y, groups)
    path = save_model(model, tmp_path / "decoder", ch_names=CH_NAMES, times=TIMES,
                      latent_space="unclip", feature_mean=X.mean(0), feature_scale=X.std(0),
                      subject=3)
    assert path.name == "decoder.safetensors"
    loaded = load_model(path, ch_names=CH_NAMES, times=TIMES)
    assert type(loaded) is type(model)
    assert loaded.get_params().keys() == model.get_params().keys()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.coef_, model.coef_)
    np.testing.assert_array_equal(np.asarray(loaded.alpha_), np.asarray(model.alpha_))
    assert np.ndim(loaded.intercept_) == np.ndim(model.intercept_)
    meta = loaded.metadata_
    assert meta["ch_names"] == CH_NAMES and meta["times"] == TIMES
    assert meta["latent_space"] == "unclip" and meta["metadata"] == {"subject": 3}
    assert meta["perceptogram_version"] == __version__
    np.testing.assert_allclose(meta["feature_mean"], X.mean(0), rtol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoder.json", "decoder.safetensors"]


def test_metadata_records_cv_settings(tmp_path, data):
    X, Y, groups = data
    model = RidgeCV(alphas=(0.1, 1.0, 10.0), cv="group", n_splits=4).fit(X, Y, groups=groups)
    save_model(model, tmp_path / "m.safetensors")
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["class"] == "RidgeCV"
    assert meta["params"]["alphas"] == [0.1, 1.0, 10.0]
    assert meta["params"]["cv"] == "group" and meta["n_splits"] == 4
    assert meta["params"]["rescale"] == "none"


def test_channel_and_time_mismatch(tmp_path, data):
    X, Y, _ = data
    path = save_model(Ridge().fit(X, Y), tmp_path / "d", ch_names=CH_NAMES, times=TIMES)
    with pytest.raises(ChannelMismatchError, match="channels"):
        load_model(path, ch_names=["O1", "O2", "Oz"])
    with pytest.raises(ChannelMismatchError, match="samples"):
        load_model(path, times=[0.0, 0.01, 0.02, 0.04])
    with pytest.raises(ChannelMismatchError, match="samples"):
        load_model(path, times=TIMES[:3])
    unlabelled = save_model(Ridge().fit(X, Y), tmp_path / "u")
    with pytest.raises(ChannelMismatchError, match="without channel names"):
        load_model(unlabelled, ch_names=CH_NAMES)
    with pytest.raises(ChannelMismatchError, match="match neither"):
        save_model(Ridge().fit(X, Y), tmp_path / "bad", ch_names=CH_NAMES, times=TIMES[:2])


def test_missing_and_corrupt_files(tmp_path, data):
    X, Y, _ = data
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(tmp_path / "nothing.safetensors")
    path = save_model(Ridge().fit(X, Y), tmp_path / "d")
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(DataFormatError, match="cannot read"):
        load_model(path)
    path.with_suffix(".json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(DataFormatError, match="not a Perceptogram ridge model"):
        load_model(path)
    path = save_model(Ridge().fit(X, Y), tmp_path / "e")
    path.write_bytes(b"\x80\x04pickle")
    with pytest.raises(DataFormatError, match="cannot read"):
        load_model(path)


def test_save_requires_fitted_model(tmp_path):
    with pytest.raises(TypeError, match="fitted"):
        save_model(Ridge(), tmp_path / "d")
