"""Figures to bytes: PNG, SVG or PDF, without pyplot.

Text stays text: SVG is written with ``svg.fonttype='none'`` (searchable, editable
<text> elements) and PDF with TrueType (Type 42) fonts, whose ToUnicode maps make the
labels and numbers extractable and searchable. Output is reproducible: no creation
dates, fixed SVG ids.

PNG size: the image is exactly ``figure size (inches) x dpi`` pixels. No
``bbox_inches='tight'`` is used, so what the figure functions lay out is what is
written. When ``size x dpi`` is not a whole number of pixels the figure is first
snapped to the nearest whole pixel count (its size in inches changes by < 1 px).
"""
from __future__ import annotations

import io

import matplotlib
from matplotlib.figure import Figure

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf", "csv": "text/csv"}

_RC = {"svg.fonttype": "none", "pdf.fonttype": 42, "ps.fonttype": 42, "svg.hashsalt": "ferviz",
       "savefig.bbox": "standard"}
_METADATA = {"png": {"Software": "ferviz"}, "svg": {"Date": None, "Creator": "ferviz"},
             "pdf": {"Creator": "ferviz", "Producer": "ferviz (matplotlib)", "CreationDate": None}}


class ExportError(ValueError):
    """Bad export input (format, size, cell, ids); the message says which value and why."""


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
    if fmt == "png":
        w, h = fig.get_size_inches()
        pw, ph = pixel_size(fig, dpi)
        if abs(w * dpi - pw) > 1e-6 or abs(h * dpi - ph) > 1e-6:
            fig.set_size_inches(pw / dpi, ph / dpi)
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt],
                    facecolor=fig.get_facecolor())
    return buf.getvalue()
