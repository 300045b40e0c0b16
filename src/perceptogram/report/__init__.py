"""Self-contained HTML report of a run (images embedded, opens offline), and the same
content as an :class:`mne.Report` (:func:`write_mne_report`, imports MNE lazily)."""

from perceptogram.report.content import (
    DesignSummary,
    EvaluationSection,
    FigureRef,
    ImageStrip,
    RecordTable,
    ReportContent,
    RowCounts,
)
from perceptogram.report.html import render_report, write_report
from perceptogram.report.mne_report import write_mne_report

__all__ = [
    "DesignSummary",
    "EvaluationSection",
    "FigureRef",
    "ImageStrip",
    "RecordTable",
    "ReportContent",
    "RowCounts",
    "render_report",
    "write_mne_report",
    "write_report",
]
