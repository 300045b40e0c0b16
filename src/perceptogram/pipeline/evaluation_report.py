"""What the report shows of the ``reliability``, ``repetitions`` and ``cross-subject`` stages.

- :func:`evaluation_rows`: their metric rows (test-EEG reliability, each
  decoder's latent-r ceiling, the leave-one-subject-out decoders' scores), for
  ``metrics.csv`` and the metrics tables.
- :func:`evaluation_report`: the run-level tables (``within_across.{csv,json}``:
  within vs across without vs across with alignment, each beside its noise
  ceiling, mean ± SEM over subjects and chance; ``repetition_curve.{csv,json}``:
  every subject's curve), the comparison of the leave-one-subject-out rows with
  the published ones of the same protocol, and the report section (tables and
  figures: reliability over time, repetition curves).

Called by :mod:`perceptogram.pipeline.reporting`; reads only what those stages
wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perceptogram.config import Config
from perceptogram.evaluate.noise_ceiling import NO_CEILING, NO_CEILING_REASON
from perceptogram.evaluate.stats import mean_sem
from perceptogram.evaluate.tables import comparison_table, load_table, save_comparison, side_by_side
from perceptogram.pipeline.artifacts import read_rows, write_rows
from perceptogram.pipeline.plan import (
    cross_subject_method,
    cross_subject_protocols,
    latent_method,
)
from perceptogram.pipeline.rundir import RunDir, subject_label
from perceptogram.report import EvaluationSection, FigureRef, RecordTable

__all__ = ["EvaluationReport", "evaluation_report", "evaluation_rows"]

#: Metrics of the within / across table, in order.
TABLE_METRICS = ("top-1 (cosine)", "top-5 (cosine)", "latent two-way", "latent r")
#: Scores of the repetition curve, in order.
CURVE_METRICS = ("top-1", "top-5", "latent two-way", "latent r", "map r")
#: Title of the comparison of our leave-one-subject-out rows with the published ones.
ACROSS_COMPARISON = ("Zero-shot retrieval across subjects (leave-one-subject-out): this run "
                     "beside published results")


def evaluation_rows(config: Config, run_dir: RunDir, subjects: list[int]) -> list[Any]:
    """Metric rows of the ``reliability``, ``repetitions`` and ``cross-subject`` stages.

    Returns
    -------
    list of MetricRow
        Empty when the run's ``evaluation`` settings turned those stages off.
    """
    settings = config.evaluation
    folders = []
    if settings.noise_ceilings:
        folders += [run_dir.unit_dir("reliability", s) for s in subjects]
    if settings.noise_ceilings or settings.repetition_curve:
        folders += [run_dir.unit_dir("repetitions", s, space) for s in subjects
                    for space in config.latents.spaces]
    if cross_subject_protocols(config):
        folders += [run_dir.unit_dir("cross-subject", s) for s in subjects]
    return [row for folder in folders for row in load_table(folder / "metrics.json")]


@dataclass
class EvaluationReport:
    """The report's share of the evaluation stages.

    Attributes
    ----------
    section : perceptogram.report.EvaluationSection or None
    comparisons : dict of str to list of ComparisonRow
        Title -> our leave-one-subject-out rows beside the published ones.
    artifacts : list of tuple of (str, str)
        (label, href relative to the report) of the tables written.
    """

    section: Any = None
    comparisons: dict[str, list[Any]] = field(default_factory=dict)
    artifacts: list[tuple[str, str]] = field(default_factory=list)


def _methods(config: Config, space: str) -> dict[str, str]:
    """Column label -> method of the within / across table of one latent space."""
    methods = {"within-subject": latent_method(space)}
    for protocol in cross_subject_protocols(config):
        label = cross_subject_method(config, space, protocol).split(", ", 1)[1]
        methods[label] = cross_subject_method(config, space, protocol)
    return methods


def evaluation_report(config: Config, run_dir: RunDir, subjects: list[int], rows: list[Any],
                      shown: list[int], retrieval_space: str, dataset: str | None,
                      write_tables: bool = True) -> EvaluationReport:
    """Tables, comparison and report section of the evaluation stages.

    Parameters
    ----------
    config : Config
    run_dir : RunDir
    subjects : list of int
    rows : list of MetricRow
        Every row of the run (evaluate stage and :func:`evaluation_rows`).
    shown : list of int
        Subjects whose figures are shown.
    retrieval_space : str
        The latent space whose repetition curve the report shows.
    dataset : str or None
        What the rows were computed on when it is not THINGS-EEG2.
    write_tables : bool
        Write ``report/within_across.*``, ``repetition_curve.*`` and
        ``comparison_retrieval_across.*``.

    Returns
    -------
    EvaluationReport
    """
    settings = config.evaluation
    out = run_dir.unit_dir("report")
    result = EvaluationReport()
    protocols = cross_subject_protocols(config)
    if not (settings.noise_ceilings or settings.repetition_curve or protocols):
        return result
    tables, records = [], []
    for space in config.latents.spaces:
        methods = _methods(config, space)
        side = side_by_side(rows, methods, TABLE_METRICS)
        records += [{"space": space, **record} for record in side]
        if side:
            tables.append(_protocol_table(space, methods, side))
    if write_tables and records:
        write_rows(out / "within_across", records)
        result.artifacts.append(("within / across subjects with ceilings (CSV)",
                                 "within_across.csv"))
    if protocols:
        across = [r for r in rows if r.ok and any(
            r.method == cross_subject_method(config, space, p)
            for space in config.latents.spaces for p in protocols)]
        table = comparison_table(across, kind="retrieval", dataset=dataset,
                                 subject_protocol="leave-one-subject-out")
        result.comparisons[ACROSS_COMPARISON] = table
        if write_tables:
            save_comparison(table, out / "comparison_retrieval_across")
            result.artifacts.append(("leave-one-subject-out retrieval comparison (CSV)",
                                     "comparison_retrieval_across.csv"))
    if settings.repetition_curve:
        curves = [r for s in subjects for r in _curve_records(run_dir, s, retrieval_space)]
        if curves:
            tables.append(_curve_table(retrieval_space, curves))
        every = [r for s in subjects for space in config.latents.spaces
                 for r in _curve_records(run_dir, s, space)]
        if write_tables and every:
            write_rows(out / "repetition_curve", every)
            result.artifacts.append(("repetition curves, every subject and space (CSV)",
                                     "repetition_curve.csv"))
    notes = [(f"Noise ceilings: {NO_CEILING} for two-way identification and retrieval: "
             f"{NO_CEILING_REASON}.")] if settings.noise_ceilings else []
    if protocols:
        notes.append(
            "Leave-one-subject-out: each subject is decoded by ridge decoders fitted on the "
            "other subjects' training pictures only (folds keep a concept together across "
            "subjects; each subject standardised with its own training statistics); the "
            "aligned decoder maps every subject onto a shared space fitted on the training "
            "pictures, the held-out subject's map from its own training data only. Its test "
            "data enter no fit.")
    result.section = EvaluationSection(
        lead=("Every score beside what the test data allow (its noise ceiling), within "
              "subjects and, where the run asks for it, across subjects; and how the scores "
              "grow with the number of averaged test repetitions."),
        tables=tables, notes=notes,
        figures=[f for s in shown for f in _figures(config, run_dir, s, retrieval_space)])
    return result


def _protocol_table(space: str, methods: dict[str, str], records: list[dict]) -> Any:
    columns = [("metric", "metric"), ("chance", "chance"), ("n_way", "N")]
    for label in methods:
        columns += [(label, f"{label} (mean ± SEM)"), (f"{label} ceiling", "its ceiling")]
    cells = []
    for record in records:
        cell = {"metric": record["metric"], "chance": record["chance"],
                "n_way": record["n_way"]}
        for label in methods:
            cell[label] = (record[label], record[f"{label} SEM"])
            cell[f"{label} ceiling"] = (record["ceiling"] if record["ceiling"].startswith("no ")
                                        else (record[f"{label} ceiling"],
                                              record[f"{label} ceiling SEM"]))
        cells.append(cell)
    n = max(r["n_subjects"] for r in records)
    return RecordTable(
        title=f"{space} latents: within vs across subjects, each beside its noise ceiling",
        columns=columns, records=cells,
        note=(f"Means ± SEM over subjects ({n} subjects; per-subject values in metrics.csv). "
              "Ceiling: the latent r the decoder cannot exceed given the test-EEG noise "
              "(split halves of the test repetitions, Spearman-Brown)."))


def _curve_records(run_dir: RunDir, subject: int, space: str) -> list[dict[str, Any]]:
    stem = run_dir.unit_dir("repetitions", subject, space) / "curve"
    return read_rows(stem) if stem.with_suffix(".json").is_file() else []


def _curve_table(space: str, records: list[dict[str, Any]]) -> Any:
    """Mean ± SEM over subjects at the levels every subject has, and at "all" repetitions.

    Subjects may have different numbers of test repetitions (so different levels): a
    level only some subjects reach is left to the CSV, never averaged over fewer subjects
    in the same column; "all" is each subject's own last level.
    """
    subjects = sorted({r["subject"] for r in records})
    levels = {s: sorted({int(r["n_repetitions"]) for r in records if r["subject"] == s})
              for s in subjects}
    common = sorted(set.intersection(*(set(found[:-1]) for found in levels.values())))
    metrics = [m for m in CURVE_METRICS if any(r["metric"] == m for r in records)]
    cells = []
    for label in [*map(str, common), "all"]:
        at = [r for r in records if int(r["n_repetitions"]) == (
            levels[r["subject"]][-1] if label == "all" else int(label))]
        used = [float(r["mean_used"]) for r in at if r["metric"] == metrics[0]]
        cell: dict[str, Any] = {"n_repetitions": label,  # one count when all agree
                                "mean_used": (f"{used[0]:g}" if len(set(used)) == 1
                                              else mean_sem(used))}
        for metric in metrics:
            cell[metric] = mean_sem([r["value"] for r in at if r["metric"] == metric])
        cells.append(cell)
    columns = [("n_repetitions", "repetitions"), ("mean_used", "averaged per picture")]
    columns += [(m, m) for m in metrics]
    return RecordTable(
        title=f"{space} latents: scores against the number of averaged test repetitions",
        columns=columns, records=cells,
        note=(f"Means ± SEM over the {len(subjects)} subjects of each subject's mean over "
              "random draws of repetitions (within-subject decoders), at the levels every "
              "subject reaches and at all of each subject's repetitions. Per-subject values, "
              "every level and bootstrap bands over pictures and draws: repetition_curve.csv "
              "and the figures. map r: correlation of each picture's latent-filtered pattern "
              "with the all-repetition one (1 at all repetitions by construction)."))


def _figures(config: Config, run_dir: RunDir, subject: int, space: str) -> list[Any]:
    """One subject's reliability and repetition-curve figures (those the run drew)."""
    label = subject_label(subject)
    wanted = (config.evaluation.noise_ceilings, config.evaluation.repetition_curve)
    found = [
        (run_dir.unit_dir("reliability", subject) / "reliability.png",
         (f"{label} only: split-half reliability of the test EEG at every time sample (median "
         "over channels, band: range over channels; grey: decoding window)"),
         f"../reliability/{label}/reliability.png"),
        (run_dir.unit_dir("repetitions", subject, space) / "curve.png",
         (f"{label} only, {space} latents: scores against averaged test repetitions (bands: 95 "
         "% bootstrap over pictures and draws; dashed: chance)"),
         f"../repetitions/{label}/{space}/curve.png")]
    return [FigureRef(png, caption, full=href, group=label)
            for on, (png, caption, href) in zip(wanted, found) if on and png.is_file()]
