"""Tidy result rows, subject summaries and the comparison with published numbers.

One :class:`MetricRow` per subject × method × metric, saved as CSV and JSON and
printed as a rich table. :func:`summarize_subjects` gives mean ± SEM over
subjects; :func:`comparison_table` puts those means beside the published rows
(shipped in ``published.json`` with their source, scope and paper:
:func:`citations`). Every row carries its scope ("mean of 10 subjects",
"subject 8 only"), so a single-subject number is never presented as a mean, and
its N-way; our rows list how they were computed differently from the published
ones.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from perceptogram._io import write_json_atomic, write_text_atomic
from perceptogram.errors import DataFormatError
from perceptogram.evaluate.noise_ceiling import CEILING_METRICS, NO_CEILING
from perceptogram.evaluate.stats import mean_sem


@dataclass(frozen=True)
class MetricRow:
    """One metric of one method for one subject.

    Attributes
    ----------
    subject : int, str or None
        Subject identifier (``None`` when not given).
    method : str
        Decoding / reconstruction method, e.g. ``"perceptogram-unclip"``.
    metric : str
        Metric name, e.g. ``"PixCorr"``, ``"AlexNet(2)"``, ``"top-1 (cosine)"``.
    value : float
        Mean over images (NaN when skipped).
    ci_low, ci_high : float or None
        Bootstrap confidence interval over images.
    p_value : float or None
        Test against chance (identification and retrieval metrics only).
    n_images : int
        Number of test images.
    chance : float or None
        Chance level of the metric, where one exists.
    higher_is_better : bool
    status : str
        ``"ok"`` or ``"skipped: <reason>"``.
    notes : str
        How the value, interval and p-value were obtained.
    protocol : str
        Evaluation protocol (:mod:`perceptogram.evaluate.protocols`) the row was
        computed under; numbers under different protocols are not comparable.
        Latent-space rows carry the run's protocol too, though no protocol
        changes them.
    n_seeds : int
        Generation seeds the per-image scores were averaged over.
    """

    subject: int | str | None
    method: str
    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    n_images: int = 0
    chance: float | None = None
    higher_is_better: bool = True
    status: str = "ok"
    notes: str = ""
    protocol: str = ""
    n_seeds: int = 1

    @property
    def ok(self) -> bool:
        """Whether the metric was computed (not skipped)."""
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict (JSON-serialisable)."""
        return asdict(self)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: Column order of saved tables.
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(MetricRow))


@dataclass(frozen=True)
class SubjectSummary:
    """Mean ± SEM of one method's metric over subjects.

    Attributes
    ----------
    method, metric : str
    mean, sem : float
        Over the subjects where the metric ran; ``sem`` is NaN for one subject.
    subjects : tuple
        The subjects averaged.
    higher_is_better : bool
    chance : float or None
    status : str
        ``"ok"``, or the reason every subject skipped it.
    protocol : str
        Evaluation protocol of the rows summarised.
    """

    method: str
    metric: str
    mean: float
    sem: float
    subjects: tuple = ()
    higher_is_better: bool = True
    chance: float | None = None
    status: str = "ok"
    protocol: str = ""

    @property
    def n_subjects(self) -> int:
        """Number of subjects averaged."""
        return len(self.subjects)

    @property
    def scope(self) -> str:
        """``"mean of N subjects"`` or ``"subject X only"``."""
        if self.n_subjects == 1:
            return f"subject {self.subjects[0]} only"
        return f"mean of {self.n_subjects} subjects"


@dataclass(frozen=True)
class ComparisonRow:
    """One line of the comparison table: ours (mean ± SEM) or a published row.

    Attributes
    ----------
    method : str
    scope : str
        ``"mean of 10"``, ``"subject 8 only"``, ``"mean of 3 subjects"``...
    values : dict of str to float or None
        Metric → value (fractions, also for retrieval).
    sems : dict of str to float or None
        Metric → SEM over subjects (ours only).
    ours : bool
        Whether the row was computed here.
    secondary : bool
        Published number read from a third-party table.
    source : str
        Where a published number was read (``"this run"`` for ours).
    protocol : str
        Evaluation protocol (``""`` when the source does not state it; the
        scope names it too, so every renderer shows it).
    n_way : int or None
        Test images the row was computed on (retrieval: the N of N-way).
    cite : str
        Key of the paper in :func:`citations` (published rows).
    differences : tuple of str
        How the row was computed differently from the published rows (ours
        only; empty when like for like).
    """

    method: str
    scope: str
    values: dict[str, float | None]
    sems: dict[str, float | None] = field(default_factory=dict)
    ours: bool = False
    secondary: bool = False
    source: str = ""
    protocol: str = ""
    n_way: int | None = None
    cite: str = ""
    differences: tuple[str, ...] = ()


# --------------------------------------------------------------------------- save / load


def _csv_text(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if record.get(k) is None else record.get(k) for k in columns})
    return buffer.getvalue()


def save_table(rows: Iterable[MetricRow], path: str | os.PathLike) -> tuple[Path, Path]:
    """Save rows as ``<path>.csv`` and ``<path>.json`` (atomic writes).

    Parameters
    ----------
    rows : iterable of MetricRow
    path : path-like
        Destination without (or with either) suffix, e.g. ``run/metrics``.

    Returns
    -------
    csv_path, json_path : Path
    """
    records = [row.as_dict() for row in rows]
    base = Path(path)
    if base.suffix in (".csv", ".json"):
        base = base.with_suffix("")
    csv_path, json_path = base.with_suffix(".csv"), base.with_suffix(".json")
    write_text_atomic(csv_path, _csv_text(records, COLUMNS))
    write_json_atomic(json_path, [_json_safe(r) for r in records])
    return csv_path, json_path


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """Replace NaN by ``None`` so the JSON is standard."""
    return {
        k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()
    }


def load_table(path: str | os.PathLike) -> list[MetricRow]:
    """Read rows written by :func:`save_table` (the JSON file).

    Parameters
    ----------
    path : path-like
        The ``.json`` file, or the same base path given to :func:`save_table`.

    Returns
    -------
    rows : list of MetricRow
    """
    path = Path(path)
    if path.suffix != ".json":
        path = path.with_suffix(".json")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        return [
            MetricRow(**{**r, "value": math.nan if r["value"] is None else r["value"]})
            for r in records
        ]
    except (json.JSONDecodeError, TypeError, KeyError) as exc:
        raise DataFormatError(
            f"{path} is not a metrics table written by save_table: {exc}"
        ) from exc


# --------------------------------------------------------------------------- summaries


def summarize_subjects(rows: Iterable[MetricRow]) -> list[SubjectSummary]:
    """Mean ± SEM over subjects of every (method, metric).

    Skipped rows do not enter the mean; a metric skipped for every subject keeps
    the skip reason as its status.

    Parameters
    ----------
    rows : iterable of MetricRow
        Per-subject rows (one per subject × method × metric).

    Returns
    -------
    summaries : list of SubjectSummary
        In first-seen order of (method, metric, protocol): rows computed under
        different evaluation protocols are never averaged together.
    """
    groups: dict[tuple[str, str, str], list[MetricRow]] = {}
    for row in rows:
        groups.setdefault((row.method, row.metric, row.protocol), []).append(row)
    summaries = []
    for (method, metric, protocol), members in groups.items():
        subjects = [row.subject for row in members]
        if len(set(map(str, subjects))) != len(subjects):
            raise DataFormatError(
                f"{method} / {metric}{_under(protocol)} has several rows for one subject "
                f"({subjects}); "
                "give each evaluation its own subject"
            )
        ran = [row for row in members if row.ok and math.isfinite(row.value)]
        mean, sem = mean_sem([row.value for row in ran])
        summaries.append(
            SubjectSummary(
                method=method,
                metric=metric,
                mean=mean,
                sem=sem,
                subjects=tuple(row.subject for row in ran),
                higher_is_better=members[0].higher_is_better,
                chance=members[0].chance,
                status="ok" if ran else members[0].status,
                protocol=protocol,
            )
        )
    return summaries


def _under(protocol: str | None) -> str:
    return f" ({protocol} protocol)" if protocol else ""


def side_by_side(rows: Iterable[MetricRow], methods: Mapping[str, str],
                 metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Several methods' subject means side by side, each beside its noise ceiling.

    Parameters
    ----------
    rows : iterable of MetricRow
        Per-subject rows, including the ceiling rows
        (:data:`~perceptogram.evaluate.noise_ceiling.CEILING_METRICS`).
    methods : mapping of str to str
        Column label (e.g. ``"within-subject"``) -> method of the rows.
    metrics : sequence of str
        One record per metric any of the methods has.

    Returns
    -------
    list of dict
        ``metric``, ``chance``, ``n_way`` (test images, when all rows agree),
        ``n_subjects`` (most subjects of any method), ``ceiling`` (the ceiling
        metric, or :data:`~perceptogram.evaluate.noise_ceiling.NO_CEILING`), and
        for every label: ``<label>`` (mean over subjects), ``<label> SEM``,
        ``<label> subjects`` (how many), ``<label> ceiling`` and
        ``<label> ceiling SEM`` (None where no ceiling is derived or computed).
        Every value is a mean over subjects: per-subject values are in the rows.
    """
    rows = list(rows)
    summaries = {(s.method, s.metric): s for s in summarize_subjects(rows)}
    sizes: dict[str, set[int]] = {}
    for row in rows:
        if row.ok and row.method in methods.values():
            sizes.setdefault(row.metric, set()).add(row.n_images)
    records = []
    for metric in metrics:
        present = {label: summaries.get((method, metric)) for label, method in methods.items()}
        found = [s for s in present.values() if s is not None and s.status == "ok"]
        if not found:
            continue
        ceiling = CEILING_METRICS.get(metric)
        n_way = sizes.get(metric, set())
        record: dict[str, Any] = {
            "metric": metric, "chance": found[0].chance,
            "n_way": next(iter(n_way)) if len(n_way) == 1 else None,
            "n_subjects": max(s.n_subjects for s in found),
            "ceiling": ceiling or NO_CEILING}
        for label, summary in present.items():
            ok = summary is not None and summary.status == "ok"
            record[label] = summary.mean if ok else None
            record[f"{label} SEM"] = summary.sem if ok else None
            record[f"{label} subjects"] = summary.n_subjects if ok else 0
            bound = summaries.get((methods[label], ceiling)) if ceiling else None
            bound_ok = bound is not None and bound.status == "ok"
            record[f"{label} ceiling"] = bound.mean if bound_ok else None
            record[f"{label} ceiling SEM"] = bound.sem if bound_ok else None
        records.append(_json_safe(record))
    return records


# --------------------------------------------------------------------------- published


def published_results() -> dict[str, Any]:
    """The published THINGS-EEG2 numbers shipped with Perceptogram.

    Returns
    -------
    published : dict
        ``{"reconstruction": {...}, "retrieval": {...}, "notes": str}``; each
        section lists its ``metrics`` and ``rows`` with ``method``, ``scope``,
        ``n_subjects``, ``secondary`` (read from a third-party table),
        ``source`` and ``values``.
    """
    text = resources.files("perceptogram.evaluate").joinpath("published.json").read_text("utf-8")
    return json.loads(text)


def citations() -> dict[str, dict[str, Any]]:
    """The papers the published rows come from, by key (``ComparisonRow.cite``).

    Returns
    -------
    dict of str to dict
        Key → ``short`` (e.g. ``"Song et al., 2024"``), ``authors``, ``year``,
        ``title``, ``venue`` and, where one exists, ``arxiv`` and ``doi``.
    """
    return published_results()["citations"]


def citation_text(key: str) -> str:
    """One-line reference of a paper: authors (year). Title. Venue, arXiv id, DOI."""
    entry = citations()[key]
    parts = [f"{entry['authors']} ({entry['year']}). {entry['title']}. {entry['venue']}"]
    if entry.get("arxiv"):
        parts.append(f"arXiv {entry['arxiv']}")
    if entry.get("doi"):
        parts.append(f"doi {entry['doi']}")
    return ", ".join(parts) + "."


#: What our retrieval rows' notes say about how latents were compared.
_STANDARDISED = "standardised with the training latents' mean and SD"
_CENTRED = "centred on the training-latent mean"


def _differences(kind: str, section: dict[str, Any], n_way: int | None, notes: set[str],
                 protocol: str, dataset: str | None,
                 n_text: Callable[[int], str] | None = None) -> tuple[str, ...]:
    """How our rows differ from the published ones (nothing when like for like)."""
    out = []
    published_n = section.get("n_way", section.get("n_images"))
    if n_way is not None and published_n is not None and n_way != published_n:
        ours = (n_text(n_way) if n_text is not None else f"{n_way} test images"
                + (f" ({n_way}-way)" if kind == "retrieval" else ""))
        out.append(f"{ours}, published: {published_n} test images")
    if dataset is not None:
        out.append(f"{dataset}, published: THINGS-EEG2")
    if kind == "retrieval":
        if any(_STANDARDISED in n for n in notes):
            out.append("latents standardised with training statistics before the cosine; "
                       "published: raw cosine of embeddings")
        elif any(_CENTRED in n for n in notes):
            out.append("latents centred on the training mean before the cosine; "
                       "published: raw cosine of embeddings")
    elif not protocol:
        out.append("evaluation protocol not recorded")
    return tuple(out)


#: The subject protocols of published rows (``subject_protocol`` in ``published.json``;
#: a row without one is within-subject).
SUBJECT_PROTOCOLS = ("within-subject", "leave-one-subject-out")


def comparison_table(
    rows: Iterable[MetricRow] | Iterable[SubjectSummary], *, kind: str = "reconstruction",
    dataset: str | None = None, n_text: Callable[[int], str] | None = None,
    subject_protocol: str = "within-subject",
) -> list[ComparisonRow]:
    """Our subject means beside the published rows computed under the same protocol.

    Parameters
    ----------
    rows : iterable of MetricRow or SubjectSummary
        Per-subject rows (summarised here) or summaries.
    kind : {"reconstruction", "retrieval"}
        Which published table to compare with.
    dataset : str or None
        What our rows were computed on when it is not THINGS-EEG2 (e.g.
        ``"simulated EEG"``); recorded as a difference.
    n_text : callable or None
        Says what our N counts (``n -> "156 test rows of 8 distinct images"``)
        in the difference of N; default ``"N test images"`` (``"(N-way)"`` added
        for retrieval).
    subject_protocol : {"within-subject", "leave-one-subject-out"}
        The protocol our rows were computed under: only published rows of the
        same protocol are listed (a published row without ``subject_protocol``
        is within-subject). The caller passes rows of that protocol only.

    Returns
    -------
    table : list of ComparisonRow
        Our methods first (one row per method and protocol, scope from its
        subject count, ``n_way`` from its rows, ``differences`` from the
        published rows: N-way, data, latent standardisation, protocol), then
        the published rows with their ``cite`` key, on the published table's
        metrics. A published row whose protocol is known (the Perceptogram row:
        ``perceptogram``; ATM: ``mindeye``) is listed only when all our rows
        were computed under that protocol; rows whose source states no protocol
        are listed with "protocol not stated". Retrieval percentages are
        converted to fractions.
    """
    published = published_results()
    if kind not in ("reconstruction", "retrieval"):
        raise ValueError(f"kind must be 'reconstruction' or 'retrieval'; got {kind!r}")
    if subject_protocol not in SUBJECT_PROTOCOLS:
        raise ValueError(f"subject_protocol must be one of {SUBJECT_PROTOCOLS}; got "
                         f"{subject_protocol!r}")
    section = published[kind]
    metrics = section["metrics"]
    rows = list(rows)
    summaries = rows if rows and isinstance(rows[0], SubjectSummary) else summarize_subjects(rows)
    table: list[ComparisonRow] = []
    by_method: dict[tuple[str, str], list[SubjectSummary]] = {}
    for summary in summaries:
        if summary.metric in metrics and summary.status == "ok":
            by_method.setdefault((summary.method, summary.protocol), []).append(summary)
    sizes: dict[tuple[str, str], set[int]] = {}
    notes: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        if isinstance(row, MetricRow) and row.metric in metrics and row.ok:
            sizes.setdefault((row.method, row.protocol), set()).add(row.n_images)
            notes.setdefault((row.method, row.protocol), set()).add(row.notes)
    for (method, protocol), items in by_method.items():
        n_ways = sizes.get((method, protocol), set())
        n_way = n_ways.pop() if len(n_ways) == 1 else None
        scopes = {s.scope for s in items}
        scope = scopes.pop() if len(scopes) == 1 else "varies by metric: " + "; ".join(
            f"{s.metric}: {s.scope}" for s in items)
        table.append(
            ComparisonRow(
                method=method,
                scope=scope + (_protocol_note(protocol) if kind == "reconstruction" else ""),
                values={m: next((s.mean for s in items if s.metric == m), None) for m in metrics},
                sems={m: next((s.sem for s in items if s.metric == m), None) for m in metrics},
                ours=True,
                source="this run",
                protocol=protocol,
                n_way=n_way,
                differences=_differences(kind, section, n_way,
                                         notes.get((method, protocol), set()), protocol,
                                         dataset, n_text),
            )
        )
    ours = {protocol for _, protocol in by_method}
    scale = 0.01 if section.get("unit") == "percent" else 1.0
    for entry in section["rows"]:
        if entry.get("subject_protocol", SUBJECT_PROTOCOLS[0]) != subject_protocol:
            continue  # trained and tested under another subject protocol
        protocol = entry.get("protocol") or ""
        if protocol and ours and ours != {protocol}:
            continue  # computed under another protocol: not comparable with ours
        table.append(
            ComparisonRow(
                method=entry["method"],
                scope=entry["scope"] + (_protocol_note(protocol) if kind == "reconstruction"
                                        else ""),
                values={m: entry["values"].get(m) * scale if m in entry["values"] else None
                        for m in metrics},
                ours=False,
                secondary=bool(entry.get("secondary", False)),
                source=entry["source"],
                protocol=protocol,
                n_way=section.get("n_way", section.get("n_images")),
                cite=entry.get("cite", ""),
            )
        )
    return table


def _protocol_note(protocol: str) -> str:
    return f" · {protocol} protocol" if protocol else " · protocol not stated"


def comparison_records(table: Sequence[ComparisonRow]) -> list[dict[str, Any]]:
    """Flatten a comparison table into records (one column per metric, plus ``<metric> sem``)."""
    records = []
    for row in table:
        record: dict[str, Any] = {"method": row.method, "scope": row.scope,
                                  "protocol": row.protocol, "n_way": row.n_way,
                                  "ours": row.ours, "secondary": row.secondary,
                                  "source": row.source,
                                  "citation": citation_text(row.cite) if row.cite else "",
                                  "differences": "; ".join(row.differences)}
        for metric, value in row.values.items():
            record[metric] = value
            if row.ours:
                record[f"{metric} sem"] = row.sems.get(metric)
        records.append(_json_safe(record))
    return records


def save_comparison(table: Sequence[ComparisonRow], path: str | os.PathLike) -> tuple[Path, Path]:
    """Save a comparison table as ``<path>.csv`` and ``<path>.json`` (atomic writes)."""
    records = comparison_records(table)
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    base = Path(path)
    if base.suffix in (".csv", ".json"):
        base = base.with_suffix("")
    csv_path, json_path = base.with_suffix(".csv"), base.with_suffix(".json")
    write_text_atomic(csv_path, _csv_text(records, columns))
    write_json_atomic(json_path, records)
    return csv_path, json_path


# --------------------------------------------------------------------------- printing


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def _fmt_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "—"
    if p == 0.0:  # below floating-point range (e.g. an exact binomial tail)
        return "<1e-300"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def print_table(rows: Iterable[MetricRow], console: Any = None, title: str = "Evaluation") -> None:
    """Print per-subject rows as a rich table (skipped metrics show their reason).

    Parameters
    ----------
    rows : iterable of MetricRow
    console : rich.console.Console or None
        Where to print (default: a new console on stdout).
    title : str
    """
    from rich.console import Console
    from rich.table import Table

    table = Table(title=_cell(title))
    for name in ("subject", "method", "metric", "value", "CI", "p", "chance", "n", "protocol",
                 "status"):
        table.add_column(name, justify="right" if name in ("value", "p", "chance", "n") else "left")
    reasons: dict[str, int] = {}  # skip reason -> footnote number
    for row in rows:
        arrow = "" if row.higher_is_better else " ↓"
        ci = "—" if row.ci_low is None else f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"
        status = row.status
        if not row.ok:
            reason = row.status.removeprefix("skipped: ")
            status = f"skipped [{reasons.setdefault(reason, len(reasons) + 1)}]"
        table.add_row(*map(_cell, (
            row.subject if row.subject is not None else "—", row.method, row.metric + arrow,
            _fmt(row.value), ci, _fmt_p(row.p_value), _fmt(row.chance), row.n_images,
            (row.protocol or "—") + (f" ×{row.n_seeds} seeds" if row.n_seeds > 1 else ""),
            status,
        )))
    console = console or Console()
    console.print(table)
    for reason, number in reasons.items():
        console.print(_cell(f"[{number}] {reason}"))


def print_comparison(
    table: Sequence[ComparisonRow], console: Any = None, title: str = "Comparison with published"
) -> None:
    """Print a comparison table: ours as mean ± SEM with its scope, published rows with theirs.

    Parameters
    ----------
    table : sequence of ComparisonRow
    console : rich.console.Console or None
    title : str
    """
    from rich.console import Console
    from rich.table import Table

    metrics = list(table[0].values) if table else []
    out = Table(title=_cell(title), caption="* secondary: read from a third-party table; "
                "† computed differently from the published rows (see the report)")
    out.add_column("method")
    out.add_column("scope")
    out.add_column("N", justify="right")
    for metric in metrics:
        out.add_column(_cell(metric), justify="right")
    for row in table:
        cells = []
        for metric in metrics:
            value, sem = row.values.get(metric), row.sems.get(metric)
            cell = _fmt(value)
            if row.ours and sem is not None and not math.isnan(sem) and cell != "—":
                cell += f" ± {_fmt(sem)}"
            cells.append(cell)
        name = (row.method + (" *" if row.secondary else "") + (" †" if row.differences else "")
                + (" (ours)" if row.ours else f" ({citations()[row.cite]['short']})"
                   if row.cite else ""))
        out.add_row(*map(_cell, (name, row.scope, "—" if row.n_way is None else row.n_way,
                                 *cells)))
    (console or Console()).print(out)


def _cell(value: Any) -> Any:
    """Text from data for the terminal: no rich markup, no control characters."""
    from rich.text import Text

    return Text(_CONTROL.sub("?", str(value)))
