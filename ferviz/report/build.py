"""Build a report (one model, or two side by side) and write it as HTML and/or PDF."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Iterable

from .document import TIMESTAMP_PREFIX, Report, Section
from .inputs import Inputs, Options, Progress, labels_text

FORMATS: tuple[str, ...] = ("html", "pdf")


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress:
    """A progress callback mapping [0, 1] of one step onto [lo, hi] of the whole."""
    def update(frac: float, text: str = "") -> None:
        if progress:
            progress(lo + (hi - lo) * min(1.0, max(0.0, float(frac))), text)
    return update


def timestamp_line(now: _dt.datetime | None = None) -> str:
    """The one line that differs between two runs of the same report."""
    from .. import __version__

    now = now or _dt.datetime.now(_dt.timezone.utc)
    return f"{TIMESTAMP_PREFIX}{now.astimezone(_dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC by ferviz {__version__}"


def load_inputs(model: str, vs: str | None = None, data: str | None = None, split: str = "PrivateTest", *,
                options: Options | None = None, command: str = "", progress: Progress | None = None,
                labels: str = "fer2013") -> Inputs:
    """Cards, data (with `labels`: "fer2013", the dataset's own, or "ferplus", FER+'s majority
    vote) and each model's (cached) evaluation."""
    from ..analysis.evaluation import evaluate
    from ..data.splits import load_all
    from ..errors import ReportError
    from ..models import find_card

    cards = [find_card(model)] + ([find_card(vs)] if vs else [])
    if len(cards) == 2 and cards[0].compute_key() == cards[1].compute_key():
        raise ReportError(f"--vs names the same model as --model ({cards[0].name}); give another model")
    step = _scaled(progress, 0.0, 1.0)
    step(0.0, "loading the data")
    splits = load_all(data, labels=labels)
    sp = splits[splits.resolve(split)] if hasattr(splits, "resolve") else splits[split]
    evs = []
    for i, card in enumerate(cards):
        evs.append(evaluate(card, sp, progress=_scaled(step, (i + 0.1) / len(cards), (i + 1) / len(cards))))
    return Inputs(cards, sp, splits, evs, str(data or ""), options or Options(), command)


def build_report(inp: Inputs, *, progress: Progress | None = None, now: _dt.datetime | None = None) -> Report:
    """Every section of the report (:data:`ferviz.report.document.HEADINGS`) for `inp`."""
    from . import explanations, findings, sections
    from .reproducibility import reproducibility

    p = _scaled(progress, 0.0, 1.0)
    out: list[Section] = []
    p(0.0, "summary and per-class metrics")
    out += [sections.summary(inp), sections.per_class(inp)]
    p(0.06, "most-confused pairs and face sheets")
    out.append(sections.confused_pairs(inp))
    p(0.12, "which attribution method to trust")
    out.append(explanations.trust(inp, _scaled(progress, 0.12, 0.45)))
    p(0.45, "label issues and FER+")
    out.append(sections.label_issues(inp))
    p(0.48, "Training copies")
    out.append(sections.training_copies(inp))
    p(0.52, "calibration")
    out.append(sections.calibration(inp))
    p(0.55, "regions of the top cells")
    out.append(explanations.regions(inp, _scaled(progress, 0.55, 0.7)))
    p(0.7, "failure slices")
    analyses = findings.failure_analyses(inp, _scaled(progress, 0.7, 0.8)) if inp.options.slices else None
    out.append(findings.failure_slices(inp, analyses))
    p(0.8, "stress test")
    out.append(findings.stress_test(inp, _scaled(progress, 0.8, 0.98)))
    out.append(findings.differences(inp, analyses))
    out.append(reproducibility(inp))
    p(1.0, "done")
    split = inp.split
    data = "FER2013 " if not split.name else ""
    title = " vs ".join(inp.names)
    subtitle = (f"Error analysis on {data}{split.title} ({len(split):,} images, "
                f"{Path(str(split.source)).name}; {labels_text(split)})")
    return Report(f"ferviz report: {title}", subtitle, timestamp_line(now), out)


def render(report: Report, fmt: str) -> bytes:
    """The report as HTML or PDF bytes."""
    from ..errors import ReportError

    if fmt == "html":
        from .html import to_html

        return to_html(report)
    if fmt == "pdf":
        from .pdf import to_pdf

        return to_pdf(report)
    raise ReportError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")


def file_name(inp: Inputs, fmt: str) -> str:
    """``<model>[_vs-<model2>]_<split>_report.<fmt>`` (file-name safe)."""
    from ..export.naming import safe_part

    parts = [safe_part(inp.cards[0].key, "model key")]
    if inp.pair:
        parts.append("vs-" + safe_part(inp.cards[1].key, "model key"))
    return "_".join(parts + [safe_part(inp.split.title, "split"), "report"]) + "." + fmt


def write_report(report: Report, inp: Inputs, out: str | Path, formats: Iterable[str] = FORMATS) -> list[Path]:
    """Write the report in each format into folder `out` (created); the paths written."""
    from ..cache import atomic_write_bytes

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in dict.fromkeys(formats):
        path = folder / file_name(inp, fmt)
        atomic_write_bytes(path, render(report, fmt))
        written.append(path)
    return written
