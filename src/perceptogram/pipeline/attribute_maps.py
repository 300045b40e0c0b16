"""The interpret stage for one subject, compute step: attribute maps and decoder probes.

Glue only: the numbers come from :mod:`perceptogram.interpret`, the figures are
drawn by :mod:`perceptogram.pipeline.attribute_map_figures`. This module builds the
attributes of the test images (from their pixels and labels), estimates each
attribute's map (partial effects by default, marginal group contrasts on request,
or the paper's recipe), tests it, finds its peak inside a significant cluster,
and, where attributes go together in the pictures (collinear design), tests them
jointly and maps each one alone beside its partial effect. Semantic labels come
first from a label table, else from the pictures' concepts when they form groups,
else from the ImageNet classifier; groups declared by a table or the concepts are
also mapped alone (their marginal map), and the attribute maps beside them are
Holm-adjusted as one family. Too few different pictures for the design leave the
pixel attributes out. The files
(``maps.npz``, ``summary.json``, ``groups.csv``, per map ``maps/<name>-ave.fif``
and ``maps/<name>.csv``) are written by
:mod:`perceptogram.pipeline.attribute_map_files`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from perceptogram.config import Config
from perceptogram.data.core.image_files import load_images
from perceptogram.data.core.units import eeg_unit
from perceptogram.errors import ChannelMismatchError
from perceptogram.interpret.collinearity import Collinearity, diagnose, joint_sentence
from perceptogram.interpret.design import CONTINUOUS, build_design, pixel_attributes
from perceptogram.interpret.effects import fit_effects, freedman_lane_test
from perceptogram.interpret.electrodes import CHANNEL_SUBSETS
from perceptogram.interpret.groupings import categorical_grouping, semantic_grouping, split_grouping
from perceptogram.interpret.joint import f_map, joint_freedman_lane_test
from perceptogram.interpret.labels import (
    classifier_labels,
    concept_labels,
    covariates_from_table,
    label_trust,
    labels_from_table,
    map_to_groups,
)
from perceptogram.interpret.perceptogram import contrast, group_means, to_eeg_units
from perceptogram.interpret.perturb import (
    channel_scramble_importance,
    evaluate,
    mirror_features,
    subset_quality,
)
from perceptogram.interpret.significance import group_cluster_test
from perceptogram.interpret.timecourse import sliding_window_curve, window_length_curve
from perceptogram.latents.attributes import FEATURE_NAMES, hue_angle
from perceptogram.linear.io import load_model
from perceptogram.linear.patterns import decode_encode_patterns
from perceptogram.linear.ridge import Ridge
from perceptogram.pipeline.artifacts import load_eeg_features
from perceptogram.pipeline.attribute_map_figures import draw_subject_maps
from perceptogram.pipeline.attribute_map_files import save_subject_maps
from perceptogram.pipeline.datasource import run_image_paths, subject_rows
from perceptogram.pipeline.map_results import (
    AttributeMap,
    JointTest,
    Pictures,
    SemanticLabels,
    SubjectMaps,
)
from perceptogram.pipeline.rundir import RunDir

__all__ = ["interpret_subject", "compute_subject_maps", "attribute_spaces", "decoder_probes"]

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
#: Different test pictures a partial-effect design needs beyond its columns: one more
#: than a saturated fit (every picture's mean), so that the attributes' effects are
#: estimated from more than the pictures' identities.
MIN_SPARE_PICTURES = 2


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


def _semantic_labels(config: Config, images: np.ndarray, image_paths: list[str], test,
                     run_dir: RunDir, paper: bool) -> tuple[SemanticLabels, str | None]:
    """Label group of each test picture, where it came from, and extra columns.

    Labels first: a label table, else the pictures' own concepts when they form
    groups (:func:`perceptogram.interpret.labels.concept_labels`), else the
    ImageNet classifier. Returns the labels and, for concepts, the sentence
    that says so (for the summary's notes).
    """
    settings = config.interpretability
    if paper or settings.semantic_source == "cluster":
        space = attribute_spaces(config).get("semantic", settings.space)
        latents = subject_rows(np.load(run_dir.unit_dir("features", None, space) / "test.npy"),
                               test)
        n = PAPER_N_CLUSTERS if paper else settings.n_clusters
        grouping = semantic_grouping(latents, n)
        labels = np.asarray([f"unsupervised cluster {k + 1}" for k in grouping.labels])
        return SemanticLabels(labels, f"unsupervised cluster (Ward, {space} latents of the "
                              "test images)"), None
    if settings.labels is not None:
        raw = labels_from_table(settings.labels, image_paths, test.concepts)
        return SemanticLabels(map_to_groups(raw, settings.semantic_groups),
                              f"label table {settings.labels.name}", {"label": raw}), None
    concepts = concept_labels(test.concepts, image_paths, settings.semantic_groups)
    if concepts is not None:
        return SemanticLabels(concepts.labels, "concepts of the test pictures (image table)"
                              ), concepts.sentence
    found = classifier_labels(images, device=config.device)
    trust = label_trust(found, settings.semantic_groups)
    return SemanticLabels(
        map_to_groups(found.labels, settings.semantic_groups),
        "EfficientNet-Lite0 ImageNet top class -> animal/food/other",
        {"imagenet_class": found.top_class,
         "imagenet_class_probability": found.top_probability,
         "group_probability": trust.probability}, trust), None


def _covariates(config: Config, image_paths: list[str], test) -> dict[str, np.ndarray]:
    path = config.interpretability.covariates
    if path is None:
        return {}

    return covariates_from_table(path, image_paths, test.concepts)


def _rescale_transductive(decoded: np.ndarray, Y_train: np.ndarray) -> np.ndarray:
    """The reference code's rescaling: test-batch statistics to training statistics."""
    sd = decoded.std(axis=0)
    sd[sd == 0] = 1.0
    return (decoded - decoded.mean(axis=0)) / sd * Y_train.std(axis=0) + Y_train.mean(axis=0)


def _perceptograms(config: Config, subject: int, run_dir: RunDir, space: str, train,
                   paper: bool) -> np.ndarray:
    """Latent-filtered EEG patterns of the test images, data units, (n, ch, t)."""
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
                  ch_names, times, unit: str, positions=None,
                  family: frozenset[str] = frozenset()) -> list[AttributeMap]:
    """Partial-effect maps of every design map, tested; ``family``: attributes whose
    cluster p-values are Holm-adjusted together (:func:`_holm_factors`)."""
    n_perm = config.interpretability.n_permutations
    fit = fit_effects(data, design.matrix, design.columns)
    tested = []
    for spec in design.maps:
        if space_of is not None and space_of(spec.attribute) is None:
            continue
        j = fit.index(spec.column)
        clusters, p_values = [], np.zeros(0)
        if n_perm:
            result = freedman_lane_test(data, design.matrix, design.columns, spec.column,
                                        ch_names=ch_names, times=times, n_permutations=n_perm,
                                        cluster_alpha=CLUSTER_ALPHA, alpha=CLUSTER_ALPHA,
                                        seed=config.seed, positions=positions)
            clusters, p_values = result.clusters, result.p_values
        tested.append((spec, j, clusters, p_values))
    members = [k for k, (spec, *_) in enumerate(tested) if spec.attribute in family]
    factors = _holm_factors([float(min(tested[k][3], default=1.0)) for k in members])
    out = []
    for k, (spec, j, clusters, p_values) in enumerate(tested):
        effect = spec.scale * fit.coef[j]
        extra: dict[str, Any] = {}
        if k in members and n_perm:
            factor, floor = factors[members.index(k)]
            extra = {"cluster_p_unadjusted": float(min(p_values, default=1.0)),
                     "cluster_p_adjustment": f"Holm over the {len(members)} maps of "
                     f"{_listed(sorted({tested[m][0].attribute for m in members}))}"}
            p_values = np.maximum(np.minimum(1.0, factor * np.asarray(p_values)), floor)
        mask = None
        if n_perm:
            mask = np.zeros(effect.shape, dtype=bool)
            for cluster, p in zip(clusters, p_values):
                if p < CLUSTER_ALPHA:
                    mask |= cluster
        info = _peak(effect, clusters, p_values, ch_names, times, unit, n_perm)
        if extra and info["peak"] is None:
            info["no_peak"] += f" after {extra['cluster_p_adjustment']}"
        out.append(AttributeMap(spec.name, spec.attribute, source,
                                None if space_of is None else space_of(spec.attribute),
                                "partial effect", effect, fit.t[j], mask,
                                {**info, **extra, "contrast": spec.contrast,
                                 "difference": spec.unit_of_difference}))
    return out


def _holm_factors(p_values: list[float]) -> list[tuple[float, float]]:
    """Holm's step-down adjustment of a family of maps, as (factor, floor) per map.

    The map ranked ``i`` (0-based) by its smallest cluster p gets the factor
    ``m - i``; ``floor`` is the adjusted p of the map ranked before it, so that
    adjusted p-values never decrease with rank (Holm 1979). A cluster's adjusted
    p is ``max(floor, min(1, factor * p))``: the map's smallest one is its Holm
    adjusted p, and the family-wise error rate over the maps is at most
    :data:`CLUSTER_ALPHA`.
    """
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    out: list[tuple[float, float]] = [(1.0, 0.0)] * m
    floor = 0.0
    for rank, k in enumerate(order):
        factor = float(m - rank)
        out[k] = (factor, floor)
        floor = max(floor, min(1.0, factor * p_values[k]))
    return out


def _marginal_maps(config: Config, data: np.ndarray, design, attribute: str, ch_names,
                   times, unit: str, positions=None) -> list[AttributeMap]:
    """Each map of ``attribute`` fitted with the attribute alone (intercept + its columns).

    The same "high − low" scale as the partial effect, so the two can be shown
    side by side: the marginal map absorbs the effects of every attribute that
    goes with it in the pictures.
    """
    n_perm = config.interpretability.n_permutations
    keep = [0] + [design.columns.index(c) for c in design.attribute_columns[attribute]]
    matrix, columns = design.matrix[:, keep], tuple(design.columns[k] for k in keep)
    fit = fit_effects(data, matrix, columns)
    out = []
    for spec in (m for m in design.maps if m.attribute == attribute):
        j = fit.index(spec.column)
        effect = spec.scale * fit.coef[j]
        clusters, p_values, mask = [], np.zeros(0), None
        if n_perm:
            result = freedman_lane_test(data, matrix, columns, spec.column, ch_names=ch_names,
                                        times=times, n_permutations=n_perm,
                                        cluster_alpha=CLUSTER_ALPHA, alpha=CLUSTER_ALPHA,
                                        seed=config.seed, positions=positions)
            clusters, p_values, mask = result.clusters, result.p_values, result.mask
        info = _peak(effect, clusters, p_values, ch_names, times, unit, n_perm)
        out.append(AttributeMap(f"{spec.name} (marginal)", attribute, "eeg", None,
                                "marginal effect (attribute alone)", effect, fit.t[j], mask,
                                {**info, "contrast": spec.contrast,
                                 "difference": spec.unit_of_difference}))
    return out


def _collinear_sets(config: Config, data: np.ndarray, design, collinearity: Collinearity,
                    maps: list[AttributeMap], ch_names, times, unit: str, positions=None
                    ) -> tuple[list[JointTest], list[AttributeMap]]:
    """Joint test and marginal maps of every collinear set; partial maps told about them.

    The test-EEG partial maps of the set's attributes get ``collinear_with`` and
    the joint test's p in their summary, and a partial map without a peak says
    so when the joint test finds an effect.
    """
    n_perm = config.interpretability.n_permutations
    tests, marginal = [], []
    partial = [m for m in maps if m.source == "eeg" and m.kind == "partial effect"]
    for attributes in collinearity.sets:
        columns = tuple(c for a in attributes for c in design.attribute_columns[a])
        if n_perm:
            result = joint_freedman_lane_test(
                data, design.matrix, design.columns, columns, ch_names=ch_names, times=times,
                n_permutations=n_perm, cluster_alpha=CLUSTER_ALPHA, alpha=CLUSTER_ALPHA,
                seed=config.seed, positions=positions)
            statistic, mask = result.statistic, result.mask
            info = _peak(result.statistic, result.clusters, result.p_values, ch_names, times,
                         f"F({len(columns)}, {len(data) - design.matrix.shape[1]})", n_perm)
        else:
            statistic = f_map(data, design.matrix, design.columns, columns)
            mask, info = None, {}
        joint_p = info["cluster_min_p"] if n_perm else None
        found = joint_p is not None and joint_p < CLUSTER_ALPHA
        significant = [a for a in attributes
                       if any(m.attribute == a and m.summary["peak"] is not None
                              for m in partial)]
        sentence = joint_sentence(attributes, collinearity, joint_p=joint_p,
                                  alpha=CLUSTER_ALPHA, partial_significant=significant)
        for m in partial:
            if m.attribute not in attributes:
                continue
            m.summary["collinear_with"] = [a for a in attributes if a != m.attribute]
            m.summary["joint_test_p"] = joint_p
            if found and m.summary["peak"] is None:
                m.summary["no_peak"] += (
                    f"; but the joint test of {', '.join(attributes)} finds an effect "
                    f"(cluster p = {joint_p:.3f}): these pictures cannot tell which attribute "
                    "carries it")
        tests.append(JointTest(attributes, columns, statistic, mask,
                               {**info, "attributes": list(attributes),
                                "columns": list(columns), "significant": found,
                                "sentence": sentence}))
        for attribute in attributes:
            if not any(m.attribute == attribute for m in marginal):
                marginal += _marginal_maps(config, data, design, attribute, ch_names, times,
                                           unit, positions)
    return tests, marginal


def _design_for_pictures(mapped: list[str], pixels: dict[str, np.ndarray],
                         labels: np.ndarray | None, covariates: dict[str, np.ndarray],
                         image_paths: list[str]):
    """The design, without the pixel attributes when too few pictures tell them apart.

    Attributes are measured on pictures: test rows that show one picture (groups
    of its epochs) share its values, so a design needs more different pictures
    than columns (:data:`MIN_SPARE_PICTURES` more). With fewer, brightness, texture
    and hue are left out (they cannot be told apart from each other or from the
    groups) while the groups (semantic) and covariates stay; with neither, the
    full design is kept and the sentence says why its maps cannot be separated.

    Returns
    -------
    design : AttributeDesign
    sentence : str or None
        Why attributes were left out (None when the pictures suffice).
    """
    design = build_design(mapped, pixels, semantic=labels, covariates=covariates)
    # columns asked for, those left out as determined by the others included
    n_columns = design.matrix.shape[1] + sum(
        reason.startswith("determined by") for reason in design.skipped.values())
    n_pictures = len(set(image_paths))
    if n_pictures >= n_columns + MIN_SPARE_PICTURES:
        return design, None
    pixel = [a for a in mapped if a in CONTINUOUS or a == "hue"]
    kept = [a for a in mapped if a not in pixel]
    head = (f"The {len(image_paths)} test rows show only {n_pictures} different pictures, too "
            f"few to tell apart the attributes measured on them (a design of {n_columns} "
            f"columns needs at least {n_columns + MIN_SPARE_PICTURES} different pictures): ")
    if pixel and (("semantic" in kept and labels is not None) or covariates):
        reduced = build_design(kept, pixels, semantic=labels, covariates=covariates)
        if reduced.attribute_columns:
            what = "the groups are" if "semantic" in reduced.attribute_columns else \
                "the covariates are"
            return reduced, head + f"{', '.join(pixel)} are not mapped; {what}."
    return design, head + ("the maps cannot separate the attributes (read each as the "
                           "difference between a few pictures).")


def _declared_marginals(design, collinearity: Collinearity, maps: list[AttributeMap],
                        marginal: list[AttributeMap], unit: str) -> list[str]:
    """Tell each declared-label partial map what its marginal map (groups alone) finds.

    The partial map of the semantic groups gets ``marginal`` in its summary (the
    marginal map's name, cluster p and peak). When the marginal map has a
    significant cluster and the partial map none, the partial map's
    ``no_peak`` says so and one sentence is returned for the summary's notes:
    there is an effect of the groups, and these pictures cannot tell whether the
    category or the attributes that go with it carry it.
    """
    sentences = []
    others = [a for a in design.attribute_columns if a != "semantic"]
    for m in maps:
        if m.attribute != "semantic" or m.source != "eeg" or m.kind != "partial effect":
            continue
        alone = next((g for g in marginal if g.name == f"{m.name} (marginal)"), None)
        if alone is None or alone.mask is None:
            continue
        found = alone.summary["peak"]
        m.summary["marginal"] = {"name": alone.name, "cluster_min_p":
                                 alone.summary["cluster_min_p"], "peak": found}
        if found is None or m.summary["peak"] is not None:
            continue
        contrast = m.summary["contrast"]
        m.summary["no_peak"] += (
            f"; but the marginal map ({contrast} alone) finds an effect (cluster p = "
            f"{found['cluster_p']:.3f}): these pictures cannot tell whether the groups or "
            "the attributes that go with them carry it")
        held = f" with {_listed(others)} held fixed" if others else ""
        sentence = (
            f"There is a {contrast} effect, and these pictures cannot tell whether the groups "
            f"or {_listed(others) if others else 'other attributes'} carry it: the marginal "
            f"map ({contrast} alone, as a trial-level test of the groups compares them) has a "
            f"significant cluster (cluster p = {found['cluster_p']:.3f}, largest at "
            f"{found['channel']}, {found['latency_ms']:.0f} ms, {found['amplitude']:+.3g} "
            f"{unit.split(' (')[0]}), while no cluster survives{held} (partial map: smallest "
            f"cluster p = {m.summary['cluster_min_p']:.3f}; VIF of the groups "
            f"{collinearity.vif_of('semantic'):.1f}).")
        m.summary["marginal"]["sentence"] = sentence
        sentences.append(sentence)
    return sentences


def _listed(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _groupings(config: Config, pixels: dict[str, np.ndarray], semantic: np.ndarray | None,
               decoded_attributes: dict[str, np.ndarray] | None) -> dict[str, Any]:
    """Groups of the test images for group contrasts: (Grouping, high, low) per attribute.

    Continuous attributes split at the median (paper preset: the 35 % extremes of
    the decoded attribute when the ``attributes`` space was decoded); hue: red vs
    blue (within 60 degrees); semantic: each label group vs the reference.
    """
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
    settings = config.interpretability
    paper = settings.preset == "paper"
    method = "contrast" if paper else settings.method
    train, test = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    ch_names, times = test.ch_names, test.times
    image_paths = [str(p) for p in subject_rows(run_image_paths(config, "test"), test)]
    images = load_images(image_paths)
    pixels = pixel_attributes(images)
    semantic, label_note = None, None
    if "semantic" in settings.attributes:
        semantic, label_note = _semantic_labels(config, images, image_paths, test, run_dir,
                                                paper)
    # groups the user declared (a label table, the pictures' concepts): the conditions
    declared = semantic is not None and semantic.trust is None and not (
        paper or settings.semantic_source == "cluster")
    pictures = Pictures(tuple(test.image_files), tuple(test.concepts), pixels, semantic)
    mapped, labels, skipped = list(settings.attributes), None, {}
    notes = [label_note] if label_note else []
    if semantic is not None and semantic.usable:
        labels = semantic.groups
    elif semantic is not None:  # the classifier did not recognise most pictures
        mapped.remove("semantic")
        skipped["semantic"] = semantic.trust.sentence
        notes.append(semantic.trust.sentence)
    spaces = attribute_spaces(config)
    # Maps are computed in display units (volts -> µV); the FIF files store the data's.
    display = eeg_unit(test.unit)
    unit, positions = display.description, test.positions
    patterns: dict[str, np.ndarray] = {}
    for space in dict.fromkeys(spaces[a] for a in mapped):
        patterns[space] = display.scale * _perceptograms(config, subject, run_dir, space,
                                                         train, paper)

    maps: list[AttributeMap] = []
    design = collinearity = None
    joint_tests: list[JointTest] = []
    if method == "partial" and mapped:
        design, few = _design_for_pictures(mapped, pixels, labels,
                                           _covariates(config, image_paths, test), image_paths)
        if few is not None:
            notes.append(few)
            skipped.update({a: few for a in mapped if a not in design.attribute_columns
                            and a not in design.skipped})
        skipped.update(design.skipped)
        eeg = display.scale * _data_units(test)
        # declared groups are the experiment's question; the pictures' attributes (and
        # covariates) beside them are a family of secondary maps, Holm-adjusted together
        family = frozenset(a for a in design.attribute_columns
                           if a != "semantic") if declared else frozenset()
        maps += _partial_maps(config, eeg, design, "eeg", None, ch_names, times, unit,
                              positions, family=family)
        for space, data in patterns.items():
            def space_of(attribute, space=space):
                return space if spaces.get(attribute, space) == space else None
            maps += _partial_maps(config, data, design, "perceptogram", space_of, ch_names,
                                  times, unit, positions)
        collinearity = diagnose(design.matrix, design.columns, design.attribute_columns)
        joint_tests, marginal = _collinear_sets(config, eeg, design, collinearity, maps,
                                                ch_names, times, unit, positions)
        if declared and "semantic" in design.attribute_columns \
                and len(design.attribute_columns) > 1:
            # the declared groups alone, as a trial-level test of the conditions sees them
            if not any(m.attribute == "semantic" for m in marginal):
                marginal += _marginal_maps(config, eeg, design, "semantic", ch_names, times,
                                           unit, positions)
            notes += _declared_marginals(design, collinearity, maps, marginal, unit)
        maps += marginal
        notes += [t.summary["sentence"] for t in joint_tests]
    elif mapped:
        decoded_attributes = None
        if paper and "attributes" in config.latents.spaces:
            decoded_attributes = _decoded_attributes(config, subject, run_dir)
        groupings = _groupings(config, pixels, labels, decoded_attributes)
        for space, data in patterns.items():
            chosen = {a: g for a, g in groupings.items() if spaces[a] == space}
            maps += _contrast_maps(config, data, chosen, "perceptogram", spaces.get, ch_names,
                                   times, unit, positions)

    latents = run_dir.unit_dir("features", None, settings.space)
    probes, probe_arrays = decoder_probes(config, subject, run_dir, train,
                                          subject_rows(np.load(latents / "train.npy"), train),
                                          test, subject_rows(np.load(latents / "test.npy"), test))
    result = SubjectMaps(ch_names, times, unit, maps, probes, probe_arrays, method=method,
                         transductive=paper, spaces=spaces, pictures=pictures, design=design,
                         collinearity=collinearity, joint_tests=joint_tests, skipped=skipped,
                         notes=notes, unit_scale=display.scale,
                         positions=positions)
    save_subject_maps(config, run_dir.unit_dir("interpret", subject), result)
    return result


def _decoded_attributes(config: Config, subject: int, run_dir: RunDir) -> dict[str, np.ndarray]:
    """Decoded ``attributes`` latents of the test images, by descriptor name."""
    decoded = np.load(run_dir.unit_dir("predict", subject, "attributes") / "decoded.npy")
    values = dict(zip(FEATURE_NAMES, decoded.T.astype(float)))
    values["hue_deg"] = hue_angle(values["hue_cos"], values["hue_sin"])
    return values


def interpret_subject(config: Config, subject: int, run_dir: RunDir) -> None:
    """Compute, save and draw one subject's attribute maps and decoder probes."""
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
    try:
        mirrored = mirror_features(test)
    except ChannelMismatchError:
        return None
    return float(evaluate(decoder, mirrored, Y_test))
