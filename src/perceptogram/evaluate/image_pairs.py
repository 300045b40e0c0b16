"""Image validation, conversion and resizing shared by the evaluation metrics.

Images are always ``(n_images, height, width, 3)`` RGB arrays, either ``uint8``
(0-255) or floating point in ``[0, 1]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from perceptogram._images import check_images
from perceptogram.errors import DataFormatError

#: Side length (pixels) both images are resized to before PixCorr and SSIM. The
#: MindEye evaluation code (MedARC-AI/fMRI-reconstruction-NSD,
#: ``src/Reconstruction_Metrics.ipynb``; MindEyeV2 ``src/final_evaluations.ipynb``)
#: resizes ground truths and reconstructions with a bilinear
#: ``transforms.Resize(425)`` before both metrics (425 px: the size of the NSD
#: stimuli those fMRI papers evaluated on). THINGS-EEG2 images are 500 px.
DEFAULT_IMAGE_SIZE = 425

# ITU-R BT.709 luma weights, as used by ``skimage.color.rgb2gray``.
_GRAY_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])


def check_pairs(recons: np.ndarray, ground_truths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate matched batches of reconstructions and ground truths.

    The two batches may have different image sizes but must hold the same number
    of images, paired by index.

    Parameters
    ----------
    recons : array-like, shape (n_images, height, width, 3)
    ground_truths : array-like, shape (n_images, height_gt, width_gt, 3)

    Returns
    -------
    recons, ground_truths : ndarray
    """
    recons = check_images(recons, "reconstructions", allow_float=True)
    ground_truths = check_images(ground_truths, "ground truths", allow_float=True)
    if len(recons) != len(ground_truths):
        raise DataFormatError(
            f"got {len(recons)} reconstructions but {len(ground_truths)} ground truths; "
            "they must be paired by index"
        )
    if len(recons) < 2:
        raise DataFormatError("at least 2 image pairs are needed to evaluate reconstructions")
    return recons, ground_truths


def to_float(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Return images as floating point in ``[0, 1]``.

    Parameters
    ----------
    images : ndarray, shape (n_images, height, width, 3)
        ``uint8`` or floating point in ``[0, 1]``.
    dtype : numpy dtype
        Output floating point type.

    Returns
    -------
    images : ndarray, shape (n_images, height, width, 3)
    """
    if images.dtype == np.uint8:
        return images.astype(dtype) / dtype(255)
    return images.astype(dtype, copy=False)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Return images as ``uint8`` (floats in ``[0, 1]`` are scaled and rounded).

    Parameters
    ----------
    images : ndarray, shape (n_images, height, width, 3)

    Returns
    -------
    images : ndarray of uint8, shape (n_images, height, width, 3)
    """
    if images.dtype == np.uint8:
        return images
    return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)


def resize(images: np.ndarray, size: int | None) -> np.ndarray:
    """Resize images to ``size`` × ``size`` with antialiased bilinear interpolation.

    This is what ``torchvision.transforms.Resize(size, BILINEAR)`` does to square
    tensors (antialiasing on, the torchvision default since 0.17), implemented
    with :func:`torch.nn.functional.interpolate` so torchvision is not needed.

    Parameters
    ----------
    images : ndarray, shape (n_images, height, width, 3)
        ``uint8`` or floating point in ``[0, 1]``.
    size : int or None
        Output side length in pixels; ``None`` keeps the images as they are.

    Returns
    -------
    resized : ndarray of float64, shape (n_images, size, size, 3)
        Values in ``[0, 1]``.
    """
    if size is None or images.shape[1:3] == (size, size):
        return to_float(images, np.float64)
    import torch
    import torch.nn.functional as F

    # float32 interpolation (3x faster than float64 on CPU), float64 afterwards.
    tensor = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    if images.dtype == np.uint8:
        tensor /= 255.0
    out = F.interpolate(
        tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return out.permute(0, 2, 3, 1).clamp_(0.0, 1.0).numpy().astype(np.float64)


def rgb_to_gray(images: np.ndarray) -> np.ndarray:
    """Luminance of RGB images, as :func:`skimage.color.rgb2gray` computes it.

    Parameters
    ----------
    images : ndarray, shape (n_images, height, width, 3)
        Floating point in ``[0, 1]``.

    Returns
    -------
    gray : ndarray, shape (n_images, height, width)
    """
    return images @ _GRAY_WEIGHTS.astype(images.dtype)


def resized_pairs(
    recons: np.ndarray, ground_truths: np.ndarray, size: int | None, batch_size: int = 16
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield batches of reconstructions and ground truths brought to one size.

    Parameters
    ----------
    recons : ndarray, shape (n_images, height, width, 3)
    ground_truths : ndarray, shape (n_images, height_gt, width_gt, 3)
    size : int or None
        Common side length; ``None`` requires both batches to already share a size.
    batch_size : int
        Images per batch (bounds memory: 16 float64 images of 425 px take 70 MB).

    Yields
    ------
    recon_batch, gt_batch : ndarray of float64, shape (batch, size, size, 3)
    """
    if size is None and recons.shape[1:] != ground_truths.shape[1:]:
        raise DataFormatError(
            f"reconstructions {recons.shape[1:3]} and ground truths {ground_truths.shape[1:3]} "
            "differ in size; pass image_size to resize both"
        )
    for start in range(0, len(recons), batch_size):
        stop = start + batch_size
        yield resize(recons[start:stop], size), resize(ground_truths[start:stop], size)
