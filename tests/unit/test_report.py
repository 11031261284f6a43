"""The report on tiny data with hand-weighted models: every heading in both files (with content or
a reason), numbers equal to the rest of ferviz, self-contained HTML, extractable PDF text, and the
same bytes from the same inputs apart from the timestamp line."""
from __future__ import annotations

import datetime as dt
import io
import json
import re

import numpy as np
import pytest

from ferviz.report import HEADINGS, Options, build_report, load_inputs, render
from ferviz.report.document import Columns, Image, Paragraph, Report, Section, Table
from tests.unit.tiny_models import brightness_model

LEVELS = 20 + 35 * np.arange(7)
FAST = Options(trust_n=3, pair_sheets=2, sheet_faces=4, region_cells=1, region_faces=6, stress_severity=2,
               stress_faces=0, dpi=40)
T1 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
T2 = dt.datetime(2027, 6, 7, 8, 9, 10, tzinfo=dt.timezone.utc)


def _rows():
    """PrivateTest: per class 5 faces at its level and 2 at the next class's (errors c -> c+1)."""
    rows, rng = [], np.random.default_rng(3)
    for usage, n_right, n_wrong in (("Training", 2, 0), ("PublicTest", 4, 1), ("PrivateTest", 5, 2)):
        for c in range(7):
            for k in range(n_right + n_wrong):
                level = LEVELS[c] if k < n_right else LEVELS[(c + 1) % 7]
                face = np.clip(level + rng.integers(-3, 4, 2304), 0, 255)
                face[:48 * 8] = np.clip(face[:48 * 8] + 2 * k, 0, 255)
                rows.append((c, face, usage))
    return rows


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    lines = ["emotion,pixels,Usage"] + [f"{c},{' '.join(map(str, f.astype(int)))},{u}" for c, f, u in _rows()]
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    centres = LEVELS / 255.0
    for stem, name, cs in (("tiny_a", "Tiny A", centres), ("tiny_b", "Tiny B", np.r_[centres[:3], centres[3] - 0.08,
                                                                                       centres[3] + 0.02, centres[5:]])):
        brightness_model(cs).save(root / f"{stem}.keras")
        (root / f"{stem}.json").write_text(json.dumps({
            "name": name, "file": f"{stem}.keras", "gradcam_layer": "conv",
            "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
    return root


@pytest.fixture(scope="module")
def one(tiny):
    inp = load_inputs(str(tiny / "tiny_a.json"), None, str(tiny / "fer2013.csv"), "PrivateTest", options=FAST,
                      command="python -m ferviz report --model tiny_a")
    return inp, build_report(inp, now=T1)


def _text(report: Report) -> str:
    out = []

    def walk(b):
        if isinstance(b, Paragraph):
            out.append(b.text)
        elif isinstance(b, Table):
            out.extend(" ".join(r) for r in (b.header, *b.rows))
        elif isinstance(b, Columns):
            for part in b.parts:
                for x in part:
                    walk(x)
    for s in report.sections:
        out.append(s.left_out)
        for b in s.blocks:
            walk(b)
    return "\n".join(out)


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def test_every_heading_in_order_each_with_content_or_a_reason(one):
    _, rep = one
    assert tuple(s.title for s in rep.sections) == HEADINGS
    for s in rep.sections:
        assert s.blocks or s.left_out, s.title
        assert not (s.blocks and s.left_out), s.title
    by = {s.title: s for s in rep.sections}
    assert "--vs" in by["Where the two models differ"].left_out
    assert not by["Stress test"].left_out and not by["Failure slices"].left_out
    notes = _text(rep)
    assert "No FER+ agreement" in notes  # a tiny csv is not fer2013.csv's rows


def test_numbers_are_those_of_evaluate_and_its_metrics(one):
    from ferviz.analysis.calibration import ece
    from ferviz.data.duplicates import find_duplicates, leakage_metrics

    inp, rep = one
    ev = inp.evaluations[0]
    summary = rep.sections[0]
    table = next(b for b in summary.blocks if isinstance(b, Table))
    rows = {r[0]: r[1] for r in table.rows}
    assert rows["accuracy"] == f"{100 * ev.accuracy:.2f}%"
    assert rows["macro-F1"] == f"{ev.macro_f1:.3f}"
    assert rows["ECE (15 bins)"] == f"{100 * ece(ev.probs, ev.labels):.2f}%"
    lk = leakage_metrics(ev, find_duplicates(inp.splits))
    assert rows["accuracy without exact Training copies"] == f"{100 * lk['accuracy_excluding_training_duplicates']:.2f}%"
    pairs = next(b for b in rep.sections[2].blocks if isinstance(b, Table))
    top = ev.confused_pairs(1).iloc[0]
    assert pairs.rows[0][:2] == (f"{top.true} → {top.pred}", f"{top['count']:,}")
    sheets = [b for b in rep.sections[2].blocks if isinstance(b, Image)]
    assert len(sheets) == FAST.pair_sheets


def test_html_is_one_self_contained_file(one):
    _, rep = one
    html = render(rep, "html").decode()
    for h in HEADINGS:
        assert f"<h2>{h}</h2>" in html.replace("&#x27;", "'")
    srcs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert srcs and all(s.startswith(("data:image/png;base64,", "#")) for s in srcs), srcs
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert html.count('class="timestamp"') == 1


def test_pdf_text_holds_every_heading_and_the_accuracy(one):
    inp, rep = one
    text = _pdf_text(render(rep, "pdf"))
    for h in HEADINGS:
        assert h in text, h
    assert f"accuracy {100 * inp.evaluations[0].accuracy:.2f}%" in text
    assert "Generated 2026-01-02 03:04:05 UTC" in text


def test_same_inputs_same_bytes_apart_from_the_timestamp(one, tiny):
    inp, rep = one
    again = build_report(load_inputs(str(tiny / "tiny_a.json"), None, str(tiny / "fer2013.csv"), "PrivateTest",
                                     options=FAST, command=inp.command), now=T2)
    a, b = render(rep, "html").decode().splitlines(), render(again, "html").decode().splitlines()
    diff = [(x, y) for x, y in zip(a, b) if x != y]
    assert len(a) == len(b) and len(diff) == 1 and "Generated " in diff[0][0], diff[:3]
    again.timestamp = rep.timestamp
    assert render(again, "pdf") == render(rep, "pdf")
    pa, pb = _pdf_text(render(rep, "pdf")).splitlines(), _pdf_text(render(
        Report(again.title, again.subtitle, "Generated 2027-06-07 08:09:10 UTC by ferviz", again.sections),
        "pdf")).splitlines()
    assert [x for x, y in zip(pa, pb) if x != y] == [l for l in pa if l.startswith("Generated ")]


def test_two_models_side_by_side_and_where_they_differ(tiny):
    opts = Options(trust_n=0, pair_sheets=1, sheet_faces=3, region_cells=0, slices=True, stress_severity=0, dpi=40)
    inp = load_inputs(str(tiny / "tiny_a.json"), str(tiny / "tiny_b.json"), str(tiny / "fer2013.csv"),
                      "PrivateTest", options=opts)
    rep = build_report(inp, now=T1)
    by = {s.title: s for s in rep.sections}
    cols = [b for b in by["Per-class metrics and confusion matrix"].blocks if isinstance(b, Columns)]
    assert cols and cols[0].titles == ("Tiny A", "Tiny B")
    differ = _text(Report("", "", "", [by["Where the two models differ"]]))
    a, b = inp.evaluations
    ra, rb = a.preds == a.labels, b.preds == b.labels
    assert f"on {int((ra & ~rb).sum()):,} faces, the other way round on {int((rb & ~ra).sum()):,}" in differ
    assert "happy → sad" in differ  # Tiny B reads every happy face as sad
    assert "--trust-n 0" in _text(Report("", "", "", [by["Which attribution method to trust"]]))
    assert by["Stress test"].left_out and by["Where the model looks: regions of the top cells"].left_out


def test_the_command_writes_both_files_and_refuses_the_same_model_twice(tiny, tmp_path, capsys):
    from ferviz.cli import main

    args = ["report", "--model", str(tiny / "tiny_a.json"), "--data", str(tiny / "fer2013.csv"), "--trust-n", "0",
            "--region-cells", "0", "--no-slices", "--stress-severity", "0", "--pair-sheets", "1",
            "--out", str(tmp_path)]
    assert main(args) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["tiny_a_PrivateTest_report.html", "tiny_a_PrivateTest_report.pdf"]
    html = (tmp_path / names[0]).read_text()
    assert "python -m ferviz report --model" in html and "--stress-severity 0" in html
    assert main(["report", "--model", str(tiny / "tiny_a.json"), "--vs", str(tiny / "tiny_a.json"),
                 "--data", str(tiny / "fer2013.csv"), "--out", str(tmp_path)]) == 2
    assert "same model" in capsys.readouterr().err


def test_docs_trust_table_only_for_the_shipped_card_on_private_test(tmp_path):
    from dataclasses import replace
    from types import SimpleNamespace

    from ferviz import config
    from ferviz.models import load_card
    from ferviz.report.explanations import docs_trust_table, recommended

    card = load_card(config.MODELS_DIR / "baseline_cnn.json")
    found = docs_trust_table(card, SimpleNamespace(split="PrivateTest"))
    assert found is not None and recommended(found[0]) == "xrai"
    assert docs_trust_table(card, SimpleNamespace(split="PublicTest")) is None
    elsewhere = replace(card, path=tmp_path / "baseline_cnn.json")  # the same stem outside models/
    assert docs_trust_table(elsewhere, SimpleNamespace(split="PrivateTest")) is None
    assert docs_trust_table(replace(card, tta="mirror"), SimpleNamespace(split="PrivateTest")) is None


def test_recommended_is_the_most_faithful_method_that_passes_the_sanity_check():
    import pandas as pd

    from ferviz.report.explanations import recommended

    df = pd.DataFrame({"method": ["gradcam", "xrai", "smoothgrad"], "deletion_auc": [0.3, 0.2, 0.1],
                       "passes_sanity_check": [True, True, False]})
    assert recommended(df) == "xrai"
    assert recommended(df.assign(passes_sanity_check=False)) is None


def test_renderers_escape_text_and_keep_dollars_literal():
    rep = Report("a <b> & $x$", "s", "Generated now", [Section("Summary", [Paragraph("cost $5 and $6 <i>"),
                                                                           Table(("h",), (("$1$",),))])])
    html = render(rep, "html").decode()
    assert "&lt;b&gt;" in html and "<i>" not in html
    text = _pdf_text(render(rep, "pdf"))
    assert "cost $5 and $6 <i>" in text and "$1$" in text


def test_a_model_without_one_of_the_datasets_classes(tiny):
    """A six-class model (no neutral) on the seven-class csv: its rectangular 7x6 matrix, the
    neutral faces counted apart and said so, every section built."""
    from ferviz.labels import EMOTIONS

    six = [e for e in EMOTIONS if e != "neutral"]
    brightness_model(LEVELS[:6] / 255.0).save(tiny / "tiny_six.keras")
    (tiny / "tiny_six.json").write_text(json.dumps({
        "name": "Tiny six", "file": "tiny_six.keras", "gradcam_layer": "conv", "classes": six,
        "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
    opts = Options(trust_n=0, pair_sheets=1, sheet_faces=3, region_cells=1, region_faces=6, stress_severity=1,
                   stress_faces=0, dpi=40)
    inp = load_inputs(str(tiny / "tiny_six.json"), str(tiny / "tiny_a.json"), str(tiny / "fer2013.csv"),
                      "PrivateTest", options=opts)
    ev = inp.evaluations[0]
    assert ev.n_outside == 7 and ev.matrix().shape == (7, 6)  # 7 PrivateTest faces labelled neutral
    rep = build_report(inp, now=T1)
    assert tuple(s.title for s in rep.sections) == HEADINGS
    assert "labels: FER2013's own" in rep.subtitle
    text = _text(rep)
    assert ev.outside_note() + "." in text
    assert "7 of 49 faces are labelled neutral, which Tiny six cannot output" in text
    assert "Classes of PrivateTest: angry, disgust, fear, happy, sad, surprise, neutral" in text
    by = {s.title: s for s in rep.sections}
    per_class = next(b for b in by["Per-class metrics and confusion matrix"].blocks if isinstance(b, Columns))
    table = next(b for b in per_class.parts[0] if isinstance(b, Table))
    assert [r[0] for r in table.rows] == six
    image = next(b for b in per_class.parts[0] if isinstance(b, Image))
    assert "Rows marked * are classes the model cannot output" in image.caption
    differ = _text(Report("", "", "", [by["Where the two models differ"]]))
    assert "neutral — " in differ  # Tiny six has no recall for neutral; Tiny A has
    rows = {r[0]: r for r in next(b for b in by["Where the two models differ"].blocks
                                  if isinstance(b, Table) and b.header[0] == "class").rows}
    assert list(rows) == list(EMOTIONS) and rows["neutral"][1] == "—" and rows["neutral"][2] != "—"
    html = render(rep, "html").decode()
    assert "Tiny six" in html and "counted apart" in html
