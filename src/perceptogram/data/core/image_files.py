"""Image files to uint8 RGB arrays: loading, square resizing, streaming in batches.

Every image in Perceptogram is an ``ndarray`` of ``uint8``, shape
``(n_images, height, width, 3)``, RGB. Square resizing scales the shorter side to
the target size with PIL's bicubic filter and then crops the centre, so the aspect
ratio is kept and nothing is padded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from perceptogram._inputs import InputFileError, open_input
from perceptogram.errors import DataFormatError, PerceptogramError

#: Most pixels an image file may declare (4096 x 4096); checked from its header,
#: before it is decoded, so a crafted or huge file cannot take gigabytes of memory.
MAX_IMAGE_PIXELS = 4096 * 4096


class ImageFileError(PerceptogramError, OSError):
    """An image file is missing or cannot be decoded; the message names the file."""


def resize_center_crop(image: Image.Image | np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (bicubic) and crop the central square.

    Parameters
    ----------
    image : PIL.Image.Image or ndarray of uint8, shape (height, width, 3)
        RGB image.
    size : int
        Side of the output square, in pixels.

    Returns
    -------
    image : ndarray of uint8, shape (size, size, 3)
    """
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels; got {size}")
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    width, height = image.size
    if (width, height) != (size, size):
        scale = size / min(width, height)
        new_size = (max(size, round(width * scale)), max(size, round(height * scale)))
        if new_size != (width, height):
            image = image.resize(new_size, Image.Resampling.BICUBIC)
        width, height = image.size
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return np.asarray(image, dtype=np.uint8)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a batch of images to ``size × size`` (shorter side + centre crop).

    Parameters
    ----------
    images : ndarray of uint8, shape (n_images, height, width, 3)
    size : int

    Returns
    -------
    images : ndarray of uint8, shape (n_images, size, size, 3)
        The input itself when it already has the requested size.
    """
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = resize_center_crop(image, size)
    return out


def load_image(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """Read one image file as RGB.

    Parameters
    ----------
    path : path-like
        Any format PIL reads (JPEG, PNG, ...); grey, palette and RGBA images are
        converted to RGB.
    size : int or None
        Output side in pixels (shorter side + centre crop); ``None`` keeps the
        native size.

    Returns
    -------
    image : ndarray of uint8, shape (height, width, 3)

    Raises
    ------
    ImageFileError
        If the file does not exist or is not a readable image.
    """
    path = os.fspath(path)
    try:
        with open_input(path, "the image file") as raw, Image.open(raw) as file:
            check_pixels(file.size, path)
            image = file.convert("RGB")
    except FileNotFoundError:
        raise ImageFileError(f"image file not found: {path}") from None
    except InputFileError as exc:
        raise ImageFileError(str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError,
            ValueError) as exc:
        raise ImageFileError(f"cannot read image file {path}: {exc}") from None
    if size is None:
        return np.asarray(image, dtype=np.uint8)
    return resize_center_crop(image, size)


def check_pixels(size: tuple[int, int], path: str | os.PathLike) -> None:
    """Refuse an image whose header declares more than :data:`MAX_IMAGE_PIXELS` pixels.

    Parameters
    ----------
    size : (width, height)
        As read from the file's header (``PIL.Image.open`` decodes nothing yet).
    path : path-like
        For the message.

    Raises
    ------
    ImageFileError
    """
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageFileError(
            f"the image {os.fspath(path)} is {width} x {height} pixels, more than the "
            f"{MAX_IMAGE_PIXELS:,} an image may have here; it was not decoded")


def load_images(paths: Sequence[str | os.PathLike], size: int | None = None) -> np.ndarray:
    """Read image files into one array.

    Parameters
    ----------
    paths : sequence of path-like
        Image files, in the order of the output rows.
    size : int or None
        Output side in pixels (shorter side + centre crop). ``None`` keeps the
        native size, which then must be the same for every file.

    Returns
    -------
    images : ndarray of uint8, shape (n_images, size, size, 3)

    Raises
    ------
    ImageFileError
        If a file is missing or unreadable (the message names it).
    perceptogram.errors.DataFormatError
        If ``size`` is None and the files do not all have the same size.
    """
    images = [load_image(path, size) for path in paths]
    if not images:
        side = 0 if size is None else size
        return np.empty((0, side, side, 3), dtype=np.uint8)
    first = images[0].shape
    for path, image in zip(paths, images):
        if image.shape != first:
            raise DataFormatError(
                f"images have different sizes ({os.fspath(paths[0])} is {first[1]}x{first[0]}, "
                f"{os.fspath(path)} is {image.shape[1]}x{image.shape[0]}); "
                "pass size= to resize them"
            )
    return np.stack(images)


def iter_image_batches(
    paths: Sequence[str | os.PathLike], size: int | None = None, batch_size: int = 64
) -> Iterator[np.ndarray]:
    """Stream image files in batches, so that a large image set never sits in memory.

    Parameters
    ----------
    paths : sequence of path-like
        Image files.
    size : int or None
        Output side in pixels, as in :func:`load_images`.
    batch_size : int
        Images per batch (the last batch may be smaller).

    Yields
    ------
    images : ndarray of uint8, shape (n_batch, size, size, 3)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    for start in range(0, len(paths), batch_size):
        yield load_images(paths[start : start + batch_size], size)
