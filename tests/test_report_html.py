"""The HTML renderer: self-contained, escaped, one table row per subject."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from perceptogram.evaluate.tables import ComparisonRow, MetricRow
from perceptogram.report import FigureRef, ImageStrip, ReportContent, render_report, write_report
from perceptogram.report.html import png_data_uri


def _content(tmp_path, subjects=(1, 2, 3)):
    rng = np.random.default_rng(0)
    figure = tmp_path / "figure.png"
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(figure)
    rows = [MetricRow(subject=s, method="ridge → pca decoding", metric=metric,
                      value=v + 0.01 * s, n_images=10, chance=None)
            for s in subjects for metric, v in (("PixCorr", 0.2), ("SSIM", 0.3))]
    rows += [MetricRow(subject=s, method="ridge → effnet latents", metric="top-1 (cosine)",
                       value=0.3, n_images=10, chance=0.1) for s in subjects]
    rows.append(MetricRow(subject=1, method="ridge → pca decoding", metric="CLIP",
                          value=float("nan"), status="skipped: no weights <here>"))
    images = rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8)
    return ReportContent(
        title="A <test> report",
        settings={"decoder": {"alphas": [1.0, 10.0]}, "note": "<script>alert(1)</script>"},
        notes=["transductive & co"],
        timings={"fit": 1.5, "evaluate": 2.0},
        metrics=rows,
        comparisons={"vs published": [
            ComparisonRow("ours", "mean of 3 subjects", {"PixCorr": 0.22}, {"PixCorr": 0.01},
                          ours=True),
            ComparisonRow("ATM", "subject 8 only", {"PixCorr": 0.16}, secondary=True,
                          source="third party")]},
        reconstructions={"sub-01": [ImageStrip("seen", images, captions=list("abcd")),
                                    ImageStrip("recon", images[::-1])]},
        retrievals={"sub-01": [ImageStrip("image #0", images, highlight=[False, True])]},
        perceptograms={"hue": [FigureRef(figure, "hue maps")]},
        electrodes=[FigureRef(figure, "electrodes")],
        artifacts=[("metrics", "metrics.csv"), ("timings", "../timings.json")],
        summary=["line one", "line two", "line three"],
    )


def test_every_subject_has_a_row_and_the_mean_is_right(tmp_path):
    page = render_report(_content(tmp_path))
    rows = re.findall(r'<tr class="subject-row" data-subject="(\d+)">', page)
    assert rows == ["1", "2", "3"]
    # PixCorr of subjects 1..3 = 0.21, 0.22, 0.23 -> mean 0.220, SEM 0.01 / sqrt(3) = 0.006
    summary = page[page.index('id="summary"'):]
    assert "<td>0.220</td><td>0.006</td>" in summary
    assert "mean of 3 subjects" in summary
    assert "subject 8 only" in page and "(secondary)" in page


def test_page_is_self_contained_and_escaped(tmp_path):
    page = render_report(_content(tmp_path))
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 4 + 4 + 4 + 2  # two strips of 4, a retrieval strip, two figures
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(https?:)?//[a-z]", page.replace("http-equiv", ""))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "A &lt;test&gt; report" in page
    assert "skipped: no weights &lt;here&gt;" in page
    assert 'class="hit"' in page
    assert 'href="../timings.json"' in page


def test_data_uri_round_trips_pixels():
    image = np.random.default_rng(1).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    uri = png_data_uri(image)
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, image)


def test_write_report_is_atomic_and_returns_the_path(tmp_path):
    path = write_report(_content(tmp_path), tmp_path / "out" / "report.html")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


@pytest.mark.parametrize("subjects", [(1,), (4, 7)])
def test_sem_is_blank_for_one_subject(tmp_path, subjects):
    page = render_report(_content(tmp_path, subjects))
    summary = page[page.index('id="summary"'):]
    if len(subjects) == 1:
        assert "subject 1 only" in summary and "<td>–</td>" in summary
    else:
        assert "mean of 2 subjects" in summary
