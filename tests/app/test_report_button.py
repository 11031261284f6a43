"""The Overview's *Download report* button on the tiny data: a click builds the report (with a
progress bar), then offers the HTML and the PDF, which hold the same content as the command line's
report of the same model and split."""
from __future__ import annotations

import html as html_lib
import io

from ferviz.report import HEADINGS, build_report, load_inputs, render
from ferviz.ui.report import _STATE
from tests.app.helpers import app_on


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def test_the_download_button_produces_the_report(tiny_env, monkeypatch):
    at = app_on(tiny_env, monkeypatch).run()
    _ok(at)
    assert not at.get("download_button") or all(not b.proto.label.startswith("Save report")
                                                 for b in at.get("download_button"))
    at.button(key="report_make").click()
    at = at.run(timeout=600)
    _ok(at)
    labels = [b.proto.label for b in at.get("download_button")]
    assert any(lab.startswith("Save report (HTML") for lab in labels), labels
    assert any(lab.startswith("Save report (PDF") for lab in labels), labels
    files = at.session_state[_STATE]["files"]
    name, html = files["html"]
    assert name == "tiny_a_PrivateTest_report.html"
    page = html.decode()
    for h in HEADINGS:
        assert f"<h2>{h}</h2>" in page.replace("&#x27;", "'"), h
    command = html_lib.unescape(next(line for line in page.splitlines()
                                     if line.startswith("<pre>python -m ferviz report"))[5:-6])
    assert command.startswith(f"python -m ferviz report --model {tiny_env['models']}/tiny_a.json --split PrivateTest")
    name, pdf = files["pdf"]
    assert name.endswith(".pdf") and pdf.startswith(b"%PDF")
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert all(h in text for h in HEADINGS)

    # the same content as the core builds for the command (apart from the timestamp line)
    cli = load_inputs("tiny_a", None, None, "PrivateTest", command=command)
    core = render(build_report(cli), "html").decode().splitlines()
    diff = [x for x, y in zip(page.splitlines(), core) if x != y]
    assert len(core) == len(page.splitlines()) and len(diff) == 1 and "Generated " in diff[0], diff[:2]

    at = at.run()  # a rerun keeps the files: nothing is built again
    _ok(at)
    assert at.session_state[_STATE]["files"]["html"][1] == html
