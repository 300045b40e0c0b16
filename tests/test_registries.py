"""Every choice a configuration names comes from a registry: reconstruction methods,
metrics, latent-space capabilities; one unknown-name message; one NaN policy; models
missing on this machine are named before a run starts."""

from __future__ import annotations

import numpy as np
import pytest

from perceptogram._registry import UnknownNameError, unknown_name
from perceptogram.config import ConfigError, make_config


# ----------------------------------------------------------------- unknown names
def test_one_unknown_name_message_everywhere():
    from perceptogram.latents.base import get_latent_space

    assert str(unknown_name("widget", "x", ["a", "b"])) == "unknown widget 'x'; available: a, b"
    assert str(unknown_name("widget", ["x", "y"], [])) == \
        "unknown widgets 'x', 'y'; available: none"
    with pytest.raises(UnknownNameError, match="^unknown latent space 'nope'; available: "):
        get_latent_space("nope")
    for overrides, message in (
            ({"reconstruction": {"methods": ["nope"]}}, "unknown reconstruction method 'nope'"),
            ({"metrics": {"networks": ["nope"]}}, "unknown feature network 'nope'"),
            ({"metrics": {"best_worst_metric": "nope"}}, "unknown image metric 'nope'"),
            ({"dataset": {"kind": "nope", "path": "/x"}}, "unknown dataset kind 'nope'")):
        with pytest.raises(ConfigError, match=f"{message}; available: "):
            make_config(**overrides)


# ------------------------------------------------------------ reconstruction methods
def test_offline_methods_are_registered_like_generators():
    from perceptogram.reconstruct.base import DEFAULT_METHODS, METHODS, method_spec

    assert set(DEFAULT_METHODS) <= set(METHODS.names())
    assert {"unclip", "kandinsky22", "sdxl-ip-adapter"} <= set(METHODS.names())
    pca, retrieval, unclip = (method_spec(m) for m in ("pca", "retrieval", "unclip"))
    assert pca.deterministic and retrieval.deterministic and not unclip.deterministic
    assert (pca.label, retrieval.label, unclip.label) == ("pca decoding", "retrieval", "unCLIP")
    assert pca.space({}, "effnet") == "pca" and retrieval.space({}, "attributes") == "attributes"
    assert unclip.space({}, "effnet") == "unclip"
    config = make_config(latents={"spaces": ["effnet", "pca", "attributes"]},
                         reconstruction={"retrieval_space": "attributes"})
    assert config.reconstruction.method_space("retrieval") == "attributes"
    with pytest.raises(ConfigError, match="method 'retrieval' needs 'attributes' in latents"):
        make_config(latents={"spaces": ["effnet", "pca"]},
                    reconstruction={"retrieval_space": "attributes"},
                    interpretability={"space": "effnet"})
    with pytest.raises(ConfigError, match="options.retrieval: metric"):
        make_config(reconstruction={"options": {"retrieval": {"metric": "euclid"}}})


def test_older_unclip_sections_keep_loading():
    spaces = {"latents": {"spaces": ["effnet", "pca", "unclip", "unclip-vae"]}}
    config = make_config(**spaces, reconstruction={
        "methods": ["unclip"], "unclip": {"model": "/models/unclip", "size": 512}})
    assert config.reconstruction.options == {"unclip": {"model": "/models/unclip", "size": 512}}
    assert config.reconstruction.method_options("unclip")["steps"] == 20
    # the method's shared values are the default options of its latent spaces
    assert config.latent_options("unclip") == {"model": "/models/unclip"}
    assert config.latent_options("unclip-vae") == {"model": "/models/unclip", "image_size": 512}
    with pytest.raises(ConfigError, match="image_size .* differs from the unclip method's size"):
        make_config(latents={**spaces["latents"], "options": {"unclip-vae": {"image_size": 768}}},
                    reconstruction={"methods": ["unclip"], "unclip": {"size": 512}})
    # not run: the section still sets what the unclip latent spaces encode with
    config = make_config(**spaces, reconstruction={"unclip": {"model": "/models/unclip"}})
    assert config.reconstruction.options == {}
    assert config.latent_options("unclip-vae") == {"model": "/models/unclip"}


# ------------------------------------------------------------------------ metrics
def test_a_registered_metric_is_scored_once_per_batch_and_reported():
    from perceptogram.evaluate.metric_registry import (
        ImageMetric,
        register_metric,
        unregister_metric,
    )
    from perceptogram.evaluate.suite import score_reconstructions

    calls = []

    def darkness(recons, truths):
        calls.append(len(recons))
        return 1.0 - recons.mean(axis=(1, 2, 3))

    rng = np.random.default_rng(0)
    truths = rng.integers(0, 256, (20, 24, 24, 3), dtype=np.uint8)
    seeds = [rng.integers(0, 256, (20, 24, 24, 3), dtype=np.uint8) for _ in range(2)]
    register_metric(ImageMetric("darkness", "Darkness", darkness, "one minus the mean"))
    try:
        assert make_config(metrics={"best_worst_metric": "darkness"})
        scores = score_reconstructions(seeds, truths, networks=[], protocol="mindeye",
                                       image_size=24, n_boot=20, n_perm=20)
    finally:
        unregister_metric("darkness")
    assert [row.metric for row in scores.rows] == ["PixCorr", "SSIM", "Darkness"]
    assert sum(calls) == 2 * 20  # each image of each seed scored once
    expected = np.mean([1 - s.mean(axis=(1, 2, 3)) / 255 for s in seeds], axis=0)
    np.testing.assert_allclose(scores.per_image["darkness"], expected, rtol=1e-5)
    np.testing.assert_allclose(scores.rows[2].value, expected.mean(), rtol=1e-5)
    assert set(scores.per_image) == {"pixcorr", "ssim", "darkness"}


# ------------------------------------------------------- latent-space capabilities
def test_latent_spaces_declare_their_capabilities():
    from perceptogram.latents.attributes import ImageAttributes
    from perceptogram.latents.base import capabilities
    from perceptogram.latents.effnet import EffNetSpace
    from perceptogram.latents.pca import PixelPCA

    pca = capabilities(PixelPCA(n_components=4, image_size=16))
    assert pca.fittable and pca.persistable and not pca.accepts_device
    assert pca.image_size == 16
    effnet = capabilities(EffNetSpace)
    assert effnet.accepts_device and not effnet.fittable and effnet.image_size == 224
    assert capabilities(ImageAttributes()) == capabilities(ImageAttributes()).__class__(
        fittable=False, persistable=False, accepts_device=False, image_size=128)


# --------------------------------------------------------------------- NaN policy
def test_rows_without_spread_have_no_similarity_anywhere():
    from perceptogram._stats import row_similarity
    from perceptogram.evaluate.metrics import retrieval_ranks, similarity_matrix
    from perceptogram.reconstruct.retrieval import retrieve

    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(6, 5))
    gallery[2] = 0.0  # no direction (cosine)
    gallery[4] = 3.0  # no spread (correlation)
    s = row_similarity(gallery, gallery, "cosine")
    assert np.isnan(s[2]).all() and np.isnan(s[:, 2]).all() and np.isfinite(s[4, 4])
    assert np.isnan(row_similarity(gallery, gallery, "correlation")[4]).all()
    np.testing.assert_array_equal(similarity_matrix(gallery, gallery), s)
    # retrieval never returns a row without direction, even for a query pointing nowhere
    queries = np.vstack([np.zeros(5), gallery[[0, 1, 3, 5]]])
    for metric, flat in (("cosine", 2), ("correlation", 4)):
        nearest = retrieve(queries, gallery, k=5, metric=metric)
        assert flat not in nearest[1:, :4]
        assert list(nearest[1:, 0]) == [0, 1, 3, 5]
        assert list(retrieve(queries, gallery, k=1, metric=metric)[1:, 0]) == [0, 1, 3, 5]
    # an image whose own similarity is NaN ranks last: a miss at every k < N
    ranks = retrieval_ranks(queries, np.vstack([np.zeros(5), gallery[[0, 1, 3, 5]]]))
    assert ranks[0] == len(queries) - 1 and list(ranks[1:]) == [0, 0, 0, 0]


# -------------------------------------------------------------- the package's face
def test_the_package_namespace_is_its_public_api():
    import perceptogram as pg

    names = dir(pg)
    assert not {"Any", "annotations", "import_module", "version"} & set(names)
    assert set(pg.__all__) <= set(names)


# ---------------------------------------------------------------- missing weights
def test_missing_weights_are_named_before_the_run_starts(tmp_path):
    from perceptogram.errors import MissingWeightsError
    from perceptogram.latents.hub import missing_weights
    from perceptogram.pipeline.runner import run_pipeline
    from perceptogram.pipeline.stages import PIPELINE

    config = make_config(
        latents={"spaces": ["effnet", "pca", "unclip"],
                 "options": {"unclip": {"model": "no-such-org/no-such-unclip"}}},
        output=str(tmp_path / "run"))
    with pytest.raises(MissingWeightsError) as info:
        run_pipeline(config, PIPELINE)
    message = str(info.value)
    assert "latent space 'unclip' cannot run on this machine" in message
    assert "hf download no-such-org/no-such-unclip" in message or "pip install" in message
    assert "local_files_only" not in message
    assert not (tmp_path / "run").exists()  # refused before any stage (or folder)
    hub_advice = OSError("Cannot find the requested files in the disk cache and outgoing "
                         "traffic has been disabled. To enable hf.co look-ups and downloads "
                         "online, set 'local_files_only' to False.")
    message = str(missing_weights("org/model", ("*.json",), hub_advice))
    assert "local_files_only" not in message and "hf download org/model" in message


def test_a_finished_run_needs_no_weights_to_be_checked_again(tmp_path):
    from perceptogram.errors import MissingWeightsError
    from perceptogram.pipeline.rundir import RunDir, Unit
    from perceptogram.pipeline.stages import check_requirements, features_settings

    def config(model):
        return make_config(latents={"spaces": ["effnet", "pca", "unclip"],
                                    "options": {"unclip": {"model": model}}},
                           output=str(tmp_path / "run"))

    done = config("no-such-org/encoded-earlier")
    run_dir = RunDir(done.output)
    run_dir.claim()
    unit = Unit("features", None, "unclip")
    run_dir.path(unit).mkdir(parents=True)
    run_dir.seal(unit, "key", features_settings(done, None, "unclip"), {}, 0.0)
    check_requirements(done, ["features"])  # sealed with these settings: not asked
    with pytest.raises(MissingWeightsError, match="no-such-org/other"):
        check_requirements(config("no-such-org/other"), ["features"])
