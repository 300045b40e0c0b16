"""Image attributes from pixels, and the design matrix of the partial-effect maps.

Attributes are measured on the images themselves (never on decoded latents), with
the descriptors of the ``attributes`` latent space
(:class:`perceptogram.latents.attributes.ImageAttributes`):

``brightness``
    mean luminance (Rec. 709 grey level, 0-1);
``texture``
    RMS of the fine (high spatial frequency) luminance over the mean luminance;
``hue``
    the chroma-weighted circular mean hue angle ``h`` of the image, entered as
    two columns: ``cos(h - 30 deg)`` (the red-blue axis: pure red +0.87, pure
    blue -0.87) and ``sin(h - 30 deg)`` (the orthogonal green-magenta axis, a
    covariate). Images without colour (chroma vector shorter than
    :data:`MIN_CHROMA`) get 0 in both (no hue). The angle is never regressed
    linearly;
``semantic``
    one 0/1 column per label group except the reference group (``"other"``
    when present, else the last group).

Sign convention: every map is "high minus low". A continuous attribute's
column is centred and divided by twice its standard deviation, so its
coefficient is the predicted difference between an image one SD above and one
SD below the mean, the other attributes held fixed. The hue map is "red minus
blue" (the red-blue coefficient times ``2 cos 30 deg``); a semantic map is
"group minus reference".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from perceptogram.errors import DataFormatError
from perceptogram.latents.attributes import ImageAttributes

__all__ = ["CONTINUOUS", "MapSpec", "AttributeDesign", "pixel_attributes", "build_design"]

#: Continuous attributes measured on pixels: name -> (descriptor, low name, high name).
CONTINUOUS: dict[str, tuple[str, str, str]] = {
    "brightness": ("luminance", "dark", "bright"),
    "texture": ("high_freq_contrast", "smooth", "textured"),
}
#: Angle (degrees) of the red-blue axis on the hue circle: red (0) minus blue (240).
RED_BLUE_AXIS_DEG = 30.0
#: Length of the chroma-weighted hue vector below which an image has no hue.
MIN_CHROMA = 1e-3


@dataclass(frozen=True)
class MapSpec:
    """One attribute map read from one design column.

    Parameters
    ----------
    name : str
        Map name, e.g. ``"hue: red − blue"``.
    attribute : str
        ``"hue"``, ``"brightness"``, ``"texture"``, ``"semantic"`` or a covariate.
    column : str
        Design column whose coefficient (times ``scale``) is the map.
    scale : float
        Multiplies the coefficient so that the map is the named difference.
    contrast : str
        The difference the map shows (``"red − blue"``, ``"bright − dark"``, ...).
    unit_of_difference : str
        What "high" and "low" mean (``"mean ± 1 SD of luminance"``, ...).
    """

    name: str
    attribute: str
    column: str
    scale: float
    contrast: str
    unit_of_difference: str


@dataclass(frozen=True)
class AttributeDesign:
    """Design matrix of the attribute maps.

    Parameters
    ----------
    matrix : ndarray, shape (n_images, n_columns)
        Column 0 is the intercept.
    columns : tuple of str, length n_columns
    maps : tuple of MapSpec
    values : dict of str to ndarray, shape (n_images,)
        Raw per-image attribute values and labels (for ``groups.csv``).
    skipped : dict of str to str
        Attributes (or design columns) left out, and why.
    attribute_columns : dict of str to tuple of str
        The design columns of each mapped attribute (hue has two, semantic one
        per group but the reference), in design order.
    """

    matrix: np.ndarray
    columns: tuple[str, ...]
    maps: tuple[MapSpec, ...]
    values: dict[str, np.ndarray]
    skipped: dict[str, str]
    attribute_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)


def pixel_attributes(images: np.ndarray) -> dict[str, np.ndarray]:
    """Brightness, texture and hue descriptors measured on the images.

    Parameters
    ----------
    images : ndarray of uint8, shape (n_images, height, width, 3)

    Returns
    -------
    dict of str to ndarray, shape (n_images,)
        ``luminance``, ``high_freq_contrast``, ``hue_deg`` (circular mean hue,
        NaN for images without colour), ``hue_red_blue``, ``hue_green_magenta``.
    """
    space = ImageAttributes(image_size=min(128, images.shape[1]))
    values = dict(zip(space.feature_names, np.asarray(space.encode(images), dtype=float).T))
    cos, sin = values["hue_cos"], values["hue_sin"]
    coloured = np.hypot(cos, sin) >= MIN_CHROMA
    angle = np.arctan2(sin, cos) - np.deg2rad(RED_BLUE_AXIS_DEG)
    return {
        "luminance": values["luminance"],
        "high_freq_contrast": values["high_freq_contrast"],
        "hue_deg": np.where(coloured, np.rad2deg(np.arctan2(sin, cos)) % 360.0, np.nan),
        "hue_red_blue": np.where(coloured, np.cos(angle), 0.0),
        "hue_green_magenta": np.where(coloured, np.sin(angle), 0.0),
    }


#: Relative residual norm below which a column counts as determined by earlier ones.
COLLINEAR_TOLERANCE = 1e-6
#: Spread of the hue axes (unit-circle coordinates) below which the hue does not vary:
#: rounding of identical colours (float32 pixels) gives ~1e-8, and a "red − blue" map
#: scaled from it would be ~10^8 times the EEG.
HUE_TOLERANCE = 1e-6


def _standardise(values: np.ndarray, name: str) -> np.ndarray | None:
    """Centred values over twice their SD; None when they do not vary."""
    values = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(values)):
        raise DataFormatError(f"attribute '{name}' has NaN or infinite values")
    sd = values.std()
    if sd <= 1e-12 * max(1.0, abs(values.mean())):
        return None
    return (values - values.mean()) / (2.0 * sd)


def _independent(columns: list[tuple[str, np.ndarray]]) -> tuple[list[int], list[int]]:
    """Indices of columns kept (each adds a new direction) and dropped, in order."""
    kept, dropped, basis = [], [], np.zeros((len(columns[0][1]), 0))
    for k, (_, column) in enumerate(columns):
        residual = column - basis @ (basis.T @ column)
        norm = np.linalg.norm(residual)
        if norm <= COLLINEAR_TOLERANCE * max(np.linalg.norm(column), 1e-300):
            dropped.append(k)
            continue
        kept.append(k)
        basis = np.column_stack([basis, residual / norm])
    return kept, dropped


def build_design(attributes: Sequence[str], pixels: dict[str, np.ndarray], *,
                 semantic: np.ndarray | None = None,
                 covariates: dict[str, np.ndarray] | None = None) -> AttributeDesign:
    """The design matrix of the attribute maps.

    Parameters
    ----------
    attributes : sequence of str
        Mapped attributes among ``hue``, ``brightness``, ``texture``,
        ``semantic``.
    pixels : dict of str to ndarray, shape (n_images,)
        From :func:`pixel_attributes`.
    semantic : ndarray of str, shape (n_images,), optional
        Label group of each image (needed when ``"semantic"`` is mapped).
    covariates : dict of str to ndarray, shape (n_images,), optional
        User covariates: numeric, each mapped "high − low" as a continuous
        attribute.

    Returns
    -------
    AttributeDesign
        Attributes that do not vary, and columns determined by earlier ones
        (e.g. the green-magenta hue axis when every image is pure red or pure
        blue), are left out and listed in ``skipped``.
    """
    n = len(next(iter(pixels.values())))
    columns: list[tuple[str, np.ndarray]] = [("intercept", np.ones(n))]
    maps: list[MapSpec] = []
    values: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for attribute in attributes:
        if attribute in CONTINUOUS:
            key, low, high = CONTINUOUS[attribute]
            values[f"{attribute} ({key})"] = pixels[key]
            column = _standardise(pixels[key], attribute)
            if column is None:
                skipped[attribute] = f"{key} does not vary over the images"
                continue
            columns.append((attribute, column))
            maps.append(MapSpec(f"{attribute}: {high} − {low}", attribute, attribute, 1.0,
                                f"{high} − {low}", f"mean ± 1 SD of {key}"))
        elif attribute == "hue":
            if max(np.ptp(pixels["hue_red_blue"]), np.ptp(pixels["hue_green_magenta"])) \
                    <= HUE_TOLERANCE:
                skipped[attribute] = "the hue does not vary over the images"
                continue
            columns.append(("hue: red-blue axis", pixels["hue_red_blue"]))
            columns.append(("hue: green-magenta axis", pixels["hue_green_magenta"]))
            values["hue (deg)"] = pixels["hue_deg"]
            scale = 2.0 * np.cos(np.deg2rad(RED_BLUE_AXIS_DEG))
            maps.append(MapSpec("hue: red − blue", "hue", "hue: red-blue axis", float(scale),
                                "red − blue", "pure red (0 deg) vs pure blue (240 deg) hue"))
        elif attribute == "semantic":
            if semantic is None:
                raise DataFormatError("the semantic attribute needs a label per image")
            labels = np.asarray(semantic, dtype=str)
            values["semantic"] = labels
            groups = sorted(set(labels.tolist()))
            if len(groups) < 2:
                skipped[attribute] = f"every image has the same label ({groups[0]!r})"
                continue
            reference = "other" if "other" in groups else groups[-1]
            for group in groups:
                if group == reference:
                    continue
                column = f"semantic: {group}"
                columns.append((column, (labels == group).astype(float)))
                maps.append(MapSpec(f"semantic: {group} − {reference}", "semantic", column,
                                    1.0, f"{group} − {reference}",
                                    f"images labelled {group} vs {reference}"))
        else:
            raise DataFormatError(f"unknown attribute {attribute!r}")
    for name, value in (covariates or {}).items():
        values[name] = np.asarray(value, dtype=float)
        column = _standardise(value, name)
        if column is None:
            skipped[name] = "the covariate does not vary over the images"
            continue
        columns.append((name, column))
        maps.append(MapSpec(f"{name}: high − low", name, name, 1.0, "high − low",
                            f"mean ± 1 SD of {name}"))
    kept, dropped = _independent(columns)
    for k in dropped:
        skipped[columns[k][0]] = "determined by the attributes before it (collinear design)"
    names = tuple(columns[k][0] for k in kept)
    maps = [m for m in maps if m.column in names]
    owner: dict[str, str] = {}
    for spec in maps:
        owner.setdefault(spec.column, spec.attribute)
    if "hue: green-magenta axis" in names and "hue: red-blue axis" in names:
        owner["hue: green-magenta axis"] = "hue"
    attribute_columns: dict[str, tuple[str, ...]] = {}
    for name in names:
        if name in owner:
            attribute_columns[owner[name]] = (*attribute_columns.get(owner[name], ()), name)
    return AttributeDesign(np.column_stack([columns[k][1] for k in kept]), names, tuple(maps),
                           values, skipped, attribute_columns)
