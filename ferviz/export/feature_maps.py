"""Feature maps of one face: the top channels of every block, and the Grad-CAM layer's top channel.

`feature_maps_figure` takes a precomputed :class:`ferviz.analysis.feature_maps.FaceFeatures` (nothing
here runs a model): one row per block with its top-k channel maps at the block's own
resolution (channel index and score above each, one colour scale per row), and on the left the
face and the channel that contributes most to the class at the Grad-CAM layer, drawn large over
the face with its share of the Grad-CAM evidence. The face may be any uint8 grayscale or RGB
image (a FER2013 face or an uploaded crop); channel maps are resized onto it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..analysis.feature_maps import RANKS, VIEWS_NOTE, FaceFeatures
from ..figures.overlay import DEFAULT_CMAP, normalise_map, overlay
from ._common import (
    TEXT_GRAY,
    check_face,
    check_size,
    check_style,
    name,
    new_figure,
    pct,
)
from .render import ExportError

TILE_IN = 1.0  # one channel tile (inches)
LEFT_IN = 2.8  # the face and the Grad-CAM channel
HEADER_IN = 0.9


def _score(v: float) -> str:
    return f"{v:.3g}"


def _left(fig, gs, face: np.ndarray, feats: FaceFeatures, cmap: str, alpha: float) -> None:
    cam = feats.gradcam
    gray = face.ndim == 2
    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(face, cmap="gray" if gray else None, vmin=0, vmax=255)
    ax.set_title("input", fontsize=8)
    ax.set_axis_off()
    ax = fig.add_subplot(gs[1, 0], label="gradcam channel")
    if cam.contribution > 0 and np.nan_to_num(cam.map).max() > np.nan_to_num(cam.map).min():
        ax.imshow(overlay(face, normalise_map(cam.map), alpha=alpha, cmap=cmap))
        ax.set_title(f"{cam.layer} channel #{cam.index}\n{pct(cam.share)} of the Grad-CAM evidence", fontsize=8)
    else:
        ax.imshow(face, cmap="gray" if gray else None, vmin=0, vmax=255, alpha=0.45)
        ax.text(0.5, 0.5, "no positive\nevidence", transform=ax.transAxes, ha="center", va="center",
                fontsize=9, color="#b00020", fontweight="bold")
        ax.set_title(f"{cam.layer}: no channel adds\nto the Grad-CAM", fontsize=8)
    ax.set_xlabel(f"weight {_score(cam.weight)} x mean activation {_score(cam.mean_activation)}\n"
                  f"= {_score(cam.contribution)}", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def _rows(fig, gs, feats: FaceFeatures, cmap: str) -> None:
    """One axes per block: its k maps side by side in one image (one axes per channel is slow)."""
    import matplotlib
    from matplotlib.patches import Rectangle

    cm = matplotlib.colormaps[cmap].with_extremes(bad="white")
    for r, b in enumerate(feats.blocks):
        maps = np.nan_to_num(np.asarray(b.maps, np.float32))
        k, h, w = maps.shape
        lo, hi = float(min(0.0, maps.min())), float(maps.max())
        hi = hi if hi > lo else lo + 1.0
        gap = max(1, round(0.12 * w))
        mosaic = np.full((h, k * (w + gap) - gap), np.nan, np.float32)
        ax = fig.add_subplot(gs[r, :k], label="block")
        for c in range(k):
            x0 = c * (w + gap)
            mosaic[:, x0:x0 + w] = maps[c]
            ax.add_patch(Rectangle((x0 - 0.5, -0.5), w, h, fill=False, lw=0.8, ec="0.15", gid="channel"))
            ax.text(x0 - 0.5 + w / 2, -0.5 - 0.05 * h, f"#{int(b.indices[c])} · {_score(b.scores[c])}",
                    ha="center", va="bottom", fontsize=7)
        ax.imshow(mosaic, cmap=cm, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(f"{b.layer}\n{h}x{w}, {b.channels} ch", fontsize=7)


def feature_maps_figure(face: np.ndarray, feats: FaceFeatures, *, model_name: str = "", image_id: str = "",
                        split: str = "", cmap: str = DEFAULT_CMAP, alpha: float = 0.5,
                        size_in: Sequence[float] | None = None, dpi: float = 150):
    """One face's feature maps (see the module docstring); `feats` from :func:`ferviz.analysis.feature_maps.select`."""
    face = check_face(face)
    check_style(cmap, alpha)
    if not isinstance(feats, FaceFeatures) or not feats.blocks:
        raise ExportError("feats must be a FaceFeatures with at least one block")
    cols = max(len(b.indices) for b in feats.blocks)
    size = check_size(size_in) or (LEFT_IN + TILE_IN * max(cols, 3) + 0.3,
                                   max(HEADER_IN + 1.15 * len(feats.blocks), 4.6))
    fig = new_figure(size, dpi, constrained=False)  # a fixed layout: constrained layout takes seconds here
    w, h = size
    top, bottom = 1 - HEADER_IN * 0.6 / h, 0.45 / h
    fig.suptitle(f"Feature maps for {name(feats.target)}: top {cols} channel{'s' if cols > 1 else ''} per block "
                 f"by {RANKS[feats.rank]}",
                 fontsize=10, y=1 - 0.12 / h, va="top")
    left = fig.add_gridspec(2, 1, height_ratios=[1, 2], left=0.15 / w, right=(LEFT_IN - 0.2) / w, top=top,
                            bottom=bottom + 0.45 / h, hspace=0.3)
    _left(fig, left, face, feats, cmap, alpha)
    right = fig.add_gridspec(len(feats.blocks), max(cols, 3), left=(LEFT_IN + 0.2) / w, right=1 - 0.1 / w,
                             top=top, bottom=bottom, wspace=0.0, hspace=0.35)
    _rows(fig, right, feats, cmap)
    parts = [f"model: {model_name}" if model_name else "", f"image: {image_id}" if image_id else "",
             f"split: {split}" if split else "", VIEWS_NOTE, "colour: activation, one scale per row"]
    fig.text(0.5, 0.12 / h, "   ·   ".join(p for p in parts if p), fontsize=7, color=TEXT_GRAY, ha="center",
             va="bottom")
    return fig
