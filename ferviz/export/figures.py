"""One face, annotated: the image, its attribution overlays, labels and top-k probabilities.

`annotated_figure` draws one model's view of one face; `comparison_figure` stacks two
models' views of the same face. Both take precomputed overlay maps (method label -> map
in [0, 1]) and return a `matplotlib.figure.Figure` (no pyplot), ready for
`figure_bytes`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..figures.display import ProbsDisplay
from ..figures.overlay import DEFAULT_CMAP, overlay
from ..figures.palette import TRUE_TEXT
from ._common import (
    ARROW,
    CORRECT,
    OUTSIDE,
    TEXT_GRAY,
    WRONG,
    check_class,
    check_face,
    check_map,
    check_probs,
    check_size,
    check_style,
    freeze_layout,
    name,
    new_figure,
    pct,
)
from .render import ExportError

PANEL_IN = 2.0  # width of one image panel (inches)
BARS_IN = 2.6  # width of the probability panel
HEIGHT_IN = 3.0  # one row's height

ModelView = tuple[str, np.ndarray, Mapping[str, np.ndarray] | None]


def _verdict(pred: int, true: int | None, classes: tuple[int, ...] = ()) -> str:
    if true is None:
        return f"predicted: {name(pred)}"
    mark = CORRECT if pred == true else (WRONG if not classes or true in classes else OUTSIDE)
    return f"true: {name(true)} {ARROW} predicted: {name(pred)}   {mark}"


def is_blank(m: np.ndarray) -> bool:
    """A map with no positive evidence (all zero or non-finite)."""
    return not bool(np.nan_to_num(np.asarray(m, np.float32)).max() > 0)


def _draw_row(fig, face: np.ndarray, probs: np.ndarray, overlays: Mapping[str, np.ndarray],
              true: int | None, *, cmap: str, alpha: float, top_k: int, n_panels: int,
              colorbar: bool, classes: tuple[int, ...] | None = None) -> None:
    """Face | overlays... | top-k bars, on a Figure or SubFigure."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    gs = fig.add_gridspec(1, n_panels + 1, width_ratios=[PANEL_IN] * n_panels + [BARS_IN])
    gray = face.ndim == 2
    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(face, cmap="gray" if gray else None, vmin=0, vmax=255)
    ax.set_title("input", fontsize=9)
    ax.set_axis_off()
    image_axes = []
    for k, (label, m) in enumerate(overlays.items(), start=1):
        ax = fig.add_subplot(gs[0, k])
        m = check_map(m, label)
        if is_blank(m):  # no positive evidence: say so instead of drawing a flat overlay
            ax.imshow(face, cmap="gray" if gray else None, vmin=0, vmax=255, alpha=0.45)
            ax.text(0.5, 0.5, "no positive\nevidence", transform=ax.transAxes, ha="center", va="center",
                    fontsize=9, color="#b00020", fontweight="bold")
        else:
            ax.imshow(overlay(face, m, alpha=alpha, cmap=cmap))
        ax.set_title(str(label), fontsize=9)
        ax.set_axis_off()
        image_axes.append(ax)
    for k in range(len(overlays) + 1, n_panels):  # keep columns aligned across rows
        fig.add_subplot(gs[0, k]).set_axis_off()
    if overlays and colorbar:
        cb = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap=cmap), ax=image_axes,
                          shrink=0.7, aspect=15, pad=0.02)
        cb.set_label("attribution (normalised)", fontsize=7)
        cb.ax.tick_params(labelsize=6)
    _draw_bars(fig.add_subplot(gs[0, n_panels]), probs, true, top_k, classes)


def _draw_bars(ax, probs: np.ndarray, true: int | None, top_k: int,
               classes: tuple[int, ...] | None = None) -> None:
    """The matplotlib rendering of a :class:`ferviz.figures.display.ProbsDisplay`."""
    d = ProbsDisplay(probs, true, top_k, classes)
    ys = np.arange(len(d.order))[::-1]
    ax.barh(ys, d.values, color=d.colors, height=0.65)
    for y, v, text in zip(ys, d.values, d.texts):
        ax.text(min(v, 1.0) + 0.03, y, text, va="center", fontsize=8)
    ax.set_yticks(ys, d.labels, fontsize=9)
    ax.set_xlim(0, 1.35)
    ax.set_xticks([0, 0.5, 1.0], ["0", "0.5", "1"], fontsize=7)
    note = d.true_note
    ax.set_ylim(-0.6 - (0.9 if note else 0), len(d.order) - 0.4)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(d.title, fontsize=9)
    if note:
        ax.text(0.03, -1.2, note, fontsize=8, color=TRUE_TEXT, va="center")


def _prepare(face, probs, overlays, true, cmap, alpha, top_k, classes=None):
    face = check_face(face)
    probs = check_probs(probs, classes=classes)
    if probs.ndim != 1:
        raise ExportError(f"probs must be one image's {probs.shape[-1]} probabilities, got shape {probs.shape}")
    classes = tuple(range(len(probs))) if classes is None else tuple(check_class(c, "classes") for c in classes)
    check_style(cmap, alpha)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= len(classes):
        raise ExportError(f"top_k must be an integer in 1-{len(classes)}, got {top_k!r}")
    overlays = dict(overlays or {})
    for label, m in overlays.items():
        check_map(m, label)
    return face, probs, overlays, check_class(true, "true"), classes


def _pred(probs: np.ndarray, classes: tuple[int, ...]) -> int:
    """The predicted class: the most probable of `classes`."""
    return int(classes[int(np.argmax(probs[list(classes)]))])


def _caption(model_name: str, image_id: str, split: str, overlays, cmap: str, alpha: float) -> str:
    parts = [f"model: {model_name}" if model_name else "", f"image: {image_id}" if image_id else "",
             f"split: {split}" if split else ""]
    if overlays:
        parts.append(f"overlay: {cmap}, opacity {alpha:.2f}")
    return "   ·   ".join(p for p in parts if p)


def annotated_figure(face: np.ndarray, probs: np.ndarray, *,
                     overlays: Mapping[str, np.ndarray] | None = None, true: int | str | None = None,
                     model_name: str = "", image_id: str = "", split: str = "",
                     cmap: str = DEFAULT_CMAP, alpha: float = 0.5, top_k: int = 3,
                     size_in: Sequence[float] | None = None, dpi: float = 150, colorbar: bool = True,
                     classes: Sequence[int | str] | None = None):
    """One face with its overlays, true/predicted labels and top-k probabilities.

    face: (H, W) uint8 grayscale (or RGB); probs: (K,), column k = class k of
    :data:`ferviz.labels.NAMES` (2 <= K <= 10); classes: the classes to show bars for (the
    model's; default every column);
    overlays: method label -> map in [0, 1] (resized to the face if needed);
    true: the true class (index or name), None for an unlabelled face.
    size_in: (width, height) inches, default fitted to the panel count; dpi: PNG resolution.
    """
    face, probs, overlays, true, classes = _prepare(face, probs, overlays, true, cmap, alpha, top_k, classes)
    n = 1 + len(overlays)
    size = check_size(size_in) or (PANEL_IN * n + BARS_IN + (0.7 if overlays else 0), HEIGHT_IN)
    fig = new_figure(size, dpi, constrained=True)
    pred = _pred(probs, classes)
    fig.suptitle(_verdict(pred, true, classes), fontsize=11)
    _draw_row(fig, face, probs, overlays, true, cmap=cmap, alpha=alpha, top_k=top_k,
              n_panels=n, colorbar=colorbar, classes=classes)
    fig.supxlabel(_caption(model_name, image_id, split, overlays, cmap, alpha), fontsize=7,
                  color=TEXT_GRAY)
    return freeze_layout(fig)


def comparison_figure(face: np.ndarray, model_a: ModelView, model_b: ModelView, *,
                      true: int | str | None = None, image_id: str = "", split: str = "",
                      cmap: str = DEFAULT_CMAP, alpha: float = 0.5, top_k: int = 3,
                      size_in: Sequence[float] | None = None, dpi: float = 150):
    """Two models on one face: one row per model, each (name, probs (K,), overlays or None) or
    (name, probs, overlays, classes): the model's classes when it lacks some of the first K."""
    rows = []
    for what, view in (("model_a", model_a), ("model_b", model_b)):
        try:
            model_name, probs, ovl, *rest = view
            if len(rest) > 1:
                raise ValueError
        except (TypeError, ValueError):
            raise ExportError(f"{what} must be (name, probs, overlays[, classes]), got {type(view).__name__}") \
                from None
        f, p, o, t, c = _prepare(face, probs, ovl, true, cmap, alpha, top_k, rest[0] if rest else None)
        rows.append((str(model_name), f, p, o, t, c))
    n = 1 + max(len(r[3]) for r in rows)
    any_overlay = any(r[3] for r in rows)
    size = check_size(size_in) or (PANEL_IN * n + BARS_IN + (0.7 if any_overlay else 0),
                                   2 * HEIGHT_IN - 0.2)
    fig = new_figure(size, dpi, constrained=True)
    t = rows[0][4]
    fig.suptitle(f"true: {name(t)}" if t is not None else "unlabelled face", fontsize=11)
    for sub, (model_name, f, p, o, t, c) in zip(fig.subfigures(2, 1), rows):
        pred = _pred(p, c)
        mark = "" if t is None else ("   " + (CORRECT if pred == t else WRONG if t in c else OUTSIDE))
        sub.suptitle(f"{model_name}: predicted {name(pred)} ({pct(p[pred])}){mark}", fontsize=10)
        _draw_row(sub, f, p, o, t, cmap=cmap, alpha=alpha, top_k=top_k, n_panels=n,
                  colorbar=any_overlay, classes=c)
    fig.supxlabel(_caption("", image_id, split, any_overlay, cmap, alpha), fontsize=7,
                  color=TEXT_GRAY)
    return freeze_layout(fig)
