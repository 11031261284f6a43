"""The confusion-matrix figure: counts or row-normalised shares, annotated, with colorbar."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..labels import EMOTIONS, NUM_CLASSES
from ._common import TEXT_GRAY, check_size, freeze_layout, new_figure
from .render import ExportError


def confusion_figure(cm: np.ndarray, *, normalize: bool = False, accuracy: float | None = None,
                     model_name: str = "", split: str = "", cmap: str = "Blues",
                     classes: Sequence[str] = EMOTIONS, size_in: Sequence[float] | None = None,
                     dpi: float = 150):
    """Rows true, columns predicted. cm: (7, 7) counts (as from Evaluation.confusion()).

    normalize: show each row divided by its total (recall on the diagonal), counts stay
    in the subtitle's n; accuracy: shown in the title (default: computed from the counts).
    """
    import matplotlib

    c = np.asarray(cm, dtype=np.float64)
    k = len(classes)
    if c.shape != (k, k) or k != NUM_CLASSES:
        raise ExportError(f"cm must be {NUM_CLASSES}x{NUM_CLASSES} with one class name per row, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ExportError("cm must hold finite, non-negative values")
    if cmap not in matplotlib.colormaps:
        raise ExportError(f"unknown colormap {cmap!r}")
    integral = bool(np.all(c == np.round(c)))
    if accuracy is None and integral and c.sum() > 0:
        accuracy = float(np.trace(c) / c.sum())
    if accuracy is not None and not 0.0 <= accuracy <= 1.0:
        raise ExportError(f"accuracy must lie in [0, 1], got {accuracy!r}")
    if normalize:
        rows = c.sum(axis=1, keepdims=True)
        values = np.divide(c, rows, out=np.zeros_like(c), where=rows > 0)
        vmax = 1.0
    else:
        values, vmax = c, max(1.0, float(c.max()))

    fig = new_figure(check_size(size_in) or (6.4, 5.6), dpi, constrained=True)
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    cb = fig.colorbar(im, ax=ax, shrink=0.85)
    cb.set_label("share of the true class" if normalize else "images", fontsize=9)
    colormap = matplotlib.colormaps[cmap]
    for i in range(k):
        for j in range(k):
            v = values[i, j]
            text = f"{v:.2f}" if normalize or not integral else f"{int(v)}"
            r, g, b, _ = colormap(v / vmax)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if dark else "black",
                    fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(k), list(classes), rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    head = " on ".join(s for s in (model_name, split) if s)
    acc = f"accuracy {100 * accuracy:.1f}%" if accuracy is not None else ""
    ax.set_title(": ".join(s for s in (head, acc) if s), fontsize=11)
    n = f"n = {int(c.sum())}" if integral else ""
    fig.supxlabel("   ·   ".join(s for s in (
        "row-normalised (each row sums to 1; diagonal = recall)" if normalize else "counts", n) if s),
        fontsize=7, color=TEXT_GRAY)
    return freeze_layout(fig)
