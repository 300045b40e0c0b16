"""Self-contained HTML report of a run (images embedded, opens offline)."""

from perceptogram.report.html import (
    FigureRef,
    ImageStrip,
    ReportContent,
    render_report,
    write_report,
)

__all__ = [
    "FigureRef",
    "ImageStrip",
    "ReportContent",
    "render_report",
    "write_report",
]
