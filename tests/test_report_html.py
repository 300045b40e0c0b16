"""The HTML renderer: self-contained, escaped, one table row per subject."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from perceptogram.evaluate.tables import ComparisonRow, MetricRow, comparison_table
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
                          source="third party", cite="atm")]},
        reconstructions={"sub-01": [ImageStrip("seen", images, captions=list("abcd")),
                                    ImageStrip("recon", images[::-1])]},
        retrievals={"sub-01": [ImageStrip("image #0", images, highlight=[False, True])]},
        perceptograms={"hue": [FigureRef(figure, "hue maps")]},
        electrodes=[FigureRef(figure, "electrodes")],
        artifacts=[("metrics", "metrics.csv"), ("timings", "../timings.json")],
        summary=["line one", "line two", "line three"],
        data_units="data units (simulated)",
    )


def test_every_subject_has_a_column_and_the_mean_is_right(tmp_path):
    page = render_report(_content(tmp_path))
    table = page[page.index('data-method="ridge → pca decoding"'):]
    table = table[:table.index("</table>")]
    assert re.findall(r'<th class="subject" data-subject="(\d+)">', table) == ["1", "2", "3"]
    # PixCorr of subjects 1..3 = 0.21, 0.22, 0.23 -> mean 0.220, SEM 0.01 / sqrt(3) = 0.006
    assert "<td>0.210</td><td>0.220</td><td>0.230</td>" in table
    assert '<td class="mean">0.220 ± 0.006</td>' in table
    assert "subject 8 only" in page and "ATM *" in page


def test_every_number_names_its_metric_unit_n_way_and_chance(tmp_path):
    page = render_report(_content(tmp_path))
    retrieval = page[page.index('data-method="ridge → effnet latents"'):]
    retrieval = retrieval[:retrieval.index("</table>")]
    row = re.search(r'<tr class="metric-row">(.*?)</tr>', retrieval).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert 'href="#glossary-retrieval"' in cells[0] and "top-1 (cosine)" in cells[0]
    assert cells[1:4] == ["fraction of images", "0.100", "10-way"]
    for anchor in ("pixcorr", "ssim", "retrieval", "two-way", "latent-r2", "data-units",
                   "n-way", "sem", "cluster-test"):
        assert f'id="glossary-{anchor}"' in page, anchor
    # every metric link points at an entry of the glossary
    targets = set(re.findall(r'href="#(glossary-[a-z0-9-]+)"', page))
    assert targets and all(f'id="{t}"' in page for t in targets)
    assert "This run: data units (simulated)." in page
    assert "very negative" in page[page.index('id="glossary-latent-r2"'):]


def test_comparison_rows_cite_papers_and_mark_differences(tmp_path):
    content = _content(tmp_path)
    rows = [MetricRow(s, "ridge → effnet latents", "top-1 (cosine)", 0.3, n_images=100,
                      chance=0.01, notes="latents standardised with the training latents' "
                      "mean and SD") for s in (1, 2)]
    content.comparisons = {"retrieval": comparison_table(rows, kind="retrieval",
                                                         dataset="simulated EEG")}
    page = render_report(content)
    section = page[page.index('id="comparison"'):]
    ours = re.search(r'<tr class="mean-row" data-n-way="100">(.*?)</tr>', section).group(1)
    assert "†" in ours
    differences = re.search(r'<tr class="differences">(.*?)</tr>', section).group(1)
    assert "100 test images (100-way), published: 200" in differences
    assert "simulated EEG" in differences and "raw cosine" in differences
    published = re.findall(r'<tr class="published-row" data-n-way="200">(.*?)</tr>', section)
    assert len(published) == 5  # within-subject rows only: SUP-MCRL's LOSO row is not here
    assert sum("Gong et al., 2026" in row for row in published) == 1
    assert "<td>100</td><td>0.010 / 0.050</td>" in ours  # N, top-1 / top-5 chance
    assert all("<td>200</td><td>0.005 / 0.025</td>" in row for row in published)
    assert "Song et al., 2024 [" in section and "ICLR 2024" in section
    references = section[section.index('id="references"'):]
    assert "arXiv 2308.13234" in references and "Song, Liu, Li, Shi, Wang, Gao" in references
    assert "REFERENCE.md" not in page and "200-way" not in section.split("<table")[0]
    # the numbers in the table name the paper of the reference list they point to
    numbered = re.findall(r'href="#ref-([a-z0-9-]+)">[^<]*\[(\d+)\]', section)
    order = re.findall(r'<li id="ref-([a-z0-9-]+)">', references)
    assert numbered and all(order[int(n) - 1] == key for key, n in numbered)


def test_figures_link_to_their_full_size_file_and_fold_later_subjects(tmp_path):
    content = _content(tmp_path)
    figure = content.electrodes[0].path
    content.perceptograms = {"hue": [
        FigureRef(figure, "sub-01 map", full="../interpret/sub-01/map.svg", scalp_px=180.5,
                  group="sub-01"),
        FigureRef(figure, "sub-02 map", full="../interpret/sub-02/map.svg", group="sub-02")]}
    page = render_report(content)
    section = page[page.index('id="perceptograms"'):page.index('id="electrodes"')]
    assert section.count("<figure>") == 2 and section.count("<figcaption>") == 2
    assert '<a href="../interpret/sub-01/map.svg" title="open full size"><img' in section
    assert 'data-scalp-px="180.5"' in section
    assert '<details class="subject" open><summary>sub-01 (1 figure)' in section
    assert '<details class="subject"><summary>sub-02 (1 figure)' in section


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
    table = page[page.index('data-method="ridge → pca decoding"'):]
    table = table[:table.index("</table>")]
    if len(subjects) == 1:
        assert '<td class="mean">0.210</td>' in table
    else:
        assert '<td class="mean">0.255 ± 0.015</td>' in table


def test_the_same_content_exports_as_an_mne_report(tmp_path):
    pytest.importorskip("mne")
    from perceptogram.report import write_mne_report

    content = _content(tmp_path)
    path = write_mne_report(content, tmp_path / "out" / "report-mne.html")
    page = path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["report-mne.html"]
    for title in ("Summary", "Run settings", "Metrics", "Reconstructions", "Glossary",
                  "Perceptograms: hue", "Electrode preference and time courses"):
        assert title in page, title
    assert "line one" in page and '<td class="mean">0.220 ± 0.006</td>' in page
    assert "hue maps" in page and "&lt;script&gt;" in page and "<script>alert" not in page
