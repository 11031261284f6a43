"""Validation and small drawing helpers shared by the figure builders."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..figures.overlay import CMAPS, colormap_lut
from ..labels import NAMES, class_index
from .render import ExportError, check_dpi

TEXT_GRAY = "0.35"
CORRECT = "\u2713 correct"  # check mark
WRONG = "\u2717 wrong"  # ballot x
OUTSIDE = "not a class of the model (counted apart)"  # a true class the model cannot output
ARROW = "\u2192"


def check_face(face: np.ndarray, what: str = "face") -> np.ndarray:
    f = np.asarray(face)
    if f.ndim == 3 and f.shape[-1] == 1:
        f = f[..., 0]
    if not (f.ndim == 2 or (f.ndim == 3 and f.shape[-1] == 3)) or min(f.shape[:2]) < 2:
        raise ExportError(f"{what} must be a grayscale (H, W) or RGB (H, W, 3) image, got shape {np.shape(face)}")
    if f.dtype != np.uint8:
        if not np.isfinite(f).all():
            raise ExportError(f"{what} has non-finite pixels")
        f = np.clip(np.round(f), 0, 255).astype(np.uint8)
    return f


def check_probs(probs: np.ndarray, what: str = "probs", classes: Sequence[int | str] | None = None) -> np.ndarray:
    """float64 probabilities (..., K), column k = class k of :data:`ferviz.labels.NAMES`, 2 <= K <= 10;
    with `classes` (the classes shown, e.g. a model's), each must have a column."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim < 1 or not 2 <= p.shape[-1] <= len(NAMES):
        raise ExportError(f"{what} must have 2-{len(NAMES)} class probabilities per image (column k = class k: "
                          f"{', '.join(NAMES)}), got shape {p.shape}")
    if classes is not None:
        ids = [check_class(c, what) for c in classes]
        if not ids or max(ids) >= p.shape[-1]:
            have = ", ".join(NAMES[:p.shape[-1]])
            raise ExportError(f"{what} has {p.shape[-1]} class probabilities per image ({have}), not one for each "
                              f"of {', '.join(NAMES[c] for c in ids) or 'no class'}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise ExportError(f"{what} must be finite and non-negative")
    return p


def check_map(m: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(m, dtype=np.float32)
    if a.ndim != 2:
        raise ExportError(f"overlay {what!r} must be a 2-D map, got shape {a.shape}")
    return a


def check_class(c: int | str | None, what: str) -> int | None:
    if c is None:
        return None
    try:
        return class_index(int(c) if isinstance(c, (np.integer,)) else c)
    except ValueError as e:
        raise ExportError(f"{what}: {e}") from None


def check_style(cmap: str, alpha: float) -> None:
    try:
        colormap_lut(cmap)
    except ValueError:
        raise ExportError(f"unknown colormap {cmap!r}; try one of {', '.join(CMAPS)}") from None
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ExportError(f"opacity (alpha) must lie in [0, 1], got {alpha!r}")


def check_size(size_in: Sequence[float] | None) -> tuple[float, float] | None:
    if size_in is None:
        return None
    try:
        w, h = (float(v) for v in size_in)
    except (TypeError, ValueError):
        raise ExportError(f"size must be (width, height) in inches, got {size_in!r}") from None
    if not (0.5 <= w <= 100 and 0.5 <= h <= 100) or math.isnan(w + h):
        raise ExportError(f"size must be 0.5-100 inches per side, got {size_in!r}")
    return w, h


def new_figure(size: tuple[float, float], dpi: float, *, constrained: bool):
    from matplotlib.figure import Figure

    check_dpi(dpi)
    return Figure(figsize=size, dpi=dpi, layout="constrained" if constrained else None,
                  facecolor="white")


def freeze_layout(fig):
    """Run constrained layout once and keep its result: every later render (any format, any
    dpi) then draws the same layout, and faster."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig


def pct(p: float) -> str:
    """A probability as the text the figures show (and tests search for): '62.3%'."""
    return f"{100.0 * float(p):.1f}%"


def name(c: int) -> str:
    """The name of class index `c` (:data:`ferviz.labels.NAMES`)."""
    return NAMES[int(c)]
