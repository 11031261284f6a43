"""`python -m ferviz report` on the real FER2013 for a shipped model and the 64x64 RGB legacy model:
the PDF's text holds every section heading and the accuracy `python -m ferviz evaluate` writes to
metrics.json (to two decimals of a percent), the HTML is self-contained, and a second run gives the
same files apart from the timestamp line."""
from __future__ import annotations

import html as html_lib
import io
import json
import re

import pytest

from ferviz.cli import main
from ferviz.config import MODELS_DIR
from ferviz.report import HEADINGS

#: the cheaper settings (the shipped model's trust table comes from docs/trust/)
LIGHT = ["--pair-sheets", "2", "--region-cells", "1", "--region-faces", "12", "--stress-faces", "150"]


def _pdf_text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)


def _report(model: str, fer_path, out, *extra: str) -> tuple:
    args = ["report", "--model", model, "--data", str(fer_path), "--split", "PrivateTest", "--format", "html", "pdf",
            *LIGHT, *extra, "--out", str(out)]
    assert main(args) == 0
    html = next(out.glob("*_report.html"))
    pdf = next(out.glob("*_report.pdf"))
    return html, pdf


def _metrics(model: str, fer_path, out) -> dict:
    assert main(["evaluate", "--model", model, "--data", str(fer_path), "--split", "PrivateTest", "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("which", ["shipped", "rgb64"])
def test_report_holds_every_heading_and_the_evaluated_accuracy(which, fer_path, other_card, tmp_path):
    model = str(MODELS_DIR / "baseline_cnn.json") if which == "shipped" else str(other_card)
    extra = () if which == "shipped" else ("--trust-n", "4")
    html, pdf = _report(model, fer_path, tmp_path / "a", *extra)
    m = _metrics(model, fer_path, tmp_path / "metrics")
    text = _pdf_text(pdf)
    for h in HEADINGS:
        assert h in text, h
    acc = f"{100 * m['accuracy']:.2f}%"
    assert f"accuracy {acc}" in text
    assert f"accuracy {100 * m['accuracy_excluding_training_duplicates']:.2f}%" in text
    page = html.read_text()
    assert f"accuracy {acc}" in page and page.count("data:image/png;base64,") >= 6
    assert not re.search(r'(?:src|href)="(?!data:|#)', page)
    if which == "shipped":
        assert "Read from docs/trust/baseline_cnn.csv" in text
        assert "No FER+ agreement" in text or "accuracy against the FER+ majority" in text
    else:  # a model in no models/ folder: its trust table is computed on the small fixed sample
        assert "Computed on a fixed sample of 4 random PrivateTest faces" in text
        assert "RGB 64 [-1,1]" in text and '"channels": 3' in html_lib.unescape(page)

    # the same command again (everything cached now): identical apart from the timestamp line
    first_html, first_pdf = html.read_text().splitlines(), text.splitlines()
    html2, pdf2 = _report(model, fer_path, tmp_path / "a", *extra)
    again = html2.read_text().splitlines()
    assert len(again) == len(first_html)
    diff = [x for x, y in zip(first_html, again) if x != y]
    assert len(diff) == 1 and 'class="timestamp">Generated ' in diff[0], diff[:3]
    again = _pdf_text(pdf2).splitlines()
    assert [x for x, y in zip(first_pdf, again) if x != y] == [x for x in first_pdf if x.startswith("Generated ")]
