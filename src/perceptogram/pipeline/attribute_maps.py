"""The interpret stage for one subject, compute step: attribute maps and decoder probes.

Glue only: the numbers come from :mod:`perceptogram.interpret`, the figures are
drawn by :mod:`perceptogram.pipeline.attribute_map_figures`. This module builds the
attributes of the test images (from their pixels and labels), estimates each
attribute's map (partial effects by default, marginal group contrasts on request,
or the paper's recipe), tests it, finds its peak inside a significant cluster,
and writes ``maps.npz``, ``summary.json``, ``groups.csv`` and, per map,
``maps/<name>-ave.fif`` (:class:`mne.Evoked`, the data's units) and
``maps/<name>.csv``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perceptogram._io import atomic_path, write_json_atomic, write_text_atomic
from perceptogram.config import Config
from perceptogram.pipeline.artifacts import load_eeg_features, save_npz
from perceptogram.pipeline.datasource import subject_rows
from perceptogram.pipeline.rundir import RunDir

__all__ = ["interpret_subject", "compute_subject_maps", "attribute_spaces", "decoder_probes",
           "AttributeMap", "SubjectMaps"]

#: Window lengths of the time probe (first k ms of the epoch); lengths beyond the
#: epoch are left out.
WINDOW_LENGTHS_MS = tuple(float(k) for k in range(100, 900, 100))
#: Width and step of the sliding-window time probe (adjacent windows: each one
#: costs a ridge fit).
SLIDING_WIDTH_MS = 100.0
SLIDING_STEP_MS = 100.0
#: Significance level of clusters (and of their forming threshold).
CLUSTER_ALPHA = 0.05
#: Preferred latent spaces of each attribute's perceptogram map, best first.
PREFERRED_SPACES = {"hue": ("attributes", "pca"), "brightness": ("attributes", "pca"),
                    "texture": ("attributes", "pca"), "semantic": ("unclip", "effnet")}
#: Paper preset: fraction of test images in each extreme group (70 of 200).
PAPER_EXTREME_FRACTION = 0.35
#: Paper preset: Ward clusters of the semantic latents (animals / food / other).
PAPER_N_CLUSTERS = 3


@dataclass
class AttributeMap:
    """One attribute map of one subject.

    Attributes
    ----------
    name : str
        E.g. ``"hue: red − blue"``.
    attribute : str
    source : str
        ``"eeg"`` (test EEG regressed / contrasted) or ``"perceptogram"``.
    space : str or None
        Latent space of a perceptogram map.
    kind : str
        ``"partial effect"`` or ``"group contrast (marginal)"``.
    effect : ndarray, shape (n_channels, n_times)
        In the data's units.
    t : ndarray, shape (n_channels, n_times)
    mask : ndarray of bool, shape (n_channels, n_times) or None
        Samples in significant clusters (None: not tested).
    summary : dict
        What ``summary.json`` records (peak or the reason for none, cluster p).
    group_means : ndarray, shape (n_groups, n_channels, n_times) or None
        Mean map of each group (group contrasts only), groups as in
        ``summary["groups"]``.
    """

    name: str
    attribute: str
    source: str
    space: str | None
    kind: str
    effect: np.ndarray
    t: np.ndarray
    mask: np.ndarray | None
    summary: dict[str, Any] = field(default_factory=dict)
    group_means: np.ndarray | None = None


@dataclass
class SubjectMaps:
    """Everything the draw step needs."""

    ch_names: tuple[str, ...]
    times: np.ndarray
    unit: str
    maps: list[AttributeMap]
    probes: dict[str, Any]
    probe_arrays: dict[str, np.ndarray]
    #: Factor from the data's stored unit to ``unit`` (maps are in display units).
    unit_scale: float = 1.0
    #: Electrode positions stored in the recording (NaN rows: none); None: templates.
    positions: np.ndarray | None = None


def attribute_spaces(config: Config) -> dict[str, str]:
    """Latent space of each attribute's perceptogram map.

    ``interpretability.attribute_spaces`` first; otherwise the first of
    :data:`PREFERRED_SPACES` that is in ``latents.spaces``; otherwise
    ``interpretability.space``.
    """
    settings = config.interpretability
    out = {}
    for attribute in settings.attributes:
        chosen = settings.attribute_spaces.get(attribute)
        if chosen is None:
            chosen = next((s for s in PREFERRED_SPACES[attribute] if s in config.latents.spaces),
                          settings.space)
        out[attribute] = chosen
    return out


def _slug(name: str) -> str:
    text = name.replace("−", "minus").replace(":", "")
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def _semantic_labels(config: Config, images: np.ndarray, test, run_dir: RunDir,
                     paper: bool) -> tuple[np.ndarray, str, dict[str, np.ndarray]]:
    """Label group of each test image, where it came from, and extra columns."""
    from perceptogram.interpret.labels import classifier_labels, labels_from_table, map_to_groups

    settings = config.interpretability
    if paper or settings.semantic_source == "cluster":
        from perceptogram.interpret.groupings import semantic_grouping

        space = attribute_spaces(config).get("semantic", settings.space)
        latents = subject_rows(np.load(run_dir.unit_dir("features", None, space) / "test.npy"),
                               test)
        n = PAPER_N_CLUSTERS if paper else settings.n_clusters
        grouping = semantic_grouping(latents, n)
        labels = np.asarray([f"unsupervised cluster {k + 1}" for k in grouping.labels])
        return labels, f"unsupervised cluster (Ward, {space} latents of the test images)", {}
    if settings.labels is not None:
        raw = labels_from_table(settings.labels, test.image_files, test.concepts)
        return (map_to_groups(raw, settings.semantic_groups),
                f"label table {settings.labels.name}", {"label": raw})
    groups, top = classifier_labels(images, device=config.device)
    return (map_to_groups(groups, settings.semantic_groups),
            "EfficientNet-Lite0 ImageNet top class -> animal/food/other",
            {"imagenet_class": top})


def _covariates(config: Config, test) -> dict[str, np.ndarray]:
    path = config.interpretability.covariates
    if path is None:
        return {}
    from perceptogram.interpret.labels import covariates_from_table

    return covariates_from_table(path, test.image_files, test.concepts)


def _rescale_transductive(decoded: np.ndarray, Y_train: np.ndarray) -> np.ndarray:
    """The reference code's rescaling: test-batch statistics to training statistics."""
    sd = decoded.std(axis=0)
    sd[sd == 0] = 1.0
    return (decoded - decoded.mean(axis=0)) / sd * Y_train.std(axis=0) + Y_train.mean(axis=0)


def _perceptograms(config: Config, subject: int, run_dir: RunDir, space: str, train,
                   paper: bool) -> np.ndarray:
    """Latent-filtered EEG patterns of the test images, data units, (n, ch, t)."""
    from perceptogram.interpret.perceptogram import to_eeg_units
    from perceptogram.linear.patterns import decode_encode_patterns

    Y_train = subject_rows(np.load(run_dir.unit_dir("features", None, space) / "train.npy"),
                           train)
    decoded = np.load(run_dir.unit_dir("predict", subject, space) / "decoded.npy")
    if paper:
        decoded = _rescale_transductive(decoded, Y_train)
    patterns = decode_encode_patterns(decoded, Y_train, train,
                                      alpha=config.interpretability.encoder_alpha).data
    return to_eeg_units(patterns, train.scale)


def _data_units(features) -> np.ndarray:
    """Test EEG features back in the data's units, shape (n_images, n_channels, n_times)."""
    X = features.X if features.scale is None else features.X * features.scale + features.mean
    return X.reshape(len(X), len(features.ch_names), len(features.times))


def _peak(effect: np.ndarray, clusters: list[np.ndarray], p_values: np.ndarray,
          ch_names, times, unit: str, n_permutations: int) -> dict[str, Any]:
    """Peak of the effect inside a significant cluster, or why there is none."""
    significant = [(c, p) for c, p in zip(clusters, p_values) if p < CLUSTER_ALPHA]
    info: dict[str, Any] = {"n_clusters": len(clusters),
                            "n_significant_clusters": len(significant),
                            "cluster_min_p": float(min(p_values)) if len(p_values) else 1.0,
                            "n_permutations": n_permutations}
    if n_permutations == 0:
        info["peak"] = None
        info["no_peak"] = "significance not tested (interpretability.n_permutations is 0)"
        return info
    if not significant:
        info["peak"] = None
        info["no_peak"] = (f"no cluster survives the permutation test (smallest cluster p = "
                           f"{info['cluster_min_p']:.3f}, {n_permutations} permutations)")
        return info
    mask = np.zeros(effect.shape, dtype=bool)
    for c, _ in significant:
        mask |= c
    ch, ti = np.unravel_index(np.argmax(np.where(mask, np.abs(effect), -np.inf)), effect.shape)
    p = next(float(p) for c, p in significant if c[ch, ti])
    info["peak"] = {"latency_ms": float(round(1000 * times[ti], 3)),
                    "channel": ch_names[ch], "amplitude": float(effect[ch, ti]),
                    "unit": unit, "cluster_p": p}
    return info


def _partial_maps(config: Config, data: np.ndarray, design, source: str, space_of,
                  ch_names, times, unit: str, positions=None) -> list[AttributeMap]:
    from perceptogram.interpret.effects import fit_effects, freedman_lane_test

    n_perm = config.interpretability.n_permutations
    fit = fit_effects(data, design.matrix, design.columns)
    out = []
    for spec in design.maps:
        if space_of is not None and space_of(spec.attribute) is None:
            continue
        j = fit.index(spec.column)
        effect = spec.scale * fit.coef[j]
        clusters, p_values, mask = [], np.zeros(0), None
        if n_perm:
            result = freedman_lane_test(data, design.matrix, design.columns, spec.column,
                                        ch_names=ch_names, times=times, n_permutations=n_perm,
                                        cluster_alpha=CLUSTER_ALPHA, alpha=CLUSTER_ALPHA,
                                        seed=config.seed, positions=positions)
            clusters, p_values, mask = result.clusters, result.p_values, result.mask
        info = _peak(effect, clusters, p_values, ch_names, times, unit, n_perm)
        out.append(AttributeMap(spec.name, spec.attribute, source,
                                None if space_of is None else space_of(spec.attribute),
                                "partial effect", effect, fit.t[j], mask,
                                {**info, "contrast": spec.contrast,
                                 "difference": spec.unit_of_difference}))
    return out


def _groupings(config: Config, pixels: dict[str, np.ndarray], semantic: np.ndarray | None,
               decoded_attributes: dict[str, np.ndarray] | None) -> dict[str, Any]:
    """Groups of the test images for group contrasts: (Grouping, high, low) per attribute.

    Continuous attributes split at the median (paper preset: the 35 % extremes of
    the decoded attribute when the ``attributes`` space was decoded); hue: red vs
    blue (within 60 degrees); semantic: each label group vs the reference.
    """
    from perceptogram.interpret.groupings import categorical_grouping, split_grouping
    from perceptogram.interpret.design import CONTINUOUS

    source = decoded_attributes if decoded_attributes is not None else pixels
    out = {}
    for attribute in config.interpretability.attributes:
        if attribute in CONTINUOUS:
            key, low, high = CONTINUOUS[attribute]
            values = source[key]
            kw = ({"k": max(2, int(round(PAPER_EXTREME_FRACTION * len(values))))}
                  if decoded_attributes is not None else {"quantile": 0.5})
            grouping = split_grouping(values, attribute, low_name=low, high_name=high, **kw)
            out[attribute] = (grouping, high, low)
        elif attribute == "hue":
            hue = source["hue_deg"]
            names = np.full(len(hue), "none", dtype=object)
            for name, centre in (("red", 0.0), ("blue", 240.0)):
                distance = np.abs((hue - centre + 180.0) % 360.0 - 180.0)
                names[np.isfinite(hue) & (distance <= 60.0)] = name
            out[attribute] = (categorical_grouping(names, "hue", order=("red", "blue")),
                              "red", "blue")
        elif semantic is not None:
            groups = sorted(set(semantic.tolist()))
            reference = "other" if "other" in groups else groups[-1]
            order = tuple([g for g in groups if g != reference] + [reference])
            out[attribute] = (categorical_grouping(semantic, "semantic", order=order),
                              order[0], reference)
    return out


def _contrast_maps(config: Config, data: np.ndarray, groupings: dict[str, Any], source: str,
                   space_of, ch_names, times, unit: str, positions=None) -> list[AttributeMap]:
    from scipy import stats

    from perceptogram.interpret.perceptogram import contrast, group_means
    from perceptogram.interpret.significance import group_cluster_test

    n_perm = config.interpretability.n_permutations
    out = []
    for attribute, (grouping, high, low) in groupings.items():
        counts = grouping.counts()
        if counts[high] < 2 or counts[low] < 2:
            continue
        effect = contrast(data, grouping, high, low)
        t = stats.ttest_ind(data[grouping.mask(high)], data[grouping.mask(low)],
                            axis=0).statistic
        clusters, p_values, mask = [], np.zeros(0), None
        if n_perm:
            result = group_cluster_test(data, grouping, high, low, ch_names=ch_names,
                                        times=times, n_permutations=n_perm,
                                        cluster_alpha=CLUSTER_ALPHA, alpha=CLUSTER_ALPHA,
                                        seed=config.seed, n_jobs=1, positions=positions)
            clusters, p_values, mask = result.clusters, result.p_values, result.mask
        info = _peak(effect, clusters, p_values, ch_names, times, unit, n_perm)
        out.append(AttributeMap(f"{attribute}: {high} − {low}", attribute, source,
                                None if space_of is None else space_of(attribute),
                                "group contrast (marginal)", effect, t, mask,
                                {**info, "contrast": f"{high} − {low}",
                                 "groups": list(grouping.group_names),
                                 "counts": {k: int(v) for k, v in counts.items()}},
                                group_means(data, grouping)))
    return out


def compute_subject_maps(config: Config, subject: int, run_dir: RunDir) -> SubjectMaps:
    """Compute and save one subject's attribute maps and decoder probes.

    Parameters
    ----------
    config : Config
    subject : int
    run_dir : RunDir
        Reads ``features``, ``fit`` and ``predict`` artifacts; writes into
        ``interpret/sub-XX/``.

    Returns
    -------
    SubjectMaps
    """
    from perceptogram.data.core.image_files import load_images
    from perceptogram.data.core.units import eeg_unit
    from perceptogram.interpret.design import build_design, pixel_attributes
    from perceptogram.pipeline.datasource import run_image_paths

    settings = config.interpretability
    paper = settings.preset == "paper"
    method = "contrast" if paper else settings.method
    out = run_dir.unit_dir("interpret", subject)
    train, test = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    ch_names, times = test.ch_names, test.times
    images = load_images(subject_rows(run_image_paths(config, "test"), test))
    pixels = pixel_attributes(images)
    semantic, semantic_source, extra = None, None, {}
    if "semantic" in settings.attributes:
        semantic, semantic_source, extra = _semantic_labels(config, images, test, run_dir,
                                                           paper)
    spaces = attribute_spaces(config)
    # Maps are computed in display units (volts -> µV); the FIF files store the data's.
    display = eeg_unit(test.unit)
    unit, positions = display.description, test.positions
    patterns: dict[str, np.ndarray] = {}
    for space in dict.fromkeys(spaces.values()):
        patterns[space] = display.scale * _perceptograms(config, subject, run_dir, space,
                                                         train, paper)

    maps: list[AttributeMap] = []
    design = None
    if method == "partial":
        design = build_design(settings.attributes, pixels, semantic=semantic,
                              covariates=_covariates(config, test))
        maps += _partial_maps(config, display.scale * _data_units(test), design, "eeg", None,
                              ch_names, times, unit, positions)
        for space, data in patterns.items():
            def space_of(attribute, space=space):
                return space if spaces.get(attribute, space) == space else None
            maps += _partial_maps(config, data, design, "perceptogram", space_of, ch_names,
                                  times, unit, positions)
    else:
        decoded_attributes = None
        if paper and "attributes" in config.latents.spaces:
            decoded_attributes = _decoded_attributes(config, subject, run_dir)
        groupings = _groupings(config, pixels, semantic, decoded_attributes)
        for space, data in patterns.items():
            chosen = {a: g for a, g in groupings.items() if spaces[a] == space}
            maps += _contrast_maps(config, data, chosen, "perceptogram", spaces.get, ch_names,
                                   times, unit, positions)

    latents = run_dir.unit_dir("features", None, settings.space)
    probes, probe_arrays = decoder_probes(config, subject, run_dir, train,
                                          subject_rows(np.load(latents / "train.npy"), train),
                                          test, subject_rows(np.load(latents / "test.npy"), test))
    result = SubjectMaps(ch_names, times, unit, maps, probes, probe_arrays,
                         unit_scale=display.scale, positions=positions)
    _save(config, out, result, test, pixels, semantic, semantic_source, extra, method, paper,
          spaces, design)
    return result


def _decoded_attributes(config: Config, subject: int, run_dir: RunDir) -> dict[str, np.ndarray]:
    """Decoded ``attributes`` latents of the test images, by descriptor name."""
    from perceptogram.latents.attributes import FEATURE_NAMES, hue_angle

    decoded = np.load(run_dir.unit_dir("predict", subject, "attributes") / "decoded.npy")
    values = dict(zip(FEATURE_NAMES, decoded.T.astype(float)))
    values["hue_deg"] = hue_angle(values["hue_cos"], values["hue_sin"])
    return values


def _write_fif(path, effect: np.ndarray, ch_names, times, n_images: int, comment: str,
               positions=None) -> None:
    import mne

    from perceptogram.data.core.montage import make_info

    sfreq = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 100.0
    evoked = mne.EvokedArray(effect, make_info(list(ch_names), sfreq, positions),
                             tmin=float(times[0]), nave=n_images, comment=comment,
                             verbose=False)
    with atomic_path(path, suffix="-ave.fif") as tmp:
        evoked.save(tmp, overwrite=True, verbose=False)


def _csv_text(header: list[str], rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _save(config: Config, out, result: SubjectMaps, test, pixels, semantic, semantic_source,
          extra, method: str, paper: bool, spaces, design) -> None:
    from perceptogram.interpret.design import CONTINUOUS

    ch_names, times = result.ch_names, result.times
    arrays: dict[str, np.ndarray] = {}
    entries: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for m in result.maps:
        key = f"{m.name} [{m.source}{'' if m.space is None else ' ' + m.space}]"
        stem = _slug(f"{m.name} {m.source} {m.space or ''}")
        comment = (f"{m.name} ({m.kind}, {m.source}"
                   f"{'' if m.space is None else ', ' + m.space + ' latents'}); "
                   f"sign: {m.summary['contrast']}; units: "
                   f"{'V' if result.unit_scale != 1 else result.unit}"
                   ).replace("−", "-")  # FIF text is Latin-1
        _write_fif(out / "maps" / f"{stem}-ave.fif", m.effect / result.unit_scale, ch_names,
                   times, len(test.image_files), comment, test.positions)
        mask = np.zeros(m.effect.shape, bool) if m.mask is None else m.mask
        rows = [(m.name, m.source, ch, f"{1000 * t:.3f}", f"{m.effect[c, k]:.6g}",
                 f"{m.t[c, k]:.6g}", int(mask[c, k]))
                for c, ch in enumerate(ch_names) for k, t in enumerate(times)]
        write_text_atomic(out / "maps" / f"{stem}.csv", _csv_text(
            ["map", "source", "channel", "time_ms", "effect", "t", "significant"], rows))
        arrays[f"{stem}_effect"] = m.effect
        arrays[f"{stem}_t"] = m.t
        arrays[f"{stem}_mask"] = mask
        if m.group_means is not None:
            arrays[f"{stem}_group_means"] = m.group_means
        entry = {"name": m.name, "attribute": m.attribute, "kind": m.kind,
                 "source": m.source, "space": m.space, "files": {
                     "fif": f"maps/{stem}-ave.fif", "csv": f"maps/{stem}.csv",
                     "npz_prefix": stem}, **m.summary}
        entries[key] = entry
        if m.attribute not in attributes:  # the first map of an attribute is its main one
            attributes[m.attribute] = entry
            arrays[f"{m.attribute}_effect"] = m.effect
            arrays[f"{m.attribute}_mask"] = mask
    skipped = {} if design is None else design.skipped
    for attribute in config.interpretability.attributes:
        attributes.setdefault(attribute, {"skipped": skipped.get(
            attribute, "fewer than two groups of images with at least two images each")})
    transductive = paper
    summary = {
        "method": {"partial": "partial effects (all attributes jointly, regression per "
                              "channel x time)",
                   "contrast": "group contrasts (marginal: one attribute at a time, "
                               "confounded by correlated attributes)"}[method],
        "preset": config.interpretability.preset,
        "transductive": transductive,
        "units": result.unit,
        "sign": "every map is high minus low (continuous: mean + 1 SD minus mean - 1 SD; "
                "hue: red minus blue; semantic: group minus reference)",
        "significance": "cluster permutation over channel x time: Freedman-Lane "
                        "(partial) or label shuffles (contrast)",
        "attribute_spaces": spaces,
        "semantic_source": semantic_source,
        "design_columns": None if design is None else list(design.columns),
        "design_skipped": skipped,
        "times_ms": [float(round(1000 * t, 3)) for t in times],
        "attributes": attributes,
        "maps": entries,
        "probes": result.probes,
    }
    if transductive:
        summary["transductive_steps"] = [
            "decoded latents rescaled with the test batch's own mean and SD",
            "groups chosen from decoded latents (35 % extremes)",
            "semantic groups from Ward clustering of the test images' latents"]
    header = ["image_file", "concept"]
    columns: list[np.ndarray] = []
    for attribute in config.interpretability.attributes:
        if attribute in CONTINUOUS:
            key = CONTINUOUS[attribute][0]
            header.append(f"{attribute} ({key})")
            columns.append(pixels[key])
        elif attribute == "hue":
            header.append("hue (deg)")
            columns.append(pixels["hue_deg"])
        elif semantic is not None:
            header.append("semantic group")
            columns.append(semantic)
            for name, values in extra.items():
                header.append(name)
                columns.append(values)
    rows = [[f, c, *[f"{v:.6g}" if isinstance(v, float | np.floating) else str(v)
                      for v in values]]
            for f, c, *values in zip(test.image_files, test.concepts, *columns)]
    write_text_atomic(out / "groups.csv", _csv_text(header, rows))
    arrays.update(result.probe_arrays)
    save_npz(out / "maps.npz", ch_names=np.array(ch_names), times=times, **arrays)
    write_json_atomic(out / "summary.json", summary)


def interpret_subject(config: Config, subject: int, run_dir: RunDir) -> None:
    """Compute, save and draw one subject's attribute maps and decoder probes."""
    from perceptogram.pipeline.attribute_map_figures import draw_subject_maps

    result = compute_subject_maps(config, subject, run_dir)
    draw_subject_maps(config, run_dir.unit_dir("interpret", subject), result)


def decoder_probes(config: Config, subject: int, run_dir: RunDir, train, Y_train: np.ndarray,
                   test, Y_test: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Presumptive electrode preference and time probes of one subject's decoder.

    Quality is the mean over latent dimensions of the correlation between
    decoded and true test latents. Refitted decoders are plain ridges with the
    median of the alphas the subject's saved decoder chose by cross-validation
    (no cross-validation is repeated).

    Parameters
    ----------
    config : Config
    subject : int
    run_dir : RunDir
        Reads ``fit/sub-XX/<space>/decoder.safetensors``.
    train, test : EEGFeatures
        The subject's training and test features.
    Y_train : ndarray, shape (n_train, n_latent)
    Y_test : ndarray, shape (n_test, n_latent)

    Returns
    -------
    summary : dict
        ``alpha``, ``baseline``; ``scramble_drop`` (channel → drop when the
        channel is shuffled over test images); ``mirrored`` (quality with
        left/right mirrored test EEG; None when the channels are not left/right
        symmetric); ``subsets`` (named subset whose channels are all recorded →
        quality of a decoder refitted on it); ``window_lengths`` and
        ``sliding_windows`` (``x_ms`` = window ends / centres, ``quality``).
    arrays : dict of str to ndarray
        ``scramble_drop`` (n_channels,), ``window_end_ms``, ``window_quality``,
        ``sliding_centre_ms``, ``sliding_quality``.
    """
    from perceptogram.interpret.electrodes import CHANNEL_SUBSETS
    from perceptogram.interpret.perturb import channel_scramble_importance, subset_quality
    from perceptogram.interpret.timecourse import sliding_window_curve, window_length_curve
    from perceptogram.linear.io import load_model
    from perceptogram.linear.ridge import Ridge

    space = config.interpretability.space
    saved = load_model(run_dir.unit_dir("fit", subject, space) / "decoder.safetensors",
                       ch_names=train.ch_names, times=train.times)
    alpha = float(np.median(saved.alpha_))

    def fit(X: np.ndarray, Y: np.ndarray, groups: np.ndarray | None = None) -> Ridge:
        return Ridge(alpha=alpha).fit(X, Y)

    decoder = fit(train.X, Y_train)
    scramble = channel_scramble_importance(decoder, test, Y_test, n_repeats=2,
                                           seed=config.seed)
    subsets = {name: name for name, channels in CHANNEL_SUBSETS.items()
               if set(channels) <= set(train.ch_names)}
    subset_scores = subset_quality(train, Y_train, test, Y_test, subsets, fit_decoder=fit)
    dt = train.times[1] - train.times[0]
    span_ms = 1000 * (train.times[-1] + dt - train.times[0])
    lengths = [k for k in WINDOW_LENGTHS_MS if k <= span_ms + 1e-6] or [span_ms]
    window = window_length_curve(train, Y_train, test, Y_test,
                                 [k / 1000 for k in lengths], start=train.times[0],
                                 fit_decoder=fit)
    sliding = sliding_window_curve(train, Y_train, test, Y_test,
                                   width=min(SLIDING_WIDTH_MS, span_ms) / 1000,
                                   step=SLIDING_STEP_MS / 1000, fit_decoder=fit)
    summary = {
        "quality": "mean correlation of decoded vs true test latents over dimensions",
        "alpha": alpha,
        "baseline": float(scramble.baseline),
        "scramble_drop": scramble.as_dict(),
        "mirrored": _mirrored_quality(decoder, test, Y_test),
        "subsets": {name: float(v) for name, v in subset_scores.items()},
        "window_lengths": {"x_ms": [float(x) for x in np.round(1000 * window.x, 3)],
                           "quality": [float(v) for v in window.values]},
        "sliding_windows": {"width_ms": min(SLIDING_WIDTH_MS, span_ms),
                            "x_ms": [float(x) for x in np.round(1000 * sliding.x, 3)],
                            "quality": [float(v) for v in sliding.values]},
    }
    arrays: dict[str, np.ndarray] = {
        "scramble_drop": scramble.drop, "window_end_ms": 1000 * window.x,
        "window_quality": np.asarray(window.values), "sliding_centre_ms": 1000 * sliding.x,
        "sliding_quality": np.asarray(sliding.values)}
    return summary, arrays


def _mirrored_quality(decoder, test, Y_test: np.ndarray) -> float | None:
    """Quality on left/right mirrored test EEG; None when the channels are asymmetric."""
    from perceptogram.errors import ChannelMismatchError
    from perceptogram.interpret.perturb import evaluate, mirror_features

    try:
        mirrored = mirror_features(test)
    except ChannelMismatchError:
        return None
    return float(evaluate(decoder, mirrored, Y_test))
