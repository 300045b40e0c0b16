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
from perceptogram.pipeline.artifacts import load_eeg_features, load_pngs, read_rows
from perceptogram.pipeline.rundir import RunDir, subject_label
from perceptogram.pipeline.plan import (
    STAGE_NAMES,
    latent_method,
    reconstruction_folder,
    reconstruction_method,
    reconstruction_spaces,
    run_subjects,
)

__all__ = ["build_report", "export_mne_report", "report_content", "headline",
           "collect_metrics"]

#: Subjects whose images and figures are shown (all subjects are in the tables).
MAX_SUBJECTS_SHOWN = 3
#: Display names of the per-image metrics that pick the best and worst images.
_METRIC_NAMES = {"pixcorr": "PixCorr", "ssim": "SSIM"}


def collect_metrics(run_dir: RunDir, subjects: list[int], spaces: list[str]) -> list[Any]:
    """Every subject's metric rows (:class:`perceptogram.evaluate.tables.MetricRow`)."""
    from perceptogram.evaluate.tables import load_table

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


def headline(config: Config, run_dir: RunDir, rows: list[Any]) -> list[str]:
    """Three sentences: retrieval vs chance, PixCorr/SSIM, the strongest perceptogram."""
    subjects = run_subjects(config, run_dir)
    n_sub = f"mean of {len(subjects)} subject{'s' * (len(subjects) != 1)}"
    space = _retrieval_space(config)
    top1, chance1 = _mean(rows, latent_method(space), "top-1 (cosine)")
    top5, chance5 = _mean(rows, latent_method(space), "top-5 (cosine)")
    n_test = next((r.n_images for r in rows if r.method == latent_method(space)), 0)
    lines = [f"Retrieval ({n_test}-way zero-shot, {space} latents standardised with training "
             f"statistics, {n_sub}): top-1 {100 * top1:.1f} % (chance {100 * (chance1 or 0):.1f} "
             f"%), top-5 {100 * top5:.1f} % (chance {100 * (chance5 or 0):.1f} %)."]
    low_level = [m for m in ("pca", "retrieval", "unclip") if m in config.reconstruction.methods]
    parts = []
    for method in low_level:
        name = reconstruction_method(config, method)
        pix, _ = _mean(rows, name, "PixCorr")
        ssim, _ = _mean(rows, name, "SSIM")
        parts.append(f"{name}: PixCorr {pix:.3f}, SSIM {ssim:.3f}")
    n_images = next((r.n_images for r in rows if r.metric == "PixCorr"), n_test)
    lines.append(f"Reconstruction ({n_sub}, {n_images} test images; PixCorr: Pearson r of "
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
                f"maps, {n_sub}), but collinear attributes do together. " + " ".join(joint))
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
                           method: str, truth: np.ndarray) -> list[Any]:
    from perceptogram.report import ImageStrip

    key = config.metrics.best_worst_metric
    name = _METRIC_NAMES.get(key, key)
    per_image = [r for r in read_rows(run_dir.unit_dir("evaluate", subject, space) / "per_image")
                 if r["method"] == method]
    order = sorted(range(len(per_image)), key=lambda i: -per_image[i][key])
    n = len(order)
    k = min(3, max(1, n // 3))
    picks = order[:k] + order[n // 2 - k // 2: n // 2 - k // 2 + k] + order[n - k:]
    labels = ["best"] * k + ["median"] * k + ["worst"] * k
    recons = load_pngs(reconstruction_folder(config, run_dir, subject, space, method), picks)
    captions = [f"{lab} · {name} {per_image[i][key]:.2f}" for lab, i in zip(labels, picks)]
    return [ImageStrip("seen", truth[picks], captions=[f"test image #{i}" for i in picks]),
            ImageStrip("reconstructed", recons, captions=captions)]


def _retrieval_strips(run_dir: RunDir, subject: int, space: str, truth: np.ndarray,
                      n_examples: int = 4) -> list[Any]:
    from perceptogram.report import ImageStrip

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
    from perceptogram.evaluate.metrics import retrieval_ranks
    from perceptogram.evaluate.stats import binomial_pvalue
    from perceptogram.evaluate.tables import MetricRow
    from perceptogram.pipeline.datasource import pool_by_image, run_image_paths, subject_rows

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
    from perceptogram.pipeline.attribute_map_figures import read_figure_list
    from perceptogram.report import FigureRef

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


def _data_units(run_dir: RunDir, subjects: list[int]) -> str:
    for s in subjects:
        path = run_dir.unit_dir("interpret", s) / "summary.json"
        if path.is_file():
            return str(json.loads(path.read_text(encoding="utf-8")).get("units", ""))
    return ""


def build_report(config: Config, run_dir: RunDir) -> Path:
    """Write the run-level tables and ``report/report.html``; return the page's path."""
    from perceptogram.report import write_report

    return write_report(report_content(config, run_dir),
                        run_dir.unit_dir("report") / "report.html")


def export_mne_report(config: Config, run_dir: RunDir) -> Path:
    """Write the report's content as an :class:`mne.Report`, ``report/report-mne.html``."""
    from perceptogram.report import write_mne_report

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
    from perceptogram.data.core.image_files import load_images
    from perceptogram.pipeline.datasource import run_image_paths, subject_rows
    from perceptogram.evaluate.tables import comparison_table, save_comparison, save_table
    from perceptogram.pipeline.evaluation_report import evaluation_report, evaluation_rows
    from perceptogram.report import ReportContent

    out = run_dir.unit_dir("report")
    subjects = run_subjects(config, run_dir)
    spaces = list(config.latents.spaces)
    rows = collect_metrics(run_dir, subjects, spaces)
    extra = evaluation_rows(config, run_dir, subjects)
    if write_tables:
        save_table(rows + extra, out / "metrics")
    dataset = _dataset_difference(run_dir)
    raw = _raw_cosine_rows(config, run_dir, subjects, rows)
    comparisons = {}
    for kind, title, table_rows in (
            ("reconstruction", "Reconstruction: this run beside published results",
             [r for r in rows if r.ok]),
            ("retrieval", "Zero-shot retrieval: this run beside published results",
             [r for r in rows if r.ok] + raw)):
        table = comparison_table(table_rows, kind=kind, dataset=dataset)
        if write_tables:
            save_comparison(table, out / f"comparison_{kind}")
        comparisons[title] = table
    evaluation = evaluation_report(config, run_dir, subjects, rows + extra,
                                   subjects[:MAX_SUBJECTS_SHOWN], _retrieval_space(config),
                                   dataset, write_tables)
    comparisons.update(evaluation.comparisons)
    lines = headline(config, run_dir, rows)
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
        truth = load_images(subject_rows(test_paths, test))  # the pictures s has
        for space, methods in reconstruction_spaces(config).items():
            for method in methods:
                title = (f"{subject_label(s)} · {reconstruction_method(config, method)}: the "
                         f"3 best, 3 median and 3 worst of the {len(truth)} test images by "
                         f"{key}")
                reconstructions[title] = _reconstruction_strips(config, run_dir, s, space,
                                                                method, truth)
        space = _retrieval_space(config)
        retrievals[f"{subject_label(s)} · {space} latents: the 5 most similar of the "
                   f"{len(truth)} test images by cosine of standardised latents (outlined: "
                   "the image that was seen)"] = _retrieval_strips(run_dir, s, space, truth)
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
        evaluation=evaluation.section,
    )
