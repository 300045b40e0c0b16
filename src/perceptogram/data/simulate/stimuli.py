"""Procedural stimuli with known, independently varied attributes.

Each stimulus is one flat-coloured object silhouette on a grey background, drawn
with PIL and NumPy. Every visible property is a number chosen by the caller, so
that a simulated EEG response can be tied to it and a decoder or an
interpretability map can be checked against it:

========================  ======================================================
attribute                 what it is in the pixels
========================  ======================================================
``category``              silhouette class (:data:`OBJECT_CLASSES`); each class
                          belongs to a superclass, ``"animate"`` or ``"food"``
``hue``                   hue angle of the object's fill, degrees in [0, 360)
``texture``               contrast of a high spatial-frequency checker pattern
                          over the whole image, in [0, 1] (0 = smooth)
``brightness``            global luminance factor multiplying the whole image
``size``                  object radius as a fraction of the half image width
``position_x``            horizontal offset of the object centre, in image widths
``orientation``           in-plane rotation of the object, degrees
========================  ======================================================

The checker pattern and ``brightness`` only scale RGB values (nothing is
clipped), so the object's hue is exactly ``hue`` everywhere and the background
stays grey; ``brightness`` scales background and object alike, so mean image
luminance grows linearly with it, and the high spatial-frequency energy relative
to the squared mean luminance grows with ``texture**2`` whatever the hue, size
or brightness.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw


@dataclass(frozen=True)
class ObjectClass:
    """One silhouette class.

    Parameters
    ----------
    name : str
        Class name, e.g. ``"fish"``.
    superclass : str
        ``"animate"`` or ``"food"``.
    """

    name: str
    superclass: str


OBJECT_CLASSES: tuple[ObjectClass, ...] = (
    ObjectClass("bird", "animate"),
    ObjectClass("fish", "animate"),
    ObjectClass("quadruped", "animate"),
    ObjectClass("apple", "food"),
    ObjectClass("banana", "food"),
    ObjectClass("carrot", "food"),
)
"""The six silhouette classes: three animate-like, three food-like."""

SUPERCLASSES: tuple[str, ...] = ("animate", "food")

ATTRIBUTE_RANGES: dict[str, tuple[float, float]] = {
    "hue": (0.0, 360.0),
    "texture": (0.0, 1.0),
    "brightness": (0.4, 1.0),
    "size": (0.45, 0.7),
    "position_x": (-0.12, 0.12),
    "orientation": (-40.0, 40.0),
}
"""Range of every continuous attribute (``hue`` is circular)."""

HUE_GROUP_CENTRES: dict[str, float] = {"red": 0.0, "blue": 240.0}
"""Hue angles (degrees) at the centre of the binary red / blue views."""

HUE_GROUP_HALF_WIDTH = 30.0
"""Half width (degrees) of the red and blue hue groups."""

FILL_SATURATION = 0.8
FILL_VALUE = 0.78
BACKGROUND_GREY = 0.5
TEXTURE_MAX_CONTRAST = 0.28
TEXTURE_CYCLES_PER_IMAGE = 16
_SUPERSAMPLE = 2


def superclass_of(category: str) -> str:
    """Return the superclass (``"animate"`` or ``"food"``) of a class name."""
    for cls in OBJECT_CLASSES:
        if cls.name == category:
            return cls.superclass
    names = [cls.name for cls in OBJECT_CLASSES]
    raise ValueError(f"unknown object class {category!r}; known classes: {names}")


def hue_group(hue: np.ndarray) -> np.ndarray:
    """Binary hue view: ``"red"``, ``"blue"`` or ``"other"`` per image.

    Parameters
    ----------
    hue : ndarray, shape (n_images,)
        Hue angles in degrees.

    Returns
    -------
    groups : ndarray of str, shape (n_images,)
        ``"red"`` within :data:`HUE_GROUP_HALF_WIDTH` degrees of 0, ``"blue"``
        within the same distance of 240, ``"other"`` elsewhere.
    """
    hue = np.asarray(hue, dtype=float)
    groups = np.full(hue.shape, "other", dtype="<U5")
    for name, centre in HUE_GROUP_CENTRES.items():
        distance = np.abs((hue - centre + 180.0) % 360.0 - 180.0)
        groups[distance <= HUE_GROUP_HALF_WIDTH] = name
    return groups


def sample_attributes(categories: Sequence[str], images_per_concept: int,
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw the attributes of every image, concept by concept.

    Each concept has one class and a prototype hue, texture and brightness; its
    images scatter around the prototype (hue: normal jitter of 20 degrees;
    texture and brightness: 60 % prototype, 40 % fresh uniform draw), so images
    of a concept resemble each other as in THINGS. ``size``, ``position_x`` and
    ``orientation`` are drawn per image. All attributes are drawn independently
    of each other and of the class.

    Parameters
    ----------
    categories : sequence of str, length n_concepts
        Class name of each concept.
    images_per_concept : int
        Number of images per concept.
    rng : numpy.random.Generator

    Returns
    -------
    attributes : dict of str to ndarray, each shape (n_concepts * images_per_concept,)
        ``category``, ``superclass``, ``hue``, ``texture``, ``brightness``,
        ``size``, ``position_x``, ``orientation``, images ordered concept by concept.
    """
    if images_per_concept < 1:
        raise ValueError(f"images_per_concept must be >= 1; got {images_per_concept}")
    n_concepts = len(categories)
    n_images = n_concepts * images_per_concept
    superclasses = [superclass_of(c) for c in categories]
    repeat = np.repeat(np.arange(n_concepts), images_per_concept)

    proto_hue = rng.uniform(0.0, 360.0, n_concepts)
    proto_texture = rng.uniform(0.0, 1.0, n_concepts)
    proto_brightness = rng.uniform(0.0, 1.0, n_concepts)
    hue = (proto_hue[repeat] + rng.normal(0.0, 20.0, n_images)) % 360.0
    texture = 0.6 * proto_texture[repeat] + 0.4 * rng.uniform(0.0, 1.0, n_images)
    unit_brightness = 0.6 * proto_brightness[repeat] + 0.4 * rng.uniform(0.0, 1.0, n_images)
    low, high = ATTRIBUTE_RANGES["brightness"]
    attributes = {
        "category": np.asarray(categories, dtype=str)[repeat],
        "superclass": np.asarray(superclasses, dtype=str)[repeat],
        "hue": hue,
        "texture": texture,
        "brightness": low + (high - low) * unit_brightness,
    }
    for name in ("size", "position_x", "orientation"):
        attributes[name] = rng.uniform(*ATTRIBUTE_RANGES[name], n_images)
    return attributes


def _ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0,
             n: int = 48) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    a = np.deg2rad(angle)
    return np.column_stack([cx + x * np.cos(a) - y * np.sin(a),
                            cy + x * np.sin(a) + y * np.cos(a)])


def _box(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def _poly(*points: tuple[float, float]) -> np.ndarray:
    return np.array(points, dtype=float)


def _silhouette(category: str) -> list[tuple[np.ndarray, bool]]:
    """Polygons (unit coordinates, y up, inside the unit disc) and add/cut flags."""
    superclass_of(category)  # raises ValueError naming the known classes
    if category == "bird":
        return [(_ellipse(-0.05, -0.05, 0.52, 0.3), True),
                (_ellipse(0.48, 0.28, 0.2, 0.2), True),
                (_poly((0.64, 0.36), (0.92, 0.27), (0.64, 0.2)), True),
                (_poly((-0.45, 0.05), (-0.92, 0.3), (-0.88, -0.22)), True),
                (_poly((-0.25, 0.1), (0.2, 0.1), (-0.4, 0.7)), True),
                (_box(-0.05, -0.75, 0.02, -0.25), True),
                (_box(0.12, -0.75, 0.19, -0.25), True)]
    if category == "fish":
        return [(_ellipse(0.1, 0.0, 0.6, 0.32), True),
                (_poly((-0.4, 0.0), (-0.92, 0.38), (-0.92, -0.38)), True),
                (_poly((-0.1, 0.25), (0.3, 0.28), (-0.3, 0.6)), True),
                (_poly((0.0, -0.25), (0.2, -0.27), (-0.15, -0.5)), True),
                (_ellipse(0.48, 0.08, 0.06, 0.06), False)]
    if category == "quadruped":
        legs = [(_box(x, -0.72, x + 0.11, -0.05), True) for x in (-0.5, -0.3, 0.2, 0.38)]
        return [(_ellipse(-0.02, 0.05, 0.58, 0.25), True),
                (_poly((0.38, 0.05), (0.55, 0.45), (0.7, 0.4), (0.56, 0.0)), True),
                (_ellipse(0.68, 0.48, 0.22, 0.12, angle=-20.0), True),
                (_poly((-0.56, 0.15), (-0.9, -0.35), (-0.82, -0.38), (-0.52, 0.0)), True),
                *legs]
    if category == "apple":
        return [(_ellipse(0.0, -0.08, 0.62, 0.58), True),
                (_ellipse(0.0, 0.52, 0.16, 0.1), False),
                (_box(-0.03, 0.4, 0.05, 0.78), True),
                (_ellipse(0.22, 0.68, 0.2, 0.08, angle=25.0), True)]
    if category == "banana":
        return [(_ellipse(0.0, 0.1, 0.9, 0.6), True),
                (_ellipse(0.0, 0.36, 0.84, 0.58), False),
                (_box(0.78, 0.08, 0.9, 0.3), True)]
    return [(_poly((-0.22, 0.45), (0.22, 0.45), (0.04, -0.92), (-0.04, -0.92)), True),
            (_ellipse(-0.16, 0.68, 0.07, 0.25, angle=25.0), True),
            (_ellipse(0.0, 0.72, 0.07, 0.27), True),
            (_ellipse(0.16, 0.68, 0.07, 0.25, angle=-25.0), True)]  # carrot


def object_mask(category: str, size: float, position_x: float, orientation: float,
                image_size: int = 128) -> np.ndarray:
    """Anti-aliased coverage of the object silhouette.

    Parameters
    ----------
    category : str
        Class name from :data:`OBJECT_CLASSES`.
    size : float
        Object radius as a fraction of half the image width.
    position_x : float
        Horizontal offset of the object centre, in image widths (+ = right).
    orientation : float
        Counter-clockwise rotation in degrees.
    image_size : int
        Side of the square image in pixels.

    Returns
    -------
    mask : ndarray of float64, shape (image_size, image_size)
        Fraction of each pixel covered by the object, in [0, 1].
    """
    big = image_size * _SUPERSAMPLE
    half = big / 2.0
    angle = np.deg2rad(orientation)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([half + position_x * big, half])
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    for points, add in _silhouette(category):
        xy = points @ rotation.T * (size * half)
        xy[:, 1] = -xy[:, 1]  # image rows grow downwards
        xy += centre
        draw.polygon([tuple(p) for p in xy], fill=255 if add else 0)
    small = canvas.resize((image_size, image_size), Image.Resampling.BOX)
    return np.asarray(small, dtype=float) / 255.0


@lru_cache(maxsize=8)
def _cached_texture(image_size: int) -> np.ndarray:
    coords = (np.arange(image_size) + 0.5) / image_size
    wave = np.sin(2.0 * np.pi * TEXTURE_CYCLES_PER_IMAGE * coords)
    pattern = np.outer(wave, wave)
    pattern.setflags(write=False)
    return pattern


def texture_pattern(image_size: int = 128) -> np.ndarray:
    """The high spatial-frequency checker pattern, values in [-1, 1].

    Parameters
    ----------
    image_size : int

    Returns
    -------
    pattern : ndarray, shape (image_size, image_size)
        ``sin(2 pi k x) sin(2 pi k y)`` with ``k`` =
        :data:`TEXTURE_CYCLES_PER_IMAGE` cycles per image width.
    """
    return _cached_texture(image_size).copy()


def render_stimulus(category: str, hue: float, texture: float, brightness: float,
                    size: float, position_x: float, orientation: float,
                    image_size: int = 128) -> np.ndarray:
    """Draw one stimulus.

    Parameters
    ----------
    category : str
        Class name from :data:`OBJECT_CLASSES`.
    hue : float
        Fill hue in degrees.
    texture : float
        Checker-pattern contrast in [0, 1]; every pixel is scaled by
        ``1 + TEXTURE_MAX_CONTRAST * texture * pattern`` (:func:`texture_pattern`).
    brightness : float
        Global luminance factor in (0, 1]; multiplies every pixel.
    size, position_x, orientation : float
        Geometry, see :func:`object_mask`.
    image_size : int
        Side of the square image in pixels.

    Returns
    -------
    image : ndarray of uint8, shape (image_size, image_size, 3)
        RGB image.
    """
    if not 0.0 <= texture <= 1.0:
        raise ValueError(f"texture must lie in [0, 1]; got {texture}")
    if not 0.0 < brightness <= 1.0:
        raise ValueError(f"brightness must lie in (0, 1]; got {brightness}")
    mask = object_mask(category, size, position_x, orientation, image_size)
    fill = np.array(colorsys.hsv_to_rgb((hue % 360.0) / 360.0, FILL_SATURATION, FILL_VALUE))
    modulation = (255.0 * brightness) * (
        1.0 + TEXTURE_MAX_CONTRAST * texture * _cached_texture(image_size))
    image = ((modulation * (1.0 - mask)) * BACKGROUND_GREY)[..., None] + (
        (modulation * mask)[..., None] * fill)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
