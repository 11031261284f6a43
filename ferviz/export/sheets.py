"""A contact sheet of one confusion cell: every (or the first N) face, with p(pred) and id.

The sheet is one Axes whose data coordinates are inches (y down); each row of faces is one
image (the faces side by side with white gaps, see `row_mosaic`) placed by `extent`, and
the labels are text at computed positions. That is far faster than an Axes (or an
image) per face, in every format, and exact in layout. Faces keep their native pixels
(nearest-neighbour) in PNG and are embedded at native resolution in SVG/PDF.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..figures.overlay import DEFAULT_CMAP, overlay
from ._common import (
    ARROW,
    TEXT_GRAY,
    check_class,
    check_face,
    check_probs,
    check_size,
    check_style,
    name,
    new_figure,
    pct,
)
from .render import ExportError

MARGIN_IN = 0.15
HEADER_IN = 0.80
MIN_WIDTH_IN = 3.0
TITLE_CHAR_IN, SUB_CHAR_IN = 0.095, 0.062  # generous average glyph widths (11pt bold, 8pt)


def gap_px(width: int) -> tuple[int, int]:
    """(left gap, pitch) in pixels of one tile in a row mosaic of faces `width` pixels wide."""
    gap = max(2, round(0.04 * width))
    return gap // 2, width + gap


def row_mosaic(tiles: list[np.ndarray], gap_l: int, pitch: int) -> np.ndarray:
    """Faces side by side with white gaps: one image per sheet row (fast to draw and to embed)."""
    h, w = tiles[0].shape[:2]
    out = np.full((h, pitch * len(tiles)) + tiles[0].shape[2:], 255, np.uint8)
    for c, t in enumerate(tiles):
        out[:, c * pitch + gap_l:c * pitch + gap_l + w] = t
    return out


def _tile(face: np.ndarray, m: np.ndarray | None, cmap: str, alpha: float) -> np.ndarray:
    return face if m is None else overlay(face, m, alpha=alpha, cmap=cmap)


def _check_inputs(faces, probs, ids, overlays, pred):
    faces = np.asarray(faces)
    if faces.ndim == 4 and faces.shape[-1] == 1:
        faces = faces[..., 0]
    if faces.ndim not in (3, 4) or len(faces) == 0:
        raise ExportError(f"faces must be a non-empty stack (N, H, W), got shape {faces.shape}")
    n = len(faces)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 2:
        p = check_probs(p, classes=[pred])[:, pred]
    if p.shape != (n,) or not np.isfinite(p).all():
        raise ExportError(f"probs must be (N, K) class probabilities or (N,) p(pred) for N={n} faces, got shape "
                          f"{np.shape(probs)}")
    ids = [str(i) for i in (ids if ids is not None else range(n))]
    if len(ids) != n:
        raise ExportError(f"ids must have one entry per face ({n}), got {len(ids)}")
    if overlays is not None:
        overlays = np.asarray(overlays, dtype=np.float32)
        if overlays.ndim != 3 or len(overlays) != n:
            raise ExportError(f"overlays must be (N, H, W) for N={n} faces, got shape {overlays.shape}")
    return faces, p, ids, overlays


def cell_sheet(faces: np.ndarray, probs: np.ndarray, ids: Sequence[str] | None, *,
               true: int | str, pred: int | str, model_name: str = "", split: str = "",
               overlays: np.ndarray | None = None, limit: int | None = None, cols: int = 10,
               total: int | None = None, method: str | None = None, note: str = "",
               cmap: str = DEFAULT_CMAP, alpha: float = 0.5, tile_in: float = 1.0,
               size_in: Sequence[float] | None = None, dpi: float = 150, show_ids: bool = True):
    """A grid of the faces of one confusion cell (true -> pred), in the order given.

    faces: (N, H, W) uint8; probs: (N, K) with column k = class k of :data:`ferviz.labels.NAMES`
    (p(pred) is shown) or (N,) already p(pred);
    ids: one per face (shown under it); overlays: optional (N, H, W) maps in [0, 1],
    blended with `cmap`/`alpha` (`method` names them in the header); limit: show only the
    first `limit` faces; total: the cell's full size for the header (default N).
    """
    t, p_idx = check_class(true, "true"), check_class(pred, "pred")
    if t is None or p_idx is None:
        raise ExportError("a cell sheet needs both true and pred")
    faces, p, ids, overlays = _check_inputs(faces, probs, ids, overlays, p_idx)
    if overlays is not None:
        check_style(cmap, alpha)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ExportError(f"limit must be a positive integer, got {limit!r}")
    if isinstance(cols, bool) or not isinstance(cols, int) or not 1 <= cols <= 50:
        raise ExportError(f"cols must be an integer in 1-50, got {cols!r}")
    total = len(faces) if total is None else int(total)
    n = min(len(faces), limit or len(faces))
    ncols = min(cols, n)
    nrows = math.ceil(n / ncols)
    label_in = 0.30 * tile_in if show_ids else 0.18 * tile_in
    fixed = check_size(size_in)
    if fixed:  # fit the tiles into the requested size
        tile_in = min((fixed[0] - 2 * MARGIN_IN) / ncols,
                      (fixed[1] - HEADER_IN - MARGIN_IN) / (nrows * (1 + 0.30 if show_ids else 1.18)))
        if tile_in <= 0.05:
            raise ExportError(f"size {size_in!r} is too small for {n} faces")
        label_in = 0.30 * tile_in if show_ids else 0.18 * tile_in
    shown = f" (first {n} shown)" if n < total else ""
    title = f"true {name(t)} {ARROW} predicted {name(p_idx)}, {total} images{shown}"
    line1 = "   ·   ".join(s for s in (model_name, split, note) if s)
    n_blank = 0 if overlays is None else int((np.nan_to_num(overlays[:n]).reshape(n, -1).max(axis=1) <= 0).sum())
    line2 = [f"overlay: {method or 'attribution'} ({cmap}, opacity {alpha:.2f})"
             + (f", {n_blank} map(s) with no positive evidence" if n_blank else "")] if overlays is not None else []
    line2 = "   ·   ".join(line2 + [f"label: p({name(p_idx)})" + (" and image id" if show_ids else "")])
    text_w = max(len(title) * TITLE_CHAR_IN, max(len(line1), len(line2)) * SUB_CHAR_IN) + 2 * MARGIN_IN
    grid_w = ncols * tile_in
    width, height = fixed or (max(MIN_WIDTH_IN, text_w, grid_w + 2 * MARGIN_IN),
                              HEADER_IN + nrows * (tile_in + label_in) + MARGIN_IN)
    fig = new_figure((width, height), dpi, constrained=False)
    ax = fig.add_axes((0, 0, 1, 1))
    x_left = (width - grid_w) / 2
    fs = float(np.clip(6.0 * tile_in, 3.5, 10))
    tiles = [_tile(check_face(faces[k], f"face {k}"), None if overlays is None else overlays[k], cmap, alpha)
             for k in range(n)]
    rgb = any(t.ndim == 3 for t in tiles)
    tiles = [np.repeat(t[..., None], 3, axis=-1) if rgb and t.ndim == 2 else t for t in tiles]
    h_px, w_px = tiles[0].shape[:2]
    if any(t.shape[:2] != (h_px, w_px) for t in tiles):
        raise ExportError("all faces (and overlays) of a sheet must have the same size")
    gap_l, pitch = gap_px(w_px)
    px_in = tile_in / pitch  # inches per face pixel
    face_h = h_px * px_in
    for r in range(nrows):
        row = tiles[r * ncols:(r + 1) * ncols]
        y0 = HEADER_IN + r * (tile_in + label_in)
        ax.imshow(row_mosaic(row, gap_l, pitch), extent=(x_left, x_left + len(row) * tile_in, y0 + face_h, y0),
                  interpolation="nearest", **({} if rgb else {"cmap": "gray", "vmin": 0, "vmax": 255}))
        for c in range(len(row)):
            k = r * ncols + c
            xc = x_left + c * tile_in + (gap_l + w_px / 2) * px_in
            blank = overlays is not None and not np.nan_to_num(overlays[k]).max() > 0
            ax.text(xc, y0 + face_h + 0.03 * tile_in, pct(p[k]) + (" · no evidence" if blank else ""),
                    ha="center", va="top", fontsize=fs * (0.8 if blank else 1.0),
                    color="#b00020" if blank else "black")
            if show_ids:
                ax.text(xc, y0 + face_h + 0.15 * tile_in, ids[k], ha="center", va="top",
                        fontsize=fs * 0.8, color=TEXT_GRAY)
    ax.text(MARGIN_IN, 0.22, title, fontsize=11, fontweight="bold", va="center")
    ax.text(MARGIN_IN, 0.46, line1, fontsize=8, color=TEXT_GRAY, va="center")
    ax.text(MARGIN_IN, 0.64, line2, fontsize=8, color=TEXT_GRAY, va="center")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_aspect("auto")
    ax.set_axis_off()
    return fig
