"""The unCLIP branch of the pipeline, end to end, with the tiny random-weight pipeline.

A simulated dataset goes through data -> features (``unclip`` and ``unclip-vae``
latents of a local pipeline folder) -> fit -> predict -> reconstruct (Stable
unCLIP, the decoded VAE latent as img2img start) -> evaluate -> interpret ->
report, all on the CPU in seconds. The reconstructions are checked against the
reconstructor run by hand on the decoded latents the pipeline saved.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from perceptogram.config import ConfigError, make_config  # noqa: E402
from perceptogram.evaluate import metrics  # noqa: E402
from perceptogram.evaluate.tables import load_table  # noqa: E402
from perceptogram.latents.unclip import load_unclip_pipeline  # noqa: E402
from perceptogram.pipeline.artifacts import load_pngs  # noqa: E402
from perceptogram.pipeline.rundir import RunDir  # noqa: E402
from perceptogram.pipeline.runner import run_pipeline  # noqa: E402
from perceptogram.pipeline.stages import PIPELINE, reconstruction_method  # noqa: E402
from perceptogram.reconstruct.unclip import UnCLIPReconstructor  # noqa: E402
from unclip_tiny import (  # noqa: E402
    EMBED_DIM,
    IMAGE_SIZE,
    VAE_SCALE_FACTOR,
    make_tiny_unclip_pipeline,
    no_network,  # noqa: F401  (autouse fixture)
    single_thread,  # noqa: F401  (autouse fixture)
)

N_TEST = 4
UNCLIP = {"steps": 4, "guidance": 3.0, "strength": 0.5, "size": IMAGE_SIZE, "seed": 3}


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """The tiny pipeline saved as a local diffusers folder (what a user points to)."""
    root = tmp_path_factory.mktemp("tiny-unclip")
    pipe = make_tiny_unclip_pipeline(root / "tokenizer")
    pipe.save_pretrained(root / "model")
    return str(root / "model")


def _config(out, model, spaces=("unclip", "unclip-vae")):
    options = {"unclip": {"batch_size": 16}}
    if "unclip-vae" in spaces:  # explicit here, defaulted for unclip
        options["unclip-vae"] = {"model": model, "image_size": IMAGE_SIZE, "batch_size": 16}
    return make_config(
        dataset={"kind": "simulated", "simulation": {
            "n_subjects": 1, "n_train_concepts": 8, "images_per_concept": 2,
            "n_test_concepts": N_TEST, "n_train_repetitions": 2, "n_test_repetitions": 4,
            "image_size": 64}},
        latents={"spaces": list(spaces), "options": options},
        decoder={"cv": "loo", "alphas": [1.0, 100.0]},
        reconstruction={"methods": ["unclip"], "retrieval_space": "unclip",
                        "unclip": {"model": model, **UNCLIP}},
        metrics={"networks": [], "image_size": 32, "n_boot": 10, "n_permutations": 10},
        interpretability={"space": "unclip", "attributes": ["hue"], "times_ms": [100.0],
                          "figure_formats": ["png"]},
        output=str(out),
        jobs=1,
    )


def _by_hand(model, run_dir, vae_start=True):
    """The reconstructor run directly on the decoded latents the pipeline saved."""
    pipe = load_unclip_pipeline(model, device="cpu")
    decoded = np.load(run_dir.unit_dir("predict", 1, "unclip") / "decoded.npy")
    vae = None
    if vae_start:
        vae = np.load(run_dir.unit_dir("predict", 1, "unclip-vae") / "decoded.npy")
    reconstructor = UnCLIPReconstructor(
        pipe, num_inference_steps=UNCLIP["steps"], guidance_scale=UNCLIP["guidance"],
        strength=UNCLIP["strength"], image_size=UNCLIP["size"], seed=UNCLIP["seed"])
    return reconstructor.reconstruct(decoded, vae)


def test_unclip_branch_end_to_end(model_folder, tmp_path, monkeypatch):
    config = _config(tmp_path / "run", model_folder)
    run_dir = RunDir(config.output)
    calls = []
    original = UnCLIPReconstructor.reconstruct

    def spy(self, image_embeds, vae_latents=None, **kwargs):
        calls.append({"strength": self.strength, "embeds": image_embeds,
                      "vae": vae_latents})
        return original(self, image_embeds, vae_latents, **kwargs)

    monkeypatch.setattr(UnCLIPReconstructor, "reconstruct", spy)
    first = run_pipeline(config, PIPELINE)
    assert {"reconstruct[sub-01/unclip]", "evaluate[sub-01/unclip]", "report"} <= set(
        first.computed)
    assert not any(label.startswith("reconstruct[sub-01/unclip-vae]")
                   for label in first.computed)

    # Latents of the tiny model at the configured size: 32-d embeddings and
    # 4 x (32 / 2)^2 VAE latents, for every test image.
    side = IMAGE_SIZE // VAE_SCALE_FACTOR
    decoded = np.load(run_dir.unit_dir("predict", 1, "unclip") / "decoded.npy")
    decoded_vae = np.load(run_dir.unit_dir("predict", 1, "unclip-vae") / "decoded.npy")
    assert decoded.shape == (N_TEST, EMBED_DIM)
    assert decoded_vae.shape == (N_TEST, 4 * side * side)
    assert np.load(run_dir.unit_dir("features", None, "unclip-vae") / "test.npy").shape == (
        N_TEST, 4 * side * side)

    # The decoded VAE latents are the img2img start of the decoded embeddings.
    assert len(calls) == 1 and calls[0]["strength"] == UNCLIP["strength"]
    np.testing.assert_array_equal(calls[0]["embeds"], decoded)
    np.testing.assert_array_equal(calls[0]["vae"], decoded_vae)

    # One PNG per test image, at the configured size, equal to the reconstructor's output.
    folder = run_dir.unit_dir("reconstruct", 1, "unclip") / "unclip"
    assert len(list(folder.glob("*.png"))) == N_TEST
    recons = load_pngs(folder)
    assert recons.shape == (N_TEST, IMAGE_SIZE, IMAGE_SIZE, 3)
    monkeypatch.setattr(UnCLIPReconstructor, "reconstruct", original)
    with_start = _by_hand(model_folder, run_dir)
    np.testing.assert_array_equal(recons, with_start)
    from_noise = _by_hand(model_folder, run_dir, vae_start=False)
    assert np.abs(recons.astype(int) - from_noise).mean() > 2

    # Evaluation rows of the unCLIP reconstructions, matching the metric functions.
    rows = load_table(run_dir.unit_dir("evaluate", 1, "unclip") / "metrics")
    method = reconstruction_method(config, "unclip")
    assert method == "ridge → unCLIP (unclip)"
    ours = {row.metric: row for row in rows if row.method == method}
    assert {"PixCorr", "SSIM"} <= set(ours)
    assert all(row.n_images == N_TEST and row.subject == 1 for row in ours.values())
    from perceptogram.data.core.image_files import load_images
    from perceptogram.data.formats.things_eeg2 import load_image_metadata

    truth = load_images(load_image_metadata(config.data_root()).image_paths("test"))
    np.testing.assert_allclose(ours["PixCorr"].value,
                               metrics.pixcorr(recons, truth, image_size=32).mean(), rtol=1e-6)
    vae_rows = load_table(run_dir.unit_dir("evaluate", 1, "unclip-vae") / "metrics")
    assert vae_rows and all(row.method == "ridge → unclip-vae latents" for row in vae_rows)

    # The report shows the unCLIP reconstructions and their scores.
    headline = json.loads((run_dir.unit_dir("report") / "headline.json").read_text())
    assert any(f"{method}: PixCorr {ours['PixCorr'].value:.3f}" in line for line in headline)
    assert f"sub-01 · {method}" in run_dir.report_path.read_text(encoding="utf-8")

    # A second run recomputes nothing (and never calls the reconstructor).
    calls.clear()
    monkeypatch.setattr(UnCLIPReconstructor, "reconstruct", spy)
    second = run_pipeline(config, PIPELINE)
    assert second.computed == [] and sorted(second.skipped) == sorted(first.computed)
    assert calls == []

    # Without unclip-vae the start is pure noise: reconstruct and evaluate are redone.
    no_vae = _config(tmp_path / "run", model_folder, spaces=("unclip",))
    third = run_pipeline(no_vae, PIPELINE, until="evaluate")
    assert "reconstruct[sub-01/unclip]" in third.computed
    assert "evaluate[sub-01/unclip]" in third.computed
    # The subject's decoders are refitted together (their set changed), byte for byte
    # as before: what reads the unclip decoder is not redone.
    assert "predict[sub-01/unclip]" in third.skipped
    assert len(calls) == 1 and calls[0]["vae"] is None
    np.testing.assert_array_equal(load_pngs(folder), from_noise)


def test_latent_options_must_agree_with_the_reconstruction(model_folder, tmp_path):
    base = _config(tmp_path, model_folder)
    data = base.model_dump(mode="json")
    data["latents"]["options"]["unclip-vae"]["image_size"] = 2 * IMAGE_SIZE
    with pytest.raises(ConfigError, match="image_size"):
        make_config(**data)
    data = base.model_dump(mode="json")
    data["latents"]["options"]["unclip"]["model"] = model_folder + "-other"
    with pytest.raises(ConfigError, match="model"):
        make_config(**data)
    # Agreeing values are fine.
    data["latents"]["options"]["unclip"]["model"] = model_folder
    data["latents"]["options"]["unclip-vae"]["image_size"] = IMAGE_SIZE
    make_config(**data)
