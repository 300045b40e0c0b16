"""`perceptogram demo` end to end (tiny), resume after an interruption, the report in Chromium."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from perceptogram.cli import app
from perceptogram.pipeline.demo import demo_config
from perceptogram.pipeline.rundir import RunDir, Unit
from perceptogram.pipeline.runner import Pipeline, Stage, run_pipeline
from perceptogram.pipeline.stages import PIPELINE, STAGE_NAMES

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny demo, run once through the command line."""
    out = tmp_path_factory.mktemp("demo") / "run"
    # Progress bars stay off (conftest); the summary is printed unless --quiet is given.
    result = CliRunner().invoke(app, ["demo", "--size", "tiny", "--out", str(out),
                                      "--jobs", "1"], env={"PERCEPTOGRAM_QUIET": ""})
    assert result.exit_code == 0, result.output
    return out, result.output


def _metrics(out: Path) -> list[dict]:
    return json.loads((out / "report" / "metrics.json").read_text())


def test_demo_writes_every_stage_and_prints_report_and_summary(tiny_run):
    out, output = tiny_run
    rd = RunDir(out)
    assert f"Report: {rd.report_path}" in output.replace("\n", "")
    headline = json.loads((out / "report" / "headline.json").read_text())
    assert len(headline) == 3
    assert headline[0].startswith("Retrieval (12-way")
    assert "PixCorr" in headline[1] and "SSIM" in headline[1]
    assert headline[2].startswith(("Strongest perceptogram: ", "No perceptogram has a "))
    for line in headline:
        assert line in output.replace("\n", " ") or line.split(":")[0] in output
    config = demo_config(out, "tiny")
    for stage in STAGE_NAMES:
        units = PIPELINE.stage(stage).units(config, [1, 2])
        for subject, space in units:
            assert rd.read_manifest(Unit(stage, subject, space)) is not None, (stage, subject)
    timings = json.loads(rd.timings_path.read_text())
    assert set(timings["stages_s"]) == set(STAGE_NAMES)


def test_demo_metrics_reflect_the_planted_signal(tiny_run):
    out, _ = tiny_run
    rows = _metrics(out)
    subjects = {r["subject"] for r in rows}
    assert subjects == {1, 2}
    # texture is planted in the simulated EEG: the decoded texture descriptor follows
    # the true one on the unseen test images (rows misaligned anywhere in the
    # pipeline would give r ~ 0)
    from perceptogram.latents.attributes import FEATURE_NAMES

    column = FEATURE_NAMES.index("high_freq_contrast")
    true = np.load(out / "features" / "attributes" / "test.npy")[:, column]
    r = [np.corrcoef(np.load(out / "predict" / f"sub-0{s}" / "attributes" / "decoded.npy")
                     [:, column], true)[0, 1] for s in (1, 2)]
    assert np.mean(r) > 0.3, r
    pix = [row for row in rows if row["metric"] == "PixCorr"]
    assert len(pix) == 2 * 2  # two subjects x (pca decoding, retrieval)
    assert all(-1 <= row["value"] <= 1 for row in pix)


def test_demo_puts_noise_ceilings_beside_the_within_subject_scores(tiny_run):
    out, _ = tiny_run
    rows = _metrics(out)
    for space in ("pca", "attributes"):
        method = f"ridge → {space} latents"
        scores = {r["subject"]: r["value"] for r in rows
                  if r["method"] == method and r["metric"] == "latent r"}
        ceilings = {r["subject"]: r["value"] for r in rows
                    if r["method"] == method and r["metric"] == "latent r ceiling"}
        assert set(ceilings) == {1, 2} and all(0 < c <= 1 for c in ceilings.values())
        assert all(scores[s] < ceilings[s] for s in (1, 2))
    eeg = [r for r in rows if r["method"] == "test EEG"]
    assert {(r["subject"], r["metric"]) for r in eeg} >= {(1, "EEG reliability (median)"),
                                                          (2, "EEG reliability (max)")}
    within = list(csv.DictReader((out / "report" / "within_across.csv").open()))
    assert {r["metric"] for r in within} == {"top-1 (cosine)", "top-5 (cosine)",
                                             "latent two-way", "latent r"}
    assert all(r["ceiling"] == "no ceiling derivable" for r in within
               if r["metric"] != "latent r")
    curve = json.loads((out / "report" / "repetition_curve.json").read_text())
    assert sorted({r["n_repetitions"] for r in curve}) == [1, 2, 4, 8, 10]
    assert {(r["subject"], r["space"]) for r in curve} == {(s, sp) for s in (1, 2)
                                                           for sp in ("pca", "attributes")}
    map_r = {r["n_repetitions"]: r["value"] for r in curve
             if r["metric"] == "map r" and r["subject"] == 1 and r["space"] == "pca"}
    assert map_r[10] == pytest.approx(1.0) and map_r[1] < map_r[10]
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in curve
               if r["band"] == "pictures and draws")
    with np.load(out / "reliability" / "sub-01" / "eeg_reliability.npz") as saved:
        assert saved["spearman_brown"].shape == (17, 100) and saved["window"].sum() == 80
    page = (out / "report" / "report.html").read_text()
    assert 'id="subjects-and-noise"' in page and "split-half reliability of the test EEG" in page


def test_demo_interpret_probes_the_decoder_and_reports_them(tiny_run):
    out, _ = tiny_run
    html = (out / "report" / "report.html").read_text()
    for s in (1, 2):
        folder = out / "interpret" / f"sub-0{s}"
        for name in ("electrode_scramble", "electrode_subsets", "timecourse_windows"):
            assert (folder / f"{name}.png").is_file(), name
            assert not (folder / f"{name}.svg").exists()  # tiny demo: figure_formats png
        probes = json.loads((folder / "summary.json").read_text())["probes"]
        maps = np.load(folder / "maps.npz")
        ch_names = list(maps["ch_names"])
        assert sorted(probes["scramble_drop"]) == sorted(ch_names)
        np.testing.assert_allclose(maps["scramble_drop"],
                                   [probes["scramble_drop"][c] for c in ch_names])
        assert -1 <= probes["baseline"] <= 1 and -1 <= probes["mirrored"] <= 1
        assert set(probes["subsets"]) <= {"10-20", "consumer-4"} and probes["subsets"]
        lengths = probes["window_lengths"]
        assert lengths["x_ms"] == sorted(lengths["x_ms"]) and lengths["x_ms"][0] == 100.0
        assert len(lengths["quality"]) == len(lengths["x_ms"])
        # the whole epoch decodes as the full decoder does (same alpha, same data)
        assert lengths["quality"][-1] == pytest.approx(probes["baseline"], abs=1e-4)
        sliding = probes["sliding_windows"]
        assert len(sliding["quality"]) == len(sliding["x_ms"]) > 1
        # the first sliding window is the first 100 ms
        assert sliding["x_ms"][0] == 50.0
        assert sliding["quality"][0] == pytest.approx(lengths["quality"][0], abs=1e-6)
        np.testing.assert_allclose(maps["sliding_quality"], sliding["quality"])
    section = html[html.index('<section id="electrodes">'):]
    for caption in ("Decoding-quality drop per shuffled channel: decoding quality of the pca "
                    "latents", "Mirrored EEG and channel subsets",
                    "Decoding quality vs time window"):
        for s in (1, 2):
            assert f"<figcaption>sub-0{s} only: {caption}" in section, (s, caption)


def test_report_command_exports_an_mne_report(tiny_run):
    out, _ = tiny_run
    before = {p: p.stat().st_mtime_ns for p in (out / "report").iterdir()}
    result = CliRunner().invoke(app, ["report", str(out), "--format", "mne"])
    assert result.exit_code == 0, result.output
    exported = out / "report" / "report-mne.html"
    assert f"MNE report: {exported}" in result.output.replace("\n", "")
    page = exported.read_text(encoding="utf-8")
    assert "Perceptograms: hue" in page and "Zero-shot retrieval" in page
    # the stage's own files are untouched by the export
    assert {p: p.stat().st_mtime_ns for p in before} == before
    refused = CliRunner().invoke(app, ["report", str(out), "--format", "pdf"])
    assert refused.exit_code == 1 and "--format must be html or mne" in refused.output


def test_second_demo_run_recomputes_nothing(tiny_run):
    out, _ = tiny_run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("manifest.json")}
    summary = run_pipeline(demo_config(out, "tiny", jobs=1), PIPELINE)
    assert summary.computed == []
    assert {p: p.stat().st_mtime_ns for p in out.rglob("manifest.json")} == before


def _interrupt_after_features(config, subject, space, run_dir):
    raise KeyboardInterrupt


def test_interrupted_run_resumes_without_recomputing_features(tiny_run, tmp_path):
    reference, _ = tiny_run
    out = tmp_path / "run"
    config = demo_config(out, "tiny", jobs=1)
    # a run killed as the fit stage starts: features are done, nothing after them
    stages = tuple(
        Stage(s.name, _interrupt_after_features, s.units, s.settings, s.requires, s.parallel)
        if s.name == "fit" else s for s in PIPELINE.stages)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config, Pipeline(stages, PIPELINE.subjects, PIPELINE.memory_per_unit))
    assert not (out / "fit").exists() or not list((out / "fit").rglob("manifest.json"))
    features = sorted((out / "features").rglob("*"))
    stamps = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in features if p.is_file()}
    assert any(p.name == "manifest.json" for p in stamps)

    summary = run_pipeline(config, PIPELINE)
    assert not [u for u in summary.computed if u.startswith(("data", "features"))]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in stamps} == stamps
    # the resumed run gives what the uninterrupted run gave
    ours = {(r["subject"], r["method"], r["metric"]): r["value"] for r in _metrics(out)}
    theirs = {(r["subject"], r["method"], r["metric"]): r["value"] for r in _metrics(reference)}
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-5, abs=1e-6, nan_ok=True), key
    for subject in (1, 2):
        a = np.load(out / "predict" / f"sub-0{subject}" / "pca" / "decoded.npy")
        b = np.load(reference / "predict" / f"sub-0{subject}" / "pca" / "decoded.npy")
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_moved_run_stays_valid_and_force_recomputes_stage_and_downstream(tiny_run, tmp_path):
    from perceptogram._owned import adopt_folder

    out = tmp_path / "moved"
    shutil.copytree(tiny_run[0], out)
    adopt_folder(out)  # a copy is not Perceptogram's own until adopted
    assert run_pipeline(demo_config(out, "tiny", jobs=1), PIPELINE).computed == []
    summary = run_pipeline(demo_config(out, "tiny", jobs=1), PIPELINE, force=["evaluate"])
    stages = {label.split("[")[0] for label in summary.computed}
    assert stages == {"evaluate", "report"}


#: Page width of the browser test (CSS pixels) and the narrowest head it accepts.
PAGE_WIDTH, MIN_HEAD_PX = 1400, 120

#: JavaScript: what the browser test checks, measured on the laid-out page.
_MEASURE = """
const main = document.querySelector('main').getBoundingClientRect();
const out = {pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
             tables: [], scalps: [], images: [], figures: []};
for (const t of document.querySelectorAll('table')) {
  const r = t.getBoundingClientRect();
  out.tables.push({id: t.id || t.className, right: r.right, mainRight: main.right,
                   scroll: t.scrollWidth, client: t.clientWidth});
}
for (const img of document.querySelectorAll('img')) {
  out.images.push({complete: img.complete, natural: img.naturalWidth,
                   inFigure: !!img.closest('figure'), inStrip: !!img.closest('.pair')});
  if (img.dataset.scalpPx) {
    const shown = img.getBoundingClientRect().width;
    out.scalps.push(shown / img.naturalWidth * parseFloat(img.dataset.scalpPx));
  }
}
for (const f of document.querySelectorAll('figure')) {
  const c = f.querySelector('figcaption');
  const link = f.querySelector('a[title="open full size"]');
  out.figures.push({caption: c ? c.textContent.trim() : '',
                    full: link ? link.href : null});
}
return out;
"""


def _chromium(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--hide-scrollbars", f"--window-size={PAGE_WIDTH},1200",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tiny_run):
    """The demo's report at 1400 px: no table wider than the page, heads of at least
    120 px, every image loaded, every figure captioned and linked to its full-size file."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver in /usr/bin "
                    "(apt-get install chromium chromium-driver)")
    import base64

    from selenium.webdriver.common.by import By

    out, _ = tiny_run
    report = RunDir(out).report_path
    driver = _chromium(out.parent / "chromium-profile")
    try:
        driver.get(report.as_uri())
        assert driver.title == "Perceptogram run report"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        # every folded subject opened, so that its figures are laid out and measured
        driver.execute_script("document.querySelectorAll('details').forEach("
                              "d => d.open = true);")
        page = driver.execute_script(_MEASURE)
        assert page["viewport"] == PAGE_WIDTH
        assert page["pageWidth"] <= page["viewport"], "the page scrolls sideways"
        wide = [t for t in page["tables"] if t["right"] > t["mainRight"] + 0.5
                or t["scroll"] > t["client"] + 1]
        assert not wide, f"tables wider than the page: {wide}"
        assert len(page["tables"]) >= 6
        assert page["scalps"], "no scalp map found (data-scalp-px)"
        assert min(page["scalps"]) >= MIN_HEAD_PX, f"heads of {min(page['scalps']):.0f} px"
        images = page["images"]
        assert len(images) > 20
        assert all(i["complete"] and i["natural"] > 0 for i in images), "an image is missing"
        assert all(i["inFigure"] or i["inStrip"] for i in images), "an image without caption"
        figures = page["figures"]
        assert len(figures) >= 10
        assert all(len(f["caption"]) > 40 for f in figures), "a figure without caption"
        assert all(f["full"] and Path(f["full"][len("file://"):]).is_file() for f in figures)
        subjects = driver.find_elements(By.CSS_SELECTOR, "table.metrics th.subject")
        assert {c.get_attribute("data-subject") for c in subjects} == {"1", "2"}
        # the data and each subject's design (VIF, correlation matrix) are shown
        ids = {t["id"] for t in page["tables"]}
        assert {"data-table", "vif", "correlation"} <= ids, ids
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.vif")) == 2
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR,
                                                                        "#artifacts a")]
        assert links and all(link.startswith("file://") for link in links)
        assert all(Path(link[len("file://"):]).is_file() for link in links)
        # a full-page screenshot for the record
        height = int(driver.execute_script("return document.documentElement.scrollHeight;"))
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": PAGE_WIDTH, "height": min(height, 16000), "deviceScaleFactor": 1,
            "mobile": False})
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True})
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "report-tiny.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        driver.quit()
    assert (ARTIFACTS / "report-tiny.png").stat().st_size > 10_000


def _dense_content(tmp_path):
    """A report whose new sections are as wide as real runs make them: a design of ten
    columns with long names, collinear sets, joint tests, notes, rows of several epochs."""
    from PIL import Image

    from perceptogram.evaluate.tables import MetricRow, comparison_table
    from perceptogram.report import DesignSummary, FigureRef, ReportContent, RowCounts

    figure = tmp_path / "figure.png"
    Image.fromarray(np.full((300, 1600, 3), 200, np.uint8)).save(figure)
    columns = ("hue: red-blue axis", "hue: green-magenta axis", "brightness", "texture",
               "semantic: animal", "semantic: food", "a rather long covariate name",
               "sharpness", "size", "contrast")
    rng = np.random.default_rng(0)
    correlation = np.corrcoef(rng.standard_normal((len(columns), 40)))
    sentence = ("There is an effect, and these pictures cannot tell which attribute carries "
                "it: texture, sharpness and a rather long covariate name go together in "
                "these pictures (|r| up to 0.97, VIF up to 21.0), so none of their partial "
                "maps has a significant cluster, while their joint test has one.")
    design = DesignSummary(
        "sub-01", {c: 1.0 + 3 * k for k, c in enumerate(("hue", "brightness", "texture",
                                                          "semantic", "sharpness"))},
        4.0, columns, correlation, (("texture", "sharpness", "semantic"),),
        ({"attributes": ["texture", "sharpness", "semantic"], "cluster_min_p": 0.001,
          "significant": True, "n_permutations": 1000, "sentence": sentence},),
        labels="3 of 100 pictures (3 %) were labelled with low confidence.",
        skipped={"size": "the covariate does not vary over the images"})
    rows = [MetricRow(1, "ridge → pca decoding", m, 0.4, n_images=156) for m in
            ("PixCorr", "SSIM")]
    rows += [MetricRow(1, "ridge → pca latents", "top-1 (cosine)", 0.25, n_images=8,
                       chance=0.125)]
    return ReportContent(
        title="Perceptogram run report", settings={}, metrics=rows,
        comparisons={"Reconstruction": comparison_table(rows, dataset="other EEG data")},
        perceptograms={"texture": [FigureRef(figure, "a caption long enough to count " * 3,
                                             full=str(figure))]},
        data_notes=["sub-01_test-epo.fif: pictures have 8 to 10 epochs; every epoch is "
                    "averaged (each picture's count is kept with its features)"] * 3,
        data_table=[{"subject": "sub-01", "split": "test", "rows": 156, "images": 8,
                     "epochs": (8, 10, 1527), "channels": 4}],
        counts={"sub-01": RowCounts(156, 8, (8, 10))}, designs=[design, design],
        attribute_notes={"texture": {"sub-01": [f"Collinear: VIF 21.0. {sentence}"]}})


@pytest.mark.browser
def test_collinearity_and_data_sections_fit_the_page_in_chromium(tmp_path):
    """The design tables (VIF, a correlation matrix of ten long-named columns), joint
    tests, notes and row counts at 1400 px: nothing wider than the page."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver in /usr/bin")
    from perceptogram.report import write_report

    page_path = write_report(_dense_content(tmp_path), tmp_path / "report.html")
    driver = _chromium(tmp_path / "chromium-profile")
    try:
        driver.get(page_path.as_uri())
        driver.execute_script("document.querySelectorAll('details').forEach("
                              "d => d.open = true);")
        page = driver.execute_script(_MEASURE)
    finally:
        driver.quit()
    assert page["pageWidth"] <= page["viewport"] == PAGE_WIDTH, "the page scrolls sideways"
    wide = [t for t in page["tables"] if t["right"] > t["mainRight"] + 0.5
            or t["scroll"] > t["client"] + 1]
    assert not wide, f"tables wider than the page: {wide}"
    ids = [t["id"] for t in page["tables"]]
    assert ids.count("correlation") == 2 and ids.count("vif") == 2 and "data-table" in ids


@pytest.mark.slow
def test_full_size_demo_beats_chance(tmp_path):
    """The default ``perceptogram demo`` (3 subjects, 1,600 training images)."""
    from perceptogram.pipeline.demo import run_demo

    result = run_demo(tmp_path / "run", size="default")
    assert result.report.is_file()
    rows = [r for r in _metrics(tmp_path / "run")
            if r["metric"] in ("top-1 (cosine)", "top-5 (cosine)") and "effnet" in r["method"]
            and r["subject"] not in (None, "mean")]
    assert len(rows) == 2 * 3
    for row in rows:  # every subject's retrieval is better than chance, significantly
        assert row["value"] > row["chance"] and row["p_value"] < 0.05, row
    # the semantic map contrasts the planted classes (the simulator's label table)
    summary = json.loads((tmp_path / "run" / "interpret" / "sub-01" / "summary.json").read_text())
    assert summary["attributes"]["semantic"]["contrast"] == "animate − food"
    assert summary["attributes"]["semantic"]["n_significant_clusters"] > 0
