"""Shared test configuration: offline, headless, quiet; simulated datasets."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["PERCEPTOGRAM_QUIET"] = "1"


@pytest.fixture(scope="session")
def tiny_things(tmp_path_factory):
    """A tiny simulated THINGS-EEG2 folder: 1 subject, 12 concepts x 4 images, 20 test.

    Two training and ten test repetitions, 128-pixel images; builds in a few
    seconds. Returns the dataset root (``pathlib.Path``); the planted truth is
    read with ``perceptogram.data.simulate.dataset.load_ground_truth(root)``.
    """
    from perceptogram.data.simulate.dataset import simulate_dataset

    return simulate_dataset(
        tmp_path_factory.mktemp("tiny") / "things", n_subjects=1, n_train_concepts=12,
        images_per_concept=4, n_test_concepts=20, n_train_repetitions=2,
        n_test_repetitions=10, seed=0,
    )


@pytest.fixture(scope="session")
def small_things(tmp_path_factory):
    """A small simulated folder with enough data for decoding tests.

    2 subjects, 60 concepts x 8 images (480 training images, 4 repetitions),
    40 test concepts (20 repetitions), 128-pixel images.
    """
    from perceptogram.data.simulate.dataset import simulate_dataset

    return simulate_dataset(
        tmp_path_factory.mktemp("small") / "things", n_subjects=2, n_train_concepts=60,
        images_per_concept=8, n_test_concepts=40, n_train_repetitions=4,
        n_test_repetitions=20, seed=1,
    )
