"""Tidy tables: save/load, subject summaries, published numbers, comparison and printing."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from rich.console import Console
from scipy.stats import sem

from perceptogram.errors import DataFormatError
from perceptogram.evaluate.tables import (
    COLUMNS,
    MetricRow,
    comparison_table,
    load_table,
    print_comparison,
    print_table,
    published_results,
    save_comparison,
    save_table,
    summarize_subjects,
)

REFERENCE_RECONSTRUCTION = {  # shared/REFERENCE.md, copied by hand
    "Perceptogram": ("mean of 10", [0.214, 0.334, 0.856, 0.874, 0.762, 0.818, 0.531]),
    "ATM": ("subject 8 only", [0.160, 0.345, 0.776, 0.866, 0.734, 0.786, 0.582]),
    "CognitionCapturer": ("mean of 10", [0.150, 0.347, 0.754, 0.623, 0.669, 0.715, 0.590]),
}


def _rows(values=None, skipped_subject=None, protocol="mindeye"):
    values = values or {1: 0.80, 2: 0.85, 3: 0.90}
    rows = []
    for subject, v in values.items():
        rows.append(MetricRow(subject, "ours", "AlexNet(2)", v, v - 0.05, v + 0.05, 0.001, 200,
                              0.5, protocol=protocol))
        rows.append(MetricRow(subject, "ours", "PixCorr", v / 4, n_images=200,
                              protocol=protocol))
        status = "skipped: no weights" if subject == skipped_subject else "ok"
        value = math.nan if status != "ok" else 0.5
        rows.append(MetricRow(subject, "ours", "SwAV", value, n_images=200,
                              higher_is_better=False, status=status, protocol=protocol))
    return rows


def test_save_and_load_round_trip(tmp_path):
    rows = _rows(skipped_subject=2)
    csv_path, json_path = save_table(rows, tmp_path / "run" / "metrics")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        records = list(reader)
    assert len(records) == len(rows) and records[0]["metric"] == "AlexNet(2)"
    assert json.loads(json_path.read_text())[5]["value"] is None  # NaN -> null, standard JSON
    loaded = load_table(json_path)
    assert [r.status for r in loaded] == [r.status for r in rows]
    assert all(a.value == b.value or (math.isnan(a.value) and math.isnan(b.value))
               for a, b in zip(loaded, rows))


def test_summarize_subjects_mean_sem_and_scope():
    summaries = {s.metric: s for s in summarize_subjects(_rows(skipped_subject=2))}
    alex = summaries["AlexNet(2)"]
    assert alex.mean == pytest.approx(0.85) and alex.sem == pytest.approx(sem([0.8, 0.85, 0.9]))
    assert alex.scope == "mean of 3 subjects" and alex.chance == 0.5
    swav = summaries["SwAV"]
    assert swav.subjects == (1, 3) and swav.scope == "mean of 2 subjects"
    single = summarize_subjects(_rows({8: 0.7}))[0]
    assert single.scope == "subject 8 only" and np.isnan(single.sem)
    with pytest.raises(DataFormatError, match="several rows for one subject"):
        summarize_subjects(_rows() + _rows())


def test_published_numbers_match_reference():
    published = published_results()
    recon = published["reconstruction"]
    for entry in recon["rows"]:
        scope, values = REFERENCE_RECONSTRUCTION[entry["method"]]
        assert entry["scope"] == scope and entry["secondary"] is True and entry["source"]
        assert [entry["values"][m] for m in recon["metrics"]] == values
    retrieval = {e["method"]: e for e in published["retrieval"]["rows"]}
    assert retrieval["NICE"]["values"] == {"top-1 (cosine)": 15.6, "top-5 (cosine)": 42.8}
    assert retrieval["ATM"]["secondary"] and not retrieval["UBP"]["secondary"]
    assert retrieval["NeuroBridge"]["values"]["top-5 (cosine)"] == 89.9


def test_comparison_puts_scoped_means_beside_published_rows(tmp_path):
    table = comparison_table(_rows(skipped_subject=2))
    ours, *published = table
    assert ours.ours and ours.method == "ours"
    # SwAV ran for 2 subjects, AlexNet(2) for 3: the scope says so rather than hiding it.
    assert "AlexNet(2): mean of 3 subjects" in ours.scope and "SwAV: mean of 2" in ours.scope
    assert ours.values["AlexNet(2)"] == pytest.approx(0.85) and ours.values["CLIP"] is None
    # the Perceptogram row was computed under its own protocol: not beside mindeye numbers
    assert [p.method for p in published] == ["ATM", "CognitionCapturer"]
    assert published[0].scope == "subject 8 only · mindeye protocol"
    assert published[0].values["SwAV"] == 0.582 and published[0].protocol == "mindeye"
    assert published[1].scope == "mean of 10 · protocol not stated"
    same_scope = comparison_table([r for r in _rows() if r.metric != "SwAV"])
    assert same_scope[0].scope == "mean of 3 subjects · mindeye protocol"
    theirs = comparison_table(_rows(protocol="perceptogram"))
    assert [r.method for r in theirs] == ["ours", "Perceptogram", "CognitionCapturer"]
    assert theirs[1].values["PixCorr"] == 0.214 and theirs[1].protocol == "perceptogram"
    # rows of two protocols are never averaged together
    mixed = comparison_table(_rows({1: 0.8}) + _rows({2: 0.9}, protocol="perceptogram"))
    assert [(r.method, r.protocol) for r in mixed if r.ours] == [("ours", "mindeye"),
                                                                ("ours", "perceptogram")]
    assert not any(r.protocol for r in mixed if not r.ours)
    retrieval = comparison_table(
        [MetricRow(s, "ridge", "top-1 (cosine)", 0.1 * s, n_images=200) for s in (1, 2)],
        kind="retrieval",
    )
    assert retrieval[0].values["top-1 (cosine)"] == pytest.approx(0.15)
    assert {r.method: r.values["top-1 (cosine)"] for r in retrieval[1:]}["UBP"] == pytest.approx(
        0.509)
    csv_path, json_path = save_comparison(table, tmp_path / "comparison")
    records = json.loads(json_path.read_text())
    assert records[0]["AlexNet(2) sem"] == pytest.approx(sem([0.8, 0.85, 0.9]))
    assert records[1]["scope"] == "subject 8 only · mindeye protocol" and csv_path.exists()
    assert records[1]["protocol"] == "mindeye"


def test_printing_shows_scope_and_skip_reasons():
    console = Console(record=True, width=200)
    print_table(_rows(skipped_subject=2), console=console)
    print_comparison(comparison_table(_rows({8: 0.7})), console=console)
    text = console.export_text()
    assert "skipped [1]" in text and "[1] no weights" in text and "mindeye" in text
    assert "subject 8 only" in text and "ATM *" in text and "ours (ours)" in text
    assert "0.850 ± 0.029" not in text  # single-subject row shows no SEM


def test_text_from_data_is_printed_literally():
    console = Console(record=True, width=200)
    hostile = "[bold]evil[/] \x1b[31mred"
    rows = [MetricRow(1, hostile, "PixCorr", 0.1, n_images=2, protocol="mindeye",
                      status=f"skipped: {hostile}")]
    print_table(rows, console=console)
    print_comparison(comparison_table([MetricRow(1, hostile, "PixCorr", 0.1, n_images=2)]),
                     console=console)
    text = console.export_text()
    assert "[bold]evil[/]" in text and "\x1b" not in text and "?[31mred" in text


def test_published_rows_are_compared_only_under_their_own_subject_protocol():
    published = published_results()
    loso = [e for e in published["retrieval"]["rows"]
            if e.get("subject_protocol") == "leave-one-subject-out"]
    assert [(e["method"], e["values"]) for e in loso] == [
        ("SUP-MCRL", {"top-1 (cosine)": 24.0, "top-5 (cosine)": 52.9})]
    assert published["citations"][loso[0]["cite"]]["arxiv"] == "2606.16615"
    ours = [MetricRow(s, "ridge, leave-one-subject-out", "top-1 (cosine)", 0.1 * s,
                      n_images=200) for s in (1, 2)]
    across = comparison_table(ours, kind="retrieval", subject_protocol="leave-one-subject-out")
    assert [(r.method, r.ours) for r in across] == [("ridge, leave-one-subject-out", True),
                                                    ("SUP-MCRL", False)]
    assert across[1].values["top-1 (cosine)"] == pytest.approx(0.24)
    within = comparison_table(ours, kind="retrieval")
    sup = [r for r in within if r.method == "SUP-MCRL"]
    assert len(sup) == 1 and sup[0].values["top-5 (cosine)"] == pytest.approx(0.919)
    with pytest.raises(ValueError, match="subject_protocol must be one of"):
        comparison_table(ours, kind="retrieval", subject_protocol="across")


def test_side_by_side_puts_subject_means_beside_their_ceilings():
    from perceptogram.evaluate.noise_ceiling import NO_CEILING
    from perceptogram.evaluate.tables import side_by_side

    rows = []
    for s, (within, across) in {1: (0.5, 0.2), 2: (0.7, 0.4), 3: (0.6, 0.3)}.items():
        for method, r in (("w", within), ("a", across)):
            rows += [MetricRow(s, method, "latent r", r, n_images=40),
                     MetricRow(s, method, "latent r ceiling", r + 0.2, n_images=40),
                     MetricRow(s, method, "latent two-way", r + 0.3, n_images=40, chance=0.5)]
    rows.append(MetricRow(1, "a", "top-1 (cosine)", 0.1, n_images=40, chance=0.025))
    table = side_by_side(rows, {"within": "w", "across": "a"},
                         ["top-1 (cosine)", "latent two-way", "latent r", "PixCorr"])
    assert [r["metric"] for r in table] == ["top-1 (cosine)", "latent two-way", "latent r"]
    top1, two_way, r = table
    # a method without rows for a metric has no value (never another method's)
    assert top1["within"] is None and top1["within subjects"] == 0
    assert top1["across"] == 0.1 and top1["across SEM"] is None  # one subject: no SEM
    assert two_way["ceiling"] == NO_CEILING and two_way["within ceiling"] is None
    assert two_way["chance"] == 0.5 and two_way["n_way"] == 40 and two_way["n_subjects"] == 3
    assert r["ceiling"] == "latent r ceiling"
    assert r["within"] == pytest.approx(0.6) and r["within SEM"] == pytest.approx(sem([.5, .7, .6]))
    assert r["across ceiling"] == pytest.approx(0.5)
    assert r["across ceiling SEM"] == pytest.approx(sem([.4, .6, .5]))
