"""One file to hand in: an error-analysis report of a model, or of two side by side, as one
self-contained HTML file and a PDF with the same content (``python -m ferviz report``, the
Overview's *Download report*).

    inp = load_inputs("baseline_cnn", vs="vgg_small_ft", split="PrivateTest")
    report = build_report(inp, progress=lambda f, t: print(f"{f:.0%} {t}"))
    write_report(report, inp, "out/report", ("html", "pdf"))

The report is data first (:mod:`.document`: sections of paragraphs, tables, figures, side-by-side
columns), built by :mod:`.sections`, :mod:`.explanations`, :mod:`.findings` and
:mod:`.reproducibility` from the functions the rest of ferviz uses, then rendered by :mod:`.html`
and :mod:`.pdf`. Every heading of :data:`HEADINGS` is always there, with its content or a sentence
saying why it is left out. Same inputs, same bytes, apart from the timestamp line.
"""
from .build import FORMATS, build_report, file_name, load_inputs, render, timestamp_line, write_report
from .document import HEADINGS, TIMESTAMP_PREFIX, Report, Section
from .inputs import Inputs, Options

__all__ = ["FORMATS", "HEADINGS", "TIMESTAMP_PREFIX", "Inputs", "Options", "Report", "Section", "build_report",
           "file_name", "load_inputs", "render", "timestamp_line", "write_report"]
