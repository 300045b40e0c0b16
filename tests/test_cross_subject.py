"""Within, across and aligned decoding on simulated subjects with their own channel mixing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from perceptogram.cross_subject import SubjectEpochs, evaluate_cross_subject, method_name
from perceptogram.cross_subject.curves import repetition_scores
from perceptogram.data.formats.things_eeg2 import load_subject
from perceptogram.data.simulate.dataset import load_ground_truth, simulate_dataset
from perceptogram.errors import ChannelMismatchError, DataFormatError

pytestmark = pytest.mark.filterwarnings(
    "ignore::perceptogram.linear.ridge.AlphaGridEdgeWarning")

#: A short window keeps the features (17 channels x 16 samples) and the tests small.
WINDOW = dict(tmin=0.06, tmax=0.22)
FAST = dict(n_boot=50, n_perm=50, n_ceiling_splits=10, **WINDOW)


def _simulate(folder, mixing):
    """Three subjects; with ``mixing`` each sees the sources through its own head."""
    root = simulate_dataset(
        folder / "things", n_subjects=3, n_train_concepts=50, images_per_concept=8,
        n_test_concepts=40, n_train_repetitions=4, n_test_repetitions=10,
        write_images=False, subject_mixing=mixing, subject_noise_spread=0.2, seed=3)
    truth = load_ground_truth(root)

    def latents(split):
        a = truth.attributes[split]
        names = ("brightness", "hue", "texture", "size", "superclass")
        return np.column_stack([a[f"feature_{n}"] for n in names]
                               + [truth.idiosyncratic[split]])

    subjects = [SubjectEpochs(s, *load_subject(root, s, cache=False)) for s in range(1, 4)]
    return subjects, latents("train"), latents("test")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Subjects who see the same sources through their own channel mixing."""
    return _simulate(tmp_path_factory.mktemp("mixed"), 2.0)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The same simulation without subject mixing."""
    return _simulate(tmp_path_factory.mktemp("plain"), 0.0)


def _summary(result, method, metric):
    return next(s.mean for s in result.summary if s.method == method and s.metric == metric)


def test_alignment_recovers_what_mixing_takes_from_across_subject_decoding(mixed, plain):
    within, across, aligned = (method_name(p) for p in ("within", "across", "aligned"))
    same_heads = evaluate_cross_subject(*plain, protocols=("across", "aligned"),
                                        ceilings=False, **FAST)
    result = evaluate_cross_subject(*mixed, **FAST)
    reference = _summary(same_heads, across, "latent r")
    r = {m: _summary(result, m, "latent r") for m in (within, across, aligned)}
    two_way = {m: _summary(result, m, "latent two-way") for m in (within, across, aligned)}
    assert reference > 0.2
    # With the same heads, alignment costs nothing (its identity prior holds).
    assert _summary(same_heads, aligned, "latent r") > reference - 0.03
    # Each subject's own mixing breaks decoding across subjects ...
    assert r[across] < 0.1 and two_way[across] < 0.6
    # ... and alignment on the training pictures brings most of it back.
    assert r[aligned] > 0.7 * reference and two_way[aligned] > 0.75
    table = {rec["metric"]: rec for rec in result.table()}
    assert table["top-1 (cosine)"]["chance"] == pytest.approx(1 / 40)
    assert table["latent r"]["n_subjects"] == 3 and f"{aligned} SEM" in table["latent r"]
    for m in (within, aligned):
        assert r[m] < _summary(result, m, "latent r ceiling") <= 1.0
    assert set(result.eeg_reliability) == {1, 2, 3}
    assert result.eeg_reliability[1].spearman_brown.shape == (17, 100)
    assert 0 < _summary(result, "test EEG", "EEG reliability (max)") <= 1


def test_held_out_test_epochs_change_nothing_that_is_fitted(mixed):
    subjects, train, test = mixed
    rng = np.random.default_rng(0)
    held = subjects[0]
    noise_test = replace(held.test,
                         data=rng.standard_normal(held.test.data.shape).astype(np.float32))
    other_train = replace(held.train, data=held.train.data[::-1].copy())
    runs = {}
    for label, first in (("original", held),
                         ("new test", SubjectEpochs(1, held.train, noise_test)),
                         ("new train", SubjectEpochs(1, other_train, held.test))):
        runs[label] = evaluate_cross_subject([first] + list(subjects[1:]), train, test,
                                             protocols=("aligned",), ceilings=False,
                                             keep_models=True, **FAST)
    base, new_test, new_train = runs["original"], runs["new test"], runs["new train"]
    for key, model in base.models.items():
        np.testing.assert_array_equal(model.coef_, new_test.models[key].coef_)
        np.testing.assert_array_equal(model.alpha_, new_test.models[key].alpha_)
    for subject, m in base.maps.items():
        np.testing.assert_array_equal(m.alignment.matrix, new_test.maps[subject].alignment.matrix)
        np.testing.assert_array_equal(m.scale, new_test.maps[subject].scale)
    # The held-out subject's own training data move its map, never the pooled decoder.
    np.testing.assert_array_equal(base.models[("aligned", 1)].coef_,
                                  new_train.models[("aligned", 1)].coef_)
    assert not np.allclose(base.maps[1].alignment.matrix, new_train.maps[1].alignment.matrix)
    scores = [next(r.value for r in run.rows if r.subject == 1 and r.metric == "latent r"
                   and r.method == method_name("aligned")) for run in (base, new_test)]
    assert scores[0] != scores[1]  # the test data do reach the scores


def test_uneven_test_repetitions_and_picture_order(mixed):
    subjects, train, test = mixed
    s = subjects[1]
    data = s.test.data.copy()
    data[:10, 6:] = np.nan  # ten pictures kept six repetitions
    counts = np.where(np.arange(40) < 10, 6, 10)
    order = np.random.default_rng(1).permutation(s.test.n_images)
    shuffled = replace(s.test, data=data[order],
                       image_files=[s.test.image_files[i] for i in order],
                       concepts=[s.test.concepts[i] for i in order])
    curve = repetition_scores(SubjectEpochs(2, s.train, shuffled, counts[order]), train, test,
                              test_files=s.test.image_files, n_draws=3, n_boot=100, **WINDOW)
    assert curve.n_repetitions.tolist() == [1, 2, 4, 8, 10]
    assert curve.mean_used[-1] == pytest.approx((30 * 10 + 10 * 6) / 40)
    assert curve.values["map r"][-1] == pytest.approx(1.0)
    assert curve.values["latent two-way"][-1] > curve.values["latent two-way"][0]
    assert curve.values["latent r"][-1] > curve.values["latent r"][0]
    result = evaluate_cross_subject(
        [subjects[0], SubjectEpochs(2, s.train, shuffled, counts[order])], train, test,
        protocols=("within",), **FAST)
    r = [row.value for row in result.rows if row.metric == "latent r" and row.subject == 2]
    assert np.isfinite(r[0]) and r[0] > 0.1  # padding averaged out, rows matched by file
    with pytest.raises(DataFormatError, match="have no latent"):
        repetition_scores(SubjectEpochs(2, s.train, shuffled, counts[order]), train, test,
                          test_files=[f"x{i}" for i in range(40)], **WINDOW)


def test_refusals(mixed):
    subjects, train, test = mixed
    with pytest.raises(DataFormatError, match="at least 2 subjects"):
        evaluate_cross_subject(subjects[:1], train, test)
    with pytest.raises(DataFormatError, match="protocol must be one of"):
        evaluate_cross_subject(subjects, train, test, protocols=("sideways",))
    with pytest.raises(DataFormatError, match="latents for"):
        evaluate_cross_subject(subjects, train[:-1], test)
    s = subjects[1]
    fewer = SubjectEpochs(9, replace(s.train, data=s.train.data[:, :, :16],
                                     ch_names=s.train.ch_names[:16]),
                          replace(s.test, data=s.test.data[:, :, :16],
                                  ch_names=s.test.ch_names[:16]))
    with pytest.raises(ChannelMismatchError, match="other channels"):
        evaluate_cross_subject([subjects[0], fewer], train, test, ceilings=False, **WINDOW)


def test_blocked_eeg_reliability_equals_one_block_and_decoder_ceiling_subsets(monkeypatch):
    from perceptogram.cross_subject import ceilings
    from perceptogram.evaluate.noise_ceiling import split_half_reliability
    from perceptogram.linear.ridge import Ridge

    rng = np.random.default_rng(0)
    signal = rng.standard_normal((12, 1, 5, 7))
    data = signal + rng.standard_normal((12, 6, 5, 7))
    data[:3, 4:] = np.nan  # uneven repetitions
    whole = split_half_reliability(data, n_splits=20, seed=4)
    monkeypatch.setattr(ceilings, "EEG_BLOCK_FLOATS", 2 * 12 * 6 * 7 * 2)  # 2 channels a block
    blocked = ceilings.eeg_reliability(data, n_splits=20, seed=4)
    for name in ("split_half", "all_vs_half", "spearman_brown", "ceiling"):
        np.testing.assert_allclose(getattr(blocked, name), getattr(whole, name), atol=1e-12)
    assert (blocked.min_repetitions, blocked.max_repetitions) == (4, 6)
    # a decoder's ceiling over chosen dimensions is the mean of those dimensions' ceilings
    trials = data.reshape(12, 6, -1)
    X = np.nan_to_num(trials).mean(axis=1)
    model = Ridge(alpha=1.0).fit(X, X[:, :6] @ rng.standard_normal((6, 9)))
    decoded = np.einsum("irf,tf->irt", trials, model.coef_) + model.intercept_
    per_dim = split_half_reliability(decoded, n_splits=20, seed=4).ceiling
    monkeypatch.setattr(ceilings, "LATENT_BLOCK", 2)
    dims = np.array([1, 4, 8])
    value, excluded = ceilings.decoder_ceiling(model, trials.astype(np.float32), n_splits=20,
                                               seed=4, dims=dims)
    assert excluded == 0 and value == pytest.approx(per_dim[dims].mean(), abs=1e-5)


def test_one_accumulation_fits_every_target_set_as_separate_fits(mixed):
    from perceptogram.cross_subject import fit_held_out
    from perceptogram.data.core.prepare import prepare

    subjects, train, _ = mixed
    X = [prepare(s.train, s.test, zscore=False, **WINDOW)[0].X for s in subjects]
    pictures = [np.arange(len(train))] * 3
    groups = np.unique(subjects[0].train.concepts, return_inverse=True)[1]
    both = fit_held_out(X, pictures, 0, {"a": train[:, :3], "b": train[:, 3:]}, groups,
                        n_channels=17, n_splits=3)
    alone = fit_held_out(X, pictures, 0, {"b": train[:, 3:]}, groups, n_channels=17,
                         n_splits=3)
    np.testing.assert_array_equal(both.models["b"].coef_, alone.models["b"].coef_)
    np.testing.assert_array_equal(both.feature_map.alignment.matrix,
                                  alone.feature_map.alignment.matrix)
    assert both.models["a"].coef_.shape == (3, X[0].shape[1])
    with pytest.raises(DataFormatError, match="'across' or 'aligned'"):
        fit_held_out(X, pictures, 0, {"b": train}, groups, protocol="within")
