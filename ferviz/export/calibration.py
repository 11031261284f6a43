"""The reliability diagram: accuracy per confidence bin against the diagonal, one panel per stage.

Takes `ferviz.analysis.calibration.Reliability` objects (already computed) and returns a matplotlib
Figure built with the object API. Each panel's bars (``ax.patches``, non-empty bins only,
left to right) are the bins' accuracies; the mean confidences are black ticks joined to the
bar tops by red gap lines; a thin histogram underneath shows how many images each bin holds.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..figures.palette import ACCURACY_COLOR, GAP_COLOR
from ._common import TEXT_GRAY, check_size, freeze_layout, new_figure
from .render import ExportError

BAR_COLOR = ACCURACY_COLOR  # the palette's calibration colours: accuracy bars and GAP_COLOR's gap lines


def _check(panels) -> dict:
    items = dict(panels) if isinstance(panels, Mapping) else {"": panels}
    if not items:
        raise ExportError("the reliability diagram needs at least one panel")
    for label, r in items.items():
        if not all(hasattr(r, a) for a in ("bin_lo", "bin_hi", "count", "confidence", "accuracy", "ece")):
            raise ExportError(f"panel {label!r} is not reliability data (ferviz.analysis.calibration.Reliability)")
    return items


def reliability_figure(panels, *, model_name: str = "", split: str = "", title: str = "",
                       ncols: int | None = None, size_in: Sequence[float] | None = None, dpi: float = 150):
    """panels: one Reliability, or a mapping label -> Reliability (e.g. {"before temperature
    scaling": r0, "T = 1.42": r1}), drawn left to right, `ncols` per row (default: all in one)."""
    items = _check(panels)
    k = len(items)
    cols = k if ncols is None else ncols
    if isinstance(cols, bool) or not isinstance(cols, int) or cols < 1:
        raise ExportError(f"ncols must be a positive integer, got {ncols!r}")
    cols = min(cols, k)
    rows = -(-k // cols)
    fig = new_figure(check_size(size_in) or (3.6 * cols + 0.4, 4.4 * rows), dpi, constrained=True)
    gs = fig.add_gridspec(2 * rows, cols, height_ratios=[4, 1] * rows)
    top0 = None
    for i, (label, r) in enumerate(items.items()):
        row, col = divmod(i, cols)
        ax = fig.add_subplot(gs[2 * row, col], sharey=top0)
        hist = fig.add_subplot(gs[2 * row + 1, col], sharex=ax)
        top0 = top0 or ax
        _draw_panel(ax, hist, r, label, first=col == 0, legend=i == 0)
    head = " on ".join(s for s in (model_name, split) if s)
    fig.suptitle(title or ": ".join(s for s in (head, "reliability") if s), fontsize=11)
    return freeze_layout(fig)


def _draw_panel(ax, hist, r, label: str, *, first: bool, legend: bool) -> None:
    lo, hi = np.asarray(r.bin_lo, float), np.asarray(r.bin_hi, float)
    count = np.asarray(r.count)
    acc, conf = np.asarray(r.accuracy, float), np.asarray(r.confidence, float)
    if not (len(lo) == len(hi) == len(count) == len(acc) == len(conf)):
        raise ExportError("reliability data must have one edge pair, count, confidence and accuracy per bin")
    filled = count > 0
    mid, width = (lo + hi) / 2, hi - lo
    ax.bar(mid[filled], acc[filled], width=width[filled], color=BAR_COLOR, edgecolor="white",
           linewidth=0.6, label="accuracy")
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=0.9, label="perfect calibration")
    ax.vlines(mid[filled], acc[filled], conf[filled], colors=GAP_COLOR, lw=1.6, label="gap")
    ax.plot(mid[filled], conf[filled], ls="none", marker="_", ms=9, mew=1.6, color="black",
            label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("auto")
    ax.set_title(f"{label}\nECE = {100 * r.ece:.2f}%" if label else f"ECE = {100 * r.ece:.2f}%", fontsize=9)
    ax.tick_params(labelbottom=False, labelsize=7)
    if first:
        ax.set_ylabel("accuracy")
    if legend:
        ax.legend(loc="upper left", fontsize=7, frameon=False)
    hist.bar(mid, count, width=width, color="0.6", edgecolor="white", linewidth=0.4)
    hist.set_xlim(0, 1)
    hist.set_xlabel("confidence" if getattr(r, "cls", None) is None else "predicted probability", fontsize=8)
    hist.tick_params(labelsize=7)
    if first:
        hist.set_ylabel("images", fontsize=8, color=TEXT_GRAY)
    for a in (ax, hist):
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
