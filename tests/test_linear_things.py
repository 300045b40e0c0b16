"""Decoding planted attributes from the simulated THINGS-EEG2 dataset (held-out concepts)."""

from __future__ import annotations

import numpy as np

from perceptogram.data.core.prepare import prepare
from perceptogram.data.simulate.dataset import load_ground_truth
from perceptogram.data.formats.things_eeg2 import load_subject
from perceptogram.linear.ridge import RidgeCV


def _targets(attributes: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    return np.column_stack([np.asarray(attributes[name], dtype=float) for name in names])


def test_planted_attributes_decode_above_chance_on_new_concepts(small_things):
    truth = load_ground_truth(small_things)
    planted = sorted(k for k in truth.attributes["train"] if k.startswith("feature_"))
    null = list(truth.null_attributes)
    assert planted and null
    train, test = prepare(*load_subject(small_things, 1), tmax=0.5)  # planted peaks < 0.3 s
    _, groups = np.unique(np.asarray(train.concepts), return_inverse=True)
    Y_train = _targets(truth.attributes["train"], planted + null)
    Y_test = _targets(truth.attributes["test"], planted + null)

    model = RidgeCV(cv="group", n_splits=5).fit(train.X, Y_train, groups=groups)
    decoded = model.predict(test.X)
    r = np.array([np.corrcoef(decoded[:, k], Y_test[:, k])[0, 1] for k in range(Y_test.shape[1])])
    r_planted, r_null = r[:len(planted)], r[len(planted):]
    # 40 test images: a chance correlation exceeds 0.27 with probability 0.05
    assert np.all(r_planted > 0.27) and r_planted.mean() > 0.5, dict(zip(planted, r_planted))
    assert np.abs(r_null).mean() < 0.5 * r_planted.mean(), dict(zip(null, r_null))
