"""Render a run's results as one self-contained HTML page.

The page embeds every image as a base64 ``data:`` URI and carries its CSS inline,
so it opens offline from disk and can be mailed as one file. Links to the CSV/JSON
artifacts and to the full-size figure files are relative to the page. This module
only renders: what goes into the page is gathered by the pipeline into a
:class:`~perceptogram.report.content.ReportContent`.

Every number is labelled: metric tables give each metric's unit, chance level
and N-way (and whether N counts test rows or distinct images), and link the
metric to the glossary at the end of the page; comparison rows computed
differently from the published ones are marked (†) with the differences
listed, and published rows cite their paper. What the run was told about its
data (dataset notes, label confidence, attributes left out) and how the
pictures' attributes go together (VIF, correlation matrix, joint tests) are
shown beside the maps they qualify. Every text from the data is escaped.
"""

from __future__ import annotations

import base64
import io
import os
import re
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from perceptogram import __version__
from perceptogram._io import write_text_atomic
from perceptogram._text import for_html
from perceptogram.evaluate.tables import citation_text, citations, summarize_subjects
from perceptogram.report.content import (
    DesignSummary,
    EvaluationSection,
    FigureRef,
    ImageStrip,
    RecordTable,
    ReportContent,
)
from perceptogram.report.glossary import GLOSSARY, glossary_anchor, metric_unit, n_way_text

__all__ = [
    "attribute_notes_html",
    "headline_html",
    "render_report",
    "report_sections",
    "write_report",
    "png_data_uri",
]

#: Per-subject columns shown in a metrics table; beyond, the CSV has them.
MAX_SUBJECT_COLUMNS = 10


def png_data_uri(image: np.ndarray | bytes) -> str:
    """A ``data:image/png;base64,...`` URI of a uint8 RGB image or of PNG bytes.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3), or bytes
        Pixels, or an already-encoded PNG file.
    """
    if isinstance(image, bytes):
        data = image
    else:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
        data = buffer.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _e(text: Any) -> str:
    return for_html(text)


def _fmt(value: float | None) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.3f}"


def _metric_link(metric: str, chance: float | None = None, higher: bool = True) -> str:
    anchor = glossary_anchor(metric, chance, higher)
    arrow = "" if higher else " ↓"
    if not anchor:
        return _e(metric + arrow)
    return f'<a href="#glossary-{anchor}">{_e(metric + arrow)}</a>'


def _subject_label(subject: Any) -> str:
    return f"sub-{subject:02d}" if isinstance(subject, int) else str(subject)


def _counted(content: ReportContent, n: int) -> str:
    """What an N of ``n`` counts: ``"images"``, ``"rows"`` or ``"distinct images"``."""
    pooled = [c for c in content.counts.values() if c.pooled]
    if any(n == c.rows for c in pooled):
        return "rows"
    if any(n == c.images for c in pooled):
        return "distinct images"
    return "images"


def _n_text(content: ReportContent, metric: str, n: int, chance: float | None) -> str:
    return n_way_text(metric, n, chance, _counted(content, n))


def _rows_note(content: ReportContent) -> str:
    """What N counts when several test rows show one image (empty otherwise)."""
    pooled = {label: c for label, c in content.counts.items() if c.pooled}
    if not pooled:
        return ""
    sets = "; ".join(f"{label}: {c.describe()}" for label, c in pooled.items())
    return ('<p class="note" id="rows-note">N counts test rows or distinct images: several '
            f"test rows show the same image ({_e(sets)}). Retrieval and the latent metrics "
            "compare distinct images (the decoded latents of one image's rows averaged); "
            "PixCorr, SSIM and the feature-network metrics score the reconstruction of every "
            'row, and rows of one image are not independent samples (<a href="#glossary-'
            'rows">rows and distinct images</a>).</p>')


def _metrics_section(content: ReportContent) -> str:
    rows = [row for row in content.metrics if row.ok]
    if not rows:
        return "<p>No metrics were computed.</p>"
    subjects = sorted({row.subject for row in rows}, key=str)
    shown = subjects if len(subjects) <= MAX_SUBJECT_COLUMNS else []
    value = {(row.subject, row.method, row.metric, row.protocol): row.value for row in rows}
    n_images = {(row.method, row.metric, row.protocol): row.n_images for row in rows}
    by_method: dict[str, list[Any]] = {}
    for summ in summarize_subjects(rows):
        by_method.setdefault(summ.method, []).append(summ)
    out = ['<p class="lead">One table per method. Each row is one metric: its unit, its '
           'chance level, N (how many test images each decoded vector was compared '
           'against), the value of every subject and the mean ± SEM over subjects. Metric '
           'names link to the <a href="#glossary">glossary</a>.'
           + ("" if shown else f" Per-subject values: metrics.csv ({len(subjects)} "
              "subjects).") + "</p>" + _rows_note(content)]
    for method, summaries in by_method.items():
        heads = "".join(f'<th class="subject" data-subject="{_e(s)}">'
                        f"{_e(_subject_label(s))}</th>" for s in shown)
        out.append(f'<h3>{_e(method)}</h3><table class="metrics" data-method="{_e(method)}">'
                   '<thead><tr><th class="label">metric</th><th class="label">unit</th>'
                   '<th><a href="#glossary-n-way">chance</a></th>'
                   '<th><a href="#glossary-n-way">N</a></th>'
                   f'{heads}<th><a href="#glossary-sem">mean ± SEM</a></th>'
                   '</tr></thead><tbody>')
        for summ in summaries:
            n = n_images.get((summ.method, summ.metric, summ.protocol), 0)
            cells = "".join(
                f"<td>{_fmt(value.get((s, summ.method, summ.metric, summ.protocol)))}</td>"
                for s in shown)
            sem = "" if not np.isfinite(summ.sem) else f" ± {_fmt(summ.sem)}"
            on_images = not summ.metric.startswith(("latent", "top-"))  # protocol-dependent
            protocol = f" ({summ.protocol} protocol)" if summ.protocol and on_images else ""
            unit = metric_unit(summ.metric, summ.chance, summ.higher_is_better)
            out.append(
                f'<tr class="metric-row"><td class="label">'
                f"{_metric_link(summ.metric, summ.chance, summ.higher_is_better)}"
                f"{_e(protocol)}</td>"
                f'<td class="label">{_e(unit)}</td>'
                f"<td>{_fmt(summ.chance)}</td>"
                f"<td>{_e(_n_text(content, summ.metric, n, summ.chance))}</td>{cells}"
                f'<td class="mean">{_fmt(summ.mean)}{sem}</td></tr>')
        out.append("</tbody></table>")
    skipped = sorted({f"{r.metric} ({r.status})" for r in content.metrics if not r.ok})
    if skipped:
        out.append('<p class="note">Not computed here: ' + _e("; ".join(skipped)) + "</p>")
    return "".join(out)


def _comparison_section(content: ReportContent) -> str:
    cited = list(dict.fromkeys(r.cite for rows in content.comparisons.values()
                               for r in rows if r.cite))
    tables = [_comparison_table(content, title, rows, cited)
              for title, rows in content.comparisons.items()]
    if not any(tables):
        return ""
    papers = citations()
    listed = [*cited, *(["things-eeg2"] if "things-eeg2" not in cited else [])]
    refs = "".join(f'<li id="ref-{_e(key)}">{_e(citation_text(key))}</li>'
                   for key in listed if key in papers)
    return ("".join(tables)
            + '<p class="lead">† computed differently from the published rows (listed '
              'under the row); * secondary: read from a third-party comparison table, not '
              "from the method's own paper. Published rows are THINGS-EEG2 results "
              f'(<a href="#ref-things-eeg2">{_e(papers["things-eeg2"]["short"])} '
              f'[{listed.index("things-eeg2") + 1}]</a>).</p>'
            + (f'<h3 id="references">References</h3><ol class="references">{refs}</ol>'
               if refs else ""))


def _comparison_table(content: ReportContent, title: str, comparison: Sequence[Any],
                      cited: Sequence[str]) -> str:
    """One comparison table; ``cited`` numbers the papers as the reference list does."""
    if not comparison:
        return ""
    papers = citations()
    metrics = list(comparison[0].values)
    top_k = [int(m[4:].split()[0]) for m in metrics if glossary_anchor(m) == "retrieval"]

    def head(metric: str) -> str:
        unit = metric_unit(metric)
        chance = " · chance 0.5" if glossary_anchor(metric) == "two-way" else ""
        return f"<th>{_metric_link(metric)}<br><small>{_e(unit + chance)}</small></th>"

    out = [f'<h3>{_e(title)}</h3><table class="comparison"><thead><tr>'
           '<th class="label">method</th><th class="label">scope</th>'
           '<th><a href="#glossary-n-way">N</a></th>'
           + ('<th><a href="#glossary-n-way">chance</a><br><small>'
              + _e(" / ".join(f"top-{k}" for k in top_k)) + "</small></th>" if top_k else "")
           + "".join(head(m) for m in metrics)
           + '<th class="label">source</th></tr></thead><tbody>']
    for row in comparison:
        cells = []
        for m in metrics:
            sem = row.sems.get(m) if row.ours else None
            text = _fmt(row.values.get(m))
            if sem is not None and np.isfinite(sem):
                text += f"<br><small>± {_fmt(sem)}</small>"
            cells.append(f'<td class="num">{text}</td>')
        kind = "mean-row" if row.ours else "published-row"
        mark = " †" if row.differences else ""
        star = " *" if row.secondary else ""
        if row.cite and row.cite in papers:
            number = cited.index(row.cite) + 1
            source = (f'<a href="#ref-{_e(row.cite)}">{_e(papers[row.cite]["short"])} '
                      f"[{number}]</a>, {_e(papers[row.cite]['venue'])}<br>"
                      f"<small>{_e(row.source)}</small>")
        else:
            source = _e(row.source)
        n_way = "–" if row.n_way is None else f"{row.n_way}"
        if row.ours and row.n_way:
            n_way += {"rows": " rows", "distinct images": " distinct images"}.get(
                _counted(content, row.n_way), "")
        chance = ""
        if top_k:
            chance = "<td>" + (" / ".join(f"{k / row.n_way:.3f}" for k in top_k)
                               if row.n_way else "–") + "</td>"
        out.append(f'<tr class="{kind}" data-n-way="{_e(row.n_way or "")}">'
                   f'<td class="label">{_e(row.method)}{_e(star)}{_e(mark)}</td>'
                   f'<td class="label">{_e(row.scope)}</td><td>{_e(n_way)}</td>{chance}'
                   f'{"".join(cells)}<td class="label source">{source}</td></tr>')
        if row.differences:
            span = len(metrics) + 4 + bool(top_k)
            out.append(f'<tr class="differences"><td class="label" colspan="{span}">'
                       f"† differs from the published rows: {_e('; '.join(row.differences))}"
                       "</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _record_cell(value: Any) -> str:
    if isinstance(value, tuple):
        mean, sem = value
        if mean is None or not np.isfinite(mean):
            return "–"
        sem_text = "" if sem is None or not np.isfinite(sem) else f" ± {_fmt(sem)}"
        return f"{_fmt(mean)}{sem_text}"
    if isinstance(value, str):
        return _e(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value)}"
    return _fmt(value)


def _record_table(table: RecordTable) -> str:
    heads = "".join(f"<th>{_e(heading)}</th>" for _, heading in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_record_cell(record.get(key))}</td>"
                         for key, _ in table.columns) + "</tr>"
        for record in table.records)
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return (f'<h3>{_e(table.title)}</h3><table class="records"><thead><tr>{heads}</tr>'
            f"</thead><tbody>{body}</tbody></table>{note}")


def _evaluation_section(section: EvaluationSection) -> str:
    return (f'<p class="lead">{_e(section.lead)}</p>'
            + "".join(_record_table(table) for table in section.tables)
            + "".join(f'<p class="note">{_e(note)}</p>' for note in section.notes)
            + _figures(section.figures))


def _strips(strips: Sequence[ImageStrip]) -> str:
    out = []
    for strip in strips:
        cells = []
        for i, image in enumerate(strip.images):
            caption = strip.captions[i] if i < len(strip.captions) else ""
            hit = ' class="hit"' if i < len(strip.highlight) and strip.highlight[i] else ""
            cells.append(f'<span class="pair"><img{hit} src="{png_data_uri(image)}" '
                         f'alt="{_e(strip.label)} {i}"><span>{_e(caption)}</span></span>')
        out.append(f'<div class="row"><span class="tag">{_e(strip.label)}</span>'
                   + "".join(cells) + "</div>")
    return "".join(out)


def _figures(figures: Sequence[FigureRef], notes: dict[str, str] | None = None) -> str:
    """Figures with captions and full-size links, folded by group after the first.

    ``notes``: group -> HTML shown at the top of that group (above its figures).
    """
    notes = notes or {}
    groups: list[tuple[str, list[FigureRef]]] = []
    for fig in figures:
        if not groups or groups[-1][0] != fig.group:
            groups.append((fig.group, []))
        groups[-1][1].append(fig)
    shown = {group for group, _ in groups}
    out = [html for group, html in notes.items() if group not in shown]
    for k, (group, members) in enumerate(groups):
        body = notes.get(group, "") + "".join(_figure(fig) for fig in members)
        if not group:
            out.append(body)
            continue
        count = f"{len(members)} figure{'s' * (len(members) != 1)}"
        out.append(f'<details class="subject"{" open" if k == 0 else ""}>'
                   f"<summary>{_e(group)} ({count})</summary>{body}</details>")
    return "".join(out)


def _figure(fig: FigureRef) -> str:
    uri = png_data_uri(Path(fig.path).read_bytes())
    scalp = "" if fig.scalp_px is None else f' data-scalp-px="{fig.scalp_px:.1f}"'
    image = f'<img src="{uri}" alt="{_e(fig.caption)}"{scalp}>'
    link = ""
    if fig.full:
        kind = Path(fig.full).suffix.lstrip(".").upper()
        image = f'<a href="{_e(fig.full)}" title="open full size">{image}</a>'
        link = f' <a class="full" href="{_e(fig.full)}">Full size ({_e(kind)})</a>'
    return f"<figure>{image}<figcaption>{_e(fig.caption)}{link}</figcaption></figure>"


def _data_section(content: ReportContent) -> str:
    """Rows and images per subject and split, and what reading the dataset noted."""
    out = []
    if content.data_table:
        rows = []
        for entry in content.data_table:
            epochs = entry.get("epochs")
            per_row = "–" if not epochs else (
                f"{epochs[0]}" if epochs[0] == epochs[1] else f"{epochs[0]}–{epochs[1]}")
            total = "–" if not epochs else f"{epochs[2]}"
            rows.append(f'<tr><td class="label">{_e(entry["subject"])}</td>'
                        f'<td class="label">{_e(entry["split"])}</td>'
                        f'<td>{_e(entry["rows"])}</td><td>{_e(entry["images"])}</td>'
                        f"<td>{_e(per_row)}</td><td>{_e(total)}</td>"
                        f'<td>{_e(entry.get("channels", "–"))}</td></tr>')
        out.append('<table id="data-table"><thead><tr><th class="label">subject</th>'
                   '<th class="label">split</th><th><a href="#glossary-rows">rows</a></th>'
                   "<th>distinct images</th><th>epochs per row</th><th>epochs</th>"
                   f'<th>channels</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    if content.data_notes:
        items = "".join(f"<li>{_e(note)}</li>" for note in content.data_notes)
        out.append('<h3>What reading the data noted</h3>'
                   f'<ul class="data-notes" id="data-notes">{items}</ul>')
    return "".join(out)


def _r_style(r: float) -> str:
    """Background of a correlation cell: red for positive, blue for negative r."""
    strength = min(abs(float(r)), 1.0)
    colour = (214, 96, 77) if r > 0 else (67, 147, 195)
    return f"background: rgba({colour[0]}, {colour[1]}, {colour[2]}, {0.6 * strength:.2f})"


def _design_body(design: DesignSummary) -> str:
    """One subject's VIF table, correlation matrix, joint tests and label notes."""
    threshold = design.vif_threshold
    partner = {a: [b for b in group if b != a]
               for group in design.collinear_sets for a in group}
    rows = []
    for attribute, vif in design.vif.items():
        flagged = vif > threshold
        rows.append(f'<tr class="{"collinear" if flagged else "independent"}">'
                    f'<td class="label">{_e(attribute)}</td>'
                    f'<td class="num{" flag" if flagged else ""}">{vif:.2f}'
                    f'{f" &gt; {threshold:g}" if flagged else ""}</td>'
                    f'<td class="label">{_e(", ".join(partner.get(attribute, [])) or "–")}'
                    "</td></tr>")
    out = [f'<table class="vif" data-subject="{_e(design.subject)}"><thead><tr>'
           '<th class="label">attribute</th><th><a href="#glossary-vif">VIF</a></th>'
           '<th class="label">collinear with</th></tr></thead><tbody>'
           + "".join(rows) + "</tbody></table>"]
    matrix = np.asarray(design.correlation, dtype=float)
    if len(matrix) > 1:
        heads = "".join(f'<th class="column">{_e(c)}</th>' for c in design.columns)
        body = []
        for i, (name, values) in enumerate(zip(design.columns, matrix)):
            cells = "".join('<td class="num diagonal">1</td>' if i == j else
                            f'<td class="num" style="{_r_style(r)}">{r:+.2f}</td>'
                            for j, r in enumerate(values))
            body.append(f'<tr><th class="label">{_e(name)}</th>{cells}</tr>')
        out.append('<p class="table-title">Correlation matrix of the design: Pearson r '
                   "between its columns over the test images (red: positive, blue: "
                   "negative)</p>"
                   f'<table class="correlation" data-subject="{_e(design.subject)}">'
                   f"<thead><tr><th></th>{heads}</tr></thead>"
                   f'<tbody>{"".join(body)}</tbody></table>')
    for test in design.joint_tests:
        out.append(f'<p class="note joint-test">{_joint_text(test)}</p>')
    if design.labels:
        out.append(f'<p class="labels">Semantic labels: {_e(design.labels)}</p>')
    skipped = {name: ("see the semantic labels above" if why == design.labels else why)
               for name, why in design.skipped.items()}
    if skipped:
        items = "".join(f"<li>{_e(name)}: {_e(why)}</li>" for name, why in skipped.items())
        out.append(f'<p>Left out of the maps:</p><ul class="skipped">{items}</ul>')
    return "".join(out)


def _joint_text(test: dict[str, Any]) -> str:
    """The joint test of one collinear set: what was tested, its p, its sentence (escaped)."""
    attributes = ", ".join(test.get("attributes", []))
    p = test.get("cluster_min_p")
    result = ("not run (interpretability.n_permutations is 0)" if p is None or not
              test.get("n_permutations", 1) else
              f"{'significant' if test.get('significant') else 'no significant cluster'}, "
              f"smallest cluster p = {p:.3f}")
    return (f'<a href="#glossary-joint-test">Joint test</a> of {_e(attributes)} (F test of '
            f"their columns together, cluster permutation): {_e(result)}. "
            f"{_e(test.get('sentence', ''))}")


def _design_section(content: ReportContent) -> str:
    """Per subject: how the pictures' attributes go together in the maps' regression."""
    if not content.designs:
        return ""
    threshold = content.designs[0].vif_threshold
    lead = ('<p class="lead">The maps regress the EEG on all attributes of the test '
            "pictures at once. Attributes that go together in the pictures cannot be told "
            "apart by the regression: each one's "
            '<a href="#glossary-vif">variance inflation factor (VIF)</a> says by how much its '
            "partial effect's variance grows because of the others. Attributes with a VIF "
            f"above {threshold:g} (the documented threshold) are collinear: they are tested "
            'together (<a href="#glossary-joint-test">joint test</a>) and each is also mapped '
            "alone (marginal map, beside its partial map).</p>")
    parts = []
    for k, design in enumerate(content.designs):
        n_sets = len(design.collinear_sets)
        tag = (f"{n_sets} collinear set{'s' * (n_sets != 1)}" if n_sets
               else "no collinear attributes")
        parts.append(f'<details class="subject design"{" open" if k == 0 else ""}>'
                     f"<summary>{_e(design.subject)} ({_e(tag)})</summary>"
                     f"{_design_body(design)}</details>")
    return lead + "".join(parts)


def maps_anchor(group: str) -> str:
    """Fragment id of an attribute's (or a joint test's) maps: ``maps-<letters-digits>``."""
    return "maps-" + (re.sub(r"[^a-z0-9]+", "-", group.lower()).strip("-") or "x")


def attribute_notes_html(content: ReportContent, attribute: str) -> dict[str, str]:
    """Group (subject) -> the notes shown above one attribute's maps, escaped.

    Each note links to the F map of the joint test its attribute is part of.
    """
    links = "".join(
        f' <a href="#{maps_anchor(group)}">The joint test\'s F map.</a>'
        for group in content.perceptograms if group.startswith("joint test:")
        and attribute in [a.strip() for a in group.split(":", 1)[1].split(",")])
    return {group: "".join(f'<p class="note attribute-note">{_e(n)}{links}</p>'
                           for n in notes)
            for group, notes in content.attribute_notes.get(attribute, {}).items()}


def _glossary_section(content: ReportContent) -> str:
    items = []
    for entry in GLOSSARY:
        text = entry.text
        if entry.anchor == "data-units" and content.data_units:
            text += f" This run: {content.data_units}."
        items.append(f'<dt id="glossary-{entry.anchor}">{_e(entry.term)}</dt>'
                     f"<dd>{_e(text)}</dd>")
    return f'<dl class="glossary">{"".join(items)}</dl>'


def _settings_section(content: ReportContent) -> str:
    import yaml

    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in content.notes)
    timing = ""
    if content.timings:
        rows = "".join(f'<tr><td class="label">{_e(k)}</td><td>{v:.1f}</td></tr>'
                       for k, v in content.timings.items())
        total = sum(content.timings.values())
        timing = ('<h3>Compute time per stage (sum over its units)</h3><table id="timings"><thead>'
                  '<tr><th class="label">stage</th><th>seconds</th></tr></thead><tbody>'
                  f'{rows}<tr class="mean-row"><td class="label">total</td>'
                  f"<td>{total:.1f}</td></tr></tbody></table>")
    settings = yaml.safe_dump(content.settings, sort_keys=False)
    return (notes + timing + "<details><summary>Full configuration</summary><pre>"
            + _e(settings) + "</pre></details>")


def report_sections(content: ReportContent, figures: bool = True
                    ) -> list[tuple[str, str, str]]:
    """The page's sections as ``(id, title, html)``, in order.

    Parameters
    ----------
    content : ReportContent
    figures : bool
        Include the perceptogram and electrode figure sections (an exporter that
        adds the figures itself leaves them out).

    Returns
    -------
    list of tuple of (str, str, str)
        Section id, title and escaped HTML body.
    """
    sections: list[tuple[str, str, str]] = []
    data = _data_section(content)
    if data:
        sections.append(("data", "Data", data))
    sections += [
        ("settings", "Run settings", _settings_section(content)),
        ("metrics", "Metrics", _metrics_section(content)),
    ]
    comparison = _comparison_section(content)
    if comparison:
        sections.append(("comparison", "Comparison with published results", comparison))
    if content.evaluation is not None:
        sections.append(("subjects-and-noise", "Across subjects, noise ceilings, repetitions",
                         _evaluation_section(content.evaluation)))
    if content.reconstructions:
        body = "".join(f"<h3>{_e(title)}</h3>{_strips(strips)}"
                       for title, strips in content.reconstructions.items())
        sections.append(("reconstructions", "Reconstructions", body))
    if content.retrievals:
        body = "".join(f"<h3>{_e(title)}</h3>{_strips(strips)}"
                       for title, strips in content.retrievals.items())
        sections.append(("retrieval", "Retrieval examples", body))
    design = _design_section(content)
    if design:
        sections.append(("attributes", "Picture attributes and collinearity", design))
    if content.perceptograms and figures:
        body = ('<p class="lead">Click a figure to open it at full size. Terms: '
                '<a href="#glossary-partial-effect">partial effect</a>, '
                '<a href="#glossary-cluster-test">cluster permutation test</a>, '
                '<a href="#glossary-perceptogram">perceptogram</a> (and what its '
                '<a href="#glossary-perceptogram-test">cluster tests</a> mean), '
                '<a href="#glossary-data-units">data units</a>.</p>'
                + "".join(f'<h3 id="{maps_anchor(attr)}">{_e(attr)}</h3>'
                          f"{_figures(figs, attribute_notes_html(content, attr))}"
                          for attr, figs in content.perceptograms.items()))
        sections.append(("perceptograms", "Perceptograms", body))
    if content.electrodes and figures:
        sections.append(("electrodes", "Electrode preference and time courses",
                         _figures(content.electrodes)))
    sections.append(("glossary", "Glossary", _glossary_section(content)))
    if content.artifacts:
        items = "".join(f'<li><a href="{_e(href)}">{_e(label)}</a></li>'
                        for label, href in content.artifacts)
        sections.append(("artifacts", "Artifacts", f'<ul class="artifacts">{items}</ul>'))
    return sections


def headline_html(content: ReportContent) -> str:
    """The headline sentences as an HTML list (empty when there are none)."""
    summary = "".join(f"<li>{_e(s)}</li>" for s in content.summary)
    return f'<ul id="headline">{summary}</ul>' if summary else ""


def render_report(content: ReportContent) -> str:
    """The report as an HTML string (self-contained).

    Parameters
    ----------
    content : ReportContent

    Returns
    -------
    str
    """
    sections = report_sections(content)
    body = headline_html(content) + "".join(
        f'<section id="{sid}"><h2>{_e(title)}</h2>{text}</section>'
        for sid, title, text in sections
    )
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title, _ in sections)
    template = Template(
        resources.files("perceptogram.report").joinpath("template.html").read_text("utf-8")
    )
    return template.substitute(
        title=_e(content.title),
        subtitle=_e("Linear decoding of seen images from EEG: metrics, reconstructions "
                    "and perceptograms."),
        version=_e(__version__),
        created=_e(time.strftime("%Y-%m-%d %H:%M")),
        nav=nav,
        body=body,
    )


def write_report(content: ReportContent, path: str | os.PathLike) -> Path:
    """Render ``content`` and write it to ``path`` atomically; return the path."""
    path = Path(path)
    write_text_atomic(path, render_report(content))
    return path
