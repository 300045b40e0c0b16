"""`perceptogram demo` end to end (tiny), resume after an interruption, the report in Chromium."""

from __future__ import annotations

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
    section = html[html.index("Electrode preference and time courses"):]
    for caption in ("decoding-quality drop per shuffled channel",
                    "mirrored EEG and channel subsets", "decoding quality vs time window"):
        for s in (1, 2):
            assert f"<figcaption>sub-0{s}: {caption}</figcaption>" in section, (s, caption)


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


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tiny_run):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver in /usr/bin "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    out, _ = tiny_run
    report = RunDir(out).report_path
    profile = out.parent / "chromium-profile"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--window-size=1280,2000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(report.as_uri())
        assert driver.title == "Perceptogram run report"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        rows = driver.find_elements(By.CSS_SELECTOR, "#metrics tr.subject-row")
        assert [r.get_attribute("data-subject") for r in rows] == ["1", "2"]
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) > 20
        widths = [driver.execute_script("return arguments[0].naturalWidth;", img)
                  for img in images]
        assert all(w > 0 for w in widths)
        links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR,
                                                                        "#artifacts a")]
        assert links and all(link.startswith("file://") for link in links)
        assert all(Path(link[len("file://"):]).is_file() for link in links)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "report-tiny.png"))
    finally:
        driver.quit()
    assert (ARTIFACTS / "report-tiny.png").stat().st_size > 10_000


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
