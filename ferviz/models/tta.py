"""Test-time augmentation views: how a card's ``tta`` turns one face into several model inputs,
and how a map computed on a view is mapped back onto the face.

A view is an index map: ``view[y, x] = face[rows[y], cols[x]]``. "mirror" gives the face and its
mirror image; "mirror+shift" adds each of them translated by ``d = round(h / 16)`` pixels up,
down, left and right with the edges replicated (10 views). The set of views of a mirrored face
is the set of views of the face, mirrored, so anything averaged over the views is
mirror-equivariant.

Mapping a per-view map back (:func:`from_view`) follows the index map in reverse:

* ``"sum"`` adds every view pixel into the face pixel it copies. For gradient-based maps this is
  the chain rule through the view (a replicated edge pixel collects the gradients of its copies),
  so the mean over views is the attribution of the averaged prediction's inputs.
* ``"mean"`` averages the copies instead, for region maps (Grad-CAM) whose values are
  intensities, not derivatives; a replicated edge is then not inflated.

Face pixels a shifted view pushed out of its frame get 0 from that view: the model never saw them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError

TTA_MODES = ("mirror", "mirror+shift")
INVERSE_MODES = ("sum", "mean")


@dataclass(frozen=True)
class View:
    """One view of an (h, w) image: ``view[y, x] = image[rows[y], cols[x]]``."""

    name: str
    rows: np.ndarray
    cols: np.ndarray


def views(tta: str | None, height: int, width: int) -> list[View]:
    """The views a card's ``tta`` averages over, for images of (height, width)."""
    if tta is not None and tta not in TTA_MODES:
        raise ModelError(f"unknown test-time augmentation {tta!r}; use mirror or mirror+shift")
    r, c = np.arange(height), np.arange(width)
    out = [View("face", r, c)]
    if tta is None:
        return out
    out.append(View("mirror", r, c[::-1].copy()))
    if tta == "mirror+shift":
        d = max(1, round(height / 16))
        for name, dy, dx in (("down", d, 0), ("up", -d, 0), ("right", 0, d), ("left", 0, -d)):
            rows = np.clip(r - dy, 0, height - 1)
            cols = np.clip(c - dx, 0, width - 1)
            out += [View(f"shift {name}", rows, cols), View(f"shift {name}, mirror", rows, cols[::-1].copy())]
    return out


def to_view(x: np.ndarray, view: View) -> np.ndarray:
    """The view of a batch (N, h, w, ...)."""
    return x[:, view.rows][:, :, view.cols]


def from_view(maps: np.ndarray, view: View, how: str = "sum") -> np.ndarray:
    """Per-view maps (N, h, w[, c]) back on the face's pixels (see the module docstring)."""
    if how not in INVERSE_MODES:
        raise ModelError(f"how must be one of {', '.join(INVERSE_MODES)}, got {how!r}")
    m = np.asarray(maps)
    n, h, w = m.shape[:3]
    rest = m.shape[3:]
    src = (view.rows[:, None] * w + view.cols[None, :]).ravel()  # face pixel each view pixel copies
    flat = m.reshape(n, h * w, -1).astype(np.float64)
    out = np.zeros((n, h * w, flat.shape[-1]))
    np.add.at(out, (slice(None), src), flat)
    if how == "mean":
        counts = np.bincount(src, minlength=h * w).astype(np.float64)
        out /= np.maximum(counts, 1.0)[None, :, None]
    return out.reshape((n, h, w) + rest).astype(np.float32)
