"""Test-time augmentation views: how a card's ``tta`` turns one face into several model inputs,
and how a map computed on a view is mapped back onto the face.

A view is an index map: ``view[y, x] = face[rows[y], cols[x]]``. "mirror" gives the face and its
mirror image; "mirror+shift" adds each of them translated by ``d = round(h / 16)`` pixels up,
down, left and right with the edges replicated (10 views). The set of views of a mirrored face
is the set of views of the face, mirrored, so anything averaged over the views is
mirror-equivariant.

A shifted view has *padding*: the ``d`` rows (or columns) that replicate its edge show no face
pixel of their own, and the ``d`` face rows it pushed out of its frame are not in it at all.

Mapping a per-view map back (:func:`from_view`) follows the index map in reverse:

* ``"sum"`` adds every view pixel into the face pixel it copies. For gradient-based maps this is
  the chain rule through the view (a replicated edge pixel collects the gradients of its copies).
* ``"mean"`` averages the copies instead, for region maps whose values are intensities.

``padding=False`` drops the padding first, so only view pixels that show a face pixel at their own
place carry evidence back (each face pixel then gets at most one value, and "sum" and "mean"
agree). :func:`mean_over_views` averages mapped-back maps that way, each face pixel over only the
views that showed it (:func:`seen`); :mod:`ferviz.attribution` averages its maps so. With the
padding kept, the edge collected the evidence of its copies (a bright outer ring) and the
pushed-out band was averaged with zeros (a ring 1/5 darker, 2/5 in the corners), which drew a
rectangular frame ``d`` pixels inside the border.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

TTA_MODES = ("mirror", "mirror+shift")
INVERSE_MODES = ("sum", "mean")


@dataclass(frozen=True)
class View:
    """One view of an (h, w) image: ``view[y, x] = image[rows[y], cols[x]]``.

    ``shown_rows``/``shown_cols`` (bool, default all True) mark the view rows/columns that show
    their image row/column in place; False marks padding (a replicated edge)."""

    name: str
    rows: np.ndarray
    cols: np.ndarray
    shown_rows: np.ndarray | None = field(default=None, compare=False)
    shown_cols: np.ndarray | None = field(default=None, compare=False)

    def shown(self) -> np.ndarray:
        """(h, w) bool: view pixels that are not padding."""
        r = np.ones(len(self.rows), bool) if self.shown_rows is None else np.asarray(self.shown_rows, bool)
        c = np.ones(len(self.cols), bool) if self.shown_cols is None else np.asarray(self.shown_cols, bool)
        return r[:, None] & c[None, :]


def _shift(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a shift by `d` with the edge replicated, and which of them are not padding."""
    src = np.arange(n) - d
    return np.clip(src, 0, n - 1), (src >= 0) & (src < n)


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
            rows, shown_r = _shift(height, dy)
            cols, shown_c = _shift(width, dx)
            out += [View(f"shift {name}", rows, cols, shown_r, shown_c),
                    View(f"shift {name}, mirror", rows, cols[::-1].copy(), shown_r, shown_c[::-1].copy())]
    return out


def to_view(x: np.ndarray, view: View) -> np.ndarray:
    """The view of a batch (N, h, w, ...)."""
    return x[:, view.rows][:, :, view.cols]


def seen(view: View) -> np.ndarray:
    """(h, w) bool: the image pixels the view shows in place (not pushed out, not only as padding)."""
    keep = view.shown()
    rows = np.broadcast_to(view.rows[:, None], keep.shape)[keep]
    cols = np.broadcast_to(view.cols[None, :], keep.shape)[keep]
    out = np.zeros(keep.shape, bool)
    out[rows, cols] = True
    return out


def from_view(maps: np.ndarray, view: View, how: str = "sum", *, padding: bool = True) -> np.ndarray:
    """Per-view maps (N, h, w[, c]) back on the image's pixels (see the module docstring);
    ``padding=False`` leaves out the view's padding."""
    if how not in INVERSE_MODES:
        raise ModelError(f"how must be one of {', '.join(INVERSE_MODES)}, got {how!r}")
    m = np.asarray(maps)
    n, h, w = m.shape[:3]
    rest = m.shape[3:]
    src = (view.rows[:, None] * w + view.cols[None, :]).ravel()  # image pixel each view pixel copies
    flat = m.reshape(n, h * w, -1).astype(np.float64)
    if not padding:
        keep = view.shown().ravel()
        src, flat = src[keep], flat[:, keep]
    out = np.zeros((n, h * w, flat.shape[-1]))
    np.add.at(out, (slice(None), src), flat)
    if how == "mean":
        counts = np.bincount(src, minlength=h * w).astype(np.float64)
        out /= np.maximum(counts, 1.0)[None, :, None]
    return out.reshape((n, h, w) + rest).astype(np.float32)


def mean_over_views(maps: Sequence[np.ndarray], vs: Sequence[View]) -> np.ndarray:
    """The mean of per-view maps (one (N, h, w[, c]) array per view) on the image's pixels: each
    pixel averages the views that showed it, and no view's padding counts (0 where none showed it)."""
    if len(maps) != len(vs):
        raise ModelError(f"got {len(maps)} maps for {len(vs)} views")
    total = sum(from_view(m, v, padding=False).astype(np.float64) for m, v in zip(maps, vs))
    count = sum(seen(v).astype(np.float64) for v in vs)
    shape = (1,) + count.shape + (1,) * (np.ndim(total) - 3)
    return (total / np.maximum(count, 1.0).reshape(shape)).astype(np.float32)
