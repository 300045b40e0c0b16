"""The report stage: run-level tables, the three-line headline and ``report.html``.

Reads every subject's evaluate and interpret artifacts, writes the run-level
tables (``report/metrics.{csv,json}``, ``report/comparison_*.{csv,json}``,
``report/headline.json``) and renders :mod:`perceptogram.report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from perceptogram._io import write_json_atomic
from perceptogram.config import Config, config_to_dict
from perceptogram.data.core.image_files import load_images
from perceptogram.evaluate.metrics import retrieval_ranks, similarity_matrix, standardize_latents
from perceptogram.evaluate.stats import binomial_pvalue
from perceptogram.evaluate.tables import (
    MetricRow,
    comparison_table,
    load_table,
    save_comparison,
    save_table,
)
from perceptogram.pipeline.artifacts import load_eeg_features, load_pngs, read_rows
from perceptogram.pipeline.attribute_map_figures import read_figure_list
from perceptogram.pipeline.datasource import pool_by_image, run_image_paths, subject_rows
from perceptogram.pipeline.evaluation_report import evaluation_report, evaluation_rows
from perceptogram.pipeline.fit_notes import decoder_notes  # alpha's folds, not concepts
from perceptogram.pipeline.plan import (
    STAGE_NAMES,
    latent_method,
    latent_reference,
    reconstruction_folder,
    reconstruction_method,
    reconstruction_spaces,
    run_subjects,
)
from perceptogram.pipeline.rundir import RunDir, subject_label
from perceptogram.report import (
    DesignSummary,
    FigureRef,
    ImageStrip,
    ReportContent,
    RowCounts,
    write_mne_report,
    write_report,
)

__all__ = ["build_report", "export_mne_report", "report_content", "headline",
           "collect_metrics"]

#: Subjects whose images and figures are shown (all subjects are in the tables).
MAX_SUBJECTS_SHOWN = 3
#: Display names of the per-image metrics that pick the best and worst images.
_METRIC_NAMES = {"pixcorr": "PixCorr", "ssim": "SSIM"}


def collect_metrics(run_dir: RunDir, subjects: list[int], spaces: list[str]) -> list[Any]:
    """Every subject's metric rows (:class:`perceptogram.evaluate.tables.MetricRow`)."""
    rows = []
    for s in subjects:
        for space in spaces:
            rows += load_table(run_dir.unit_dir("evaluate", s, space) / "metrics.json")
    return rows


def _mean(rows: list[Any], method: str, metric: str) -> tuple[float, float | None]:
    values = [r.value for r in rows if r.ok and r.method == method and r.metric == metric]
    chance = next((r.chance for r in rows if r.method == method and r.metric == metric), None)
    return (float(np.mean(values)) if values else float("nan")), chance


def _retrieval_space(config: Config) -> str:
    """The latent space whose zero-shot retrieval the headline and examples show."""
    space = config.reconstruction.retrieval_space
    return space if space in config.latents.spaces else config.latents.spaces[0]


def headline(config: Config, run_dir: RunDir, rows: list[Any],
             counts: dict[str, Any] | None = None) -> list[str]:
    """Three sentences: retrieval vs chance, PixCorr/SSIM, the strongest perceptogram.

    ``counts`` (subject label -> :class:`~perceptogram.report.RowCounts`, read
    from the run when not given) says whether N counts rows or distinct images.
    """
    subjects = run_subjects(config, run_dir)
    n_sub = f"mean of {len(subjects)} subject{'s' * (len(subjects) != 1)}"
    space = _retrieval_space(config)
    top1, chance1 = _mean(rows, latent_method(space), "top-1 (cosine)")
    top5, chance5 = _mean(rows, latent_method(space), "top-5 (cosine)")
    n_test = next((r.n_images for r in rows if r.method == latent_method(space)), 0)
    counts = _row_counts(run_dir, subjects) if counts is None else counts
    pooled = next((c for c in counts.values() if c.pooled), None)
    among = "" if pooled is None else " among distinct images (the rows of each averaged),"
    lines = [f"Retrieval ({n_test}-way zero-shot{among} {space} latents standardised with "
             f"training statistics, {n_sub}): top-1 {100 * top1:.1f} % (chance "
             f"{100 * (chance1 or 0):.1f} %), top-5 {100 * top5:.1f} % (chance "
             f"{100 * (chance5 or 0):.1f} %)."]
    low_level = [m for m in ("pca", "retrieval", "unclip") if m in config.reconstruction.methods]
    parts = []
    for method in low_level:
        name = reconstruction_method(config, method)
        pix, _ = _mean(rows, name, "PixCorr")
        ssim, _ = _mean(rows, name, "SSIM")
        parts.append(f"{name}: PixCorr {pix:.3f}, SSIM {ssim:.3f}")
    n_images = next((r.n_images for r in rows if r.metric == "PixCorr"), n_test)
    scored = (f"{n_images} test images" if pooled is None or n_images != pooled.rows else
              f"{n_images} test rows of {pooled.images} distinct images, each row scored")
    lines.append(f"Reconstruction ({n_sub}, {scored}; PixCorr: Pearson r of "
                 "pixels, SSIM: structural similarity, 1 = identical, no fixed chance level): "
                 + "; ".join(parts) + "."
                 if parts else "No reconstruction method was run.")
    lines.append(_perceptogram_line(config, run_dir, subjects, n_sub))
    return lines


def _perceptogram_line(config: Config, run_dir: RunDir, subjects: list[int], n_sub: str
                       ) -> str:
    """The strongest attribute map whose peak lies in a significant cluster, or why none."""
    best: tuple[tuple[float, float], int, dict[str, Any]] | None = None
    n_maps = n_significant = 0
    joint: list[str] = []  # collinear attributes whose joint test finds an effect
    for s in subjects:
        summary = json.loads((run_dir.unit_dir("interpret", s) / "summary.json")
                             .read_text(encoding="utf-8"))
        joint += [f"{subject_label(s)}: {test['sentence']}"
                  for test in (summary.get("collinearity") or {}).get("joint_tests", [])
                  if test.get("significant")]
        joint += [f"{subject_label(s)}: {info['marginal']['sentence']}"  # declared groups
                  for info in summary["attributes"].values()
                  if (info.get("marginal") or {}).get("sentence")]
        for info in summary["attributes"].values():
            if "name" not in info:
                continue
            n_maps += 1
            peak = info.get("peak")
            if peak is None:
                continue
            n_significant += 1
            key = (peak["cluster_p"], -abs(peak["amplitude"]))
            if best is None or key < best[0]:
                best = (key, s, {**info, "transductive": summary.get("transductive", False)})
    if n_maps == 0:
        return ("No perceptogram could be computed (every attribute had fewer than two "
                "groups of images or did not vary).")
    if best is None and joint:
        return (f"No single attribute's map has a significant cluster ({n_maps} attribute "
                f"maps, {n_sub}), but a joint or marginal test finds an effect. " + " ".join(joint))
    if best is None:
        return (f"No perceptogram has a significant cluster ({n_maps} attribute maps, "
                f"{n_sub}), so no peak is named.")
    _, s, info = best
    peak = info["peak"]
    unit = peak["unit"].split(" (")[0]
    where = "test EEG" if info["source"] == "eeg" else f"perceptogram, {info['space']}"
    transductive = ", transductive paper preset" if info["transductive"] else ""
    return (f"Strongest perceptogram: {info['name']} ({info['kind']}, {where}{transductive}) "
            f"in {subject_label(s)}: {peak['amplitude']:+.3g} {unit} at "
            f"{peak['latency_ms']:.0f} ms over {peak['channel']} (cluster p = "
            f"{peak['cluster_p']:.3f}); {n_significant} of {n_maps} attribute maps "
            f"({n_sub}) have a significant cluster.")


def _stage_seconds(run_dir: RunDir) -> dict[str, float]:
    """Compute time per stage summed over its units (from their manifests)."""
    totals: dict[str, float] = {}
    for stage in STAGE_NAMES[:-1]:
        folder = run_dir.root / stage
        total = 0.0
        for manifest in folder.rglob("manifest.json") if folder.is_dir() else []:
            total += json.loads(manifest.read_text(encoding="utf-8")).get("elapsed_s", 0.0)
        totals[stage] = total
    return totals


def _reconstruction_strips(config: Config, run_dir: RunDir, subject: int, space: str,
                           method: str, truth: np.ndarray, item: str = "image") -> list[Any]:
    """The best, median and worst reconstructions beside what was seen.

    ``item`` names what a column is: ``"image"``, or ``"row"`` when several test
    rows show one image (each row's reconstruction is scored).
    """
    key = config.metrics.best_worst_metric
    name = _METRIC_NAMES.get(key, key)
    per_image = [r for r in read_rows(run_dir.unit_dir("evaluate", subject, space) / "per_image")
                 if r["method"] == method]
    order = sorted(range(len(per_image)), key=lambda i: -per_image[i][key])
    n = len(order)
    k = _examples_per_rank(n)
    picks = order[:k] + order[n // 2 - k // 2: n // 2 - k // 2 + k] + order[n - k:]
    labels = ["best"] * k + ["median"] * k + ["worst"] * k
    recons = load_pngs(reconstruction_folder(config, run_dir, subject, space, method), picks)
    captions = [f"{lab} · {name} {per_image[i][key]:.2f}" for lab, i in zip(labels, picks)]
    return [ImageStrip("seen", truth[picks], captions=[f"test {item} #{i}" for i in picks]),
            ImageStrip("reconstructed", recons, captions=captions)]


def _examples_per_rank(n: int) -> int:
    """How many best, median and worst reconstructions of ``n`` are shown (1 to 3)."""
    return min(3, max(1, n // 3))


def _retrieval_strips(config: Config, run_dir: RunDir, subject: int, space: str,
                      truth: np.ndarray, n_examples: int = 4) -> list[Any]:
    """Test images beside the five test images most similar to their decoded latent.

    When several rows show one image, the images are ranked as the evaluate stage
    scores them: the decoded latents of one image's rows averaged, among the
    distinct images (``truth`` then holds one picture per distinct image, in
    order of first appearance).
    """
    ranks = _image_ranks(config, run_dir, subject, space)
    if ranks is None:
        ranks = np.load(run_dir.unit_dir("evaluate", subject, space) / "ranks.npy")
    examples = np.linspace(0, len(ranks) - 1, min(n_examples, len(ranks))).astype(int)
    strips = []
    for i in examples:
        candidates = ranks[i]
        strips.append(ImageStrip(
            f"test image #{i}", np.concatenate([truth[i:i + 1], truth[candidates]]),
            captions=["seen"] + [f"rank {r + 1}" for r in range(len(candidates))],
            highlight=[False] + [bool(c == i) for c in candidates],
        ))
    return strips


def _image_ranks(config: Config, run_dir: RunDir, subject: int, space: str
                 ) -> np.ndarray | None:
    """Top-5 candidates of every distinct test image, or None when each row is one image.

    The evaluate stage's ``ranks.npy`` ranks rows; when rows share images, the
    latent metrics compare images (rows of one image averaged), and so do the
    examples: the same standardisation, the same cosine.
    """
    _, test = load_eeg_features(run_dir.unit_dir("features", subject) / "eeg.npz")
    if len(set(test.image_files)) == len(test.image_files):
        return None
    decoded = np.load(run_dir.unit_dir("predict", subject, space) / "decoded.npy")
    true = subject_rows(np.load(run_dir.unit_dir("features", None, space) / "test.npy"), test)
    decoded, true = pool_by_image(decoded.reshape(len(decoded), -1),
                                  true.reshape(len(true), -1),
                                  subject_rows(run_image_paths(config, "test"), test))
    mean, std = latent_reference(config, run_dir, space)  # as the evaluate stage does
    decoded, true, _ = standardize_latents(decoded, true, mean, std)
    order = np.argsort(-similarity_matrix(decoded, true, metric="cosine"), axis=1)
    return order[:, :min(5, len(true))]


def _distinct(paths: list[Any]) -> list[Any]:
    """The distinct entries of ``paths`` in order of first appearance."""
    return list(dict.fromkeys(str(p) for p in paths))


def _raw_cosine_rows(config: Config, run_dir: RunDir, subjects: list[int],
                    rows: list[Any]) -> list[Any]:
    """Zero-shot retrieval computed as the published methods compute it: raw cosine.

    The evaluate stage compares latents standardised with training statistics;
    published retrieval numbers compare raw embeddings. For every latent space
    with retrieval rows, the decoded and true test latents are ranked again by
    the cosine of the raw vectors, so that the comparison table holds one row
    computed the published way.

    Returns
    -------
    list of MetricRow
        ``top-k (cosine)`` rows of method ``"<latent method>, raw cosine"``.
    """
    test_paths = run_image_paths(config, "test")

    ks = sorted({int(r.metric[4:].split()[0]) for r in rows
                 if r.ok and r.metric.startswith("top-") and r.metric.endswith("(cosine)")})
    out = []
    for space in config.latents.spaces:
        method = latent_method(space)
        if not any(r.method == method and r.metric.startswith("top-") for r in rows):
            continue
        table = np.load(run_dir.unit_dir("features", None, space) / "test.npy")
        table = table.reshape(len(table), -1).astype(np.float64)
        for s in subjects:
            _, test = load_eeg_features(run_dir.unit_dir("features", s) / "eeg.npz")
            decoded = np.load(run_dir.unit_dir("predict", s, space) / "decoded.npy")
            # the pictures subject s has, one row per image (as the evaluate stage does)
            decoded, true = pool_by_image(
                decoded.reshape(len(decoded), -1).astype(np.float64),
                subject_rows(table, test), subject_rows(test_paths, test))
            ranks = retrieval_ranks(decoded, true, "cosine")
            n = len(ranks)
            protocol = next((r.protocol for r in rows if r.method == method), "")
            for k in ks:
                hits = int(np.sum(ranks < k))
                out.append(MetricRow(
                    subject=s, method=f"{method}, raw cosine", metric=f"top-{k} (cosine)",
                    value=hits / n, n_images=n, chance=min(k / n, 1.0),
                    p_value=binomial_pvalue(hits, n, min(k / n, 1.0)), protocol=protocol,
                    notes=f"{n}-way zero-shot retrieval, cosine similarity of the raw decoded "
                          "and true latents (as the published methods compare embeddings); "
                          "computed by the report stage; raw latents (not standardised)"))
    return out


def _dataset_difference(run_dir: RunDir) -> str | None:
    """What our rows were computed on, when it is not THINGS-EEG2."""
    info = json.loads((run_dir.unit_dir("data") / "dataset.json").read_text(encoding="utf-8"))
    if info.get("kind") == "simulated":
        return "simulated EEG"
    fmt = info.get("format", "")
    if fmt == "things-eeg2":
        return None
    if fmt == "nice":
        return "THINGS-EEG2 re-preprocessed (NICE format)"
    return f"other EEG data ({fmt or 'unknown'} format)"


def _figure_refs(run_dir: RunDir, subject: int) -> tuple[list[tuple[str, Any]], list[str]]:
    """(section or attribute, FigureRef) of one subject's figures, and its notes."""
    folder = run_dir.unit_dir("interpret", subject)
    listing = read_figure_list(folder)
    label = subject_label(subject)
    if not listing["figures"] and any(folder.glob("*.png")):
        return [], [f"{label}: its figures were drawn by an older version of Perceptogram "
                    "without captions and are not shown; redraw them with --force "
                    "interpret."]
    refs = []
    for entry in listing["figures"]:
        png = folder / entry["png"]
        if not png.is_file():
            continue
        full = entry.get("full") or entry["png"]
        href = f"../interpret/{label}/{full if (folder / full).is_file() else entry['png']}"
        where = entry["group"] if entry["section"] == "perceptograms" else "electrodes"
        refs.append((where, FigureRef(png, f"{label} only: {entry['caption']}", full=href,
                                      scalp_px=entry.get("scalp_px"), group=label)))
    return refs, [f"{label}: {note}" for note in listing.get("notes", [])]


def _row_counts(run_dir: RunDir, subjects: list[int]) -> dict[str, Any]:
    """Subject label -> :class:`~perceptogram.report.RowCounts` of its test set.

    Reads only the test rows' image files and epoch counts of ``eeg.npz`` (the
    arrays of :func:`~perceptogram.pipeline.artifacts.save_eeg_features`), not
    the EEG itself.
    """
    counts = {}
    for s in subjects:
        with np.load(run_dir.unit_dir("features", s) / "eeg.npz", allow_pickle=False) as z:
            files = z["test_files"].tolist()
            reps = z["test_counts"] if "test_counts" in z else np.zeros(0)
        epochs = (int(np.min(reps)), int(np.max(reps))) if len(reps) else None
        counts[subject_label(s)] = RowCounts(len(files), len(set(files)), epochs)
    return counts


def _n_describer(counts: dict[str, Any], kind: str):
    """``n -> text`` saying what an N of the comparison table counts (rows or images)."""
    pooled = next((c for c in counts.values() if c.pooled), None)

    def describe(n: int) -> str:
        way = f" ({n}-way)" if kind == "retrieval" else ""
        if pooled is not None and n == pooled.rows:
            return (f"{n} test rows of {pooled.images} distinct images (each row scored; "
                    "rows of one image are not independent)")
        if pooled is not None and n == pooled.images:
            return (f"{n} distinct test images{way}; {pooled.rows} rows, those of one "
                    "image averaged")
        return f"{n} test images{way}"

    return describe


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _data_overview(run_dir: RunDir, counts: dict[str, Any]) -> tuple[list[dict], list[str]]:
    """Rows per subject and split (from ``data/dataset.json``), and the dataset's notes."""
    info = _read_json(run_dir.unit_dir("data") / "dataset.json")
    summary = info.get("summary") or {}
    table = []
    for entry in summary.get("subjects", []):
        subject = entry.get("subject")
        label = subject_label(subject) if isinstance(subject, int) else str(subject)
        for split in ("train", "test"):
            part = (entry.get("splits") or {}).get(split)
            if not part:
                continue
            reps = part.get("repetitions") or {}
            epochs = ((reps["min"], reps["max"], reps.get("total", "–"))
                      if "min" in reps and "max" in reps else None)
            images = (counts[label].images if split == "test" and label in counts else
                      summary.get(f"n_{split}_image_files", "–"))
            table.append({"subject": label, "split": split, "rows": part.get("n_images", "–"),
                          "images": images, "epochs": epochs,
                          "channels": len(entry.get("ch_names", [])) or "–"})
    notes = [str(n) for n in info.get("notes", [])]
    montage = summary.get("montage") or {}
    notes += [str(v) for k, v in montage.items() if k == "positions" and v]
    return table, notes


def _designs(run_dir: RunDir, subjects: list[int]
             ) -> tuple[list[Any], dict[str, dict[str, list[str]]]]:
    """Per subject its :class:`~perceptogram.report.DesignSummary`; the maps' notes.

    The notes (attribute -> subject label -> sentences) say, above a subject's
    maps of each collinear attribute, its VIF and the joint test's sentence
    (what the attribute goes with, the test's p, that these pictures cannot
    separate them).
    """
    designs, notes = [], {}
    for s in subjects:
        summary = _read_json(run_dir.unit_dir("interpret", s) / "summary.json")
        label = subject_label(s)
        trust = summary.get("semantic_labels") or {}
        skipped = {name: why for name, why in (summary.get("design_skipped") or {}).items()}
        for name, info in (summary.get("attributes") or {}).items():
            if isinstance(info, dict) and "skipped" in info:
                skipped.setdefault(name, info["skipped"])
        record = summary.get("collinearity")
        if not record:
            if trust or skipped:
                designs.append(DesignSummary(label, {}, 0.0, (), np.zeros((0, 0)),
                                             labels=trust.get("sentence", ""),
                                             skipped=skipped))
            continue
        sets = tuple(tuple(group) for group in record.get("collinear_sets", []))
        tests = tuple(record.get("joint_tests", []))
        designs.append(DesignSummary(
            label, dict(record.get("vif", {})), float(record.get("vif_threshold", 0.0)),
            tuple(record.get("columns", [])), np.asarray(record.get("correlation", []), float),
            sets, tests, trust.get("sentence", ""), skipped))
        vif = record.get("vif", {})
        threshold = record.get("vif_threshold", 0)
        for test in tests:
            for attribute in test.get("attributes", []):
                notes.setdefault(attribute, {}).setdefault(label, []).append(
                    f"Collinear: VIF of {attribute} {vif.get(attribute, float('nan')):.1f}, "
                    f"above {threshold:g}. {test.get('sentence', '')} Below, its partial map "
                    "(the other attributes held fixed) beside its marginal map (alone).")
    return designs, notes


def _data_units(run_dir: RunDir, subjects: list[int]) -> str:
    for s in subjects:
        path = run_dir.unit_dir("interpret", s) / "summary.json"
        if path.is_file():
            return str(json.loads(path.read_text(encoding="utf-8")).get("units", ""))
    return ""


def build_report(config: Config, run_dir: RunDir) -> Path:
    """Write the run-level tables and ``report/report.html``; return the page's path."""
    return write_report(report_content(config, run_dir),
                        run_dir.unit_dir("report") / "report.html")


def export_mne_report(config: Config, run_dir: RunDir) -> Path:
    """Write the report's content as an :class:`mne.Report`, ``report/report-mne.html``."""
    return write_mne_report(report_content(config, run_dir, write_tables=False),
                            run_dir.unit_dir("report") / "report-mne.html")


def report_content(config: Config, run_dir: RunDir, write_tables: bool = True) -> Any:
    """Gather what the report shows (and write the run-level tables).

    Parameters
    ----------
    config : Config
    run_dir : RunDir
    write_tables : bool
        Write ``report/metrics.*``, ``comparison_*.*`` and ``headline.json``
        (the report stage does; an export of the same content does not).

    Returns
    -------
    perceptogram.report.ReportContent
    """
    out = run_dir.unit_dir("report")
    subjects = run_subjects(config, run_dir)
    spaces = list(config.latents.spaces)
    rows = collect_metrics(run_dir, subjects, spaces)
    extra = evaluation_rows(config, run_dir, subjects)
    if write_tables:
        save_table(rows + extra, out / "metrics")
    dataset = _dataset_difference(run_dir)
    counts = _row_counts(run_dir, subjects)
    raw = _raw_cosine_rows(config, run_dir, subjects, rows)
    comparisons = {}
    for kind, title, table_rows in (
            ("reconstruction", "Reconstruction: this run beside published results",
             [r for r in rows if r.ok]),
            ("retrieval", "Zero-shot retrieval: this run beside published results",
             [r for r in rows if r.ok] + raw)):
        table = comparison_table(table_rows, kind=kind, dataset=dataset,
                                 n_text=_n_describer(counts, kind))
        if write_tables:
            save_comparison(table, out / f"comparison_{kind}")
        comparisons[title] = table
    evaluation = evaluation_report(config, run_dir, subjects, rows + extra,
                                   subjects[:MAX_SUBJECTS_SHOWN], _retrieval_space(config),
                                   dataset, write_tables)
    comparisons.update(evaluation.comparisons)
    lines = headline(config, run_dir, rows, counts)
    if write_tables:
        write_json_atomic(out / "headline.json", lines)

    notes = []
    if config.dataset.kind == "simulated":
        notes.append("Simulated dataset: the published rows are THINGS-EEG2 results "
                     "(200 test images, real EEG); they set the scale, they are not a "
                     "like-for-like comparison.")
    if config.decoder.rescale == "transductive":
        notes.append("Decoded latents were rescaled with the test batch's own statistics "
                      "(transductive, as in the reference code): this uses test-set "
                      "information.")
    if config.interpretability.preset == "paper":
        notes.append("Perceptograms follow the paper's recipe (interpretability.preset: "
                     "paper): decoded latents rescaled with the test batch's statistics, "
                     "groups chosen from decoded latents and unsupervised clusters: "
                     "transductive, for comparison with the publication only.")
    elif config.interpretability.method == "contrast":
        notes.append("Perceptograms are group contrasts (interpretability.method: "
                     "contrast): marginal effects, one attribute at a time, which absorb "
                     "the effects of correlated attributes.")
    notes += decoder_notes(config, run_dir, subjects)
    test_paths = run_image_paths(config, "test")
    shown = subjects[:MAX_SUBJECTS_SHOWN]
    if len(subjects) > len(shown):
        notes.append(f"Images and figures are shown for {len(shown)} of {len(subjects)} "
                     "subjects; every subject is in the tables and the artifacts.")
    key = config.metrics.best_worst_metric
    key = _METRIC_NAMES.get(key, key)
    reconstructions, retrievals = {}, {}
    for s in shown:
        _, test = load_eeg_features(run_dir.unit_dir("features", s) / "eeg.npz")
        paths = subject_rows(test_paths, test)
        truth = load_images(paths)  # the pictures s has, one per row
        count = counts[subject_label(s)]
        rows_of = (f"{len(truth)} test images" if not count.pooled else
                   f"{len(truth)} test rows ({count.images} distinct images)")
        k = _examples_per_rank(len(truth))
        for space, methods in reconstruction_spaces(config).items():
            for method in methods:
                title = (f"{subject_label(s)} · {reconstruction_method(config, method)}: the "
                         f"{k} best, {k} median and {k} worst of the {rows_of} by {key}")
                reconstructions[title] = _reconstruction_strips(
                    config, run_dir, s, space, method, truth,
                    "row" if count.pooled else "image")
        space = _retrieval_space(config)
        images = load_images(_distinct(paths)) if count.pooled else truth
        among = (f"{len(images)} test images" if not count.pooled else
                 f"{len(images)} distinct test images (the decoded latents of each image's "
                 "rows averaged)")
        retrievals[f"{subject_label(s)} · {space} latents: the 5 most similar of the "
                   f"{among} by cosine of standardised latents (outlined: the image that was "
                   "seen)"] = _retrieval_strips(config, run_dir, s, space, images)
    perceptograms: dict[str, list[Any]] = {}
    electrodes = []
    figure_notes: dict[str, list[str]] = {}
    for s in shown:
        refs, subject_notes = _figure_refs(run_dir, s)
        for where, ref in refs:
            if where == "electrodes":
                electrodes.append(ref)
            else:
                perceptograms.setdefault(where, []).append(ref)
        for note in subject_notes:
            label, text = note.split(": ", 1)
            figure_notes.setdefault(text, []).append(label)
    notes += [f"{', '.join(labels)}: {text}" for text, labels in figure_notes.items()]
    artifacts = [("all metrics (CSV)", "metrics.csv"), ("all metrics (JSON)", "metrics.json"),
                 ("reconstruction comparison (CSV)", "comparison_reconstruction.csv"),
                 ("retrieval comparison (CSV)", "comparison_retrieval.csv"),
                 ("configuration (YAML)", "../config.yaml"), ("timings (JSON)", "../timings.json"),
                 *evaluation.artifacts]
    for s in subjects:
        for space in spaces:
            artifacts.append((f"{subject_label(s)} {space} metrics (CSV)",
                              f"../evaluate/{subject_label(s)}/{space}/metrics.csv"))
        artifacts.append((f"{subject_label(s)} perceptogram summary (JSON)",
                          f"../interpret/{subject_label(s)}/summary.json"))
    data_table, data_notes = _data_overview(run_dir, counts)
    designs, attribute_notes = _designs(run_dir, shown)
    return ReportContent(
        title="Perceptogram run report",
        settings=config_to_dict(config),
        notes=notes,
        timings=_stage_seconds(run_dir),
        metrics=rows + extra,
        comparisons=comparisons,
        reconstructions=reconstructions,
        retrievals=retrievals,
        perceptograms=perceptograms,
        electrodes=electrodes,
        artifacts=artifacts,
        summary=lines,
        data_units=_data_units(run_dir, subjects),
        data_notes=data_notes,
        data_table=data_table,
        counts=counts,
        designs=designs,
        attribute_notes=attribute_notes,
        evaluation=evaluation.section,
    )
