"""The report as one self-contained HTML file: styles inline, figures as base64 PNG data URIs, no
script and no link to anything outside the file, so it opens offline. The timestamp is the only
line that changes between runs (``<p class="timestamp">``, on a line of its own)."""
from __future__ import annotations

import base64
from html import escape

from .document import Block, Columns, Image, Paragraph, Report, Table

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d1d1f;
max-width:1100px;margin:2em auto;padding:0 1.2em;line-height:1.45;font-size:15px}
h1{font-size:1.7em;margin-bottom:.1em}h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid #ddd;
padding-bottom:.2em}h3{font-size:1.05em;margin:.6em 0 .3em}
.subtitle{color:#444;margin:.2em 0}.timestamp{color:#777;font-size:.9em;margin:.2em 0 1em}
.note{color:#666;font-style:italic}
pre{background:#f6f6f6;padding:.6em .8em;overflow-x:auto;font-size:.85em;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}th,td{border:1px solid #ddd;padding:.25em .55em;
text-align:left;vertical-align:top}th{background:#f2f2f2}caption{caption-side:bottom;color:#666;
font-size:.9em;text-align:left;padding-top:.3em}
figure{margin:.8em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.88em}
.columns{display:grid;grid-template-columns:1fr 1fr;gap:1.2em}.columns>div{min-width:0}
nav ol{columns:2;font-size:.92em}
@media print{.columns{grid-template-columns:1fr}}
""".strip()


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def _block(b: Block) -> str:
    if isinstance(b, Paragraph):
        if b.kind == "code":
            return f"<pre>{escape(b.text)}</pre>"
        cls = ' class="note"' if b.kind == "note" else ""
        return f"<p{cls}>{escape(b.text)}</p>"
    if isinstance(b, Table):
        head = "".join(f"<th>{escape(h)}</th>" for h in b.header)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in b.rows)
        cap = f"<caption>{escape(b.caption)}</caption>" if b.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(b, Image):
        data = base64.b64encode(b.png).decode("ascii")
        cap = f"<figcaption>{escape(b.caption)}</figcaption>" if b.caption else ""
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(b.alt)}" '
                f'style="width:{b.width_in * 96:.0f}px">{cap}</figure>')
    if isinstance(b, Columns):
        cols = "".join(f"<div><h3>{escape(t)}</h3>" + "\n".join(_block(x) for x in part) + "</div>"
                       for t, part in zip(b.titles, b.parts))
        return f'<div class="columns">{cols}</div>'
    raise TypeError(f"not a report block: {type(b).__name__}")


def to_html(report: Report) -> bytes:
    """UTF-8 bytes of the whole page."""
    toc = "".join(f'<li><a href="#{_anchor(s.title)}">{escape(s.title)}</a></li>' for s in report.sections)
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'\">",
             f"<title>{escape(report.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
             f"<h1>{escape(report.title)}</h1>", f'<p class="subtitle">{escape(report.subtitle)}</p>',
             f'<p class="timestamp">{escape(report.timestamp)}</p>',
             f"<nav><ol>{toc}</ol></nav>"]
    for s in report.sections:
        parts.append(f'<section id="{_anchor(s.title)}"><h2>{escape(s.title)}</h2>')
        if s.left_out:
            parts.append(f'<p class="note">{escape(s.left_out)}</p>')
        parts.extend(_block(b) for b in s.blocks)
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts).encode("utf-8")
