"""The interpret stage for one subject, save step: the files of the computed maps.

:func:`save_subject_maps` writes what
:func:`perceptogram.pipeline.attribute_maps.compute_subject_maps` returned into
``interpret/sub-XX/``:

- per map, ``maps/<name>-ave.fif`` (:class:`mne.Evoked`, the data's units) and
  ``maps/<name>.csv`` (long table);
- ``maps.npz``: every map's effect, t and significance mask, the main map of each
  attribute under its short name, the F map and mask of each joint test, the
  probes;
- ``summary.json``: method, units, sign convention, per map its peak (or why
  none), the design's collinearity (VIF, correlation matrix, collinear sets and
  their joint tests), the confidence of classifier labels, and the sentences
  the report shows;
- ``groups.csv``: per test picture its attribute values and semantic group.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._io import atomic_path, write_json_atomic, write_text_atomic
from perceptogram.config import Config
from perceptogram.data.core.montage import make_info
from perceptogram.interpret.design import CONTINUOUS
from perceptogram.pipeline.artifacts import save_npz
from perceptogram.pipeline.map_results import AttributeMap, SubjectMaps

__all__ = ["save_subject_maps"]

METHODS = {"partial": "partial effects (all attributes jointly, regression per channel x time)",
           "contrast": "group contrasts (marginal: one attribute at a time, confounded by "
                       "correlated attributes)"}
SIGN = ("every map is high minus low (continuous: mean + 1 SD minus mean - 1 SD; hue: red "
        "minus blue; semantic: group minus reference)")
SIGNIFICANCE = ("cluster permutation over channel x time: Freedman-Lane (partial, and an F "
                "test of collinear attributes together) or label shuffles (contrast)")
TRANSDUCTIVE_STEPS = ["decoded latents rescaled with the test batch's own mean and SD",
                      "groups chosen from decoded latents (35 % extremes)",
                      "semantic groups from Ward clustering of the test images' latents"]


def file_stem(name: str) -> str:
    """A map name as a file-name stem: ASCII letters, digits and underscores."""
    text = name.replace("−", "minus").replace(":", "")
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _csv_text(header: list[str], rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write_fif(path: Path, effect: np.ndarray, ch_names, times: np.ndarray, n_images: int,
               comment: str, positions: np.ndarray | None = None) -> None:
    import mne

    sfreq = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 100.0
    evoked = mne.EvokedArray(effect, make_info(list(ch_names), sfreq, positions),
                             tmin=float(times[0]), nave=n_images, comment=comment,
                             verbose=False)
    with atomic_path(path, suffix="-ave.fif") as tmp:
        evoked.save(tmp, overwrite=True, verbose=False)


def _save_map(out: Path, m: AttributeMap, result: SubjectMaps, n_images: int
              ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One map's FIF and CSV files; its ``summary.json`` entry and its arrays."""
    ch_names, times = result.ch_names, result.times
    stem = file_stem(f"{m.name} {m.source} {m.space or ''}")
    comment = (f"{m.name} ({m.kind}, {m.source}"
               f"{'' if m.space is None else ', ' + m.space + ' latents'}); "
               f"sign: {m.summary['contrast']}; units: "
               f"{'V' if result.unit_scale != 1 else result.unit}"
               ).replace("−", "-")  # FIF text is Latin-1
    # Maps are in display units (µV); the FIF file keeps the data's own unit (V).
    _write_fif(out / "maps" / f"{stem}-ave.fif", m.effect / result.unit_scale, ch_names, times,
               n_images, comment, result.positions)
    mask = np.zeros(m.effect.shape, bool) if m.mask is None else m.mask
    rows = [(m.name, m.source, ch, f"{1000 * t:.3f}", f"{m.effect[c, k]:.6g}",
             f"{m.t[c, k]:.6g}", int(mask[c, k]))
            for c, ch in enumerate(ch_names) for k, t in enumerate(times)]
    write_text_atomic(out / "maps" / f"{stem}.csv", _csv_text(
        ["map", "source", "channel", "time_ms", "effect", "t", "significant"], rows))
    arrays = {f"{stem}_effect": m.effect, f"{stem}_t": m.t, f"{stem}_mask": mask}
    if m.group_means is not None:
        arrays[f"{stem}_group_means"] = m.group_means
    entry = {"name": m.name, "attribute": m.attribute, "kind": m.kind, "source": m.source,
             "space": m.space, "files": {"fif": f"maps/{stem}-ave.fif",
                                         "csv": f"maps/{stem}.csv", "npz_prefix": stem},
             **m.summary}
    return entry, arrays


def _save_maps(out: Path, result: SubjectMaps, n_images: int
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """Every map's files; the entries of ``maps`` and ``attributes``, and the arrays."""
    arrays: dict[str, np.ndarray] = {}
    entries: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for m in result.maps:
        entry, own = _save_map(out, m, result, n_images)
        arrays.update(own)
        entries[f"{m.name} [{m.source}{'' if m.space is None else ' ' + m.space}]"] = entry
        if m.attribute not in attributes:  # the first map of an attribute is its main one
            attributes[m.attribute] = entry
            arrays[f"{m.attribute}_effect"] = m.effect
            arrays[f"{m.attribute}_mask"] = own[f"{entry['files']['npz_prefix']}_mask"]
    return entries, attributes, arrays


def _collinearity(result: SubjectMaps, arrays: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """``summary["collinearity"]``, with the joint tests (their F maps go to ``arrays``)."""
    if result.collinearity is None:
        return None
    record = result.collinearity.as_dict()
    record["joint_tests"] = []
    for k, test in enumerate(result.joint_tests):
        prefix = f"joint_{k + 1}"
        arrays[f"{prefix}_F"] = test.statistic
        arrays[f"{prefix}_mask"] = (np.zeros(test.statistic.shape, bool) if test.mask is None
                                    else test.mask)
        record["joint_tests"].append({**test.summary, "npz_prefix": prefix})
    return record


def _summary(config: Config, result: SubjectMaps, entries: dict[str, Any],
             attributes: dict[str, Any], collinearity: dict[str, Any] | None
             ) -> dict[str, Any]:
    """The content of ``summary.json``."""
    for attribute in config.interpretability.attributes:
        attributes.setdefault(attribute, {"skipped": result.skipped.get(
            attribute, "fewer than two groups of images with at least two images each")})
    if result.collinearity is not None:
        for attribute, entry in attributes.items():
            if attribute in result.collinearity.attributes:
                entry["vif"] = round(result.collinearity.vif_of(attribute), 4)
    semantic = None if result.pictures is None else result.pictures.semantic
    summary = {
        "method": METHODS[result.method],
        "preset": config.interpretability.preset,
        "transductive": result.transductive,
        "units": result.unit,
        "sign": SIGN,
        "significance": SIGNIFICANCE,
        "attribute_spaces": result.spaces,
        "semantic_source": None if semantic is None else semantic.source,
        "semantic_labels": (None if semantic is None or semantic.trust is None
                            else semantic.trust.as_dict()),
        "design_columns": None if result.design is None else list(result.design.columns),
        "design_skipped": result.skipped,
        "collinearity": collinearity,
        "notes": list(result.notes),
        "times_ms": [float(round(1000 * t, 3)) for t in result.times],
        "attributes": attributes,
        "maps": entries,
        "probes": result.probes,
    }
    if result.transductive:
        summary["transductive_steps"] = TRANSDUCTIVE_STEPS
    return summary


def _groups_table(config: Config, result: SubjectMaps) -> str:
    """``groups.csv``: per test picture its attribute values and semantic group."""
    pictures = result.pictures
    header = ["image_file", "concept"]
    columns: list[np.ndarray] = []
    for attribute in config.interpretability.attributes:
        if attribute in CONTINUOUS:
            key = CONTINUOUS[attribute][0]
            header.append(f"{attribute} ({key})")
            columns.append(pictures.pixels[key])
        elif attribute == "hue":
            header.append("hue (deg)")
            columns.append(pictures.pixels["hue_deg"])
        elif pictures.semantic is not None:
            header.append("semantic group")
            columns.append(pictures.semantic.groups)
            for name, values in pictures.semantic.columns.items():
                header.append(name)
                columns.append(values)
    rows = [[f, c, *[f"{v:.6g}" if isinstance(v, float | np.floating) else str(v)
                      for v in values]]
            for f, c, *values in zip(pictures.image_files, pictures.concepts, *columns)]
    return _csv_text(header, rows)


def save_subject_maps(config: Config, out: Path, result: SubjectMaps) -> None:
    """Write one subject's maps, ``maps.npz``, ``summary.json`` and ``groups.csv``.

    Parameters
    ----------
    config : Config
    out : Path
        ``interpret/sub-XX/``.
    result : SubjectMaps
        From :func:`~perceptogram.pipeline.attribute_maps.compute_subject_maps`.
    """
    entries, attributes, arrays = _save_maps(out, result, len(result.pictures.image_files))
    collinearity = _collinearity(result, arrays)
    write_text_atomic(out / "groups.csv", _groups_table(config, result))
    arrays.update(result.probe_arrays)
    save_npz(out / "maps.npz", ch_names=np.array(result.ch_names), times=result.times,
             **arrays)
    write_json_atomic(out / "summary.json",
                      _summary(config, result, entries, attributes, collinearity))
