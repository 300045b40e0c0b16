"""Evaluation protocols, generation-seed averaging and the feature-network registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perceptogram.config import ConfigError, make_config
from perceptogram.evaluate import (
    NETWORKS,
    PROTOCOLS,
    EvaluationProtocol,
    FeatureCache,
    FeatureNetwork,
    Preprocess,
    evaluate_reconstructions,
    get_network,
    get_protocol,
    register_network,
)
from perceptogram.evaluate import metrics as M
from perceptogram.evaluate import stats
from perceptogram.evaluate.image_pairs import resize
from perceptogram.evaluate.networks import unregister_network
from perceptogram.pipeline.stages import _load_reconstruction_seeds


def _images(seed, n=6, size=40):
    coarse = np.random.default_rng(seed).random((n, 5, 5, 3))
    return np.round(resize(coarse, size) * 255).astype(np.uint8)


class _SizeRecorder(torch.nn.Module):
    """Stand-in network: records the input side, returns channel means per quadrant."""

    def __init__(self, sizes):
        super().__init__()
        self.sizes = sizes
        self.pool = torch.nn.AdaptiveAvgPool2d(2)

    def forward(self, x):
        self.sizes.append(x.shape[-1])
        return self.pool(x).flatten(1)


def _alexnet_stand_in(sizes, kind="two_way"):
    # model key "alexnet": the protocols set its input size
    return FeatureNetwork("stand-alex", "Stand", "alexnet", "pool", kind,
                          lambda path: _SizeRecorder(sizes), Preprocess(256))


def test_the_two_protocols_are_registered_with_the_papers_sizes():
    assert {"mindeye", "perceptogram"} <= set(PROTOCOLS.names())
    mindeye, paper = get_protocol("mindeye"), get_protocol("perceptogram")
    assert mindeye.pixel_size == 425 and paper.pixel_size == 512
    for name, ours, theirs in (("alexnet-2", 256, 224), ("inception-v3", 342, 224),
                               ("clip", 224, 224)):
        network = get_network(name)
        assert mindeye.network(network).preprocess.size == ours
        assert paper.network(network).preprocess.size == theirs
    lite = get_network("effnet-lite0")  # does its own preprocessing under every protocol
    assert paper.network(lite) is lite
    with pytest.raises(KeyError, match="available: .*mindeye.*perceptogram"):
        get_protocol("nope")
    with pytest.raises(ValueError, match="pixel_size"):
        EvaluationProtocol("tiny", 8)


def test_protocol_sets_image_sizes_and_is_named_in_every_row():
    gt, rec = _images(0), _images(1)
    sizes = []
    cache = FeatureCache()
    rows = evaluate_reconstructions(rec, gt, networks=[_alexnet_stand_in(sizes)],
                                    protocol="perceptogram", cache=cache, n_boot=20, n_perm=20)
    by = {r.metric: r for r in rows}
    assert all(r.protocol == "perceptogram" and r.n_seeds == 1 for r in rows)
    assert by["PixCorr"].value == pytest.approx(M.pixcorr(rec, gt, image_size=512).mean())
    assert "512 px" in by["PixCorr"].notes and "at 224 px" in by["Stand"].notes
    assert set(sizes) == {224}
    sizes.clear()
    rows = evaluate_reconstructions(rec, gt, networks=[_alexnet_stand_in(sizes)],
                                    protocol="mindeye", cache=cache, n_boot=20, n_perm=20)
    # same images, another input size: the shared cache must not serve 224-px features
    assert set(sizes) == {256} and rows[0].protocol == "mindeye"
    assert rows[0].value == pytest.approx(M.pixcorr(rec, gt, image_size=425).mean())


def test_scores_are_averaged_over_generation_seeds_per_image():
    gt, seed_a, seed_b = _images(2), _images(3), _images(4)
    net = _alexnet_stand_in([])
    kwargs = dict(networks=[net, FeatureNetwork(
        "stand-dist", "Stand dist", "alexnet", "pool", "distance", net.loader, Preprocess(256))],
        n_boot=20, n_perm=30, image_size=32)
    both = {r.metric: r for r in evaluate_reconstructions([seed_a, seed_b], gt, **kwargs)}
    one = [{r.metric: r for r in evaluate_reconstructions(s, gt, **kwargs)}
           for s in (seed_a, seed_b)]
    for metric in ("PixCorr", "SSIM", "Stand", "Stand dist"):
        # per-image scores averaged over seeds, then over images: the mean of the seed means
        assert both[metric].value == pytest.approx(
            (one[0][metric].value + one[1][metric].value) / 2)
        assert both[metric].n_seeds == 2 and "averaged over 2 seeds" in both[metric].notes
    # identical seeds: the seed-averaged permutation test is the single-seed one
    feats = np.random.default_rng(5).normal(size=(6, 10))
    gt_feats = feats + np.random.default_rng(6).normal(size=(6, 10))
    assert stats.two_way_permutation_test([feats, feats], gt_feats, n_perm=50) == \
        stats.two_way_permutation_test(feats, gt_feats, n_perm=50)


def test_reconstruction_seed_folders_are_required(tmp_path):
    with pytest.raises(Exception, match="no seed-0 folder"):
        _load_reconstruction_seeds(tmp_path, 2)


def test_config_validates_protocol_and_networks_against_the_registries():
    config = make_config(metrics={"protocol": "perceptogram", "n_seeds": 3})
    assert config.metrics.protocol == "perceptogram" and config.metrics.n_seeds == 3
    assert make_config().metrics.protocol == "mindeye"
    with pytest.raises(ConfigError, match="unknown evaluation protocol 'paper'.*mindeye"):
        make_config(metrics={"protocol": "paper"})
    with pytest.raises(ConfigError, match="unknown feature network .alexnet-9"):
        make_config(metrics={"networks": ["alexnet-9"]})
    with pytest.raises(ConfigError, match="n_seeds"):
        make_config(metrics={"n_seeds": 0})


def test_feature_networks_live_on_the_registry_with_their_availability():
    assert {"alexnet-2", "clip", "effnet-lite0"} <= set(NETWORKS.names())
    assert NETWORKS.entry("effnet-lite0").missing() is None  # shipped, always usable
    assert all(isinstance(NETWORKS.entry(n).summary, str) for n in NETWORKS.names())
    extra = FeatureNetwork("plugin-net", "Plugin", "plugin", "x", "distance",
                           lambda path: None, Preprocess(16))
    try:
        register_network(extra, availability=lambda: "needs plugin weights")
        assert get_network("plugin-net") is extra
        assert NETWORKS.entry("plugin-net").missing() == "needs plugin weights"
        with pytest.raises(ValueError, match="already registered"):
            register_network(FeatureNetwork("plugin-net", "P", "p", "x", "distance",
                                            lambda path: None))
    finally:
        unregister_network("plugin-net")
    assert "plugin-net" not in NETWORKS
