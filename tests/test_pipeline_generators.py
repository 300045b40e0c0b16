"""A generator that the pipeline knows only through the registry: Kandinsky 2.2 end to end.

The configuration names ``kandinsky22`` as a latent space and a reconstruction
method, with local folders of tiny random-weight models; nothing in config.py or
stages.py mentions it. The saved reconstructions must be the generator's output on
the decoded latents the pipeline saved.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from generators_tiny import make_tiny_clip_vision, make_tiny_kandinsky22_decoder  # noqa: E402
from perceptogram.config import make_config  # noqa: E402
from perceptogram.pipeline.artifacts import load_pngs, read_rows  # noqa: E402
from perceptogram.pipeline.rundir import RunDir  # noqa: E402
from perceptogram.pipeline.runner import run_pipeline  # noqa: E402
from perceptogram.pipeline.stages import (  # noqa: E402
    PIPELINE,
    SEED_STRIDE,
    reconstruction_method,
)
from perceptogram.reconstruct.kandinsky22 import Kandinsky22Generator  # noqa: E402
from unclip_tiny import no_network, single_thread  # noqa: E402, F401  (autouse fixtures)

N_TEST = 3
OPTIONS = {"steps": 2, "size": 64, "seed": 4, "guidance": 4.0}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("kandinsky")
    encoder, processor = make_tiny_clip_vision(image_size=32)
    encoder.save_pretrained(root / "prior" / "image_encoder")
    processor.save_pretrained(root / "prior" / "image_processor")
    make_tiny_kandinsky22_decoder().save_pretrained(root / "decoder")
    return str(root / "prior"), str(root / "decoder")


def _kandinsky_run(folders, out, **overrides):
    """A tiny simulated run whose only latent space and generator is Kandinsky 2.2."""
    prior, decoder = folders
    generator = {"model": decoder, "prior_model": prior, "variant": None, **OPTIONS}
    config = make_config(
        dataset={"kind": "simulated", "simulation": {
            "n_subjects": 1, "n_train_concepts": 6, "images_per_concept": 2,
            "n_test_concepts": N_TEST, "n_train_repetitions": 2, "n_test_repetitions": 2,
            "image_size": 64}},
        latents={"spaces": ["kandinsky22"], "options": {"kandinsky22": {"model": prior}}},
        decoder={"cv": "loo", "alphas": [1.0, 100.0]},
        reconstruction={"methods": ["kandinsky22"], "retrieval_space": "kandinsky22",
                        "options": {"kandinsky22": generator}, "memory": {"batch_size": 2}},
        interpretability={"space": "kandinsky22", "attributes": ["hue"], "times_ms": [100.0],
                          "figure_formats": ["png"]},
        output=str(out), jobs=1, **overrides,
    )
    return config, generator


def test_kandinsky22_through_the_registry_end_to_end(folders, tmp_path):
    config, generator = _kandinsky_run(folders, tmp_path / "run")
    result = run_pipeline(config, PIPELINE, until="reconstruct")
    assert "reconstruct[sub-01/kandinsky22]" in result.computed
    run_dir = RunDir(config.output)
    decoded = np.load(run_dir.unit_dir("predict", 1, "kandinsky22") / "decoded.npy")
    assert decoded.shape == (N_TEST, 32)
    saved = load_pngs(run_dir.unit_dir("reconstruct", 1, "kandinsky22") / "kandinsky22")
    by_hand = Kandinsky22Generator(device="cpu", memory={"batch_size": 3}, **generator)
    expected = by_hand.generate({"kandinsky22": decoded})
    assert np.abs(saved.astype(int) - expected.astype(int)).max() <= 1  # batch 2 vs 3
    assert by_hand.negative_embedding().shape == (32,)  # the prior's zero-image embedding
    assert reconstruction_method(config, "kandinsky22") == "ridge → kandinsky22 (kandinsky22)"


def test_n_seeds_writes_one_folder_per_generation_seed_and_evaluates_their_mean(folders,
                                                                                 tmp_path):
    config, generator = _kandinsky_run(folders, tmp_path / "run", metrics={
        "n_seeds": 2, "networks": [], "n_boot": 10, "n_permutations": 10})
    run_pipeline(config, PIPELINE, until="evaluate")
    run_dir = RunDir(config.output)
    folder = run_dir.unit_dir("reconstruct", 1, "kandinsky22") / "kandinsky22"
    seed0, seed1 = load_pngs(folder / "seed-0"), load_pngs(folder / "seed-1")
    assert seed0.shape == seed1.shape and not np.array_equal(seed0, seed1)
    decoded = np.load(run_dir.unit_dir("predict", 1, "kandinsky22") / "decoded.npy")
    second = Kandinsky22Generator(device="cpu", memory={"batch_size": 2},
                                  **{**generator, "seed": OPTIONS["seed"] + SEED_STRIDE})
    assert np.abs(seed1.astype(int) - second.generate({"kandinsky22": decoded})).max() <= 1
    rows = read_rows(run_dir.unit_dir("evaluate", 1, "kandinsky22") / "metrics")
    pixcorr = [r for r in rows if r["metric"] == "PixCorr"]
    assert pixcorr and all(int(r["n_seeds"]) == 2 for r in pixcorr)
