"""The report as data: sections of blocks (paragraphs, tables, figures, side-by-side columns), which
:mod:`ferviz.report.html` and :mod:`ferviz.report.pdf` render, so both files hold the same content."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Paragraph:
    """Plain text (no markup); `kind` is "text", "note" (greyed: why something is left out) or "code"."""

    text: str
    kind: str = "text"


@dataclass(frozen=True)
class Table:
    """Rows of already formatted cells under a header; `caption` says what the numbers are."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    """A PNG figure (bytes from :func:`ferviz.export.figure_bytes`), its width in pixels and a caption."""

    png: bytes
    alt: str
    caption: str = ""
    width_in: float = 6.5


@dataclass(frozen=True)
class Columns:
    """The same kind of content for each model, side by side in HTML and one after the other in PDF."""

    titles: tuple[str, ...]
    parts: tuple[tuple["Block", ...], ...]


Block = Union[Paragraph, Table, Image, Columns]


@dataclass
class Section:
    """One heading and its blocks; `left_out` is the sentence that says why it has no content."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    left_out: str = ""

    def add(self, *blocks: Block) -> "Section":
        self.blocks.extend(blocks)
        return self


@dataclass
class Report:
    """Title, the one line that changes between runs (`timestamp`), and the sections in order."""

    title: str
    subtitle: str
    timestamp: str
    sections: list[Section]


#: every section heading, in order (the report always holds each, with content or a reason)
HEADINGS: tuple[str, ...] = (
    "Summary",
    "Per-class metrics and confusion matrix",
    "Most-confused pairs",
    "Which attribution method to trust",
    "Label issues and FER+ agreement",
    "Training copies",
    "Calibration",
    "Where the model looks: regions of the top cells",
    "Failure slices",
    "Stress test",
    "Where the two models differ",
    "Reproducibility",
)

TIMESTAMP_PREFIX = "Generated "


def left_out(title: str, why: str) -> Section:
    """A section with no content and the sentence saying why."""
    return Section(title, left_out=why)
