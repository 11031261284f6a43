"""Figures to bytes: PNG, SVG or PDF, without pyplot.

Text stays text: SVG is written with ``svg.fonttype='none'`` (searchable, editable
<text> elements) and PDF with TrueType (Type 42) fonts, whose ToUnicode maps make the
labels and numbers extractable and searchable. Output is reproducible: no creation
dates, numbered SVG clip ids.

PNG size: the image is exactly ``figure size (inches) x dpi`` pixels. No
``bbox_inches='tight'`` is used, so what the figure functions lay out is what is
written. When ``size x dpi`` is not a whole number of pixels the figure is rendered at
the nearest whole pixel count (its size in inches changes by < 1 px for that render
only; the figure is left as it was).
"""
from __future__ import annotations

import io
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..errors import ExportError

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
MAX_PNG_PIXELS = 150_000_000  # ~600 MB of RGBA while rendering
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "csv": "text/csv"}

_RC = {"svg.fonttype": "none", "pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "ferviz",
       "image.composite_image": False,
       "savefig.bbox": "standard"}
_METADATA = {"png": {"Software": "ferviz"}, "svg": {"Date": None, "Creator": "ferviz"},
             "pdf": {"Creator": "ferviz", "Producer": "ferviz (matplotlib)", "CreationDate": None}}



def check_format(fmt: str) -> str:
    f = str(fmt).lower().lstrip(".")
    if f not in FORMATS:
        raise ExportError(f"unknown figure format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return f


def check_dpi(dpi: float | None) -> float | None:
    if dpi is None:
        return None
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 10 <= dpi <= 2400:
        raise ExportError(f"dpi must be a number in 10-2400, got {dpi!r}")
    return float(dpi)


def pixel_size(fig: Figure, dpi: float | None = None) -> tuple[int, int]:
    """The (width, height) in pixels a PNG of `fig` at `dpi` will have."""
    d = fig.dpi if dpi is None else dpi
    w, h = fig.get_size_inches()
    return round(w * d), round(h * d)


def figure_bytes(fig: Figure, fmt: str = "png", dpi: float | None = None) -> bytes:
    """Render `fig` as PNG, SVG or PDF bytes (dpi: default the figure's own dpi).

    For PNG the result is exactly ``pixel_size(fig, dpi)`` pixels; for SVG/PDF the dpi only
    sets the resolution of embedded raster images (faces, overlays).
    """
    fmt = check_format(fmt)
    dpi = check_dpi(dpi) or float(fig.dpi)
    size = fig.get_size_inches().copy()
    if fmt == "png":
        pw, ph = pixel_size(fig, dpi)
        if pw * ph > MAX_PNG_PIXELS or max(pw, ph) >= 1 << 16:
            raise ExportError(f"a {pw}x{ph} px PNG is too large; lower the dpi, the size or the number of images")
        if abs(size[0] * dpi - pw) > 1e-6 or abs(size[1] * dpi - ph) > 1e-6:
            fig.set_size_inches(pw / dpi, ph / dpi)  # snap to whole pixels (restored below)
    buf = io.BytesIO()
    try:
        with matplotlib.rc_context(_RC):
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt],
                        facecolor=fig.get_facecolor())
    finally:
        if not np.array_equal(fig.get_size_inches(), size):
            fig.set_size_inches(size)
    data = buf.getvalue()
    return _stable_svg_ids(data) if fmt == "svg" else data


def _stable_svg_ids(svg: bytes) -> bytes:
    """Matplotlib names clip paths after object ids (different every run): number them instead."""
    ids = list(dict.fromkeys(re.findall(rb'id="(p[0-9a-f]{10})"', svg)))
    for k, old in enumerate(ids, start=1):
        new = b"clip%d" % k
        svg = svg.replace(b'id="' + old + b'"', b'id="' + new + b'"').replace(b"#" + old + b")", b"#" + new + b")")
    return svg
