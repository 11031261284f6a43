"""Read exported files back (pure Python): what kind, PNG size, the text in SVG and PDF.

Used by the tests and by anything that must verify a download: an export is only
"publication-ready" if its labels and numbers are real text. `pdf_text` understands the
PDFs matplotlib writes (Flate streams; Type 42/CID fonts with ToUnicode maps; simple fonts
as Latin-1), which is enough to search them; it is not a general PDF parser.
"""
from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
import zlib

_OBJ = re.compile(rb"(\d+)\s+0\s+obj(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


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


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    objs = {}
    for m in _OBJ.finditer(pdf):
        body = m.group(2)
        s = _STREAM.search(body)
        stream = None
        if s:
            stream = s.group(1)
            head = body[:s.start()]
            if b"/FlateDecode" in head:
                stream = zlib.decompress(stream)
            body = head
        objs[int(m.group(1))] = (body, stream)
    return objs


def _cmap(text: bytes) -> dict[int, str]:
    out: dict[int, str] = {}

    def uni(h: bytes) -> str:
        return bytes.fromhex(h.decode()).decode("utf-16-be", "replace")
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
            out[int(src, 16)] = uni(dst)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, rest in re.findall(rb"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*(\[[^\]]*\]|<[0-9a-fA-F]+>)", block):
            lo, hi = int(lo, 16), int(hi, 16)
            if rest.startswith(b"["):
                for k, d in enumerate(re.findall(rb"<([0-9a-fA-F]+)>", rest)):
                    out[lo + k] = uni(d)
            else:
                start = int(rest[1:-1], 16)
                for k in range(hi - lo + 1):
                    out[lo + k] = chr(start + k)
    return out


def _fonts(objs) -> dict[bytes, tuple[int, dict[int, str] | None]]:
    """Resource name -> (bytes per code, ToUnicode map or None)."""
    fonts = {}
    for body, _ in objs.values():
        for name, ref in re.findall(rb"/(F\d+)\s+(\d+)\s+0\s+R", body):
            fbody = objs.get(int(ref), (b"", None))[0]
            if b"/Font" not in fbody:
                continue
            width = 2 if b"/Type0" in fbody else 1
            tu = re.search(rb"/ToUnicode\s+(\d+)\s+0\s+R", fbody)
            cmap = _cmap(objs[int(tu.group(1))][1] or b"") if tu else None
            fonts[name] = (width, cmap)
    return fonts


_ESC = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _tokens(stream: bytes):
    i, n = 0, len(stream)
    while i < n:
        c = stream[i:i + 1]
        if c in b" \t\r\n\x00\x0c":
            i += 1
        elif c == b"%":
            while i < n and stream[i:i + 1] not in b"\r\n":
                i += 1
        elif c == b"(":
            depth, i, buf = 1, i + 1, bytearray()
            while i < n:
                ch = stream[i:i + 1]
                if ch == b"\\":
                    nxt = stream[i + 1:i + 2]
                    if nxt in _ESC:
                        buf += _ESC[nxt]
                        i += 2
                    elif nxt.isdigit():
                        octal = re.match(rb"[0-7]{1,3}", stream[i + 1:i + 4]).group(0)
                        buf.append(int(octal, 8) & 0xFF)
                        i += 1 + len(octal)
                    elif nxt in b"\r\n":
                        i += 2
                    else:
                        buf += nxt
                        i += 2
                    continue
                if ch == b"(":
                    depth += 1
                elif ch == b")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                buf += ch
                i += 1
            yield "str", bytes(buf)
        elif c == b"<" and stream[i:i + 2] != b"<<":
            j = stream.index(b">", i)
            h = re.sub(rb"\s", b"", stream[i + 1:j])
            yield "str", bytes.fromhex((h + b"0" * (len(h) % 2)).decode())
            i = j + 1
        elif c in b"[]":
            yield c.decode(), c
            i += 1
        else:
            m = re.match(rb"<<|>>|/[^\s/\[\]()<>{}%]*|[^\s/\[\]()<>{}%]+", stream[i:])
            tok = m.group(0)
            i += len(tok)
            if tok.startswith(b"/"):
                yield "name", tok
            elif re.fullmatch(rb"[+-]?(\d+\.?\d*|\.\d+)", tok):
                yield "num", tok
            else:
                yield "op", tok


def pdf_text(data: bytes) -> str:
    """The text drawn in a matplotlib-written PDF, one text object (BT..ET) per line."""
    if file_kind(data) != "pdf":
        raise ValueError("not a PDF file")
    objs = _objects(data)
    fonts = _fonts(objs)
    lines = []
    for body, stream in objs.values():
        if stream is None or b"BT" not in stream or b"/Subtype" in body:
            continue
        font, operands, line = (1, None), [], []
        for kind, tok in _tokens(stream):
            if kind == "op":
                if tok == b"Tf":
                    names = [t for k, t in operands if k == "name"]
                    if names:
                        font = fonts.get(names[-1][1:], (1, None))
                elif tok in (b"Tj", b"TJ", b"'", b'"'):
                    width, cmap = font
                    for k, s in operands:
                        if k != "str":
                            continue
                        codes = ([int.from_bytes(s[j:j + 2], "big") for j in range(0, len(s) - 1, 2)]
                                 if width == 2 else list(s))
                        line.append("".join((cmap or {}).get(c, chr(c) if cmap is None else "\ufffd")
                                            for c in codes))
                elif tok == b"ET":
                    lines.append("".join(line))
                    line = []
                operands = []
            else:
                operands.append((kind, tok))
    return "\n".join(lines)


def pdf_image_count(data: bytes) -> int:
    """How many raster images (XObjects) a PDF embeds."""
    return len(re.findall(rb"/Subtype\s*/Image\b", data))
