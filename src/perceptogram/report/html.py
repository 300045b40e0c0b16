"""Render a run's results as one self-contained HTML page.

The page embeds every image as a base64 ``data:`` URI and carries its CSS inline,
so it opens offline from disk and can be mailed as one file. Links to the CSV/JSON
artifacts are relative to the page. This module only renders: what goes into the
page is gathered by the pipeline into a :class:`ReportContent`.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from perceptogram import __version__
from perceptogram._io import write_text_atomic
from perceptogram._text import for_html

__all__ = [
    "ImageStrip",
    "FigureRef",
    "ReportContent",
    "render_report",
    "write_report",
    "png_data_uri",
]


@dataclass(frozen=True)
class ImageStrip:
    """A labelled row of images, optionally with one caption per image.

    Parameters
    ----------
    label : str
    images : ndarray of uint8, shape (n_images, H, W, 3)
    captions : sequence of str, length n_images
    highlight : sequence of bool, length n_images
        Images to outline (e.g. a correct retrieval).
    """

    label: str
    images: np.ndarray
    captions: Sequence[str] = ()
    highlight: Sequence[bool] = ()


@dataclass(frozen=True)
class FigureRef:
    """A PNG figure file to embed.

    Parameters
    ----------
    path : Path
    caption : str
    """

    path: Path
    caption: str


@dataclass
class ReportContent:
    """Everything the report shows.

    Parameters
    ----------
    title : str
    settings : dict
        The run configuration (shown as YAML).
    notes : list of str
        Caveats the reader must see (e.g. transductive rescaling).
    timings : dict of str to float
        Stage -> compute seconds.
    metrics : list of perceptogram.evaluate.tables.MetricRow
        Per-subject rows (one per subject × method × metric); the page adds the
        mean ± SEM over subjects.
    comparisons : dict of str to list of perceptogram.evaluate.tables.ComparisonRow
        Title -> our subject means beside published results, each with its scope.
    reconstructions : dict of str to list of ImageStrip
        Section heading (e.g. ``"sub-01 · pca decoding"``) -> strips.
    retrievals : dict of str to list of ImageStrip
    perceptograms : dict of str to list of FigureRef
        Attribute -> topomap strip and heatmap figures.
    electrodes : list of FigureRef
        Electrode-preference and time-course figures.
    artifacts : list of tuple of (str, str)
        (label, relative href) of downloadable tables.
    summary : list of str
        Headline sentences at the top.
    """

    title: str
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    metrics: list[Any] = field(default_factory=list)
    comparisons: dict[str, list[Any]] = field(default_factory=dict)
    reconstructions: dict[str, list[ImageStrip]] = field(default_factory=dict)
    retrievals: dict[str, list[ImageStrip]] = field(default_factory=dict)
    perceptograms: dict[str, list[FigureRef]] = field(default_factory=dict)
    electrodes: list[FigureRef] = field(default_factory=list)
    artifacts: list[tuple[str, str]] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)


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


def _metrics_section(content: ReportContent) -> str:
    from perceptogram.evaluate.tables import summarize_subjects

    rows = [row for row in content.metrics if row.ok]
    if not rows:
        return "<p>No metrics were computed.</p>"
    columns: dict[tuple[str, str], Any] = {}
    for row in rows:
        columns.setdefault((row.method, row.metric), row)
    subjects = sorted({row.subject for row in rows}, key=str)
    table = {(row.subject, row.method, row.metric): row.value for row in rows}

    def head(key: tuple[str, str]) -> str:
        info = columns[key]
        arrow = "" if info.higher_is_better else " ↓"
        chance = (f"<br><small>chance {_fmt(info.chance)}</small>"
                  if info.chance is not None else "")
        return f"<th>{_e(key[1])}{arrow}{chance}</th>"

    methods: dict[str, int] = {}
    for method, _ in columns:
        methods[method] = methods.get(method, 0) + 1
    out = ['<table id="metrics"><thead><tr><th class="label" rowspan="2">subject</th>'
           + "".join(f'<th colspan="{n}">{_e(m)}</th>' for m, n in methods.items())
           + "</tr><tr>" + "".join(head(k) for k in columns) + "</tr></thead><tbody>"]
    for s in subjects:
        cells = "".join(f"<td>{_fmt(table.get((s, *k)))}</td>" for k in columns)
        label = f"sub-{s:02d}" if isinstance(s, int) else str(s)
        out.append(f'<tr class="subject-row" data-subject="{_e(s)}"><td class="label">'
                   f"{_e(label)}</td>{cells}</tr>")
    out.append("</tbody></table>")
    skipped = sorted({f"{r.metric} ({r.status})" for r in content.metrics if not r.ok})
    if skipped:
        out.append('<p class="note">Not computed here: ' + _e("; ".join(skipped)) + "</p>")

    out.append('<h3>Mean ± SEM over subjects</h3><table id="summary"><thead><tr>'
               '<th class="label">method</th><th class="label">metric</th><th>mean</th>'
               '<th>SEM</th><th>chance</th><th class="label">scope</th></tr></thead><tbody>')
    for summ in summarize_subjects(rows):
        out.append(f'<tr class="mean-row"><td class="label">{_e(summ.method)}</td>'
                   f'<td class="label">{_e(summ.metric)}</td><td>{_fmt(summ.mean)}</td>'
                   f"<td>{_fmt(summ.sem)}</td><td>{_fmt(summ.chance)}</td>"
                   f'<td class="label">{_e(summ.scope)}</td></tr>')
    out.append("</tbody></table>")
    for title, comparison in content.comparisons.items():
        out.append(_comparison_table(title, comparison))
    return "".join(out)


def _comparison_table(title: str, comparison: Sequence[Any]) -> str:
    if not comparison:
        return ""
    metrics = list(comparison[0].values)
    out = [f'<h3>{_e(title)}</h3><table class="comparison"><thead><tr>'
           '<th class="label">method</th><th class="label">scope</th>'
           + "".join(f"<th>{_e(m)}</th>" for m in metrics)
           + '<th class="label">source</th></tr></thead><tbody>']
    for row in comparison:
        cells = []
        for m in metrics:
            sem = row.sems.get(m) if row.ours else None
            text = _fmt(row.values.get(m))
            if sem is not None and np.isfinite(sem):
                text += f" ± {_fmt(sem)}"
            cells.append(f"<td>{text}</td>")
        kind = "mean-row" if row.ours else "published-row"
        source = row.source + (" (secondary)" if row.secondary else "")
        out.append(f'<tr class="{kind}"><td class="label">{_e(row.method)}</td>'
                   f'<td class="label">{_e(row.scope)}</td>{"".join(cells)}'
                   f'<td class="label"><small>{_e(source)}</small></td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


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


def _figures(figures: Sequence[FigureRef]) -> str:
    out = []
    for fig in figures:
        uri = png_data_uri(Path(fig.path).read_bytes())
        out.append(f'<figure><img src="{uri}" alt="{_e(fig.caption)}">'
                   f"<figcaption>{_e(fig.caption)}</figcaption></figure>")
    return "".join(out)


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


def render_report(content: ReportContent) -> str:
    """The report as an HTML string (self-contained).

    Parameters
    ----------
    content : ReportContent

    Returns
    -------
    str
    """
    sections: list[tuple[str, str, str]] = [
        ("settings", "Run settings", _settings_section(content)),
        ("metrics", "Metrics", _metrics_section(content)),
    ]
    if content.reconstructions:
        body = "".join(f"<h3>{_e(title)}</h3>{_strips(strips)}"
                       for title, strips in content.reconstructions.items())
        sections.append(("reconstructions", "Reconstructions", body))
    if content.retrievals:
        body = "".join(f"<h3>{_e(title)}</h3>{_strips(strips)}"
                       for title, strips in content.retrievals.items())
        sections.append(("retrieval", "Retrieval examples", body))
    if content.perceptograms:
        body = "".join(f"<h3>{_e(attr)}</h3>{_figures(figs)}"
                       for attr, figs in content.perceptograms.items())
        sections.append(("perceptograms", "Perceptograms", body))
    if content.electrodes:
        sections.append(("electrodes", "Electrode preference and time courses",
                         _figures(content.electrodes)))
    if content.artifacts:
        items = "".join(f'<li><a href="{_e(href)}">{_e(label)}</a></li>'
                        for label, href in content.artifacts)
        sections.append(("artifacts", "Artifacts", f'<ul class="artifacts">{items}</ul>'))

    summary = "".join(f"<li>{_e(s)}</li>" for s in content.summary)
    body = (f'<ul id="headline">{summary}</ul>' if summary else "") + "".join(
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
