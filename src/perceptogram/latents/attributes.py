"""``attributes``: hand-made, named image descriptors — the interpretable axes for probes.

Each feature is one number per image, computed on the image resized to
``image_size`` (so values do not depend on the file's resolution):

``hue_cos``, ``hue_sin``
    Mean of ``chroma · (cos, sin)(2π · hue)`` over pixels, with HSV hue and
    ``chroma = max(R, G, B) − min(R, G, B)`` in [0, 1] (HSV saturation × value), so
    that grey and dark pixels, whose hue is noise, count little. The vector's angle is
    the circular mean hue, its length how strongly coloured the image is. Hue is an
    angle: it is exposed only as this vector, never as degrees, because a linear
    model (a ridge decoder, a correlation) would treat 359° and 1° as far apart.
    :func:`hue_angle` turns the decoded or true vector into degrees for grouping.
``redness``
    Mean red minus mean blue, in [−1, 1].
``colourfulness``
    Hasler & Süsstrunk (2003): ``σ_rgyb + 0.3 μ_rgyb`` with ``rg = R − G`` and
    ``yb = (R + G) / 2 − B`` on the 0–255 scale.
``luminance``
    Mean of :func:`skimage.color.rgb2gray` (Rec. 709 weights), in [0, 1].
``high_freq_fraction``
    Fraction of the (mean-removed, Hann-windowed) luminance power spectrum above
    ``cutoff`` cycles per pixel, in [0, 1] (0 for a uniform image): the shape of the
    spectrum. It saturates
    near 1 as soon as fine texture outweighs the coarse structure.
``high_freq_contrast``
    RMS of the luminance above ``cutoff`` cycles per pixel (same windowed spectrum)
    divided by the mean luminance: the strength of fine texture, independent of
    global brightness, growing linearly with the texture's amplitude.
"""

from __future__ import annotations

import numpy as np

from perceptogram.data.core.image_files import resize_images
from perceptogram.latents.base import check_images, make_fingerprint, register

FEATURE_NAMES = (
    "hue_cos",
    "hue_sin",
    "redness",
    "colourfulness",
    "luminance",
    "high_freq_fraction",
    "high_freq_contrast",
)


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HSV hue, saturation and value, shape (..., ) each, of RGB in [0, 1].

    The arithmetic of :func:`skimage.color.rgb2hsv` (same operations in the same
    order, so the same numbers), on contiguous colour planes, with ``np.where``
    instead of boolean-mask gathers and no ``0 / 0`` (grey pixels, whose hue and
    saturation are set to 0 anyway): a fifth of the time.
    """
    red, green, blue = np.moveaxis(rgb, -1, 0).copy()
    value = np.maximum(np.maximum(red, green), blue)
    delta = value - np.minimum(np.minimum(red, green), blue)
    flat = delta == 0.0
    divisor = np.where(flat, 1.0, delta)
    saturation = np.where(flat, 0.0, delta / np.where(flat, 1.0, value))
    hue = np.where(blue == value, 4.0 + (red - green) / divisor,  # ties: blue, then green
                   np.where(green == value, 2.0 + (blue - red) / divisor,
                            (green - blue) / divisor)) / 6.0
    hue = np.where(hue < 0.0, hue + 1.0, hue)  # "% 1.0": the sixths lie in [-1/6, 5/6]
    hue[flat] = 0.0
    return hue, saturation, value


def circular_mean_hue(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chroma-weighted mean of the hue's unit vector.

    Parameters
    ----------
    rgb : ndarray of float, shape (n_images, height, width, 3)
        Pixels in [0, 1].

    Returns
    -------
    hue_cos, hue_sin : ndarray of float, shape (n_images,)
    """
    hue, saturation, value = _hsv(rgb)
    angle = 2.0 * np.pi * hue
    chroma = saturation * value
    return (chroma * np.cos(angle)).mean(axis=(1, 2)), (chroma * np.sin(angle)).mean(axis=(1, 2))


def hue_angle(hue_cos: np.ndarray, hue_sin: np.ndarray) -> np.ndarray:
    """Circular mean hue in degrees from the ``hue_cos`` / ``hue_sin`` columns.

    Parameters
    ----------
    hue_cos, hue_sin : ndarray, shape (n_images,)

    Returns
    -------
    hue_deg : ndarray of float, shape (n_images,)
        In [0, 360) (0 red, 120 green, 240 blue); 0 for a grey image (zero vector).
    """
    return np.degrees(np.arctan2(hue_sin, hue_cos)) % 360.0


def colourfulness(rgb: np.ndarray) -> np.ndarray:
    """Hasler–Süsstrunk colourfulness.

    Parameters
    ----------
    rgb : ndarray of float, shape (n_images, height, width, 3)
        Pixels in [0, 1] (the metric is computed on the 0–255 scale).

    Returns
    -------
    colourfulness : ndarray of float, shape (n_images,)
    """
    red, green, blue = (255.0 * rgb[..., c] for c in range(3))
    rg = red - green
    yb = 0.5 * (red + green) - blue
    sigma = np.sqrt(rg.var(axis=(1, 2)) + yb.var(axis=(1, 2)))
    mu = np.sqrt(rg.mean(axis=(1, 2)) ** 2 + yb.mean(axis=(1, 2)) ** 2)
    return sigma + 0.3 * mu


def high_frequency_power(gray: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Luminance power above ``cutoff`` and in total (DC excluded), Hann-windowed.

    Parameters
    ----------
    gray : ndarray of float, shape (n_images, height, width)
    cutoff : float
        Radial frequency threshold, in cycles per pixel (Nyquist is 0.5).

    Returns
    -------
    high, total : ndarray of float, shape (n_images,)
        Mean power per pixel (Parseval-normalised: ``total`` is the variance of the
        windowed, mean-removed image).
    """
    height, width = gray.shape[1:]
    window = np.outer(np.hanning(height), np.hanning(width))
    centred = gray - gray.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.rfft2(centred * window, axes=(1, 2))) ** 2 / (height * width) ** 2
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :])
    # rfft2 stores the positive-fx half; columns other than fx = 0 (and fx = Nyquist for
    # even widths) stand for two mirror-image frequencies.
    weight = np.full(radius.shape, 2.0)
    weight[:, 0] = 1.0
    if width % 2 == 0:
        weight[:, -1] = 1.0
    weight[0, 0] = 0.0
    power = power * weight
    return (power * (radius > cutoff)).sum(axis=(1, 2)), power.sum(axis=(1, 2))


@register("attributes")
class ImageAttributes:
    """Named, hand-made image descriptors (hue, redness, colourfulness, luminance, texture).

    Parameters
    ----------
    image_size : int
        Side (px) images are resized to before measuring.
    cutoff : float
        Radial frequency (cycles per pixel at ``image_size``) above which luminance
        power counts as high-frequency texture energy.

    Attributes
    ----------
    feature_names : tuple of str
        Column names of :meth:`encode`'s output.
    """

    name = "attributes"
    feature_names = FEATURE_NAMES
    shape = (len(FEATURE_NAMES),)
    #: Batches may be measured by several threads at once (pure numpy on the images).
    encodes_concurrently = True

    def __init__(self, image_size: int = 128, cutoff: float = 0.125) -> None:
        self.image_size = image_size
        self.cutoff = cutoff

    @property
    def dim(self) -> int:
        """Number of descriptors."""
        return len(FEATURE_NAMES)

    def fingerprint(self) -> str:
        """Descriptor definitions, measurement size, cutoff and package version."""
        return make_fingerprint("attributes", ",".join(FEATURE_NAMES),
                                image_size=self.image_size, cutoff=f"{self.cutoff:g}")

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Measure the descriptors.

        Parameters
        ----------
        images : ndarray of uint8, shape (n_images, height, width, 3)

        Returns
        -------
        features : ndarray of float32, shape (n_images, 7)
            Columns in the order of :attr:`feature_names`.
        """
        from skimage.color import rgb2gray

        images = resize_images(check_images(images), self.image_size)
        rgb = images.astype(np.float64) / 255.0
        hue_cos, hue_sin = circular_mean_hue(rgb)
        redness = rgb[..., 0].mean(axis=(1, 2)) - rgb[..., 2].mean(axis=(1, 2))
        gray = rgb2gray(rgb)
        luminance = gray.mean(axis=(1, 2))
        high, total = high_frequency_power(gray, self.cutoff)
        columns = (
            hue_cos,
            hue_sin,
            redness,
            colourfulness(rgb),
            luminance,
            # Below 1e-12 (a luminance s.d. of 1e-6) the spectrum is rounding noise.
            np.divide(high, total, out=np.zeros_like(total), where=total > 1e-12),
            np.divide(np.sqrt(high), luminance, out=np.zeros_like(high), where=luminance > 0),
        )
        return np.stack(columns, axis=1).astype(np.float32)
