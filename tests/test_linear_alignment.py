"""Alignment maps to a shared space: Procrustes against SciPy, planted mixing recovered."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.stats import ortho_group

from perceptogram.errors import DataFormatError
from perceptogram.linear.alignment import (
    AlignmentMap,
    SharedSpace,
    channel_rows,
    fit_map,
    procrustes,
    procrustes_cv,
    shared_template,
)

N_CH, N_T = 5, 12
pytestmark = pytest.mark.filterwarnings("ignore::perceptogram.linear.ridge.AlphaGridEdgeWarning")


def test_procrustes_equals_scipy():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 6))
    B = A @ ortho_group.rvs(6, random_state=1) + 0.3 * rng.standard_normal((40, 6))
    R = procrustes(A, B)
    ref, _ = orthogonal_procrustes(A, B)
    np.testing.assert_allclose(R, ref, atol=1e-12)
    np.testing.assert_allclose(R.T @ R, np.eye(6), atol=1e-12)


def test_channel_map_is_kronecker_on_channel_major_features():
    rng = np.random.default_rng(1)
    M = rng.standard_normal((N_CH, N_CH))
    X = rng.standard_normal((7, N_CH * N_T))
    mapped = AlignmentMap("ridge", "channels", M, N_CH).transform(X)
    np.testing.assert_allclose(mapped, X @ np.kron(M, np.eye(N_T)), atol=1e-12)
    rows = channel_rows(X, N_CH)
    np.testing.assert_array_equal(rows[:N_T], X[0].reshape(N_CH, N_T).T)
    with pytest.raises(DataFormatError, match="whole number"):
        channel_rows(X[:, :-1], N_CH)


def mixed_subjects(n_subjects=4, n_pictures=60, noise=0.3, seed=0, orthogonal=True):
    """The same sources seen through each subject's own channel mixing."""
    rng = np.random.default_rng(seed)
    sources = rng.standard_normal((n_pictures, N_CH * N_T))
    mixings = [ortho_group.rvs(N_CH, random_state=rng) if orthogonal
               else rng.standard_normal((N_CH, N_CH)) + 2 * np.eye(N_CH)
               for _ in range(n_subjects)]
    subjects = [AlignmentMap("none", "channels", M, N_CH).transform(sources)
                + noise * rng.standard_normal(sources.shape) for M in mixings]
    return sources, mixings, subjects


def _agreement(a, b):
    return np.corrcoef(a.ravel(), b.ravel())[0, 1]


@pytest.mark.parametrize("method", ["procrustes", "ridge"])
def test_shared_space_recovers_planted_mixing(method):
    _, _, subjects = mixed_subjects(orthogonal=method == "procrustes")
    before = _agreement(subjects[0], subjects[1])
    space = SharedSpace(method, "channels", n_channels=N_CH).fit(subjects[:3],
                                                                 [np.arange(60)] * 3)
    aligned = [m.transform(x) for m, x in zip(space.maps_, subjects[:3])]
    held_out = space.map_subject(subjects[3], np.arange(60)).transform(subjects[3])
    assert before < 0.5
    assert _agreement(aligned[0], aligned[1]) > 0.8
    assert _agreement(held_out, aligned[0]) > 0.8


def test_generalised_procrustes_template_rotations_are_orthogonal():
    _, _, subjects = mixed_subjects(noise=0.1)
    template, rotations = shared_template(subjects, space="channels", n_channels=N_CH)
    for R, X in zip(rotations, subjects):
        np.testing.assert_allclose(R.T @ R, np.eye(N_CH), atol=1e-10)
        assert _agreement(AlignmentMap("procrustes", "channels", R, N_CH).transform(X),
                          template) > 0.95


def test_feature_space_maps_and_none():
    _, _, subjects = mixed_subjects(n_pictures=200)
    m = fit_map(subjects[0], subjects[1], method="procrustes", space="features")
    assert m.matrix.shape == (N_CH * N_T,) * 2
    ident = fit_map(subjects[0], subjects[1], method="none", space="features")
    np.testing.assert_array_equal(ident.transform(subjects[0]), subjects[0])


def test_held_out_map_uses_shared_pictures_only_and_refuses_too_few():
    _, _, subjects = mixed_subjects()
    space = SharedSpace(n_channels=N_CH).fit([subjects[0], subjects[1][5:]],
                                          [np.arange(60), np.arange(5, 60)])
    assert space.pictures_.tolist() == list(range(5, 60))
    partial = space.map_subject(subjects[2][:30], np.arange(30))  # saw 25 shared pictures
    assert partial.matrix.shape == (N_CH, N_CH)
    with pytest.raises(DataFormatError, match="needs at least 10"):
        space.map_subject(subjects[2][:8], np.arange(8))
    with pytest.raises(DataFormatError, match="share 3 training pictures"):
        SharedSpace(n_channels=N_CH).fit(subjects[:2], [np.arange(3), np.arange(3)])
    with pytest.raises(DataFormatError, match="alignment must be one of"):
        SharedSpace("hyper", n_channels=N_CH).fit(subjects[:2], [np.arange(60)] * 2)


def test_procrustes_prior_is_chosen_by_cross_validation():
    """Weight 0 gives the classical fit; noise without mixing pulls to the identity."""
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(40), 25)
    signal = rng.standard_normal((1000, 6)) * [3, 2, 1, 0.05, 0.05, 0.05]
    noisy = signal + rng.standard_normal((1000, 6))
    R0, w0 = procrustes_cv(noisy, signal, groups, weights=(0.0,))
    np.testing.assert_allclose(R0, procrustes(noisy, signal), atol=1e-12)
    assert w0 == 0.0
    _, w_same = procrustes_cv(noisy, signal, groups)
    assert w_same > 0  # same head: the rotation of the noise-only directions is not trusted
    Q = ortho_group.rvs(6, random_state=2)
    R_mixed, w_mixed = procrustes_cv(signal @ Q.T + 0.01 * rng.standard_normal((1000, 6)),
                                     signal, groups)
    assert w_mixed == 0.0  # another head, clean signal: the classical fit wins
    np.testing.assert_allclose(R_mixed.T @ R_mixed, np.eye(6), atol=1e-10)
