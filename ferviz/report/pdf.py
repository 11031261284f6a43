"""The report as a PDF with the same content as the HTML: A4 pages laid out with matplotlib's object
API and written by its PdfPages (no other dependency). Text is real text in embedded TrueType
(Type 42) fonts, so it can be searched and extracted; figures are the same PNGs as in the HTML.
Reproducible: no creation date, so two runs differ only in the timestamp line's text."""
from __future__ import annotations

import io
import textwrap

import numpy as np

from .document import Block, Columns, Image, Paragraph, Report, Table

PAGE = (8.27, 11.69)  # A4, inches
MARGIN = 0.7
WIDTH = PAGE[0] - 2 * MARGIN
BOTTOM = PAGE[1] - MARGIN
CHAR = 0.56 / 72  # mean glyph width of DejaVu Sans per point of font size, in inches
MONO_CHAR = 0.61 / 72
TABLE_CHAR = 0.62 / 72  # digits and capitals are wider than the mean glyph
_RC = {"pdf.fonttype": 42, "font.family": "DejaVu Sans", "image.composite_image": False}
METADATA = {"Creator": "ferviz", "Producer": "ferviz (matplotlib)", "CreationDate": None}


def _plain(text: str) -> str:
    """Text as matplotlib draws it literally (a pair of $ would start mathtext)."""
    return text.replace("$", r"\$")


class _Pages:
    """A cursor over A4 pages: text lines, tables and images placed top to bottom."""

    def __init__(self) -> None:
        self.figures: list = []
        self.y = BOTTOM  # forces a new page on first use

    def new_page(self) -> None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=PAGE, dpi=72, facecolor="white")
        fig.text(0.5, 0.35 / PAGE[1], f"{len(self.figures) + 1}", ha="center", va="bottom", fontsize=7,
                 color="0.5")
        self.figures.append(fig)
        self.y = MARGIN

    def need(self, height: float) -> None:
        if self.y + height > BOTTOM:
            self.new_page()

    def text(self, line: str, size: float, *, x: float = 0.0, weight: str = "normal", color: str = "black",
             family: str | None = None, advance: bool = True) -> None:
        h = size * 1.35 / 72
        self.need(h)
        kw = {"family": family} if family else {}
        self.figures[-1].text((MARGIN + x) / PAGE[0], 1 - self.y / PAGE[1], _plain(line), fontsize=size,
                              fontweight=weight, color=color, va="top", ha="left", **kw)
        if advance:
            self.y += h

    def paragraph(self, text: str, size: float = 9.5, *, color: str = "black", style: str = "text",
                  width: float = WIDTH) -> None:
        mono = style == "code"
        chars = max(10, int(width / ((MONO_CHAR if mono else CHAR) * size)))
        for raw in text.split("\n"):
            lines = (textwrap.wrap(raw, chars, break_long_words=True, replace_whitespace=False,
                                   drop_whitespace=not mono) or [""]) if raw.strip() else [""]
            for line in lines:
                self.text(line, size, color=color, family="DejaVu Sans Mono" if mono else None)
        self.y += size * 0.5 / 72

    def table(self, t: Table, size: float = 7.5) -> None:
        ncol = len(t.header)
        lens = [max([len(t.header[j])] + [len(r[j]) for r in t.rows]) + 2 for j in range(ncol)]
        while sum(lens) * TABLE_CHAR * size > WIDTH and size > 6.0:  # a wide table: smaller type first
            size -= 0.25
        avail = int(WIDTH / (TABLE_CHAR * size))
        if sum(lens) > avail:  # then shrink the widest columns (their cells wrap) until it fits
            lens = _fit(lens, avail)
        xs = np.concatenate([[0.0], np.cumsum(lens)]) * TABLE_CHAR * size
        line_h = size * 1.3 / 72
        for k, row in enumerate((t.header, *t.rows)):
            cells = [textwrap.wrap(c, max(4, lens[j] - 2)) or [""] for j, c in enumerate(row)]
            h = max(len(c) for c in cells) * line_h + 0.03
            self.need(h)
            fig, top = self.figures[-1], self.y
            for j, lines in enumerate(cells):
                for m, line in enumerate(lines):
                    fig.text((MARGIN + xs[j]) / PAGE[0], 1 - (top + m * line_h) / PAGE[1], _plain(line),
                             fontsize=size, va="top", fontweight="bold" if k == 0 else "normal")
            y_line = 1 - (top + h - 0.015) / PAGE[1]
            fig.add_artist(_rule(y_line, xs[-1], "0.3" if k == 0 else "0.85"))
            self.y += h
        if t.caption:
            self.paragraph(t.caption, 7.5, color="0.35")
        self.y += 0.06

    def image(self, b: Image) -> None:
        import matplotlib.image as mpimg

        arr = mpimg.imread(io.BytesIO(b.png), format="png")
        h_px, w_px = arr.shape[:2]
        w = min(WIDTH, b.width_in)
        h = w * h_px / w_px
        if h > BOTTOM - MARGIN - 0.4:  # taller than a page: scale down
            h = BOTTOM - MARGIN - 0.4
            w = h * w_px / h_px
        self.need(h + 0.1)
        fig = self.figures[-1]
        ax = fig.add_axes(((MARGIN + (WIDTH - w) / 2) / PAGE[0], 1 - (self.y + h) / PAGE[1], w / PAGE[0], h / PAGE[1]))
        ax.imshow(arr, interpolation="none", aspect="auto")
        ax.set_axis_off()
        self.y += h + 0.08
        if b.caption:
            self.paragraph(b.caption, 7.5, color="0.35")

    def block(self, b: Block) -> None:
        if isinstance(b, Paragraph):
            if b.kind == "code":
                self.paragraph(b.text, 7.0, style="code")
            else:
                self.paragraph(b.text, 9.5, color="0.4" if b.kind == "note" else "black")
        elif isinstance(b, Table):
            self.table(b)
        elif isinstance(b, Image):
            self.image(b)
        elif isinstance(b, Columns):
            for title, part in zip(b.titles, b.parts):
                self.need(0.6)
                self.text(title, 11, weight="bold")
                for x in part:
                    self.block(x)
        else:
            raise TypeError(f"not a report block: {type(b).__name__}")


def _fit(lens: list[int], avail: int) -> list[int]:
    lens = list(lens)
    while sum(lens) > avail and max(lens) > 8:
        j = int(np.argmax(lens))
        lens[j] -= 1
    return lens


def _rule(y: float, width_in: float, color: str):
    from matplotlib.lines import Line2D

    x0 = MARGIN / PAGE[0]
    return Line2D([x0, x0 + width_in / PAGE[0]], [y, y], lw=0.5, color=color)


def to_pdf(report: Report) -> bytes:
    """PDF bytes of the whole report."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    with matplotlib.rc_context(_RC):
        pages = _Pages()
        pages.new_page()
        pages.paragraph(report.title, 17)
        pages.paragraph(report.subtitle, 10, color="0.25")
        pages.text(report.timestamp, 8.5, color="0.45")
        pages.y += 0.15
        for s in report.sections:
            pages.need(0.9)  # a heading is not left alone at the bottom of a page
            pages.y += 0.1
            pages.text(s.title, 14, weight="bold")
            pages.y += 0.04
            if s.left_out:
                pages.paragraph(s.left_out, 9.5, color="0.4")
            for b in s.blocks:
                pages.block(b)
        buf = io.BytesIO()
        with PdfPages(buf, metadata={**METADATA, "Title": report.title}) as pdf:
            for fig in pages.figures:
                pdf.savefig(fig)
    return buf.getvalue()
