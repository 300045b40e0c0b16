"""evaluate_reconstructions / evaluate_latents: network mechanics, skipping, caching."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from perceptogram.errors import DataFormatError, MissingWeightsError
from perceptogram.evaluate import (
    FeatureCache,
    FeatureNetwork,
    Preprocess,
    evaluate_latents,
    evaluate_reconstructions,
)
from perceptogram.evaluate import metrics as M
from perceptogram.evaluate.features import extract_features
from perceptogram.evaluate.image_pairs import resize

FAST = dict(n_boot=50, n_perm=50, image_size=32)


def _images(seed, n=12, size=40):
    coarse = np.random.default_rng(seed).random((n, 5, 5, 3))
    return np.round(resize(coarse, size) * 255).astype(np.uint8)


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.ReLU(), torch.nn.Conv2d(4, 6, 3, stride=2),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
    ).eval()


class _CountingLoader:
    def __init__(self, make):
        self.make, self.calls = make, 0

    def __call__(self, path):
        self.calls += 1
        return self.make()


def _stand_ins(loader, model="stand-in"):
    pre = Preprocess(24)
    return [
        FeatureNetwork("s-1", "Stand(1)", model, "1", "two_way", loader, pre),
        FeatureNetwork("s-4", "Stand(4)", model, "4", "two_way", loader, pre),
        FeatureNetwork("s-4d", "Stand(4) dist", model, "4", "distance", loader, pre),
    ]


def _manual_features(net, images, layer_index):
    x = Preprocess(24)(images)
    with torch.no_grad():
        return net[: layer_index + 1](x).reshape(len(images), -1).numpy()


def test_stand_in_networks_give_the_metrics_of_their_layers():
    gt, rec = _images(0), _images(1)
    loader = _CountingLoader(_tiny_net)
    rows = evaluate_reconstructions(rec, gt, networks=_stand_ins(loader), subject=3,
                                    method="m", **FAST)
    by = {r.metric: r for r in rows}
    assert [r.metric for r in rows] == ["PixCorr", "SSIM", "Stand(1)", "Stand(4)", "Stand(4) dist"]
    assert loader.calls == 1  # one model, three metrics: loaded and run once
    net = _tiny_net()
    f1 = [_manual_features(net, x, 1) for x in (rec, gt)]
    f4 = [_manual_features(net, x, 4) for x in (rec, gt)]
    assert by["Stand(1)"].value == pytest.approx(M.two_way_identification(*f1).mean(), abs=1e-6)
    assert by["Stand(4)"].value == pytest.approx(M.two_way_identification(*f4).mean(), abs=1e-6)
    assert by["Stand(4) dist"].value == pytest.approx(M.correlation_distance(*f4).mean(),
                                                      abs=1e-5)
    assert not by["Stand(4) dist"].higher_is_better and by["Stand(4) dist"].p_value is None
    assert by["Stand(1)"].chance == 0.5 and 0 < by["Stand(1)"].p_value <= 1
    assert by["PixCorr"].value == pytest.approx(M.pixcorr(rec, gt, image_size=32).mean())
    assert all(r.subject == 3 and r.method == "m" and r.n_images == 12 for r in rows)
    assert all(r.ci_low <= r.value <= r.ci_high for r in rows)


def test_identical_reconstructions_score_perfectly():
    gt = _images(2)
    rows = evaluate_reconstructions(gt, gt, networks=_stand_ins(_CountingLoader(_tiny_net)),
                                    **FAST)
    by = {r.metric: r.value for r in rows}
    assert by["PixCorr"] == pytest.approx(1.0) and by["SSIM"] == pytest.approx(1.0)
    assert by["Stand(4)"] == 1.0
    assert by["Stand(4) dist"] == pytest.approx(0.0, abs=1e-6)


def test_unavailable_network_is_skipped_with_its_message_and_the_rest_is_produced():
    def missing(path):
        raise MissingWeightsError("no weights for the stand-in here")

    networks = [FeatureNetwork("gone", "Gone", "gone", "x", "two_way", missing, Preprocess(24))]
    networks += _stand_ins(_CountingLoader(_tiny_net))
    rows = evaluate_reconstructions(_images(3), _images(4), networks=networks, **FAST)
    by = {r.metric: r for r in rows}
    assert by["Gone"].status == "skipped: no weights for the stand-in here"
    assert np.isnan(by["Gone"].value)
    assert all(by[m].ok and np.isfinite(by[m].value)
               for m in ("PixCorr", "SSIM", "Stand(1)", "Stand(4)"))


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None,
                    reason="torchvision is installed here")
def test_conventional_networks_without_torchvision_are_skipped_with_instructions():
    rows = evaluate_reconstructions(_images(5), _images(6),
                                    networks=("alexnet-2", "swav", "clip"), **FAST)
    by = {r.metric: r for r in rows}
    assert by["AlexNet(2)"].status.startswith("skipped: ") and "torchvision" in by[
        "AlexNet(2)"].status and "weights=" in by["AlexNet(2)"].status
    assert "torchvision" in by["SwAV"].status
    assert by["CLIP"].ok or "openai/clip-vit-large-patch14" in by["CLIP"].status
    assert by["PixCorr"].ok and by["SSIM"].ok


def test_ground_truth_features_are_cached_across_subjects_and_on_disk(tmp_path):
    gt = _images(7)
    loader = _CountingLoader(_tiny_net)
    cache = FeatureCache(tmp_path / "features")
    first = evaluate_reconstructions(_images(8), gt, networks=_stand_ins(loader), cache=cache,
                                     **FAST)
    assert loader.calls == 1
    # Same images again, new in-memory cache on the same directory: nothing to compute.
    again = evaluate_reconstructions(_images(8), gt, networks=_stand_ins(loader),
                                     cache=FeatureCache(tmp_path / "features"), **FAST)
    assert loader.calls == 1
    assert [r.value for r in again] == pytest.approx([r.value for r in first])
    assert len(list((tmp_path / "features").glob("*.npy"))) == 4  # 2 layers x (recon, gt)


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
@pytest.mark.parametrize("fmt", ["export", "torchscript"])
def test_local_weights_file_is_used(tmp_path, fmt):
    class Features(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _tiny_net(1)

        def forward(self, x):
            return {"pooled": self.net(x).flatten(1)}

    if fmt == "export":
        path = tmp_path / "stand.pt2"
        torch.export.save(torch.export.export(Features(), (torch.zeros(2, 3, 24, 24),),
                                              dynamic_shapes=({0: torch.export.Dim("n")},)),
                          str(path))
    else:
        path = tmp_path / "stand.pt"
        torch.jit.save(torch.jit.script(Features()), str(path))

    def needs_path(p):
        from perceptogram.evaluate.networks import load_local_model

        if p is None:
            raise MissingWeightsError("pass a path")
        return load_local_model(p)

    net = FeatureNetwork("ts", "TS", "ts", "pooled", "two_way", needs_path, Preprocess(24))
    gt, rec = _images(9), _images(10)
    rows = evaluate_reconstructions(rec, gt, networks=[net], weights={"ts": path}, **FAST)
    expected = M.two_way_identification(*[_manual_features(_tiny_net(1), x, 4) for x in (rec, gt)])
    assert rows[-1].ok and rows[-1].value == pytest.approx(expected.mean(), abs=1e-6)


def test_hooks_stop_the_forward_pass_after_the_last_layer():
    net = _tiny_net()
    seen = []
    net[4].register_forward_hook(lambda *a: seen.append("pool"))
    feats = extract_features(net, ["1"], _images(11), preprocess=Preprocess(24), batch_size=5)
    assert feats["1"].shape == (12, 4 * 11 * 11) and seen == []


@pytest.mark.skipif(importlib.util.find_spec("perceptogram.nets.efficientnet_lite") is None,
                    reason="perceptogram.nets.efficientnet_lite not available")
def test_real_efficientnet_lite0_metrics():
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.camera()]
    photos = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in photos]
    gt = np.stack([np.round(resize(p[None], 96)[0] * 255).astype(np.uint8) for p in photos])
    noisy = np.clip(gt / 255.0 + np.random.default_rng(0).normal(0, 0.05, gt.shape), 0, 1)
    cache = FeatureCache()  # ground-truth features computed once for the three calls
    rows = evaluate_reconstructions(noisy, gt, networks=("effnet-lite0", "effnet-lite0-dist"),
                                    cache=cache, **FAST)
    by = {r.metric: r for r in rows}
    assert by["EffNet-Lite0"].ok and by["EffNet-Lite0"].value == 1.0
    shuffled = evaluate_reconstructions(gt[[1, 2, 3, 4, 0]], gt, cache=cache,
                                        networks=("effnet-lite0-dist",), **FAST)
    identical = evaluate_reconstructions(gt, gt, networks=("effnet-lite0-dist",), cache=cache,
                                         **FAST)
    assert identical[-1].value == pytest.approx(0.0, abs=1e-5)
    assert shuffled[-1].value > by["EffNet-Lite0 dist"].value + 0.3


def test_evaluate_latents_rows():
    rng = np.random.default_rng(12)
    true = rng.normal(size=(40, 16))
    rows = evaluate_latents(true, true, subject=1, method="ridge", n_boot=50, n_perm=50)
    by = {r.metric: r for r in rows}
    assert list(by) == ["top-1 (cosine)", "top-5 (cosine)", "top-1 (correlation)",
                        "top-5 (correlation)", "latent r", "latent R2", "latent two-way"]
    assert by["top-1 (cosine)"].value == 1.0 and by["top-1 (cosine)"].chance == 1 / 40
    assert by["top-5 (correlation)"].chance == 5 / 40
    assert by["top-1 (cosine)"].p_value == pytest.approx((1 / 40) ** 40)
    assert by["latent r"].value == pytest.approx(1.0) and by["latent R2"].value == pytest.approx(1)
    assert by["latent two-way"].value == 1.0 and by["latent two-way"].p_value == pytest.approx(
        1 / 51)
    noise = evaluate_latents(rng.normal(size=(40, 16)), true, n_boot=50, n_perm=50)
    assert {r.metric: r for r in noise}["top-1 (cosine)"].p_value > 0.01


def _fake_torchvision(monkeypatch, tmp_path):
    """A stand-in ``torchvision`` exposing an AlexNet-shaped random network."""
    import sys
    import types

    class Weights:
        IMAGENET1K_V1 = types.SimpleNamespace(url="https://example.org/alexnet-owt-7be5be79.pth")

    def alexnet(weights):
        torch.manual_seed(0)
        net = torch.nn.Module()
        layers = [torch.nn.Conv2d(3, 4, 3, stride=2)] + [torch.nn.ReLU() for _ in range(12)]
        net.features = torch.nn.Sequential(*layers)
        net.forward = lambda x: net.features(x)
        return net

    models = types.ModuleType("torchvision.models")
    models.AlexNet_Weights, models.alexnet = Weights, alexnet
    package = types.ModuleType("torchvision")
    package.models = models
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    return alexnet


def test_torchvision_weights_are_used_only_from_the_local_hub_cache(monkeypatch, tmp_path):
    alexnet = _fake_torchvision(monkeypatch, tmp_path)
    gt, rec = _images(13), _images(14)
    rows = evaluate_reconstructions(rec, gt, networks=("alexnet-2", "alexnet-5"), **FAST)
    assert all("torch hub cache" in r.status and "alexnet-owt-7be5be79.pth" in r.status
               for r in rows[2:])
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"")
    rows = evaluate_reconstructions(rec, gt, networks=("alexnet-2", "alexnet-5"), **FAST)
    net = alexnet(None)
    for row, index in zip(rows[2:], (4, 11)):
        feats = []
        for images in (rec, gt):
            with torch.no_grad():
                feats.append(net.features[: index + 1](Preprocess(256)(images)).flatten(1).numpy())
        assert row.ok and row.value == pytest.approx(M.two_way_identification(*feats).mean(),
                                                     abs=1e-6)


def test_train_mean_centres_both_sides_before_retrieval():
    rng = np.random.default_rng(3)
    offset = 5.0 + rng.random(64)  # a common positive offset, as in CNN features
    true = offset + rng.normal(size=(40, 64))
    decoded = offset + 0.5 * (true - offset) + 1.5 * rng.normal(size=(40, 64))

    def top(rows, k):
        return next(r.value for r in rows if r.metric == f"top-{k} (cosine)")

    kwargs = dict(similarities=("cosine",), n_boot=10, n_perm=10)
    centred = evaluate_latents(decoded, true, train_mean=offset, **kwargs)
    manual = evaluate_latents(decoded - offset, true - offset, **kwargs)
    for k in (1, 5):
        assert top(centred, k) == top(manual, k)
    assert 0.0 < top(centred, 1) < 1.0  # a non-trivial case
    assert "centred on the training-latent mean" in next(
        r.notes for r in centred if r.metric == "top-1 (cosine)")
    with pytest.raises(DataFormatError, match="train_mean has 3 values"):
        evaluate_latents(decoded, true, train_mean=np.zeros(3), **kwargs)


def _mixed_unit_latents(rng, n):
    """Seven descriptors of SD 0.02 beside one of SD 100 (a hue in degrees, say)."""
    sd = np.array([100.0] + [0.02] * 7)
    return 50.0 + sd * rng.normal(size=(n, 8)), sd


def test_latent_two_way_on_mixed_units_is_standardised_with_training_statistics():
    rng = np.random.default_rng(7)
    train, _ = _mixed_unit_latents(rng, 500)
    true, sd = _mixed_unit_latents(rng, 100)
    # the small-unit dimensions are decoded well (r ~0.9); the wide one is not decoded at all
    decoded = true + 0.5 * sd * rng.normal(size=true.shape)
    decoded[:, 0] = 50.0 + 100.0 * rng.normal(size=100)
    kwargs = dict(similarities=("cosine",), n_boot=20, n_perm=50)
    rows = {r.metric: r for r in evaluate_latents(
        decoded, true, train_mean=train.mean(0), train_std=train.std(0), **kwargs)}
    raw = {r.metric: r for r in evaluate_latents(decoded, true, **kwargs)}
    assert rows["latent two-way"].value > 0.85 and rows["latent two-way"].p_value < 0.05
    assert rows["top-5 (cosine)"].value > 0.3
    assert "standardised with the training latents" in rows["latent two-way"].notes
    # raw units: the SD-100 dimension decides every correlation, and it carries nothing
    assert raw["latent two-way"].value < 0.7
    # per-dimension r and R² do not depend on units: the same either way
    assert rows["latent r"].value == pytest.approx(raw["latent r"].value)
    assert rows["latent R2"].value == pytest.approx(raw["latent R2"].value)


def test_constant_dimensions_are_dropped_and_counted():
    rng = np.random.default_rng(8)
    train = rng.normal(size=(200, 6))
    train[:, 2] = 3.0  # constant in training
    true = rng.normal(size=(50, 6))
    true[:, 2] = 3.0
    true[:, 4] = -1.0  # constant in the test set only
    decoded = true + 0.3 * rng.normal(size=true.shape)
    rows = {r.metric: r for r in evaluate_latents(
        decoded, true, train_mean=train.mean(0), train_std=train.std(0), similarities=(),
        n_boot=20, n_perm=20)}
    r = M.latent_correlation(decoded[:, [0, 1, 3, 5]], true[:, [0, 1, 3, 5]])
    assert rows["latent r"].value == pytest.approx(r.mean())
    assert "6 dimensions; 1 constant in training excluded; 1 constant in the test set " \
           "excluded" in rows["latent r"].notes
    assert "(1 dimensions constant in training dropped)" in rows["latent two-way"].notes
    assert np.isfinite(rows["latent R2"].value)
    assert rows["latent R2"].ci_low <= rows["latent R2"].value <= rows["latent R2"].ci_high


def test_feature_cache_on_a_full_disk_warns_and_keeps_features_in_memory(tmp_path,
                                                                         monkeypatch):
    import shutil

    from perceptogram._owned import owned_kind

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1 << 20))
    cache = FeatureCache(tmp_path / "features")
    features = np.ones((4, 3), dtype=np.float32)
    with pytest.warns(UserWarning, match="cannot write the feature cache .* MB are free"):
        cache.put("k", features)
    assert cache.get("k") is features
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == [".perceptogram"]
    assert owned_kind(tmp_path / "features") == "cache"
    monkeypatch.undo()
    cache.put("k", features)
    (path,) = (tmp_path / "features").glob("*.npy")
    path.write_bytes(b"damaged")
    assert FeatureCache(tmp_path / "features").get("k") is None
