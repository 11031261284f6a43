"""Read exported files back in tests: what kind, PNG size, the text in SVG and PDF (pypdf)."""
from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET


def file_kind(data: bytes) -> str | None:
    """'png', 'pdf', 'svg' from the magic bytes / root element, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"%PDF-"):
        return "pdf"
    head = data[:2048].lstrip()
    if head.startswith(b"<?xml") or head.startswith(b"<svg"):
        return "svg" if b"<svg" in data[:4096] else None
    return None


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if file_kind(data) != "png" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def svg_text(data: bytes) -> str:
    """All text in an SVG's <text> elements, one element per line."""
    root = ET.fromstring(data)
    return "\n".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("}text") or el.tag == "text")


def pdf_text(data: bytes) -> str:
    """The text drawn in a PDF (all pages), one drawn string per line, as pypdf decodes it."""
    from pypdf import PdfReader

    if file_kind(data) != "pdf":
        raise ValueError("not a PDF file")
    pieces: list[str] = []

    def visit(text, *_):
        if text.strip():
            pieces.append(text.strip())
    for page in PdfReader(io.BytesIO(data)).pages:
        page.extract_text(visitor_text=visit)
    return "\n".join(pieces)


def pdf_image_count(data: bytes) -> int:
    """How many raster images a PDF's pages draw (pypdf's page.images)."""
    from pypdf import PdfReader

    return sum(len(page.images) for page in PdfReader(io.BytesIO(data)).pages)
