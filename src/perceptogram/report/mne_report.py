"""The same report as an :class:`mne.Report`, the format MNE users already open.

Every section of the HTML report becomes an HTML element of the MNE report
(same tables, notes, glossary and references), and every figure an image
element with its caption, grouped by section (``Perceptograms: <attribute>``,
``Electrode preference and time courses``). MNE escapes titles and captions;
the HTML fragments come from :mod:`perceptogram.report.html`, already escaped.
"""

from __future__ import annotations

import os
from pathlib import Path

from perceptogram._io import atomic_path
from perceptogram.report.content import ReportContent
from perceptogram.report.html import attribute_notes_html, headline_html, report_sections

__all__ = ["write_mne_report"]

#: Inline style the fragments need inside MNE's page (tables and notes).
_STYLE = ("<style>.pg table{border-collapse:collapse;font-size:.88rem;max-width:100%}"
          ".pg th,.pg td{border:1px solid #d8dde3;padding:.2rem .5rem;text-align:right}"
          ".pg td.label,.pg th.label{text-align:left}.pg .note{background:#fff7e0;"
          "border-left:4px solid #e0b040;padding:.4rem .8rem}"
          ".pg .pair{display:inline-flex;flex-direction:column;width:98px;"
          "font-size:.75rem;text-align:center}.pg .pair img{width:96px;height:96px}"
          ".pg td.num,.pg td.mean{white-space:nowrap}"
          ".pg .hit{outline:3px solid #2a9d4b}.pg td.flag{color:#8a1c1c;font-weight:600}"
          ".pg table.correlation th.column{font-size:.75rem;max-width:7rem}"
          ".pg td.diagonal{color:#8a939c}.pg .data-notes{font-size:.88rem}</style>")


def _fragment(body: str) -> str:
    return f'{_STYLE}<div class="pg">{body}</div>'


def write_mne_report(content: ReportContent, path: str | os.PathLike) -> Path:
    """Write ``content`` as an MNE report (one self-contained HTML file).

    Parameters
    ----------
    content : ReportContent
    path : path-like
        Destination ``.html`` file (written atomically).

    Returns
    -------
    Path
    """
    import mne

    report = mne.Report(title=content.title, verbose=False)
    sections = report_sections(content, figures=False)
    headline = headline_html(content)
    if headline:
        report.add_html(_fragment(headline), title="Summary", section="Summary")
    for sid, title, body in sections:
        if sid not in ("glossary", "artifacts"):
            report.add_html(_fragment(body), title=title, section=title)
    for attribute, figures in content.perceptograms.items():
        for group, notes in attribute_notes_html(content, attribute).items():
            report.add_html(_fragment(notes), title=f"{attribute} · {group}: collinearity",
                            section=f"Perceptograms: {attribute}")
        for fig in figures:
            report.add_image(Path(fig.path), title=f"{attribute} · {fig.group}".strip(" ·"),
                             caption=fig.caption, section=f"Perceptograms: {attribute}")
    for fig in content.electrodes:
        report.add_image(Path(fig.path), title=f"{Path(fig.path).stem} · {fig.group}",
                         caption=fig.caption, section="Electrode preference and time courses")
    for sid, title, body in sections:
        if sid in ("glossary", "artifacts"):
            report.add_html(_fragment(body), title=title, section=title)
    path = Path(path)
    with atomic_path(path, suffix=".html") as tmp:
        report.save(tmp, open_browser=False, overwrite=True, verbose=False)
    return path
