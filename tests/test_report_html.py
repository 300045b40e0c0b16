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
    assert "100 test images (100-way), published: 200 test images" in differences
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
    content.designs = [_design()]
    content.attribute_notes = {"hue": {"sub-01": ["hue goes with <size> (VIF 5.0)."]}}
    content.data_notes = ["3 pictures have no <epoch>"]
    path = write_mne_report(content, tmp_path / "out" / "report-mne.html")
    page = path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["report-mne.html"]
    for title in ("Summary", "Run settings", "Metrics", "Reconstructions", "Glossary",
                  "Perceptograms: hue", "Electrode preference and time courses"):
        assert title in page, title
    assert "line one" in page and '<td class="mean">0.220 ± 0.006</td>' in page
    assert "hue maps" in page and "&lt;script&gt;" in page and "<script>alert" not in page
    for text in ("Picture attributes and collinearity", "hue goes with &lt;size&gt;",
                 "3 pictures have no &lt;epoch&gt;", '<table class="vif"'):
        assert text in page, text


def _design(subject="sub-01"):
    from perceptogram.report import DesignSummary

    columns = ("brightness", "texture", "semantic: face")
    correlation = np.array([[1.0, -0.82, 0.9], [-0.82, 1.0, -0.85], [0.9, -0.85, 1.0]])
    joint = {"attributes": ["brightness", "texture", "semantic"], "cluster_min_p": 0.004,
             "significant": True, "n_permutations": 1000,
             "sentence": "There is an effect, and these pictures cannot tell which attribute "
                         "carries it: <b>brightness</b>, texture and semantic go together."}
    return DesignSummary(subject, {"brightness": 4.4, "texture": 3.1, "semantic": 5.2,
                                   "hue": 1.1}, 4.0, columns, correlation,
                         (("brightness", "semantic"),), (joint,),
                         labels="3 of 48 pictures (6 %) were labelled <i>low</i>.",
                         skipped={"size": "the covariate does not vary <over> the images"})


def test_collinearity_is_shown_per_subject_with_the_threshold_and_joint_test(tmp_path):
    content = _content(tmp_path)
    content.designs = [_design(), _design("sub-02")]
    content.attribute_notes = {"hue": {"": ["hue goes with <size> (VIF 5.0)."]}}
    content.perceptograms["joint test: hue, <size>"] = [FigureRef(content.electrodes[0].path,
                                                                  "the F map")]
    page = render_report(content)
    assert '<a href="#attributes">Picture attributes and collinearity</a>' in page
    section = page[page.index('<section id="attributes">'):page.index('id="perceptograms"')]
    assert "VIF above 4 (the documented threshold)" in section
    assert '<details class="subject design" open><summary>sub-01 (1 collinear set)' in section
    assert '<details class="subject design"><summary>sub-02' in section
    vif = re.search(r'<table class="vif" data-subject="sub-01">(.*?)</table>', section).group(1)
    assert '<td class="num flag">4.40 &gt; 4</td>' in vif  # above the threshold: flagged
    assert '<td class="num">3.10</td>' in vif and "semantic" in vif
    assert re.search(r"brightness</td><td[^>]*>4.40 &gt; 4</td><td class=\"label\">semantic<",
                     vif)
    matrix = re.search(r'<table class="correlation" data-subject="sub-01">(.*?)</table>',
                       section).group(1)
    assert matrix.count("<tr>") == 4 and "-0.82" in matrix and "+0.90" in matrix
    assert "&lt;b&gt;brightness&lt;/b&gt;" in section and "<b>brightness" not in section
    assert "smallest cluster p = 0.004" in section and 'href="#glossary-joint-test"' in section
    assert "labelled &lt;i&gt;low&lt;/i&gt;" in section
    assert "size: the covariate does not vary &lt;over&gt; the images" in section
    # the attribute's note stands above its maps, escaped
    maps = page[page.index('id="perceptograms"'):page.index('id="electrodes"')]
    assert maps.index("hue goes with &lt;size&gt;") < maps.index("<figure>")
    # ... and links to the joint test's F map, which follows the attributes
    assert '<a href="#maps-joint-test-hue-size">The joint test\'s F map.</a>' in maps
    assert maps.index('<h3 id="maps-hue">') < maps.index('<h3 id="maps-joint-test-hue-size">')
    # each subject's note stands inside that subject's folded group, above its figures
    figure = content.electrodes[0].path
    content.perceptograms["hue"] = [FigureRef(figure, "sub-01 map", group="sub-01"),
                                    FigureRef(figure, "sub-02 map", group="sub-02")]
    content.attribute_notes = {"hue": {"sub-02": ["only sub-02's hue is collinear"]}}
    maps = render_report(content)
    sub02 = maps[maps.index("<summary>sub-02 (1 figure)"):]
    assert sub02.index("only sub-02") < sub02.index("sub-02 map") < sub02.index("</details>")
    assert "only sub-02" not in maps[:maps.index("<summary>sub-02 (1 figure)")]
    # the label sentence is not repeated when it is why an attribute was left out
    content.designs = [_design()]
    content.designs[0].skipped["semantic"] = content.designs[0].labels
    page = render_report(content)
    assert page.count("labelled &lt;i&gt;low&lt;/i&gt;") == 1
    assert "semantic: see the semantic labels above" in page
    for anchor in ("vif", "joint-test", "perceptogram-test", "rows"):
        assert f'id="glossary-{anchor}"' in page


def test_dataset_notes_are_shown_escaped(tmp_path):
    content = _content(tmp_path)
    assert 'id="data"' not in render_report(content)  # nothing to say: no section
    content.data_notes = ["sub-02: 3 of 200 test pictures have no epoch <dropped>",
                          "events not in the picture table (not used): rt (74)"]
    content.data_table = [{"subject": "sub-01", "split": "test", "rows": 156, "images": 8,
                           "epochs": (8, 10, 1527), "channels": 4}]
    page = render_report(content)
    section = page[page.index('<section id="data">'):page.index('<section id="settings">')]
    assert "3 of 200 test pictures have no epoch &lt;dropped&gt;" in section
    assert "rt (74)" in section and "<dropped>" not in page
    assert ("<td>156</td><td>8</td><td>8–10</td><td>1527</td><td>4</td>") in section


def test_n_says_whether_it_counts_rows_or_distinct_images(tmp_path):
    from perceptogram.report import RowCounts

    content = _content(tmp_path)
    rows = [MetricRow(1, "ridge → pca decoding", "PixCorr", 0.4, n_images=156),
            MetricRow(1, "ridge → pca latents", "top-1 (cosine)", 0.25, n_images=8,
                      chance=0.125),
            MetricRow(1, "ridge → pca latents", "latent two-way", 0.75, n_images=8,
                      chance=0.5)]
    content.metrics = rows
    content.counts = {"sub-01": RowCounts(156, 8, (8, 10))}
    content.comparisons = {"recon": comparison_table(
        rows, n_text=lambda n: f"{n} test rows of 8 distinct images")}
    page = render_report(content)
    metrics = page[page.index('<section id="metrics">'):page.index('id="comparison"')]
    assert "<td>156 rows</td>" in metrics and "<td>8-way (distinct images)</td>" in metrics
    assert "<td>2-way, 8 distinct images</td>" in metrics
    assert "156 rows (each the average of 8-10 epochs) of 8 distinct images" in metrics
    comparison = page[page.index('id="comparison"'):]
    assert "<td>156 rows</td>" in comparison
    assert "156 test rows of 8 distinct images, published: 200 test images" in comparison
    # one row per image: nothing changes
    content.counts = {"sub-01": RowCounts(156, 156, (8, 10))}
    page = render_report(content)
    assert "<td>156 images</td>" in page and "rows-note" not in page
