"""Display objects: what a figure shows, computed once.

The dashboard (plotly, :mod:`ferviz.ui.charts`) and the exports (matplotlib, :mod:`ferviz.export`)
are thin renderers of the same object, so both show the same values, order, colours and
annotations: the pattern of scikit-learn's ``ConfusionMatrixDisplay`` (compute once, plot many).
Nothing here imports a plotting library.

- :class:`ConfusionDisplay`: counts or row-normalised shares, cell texts, title and footnote.
- :class:`ProbsDisplay`: class probabilities sorted high to low, the top k, bar colours (the
  prediction, the true class, the rest) and their labels.

Every colour comes from :mod:`ferviz.figures.palette` (one palette per meaning), which the region
chart, the embedding map, the reliability diagram and the model comparison use too.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ExportError
from ..labels import EMOTIONS, NUM_CLASSES

# the palette's colours (one per meaning): the confusion matrix's scale (ColorBrewer "Blues") and
# the probability bars (the prediction, the true class, the others), re-exported here
from .palette import CONFUSION_CMAP, OTHER_COLOR, PRED_COLOR, TRUE_COLOR

__all__ = ["CONFUSION_CMAP", "OTHER_COLOR", "PRED_COLOR", "TRUE_COLOR", "ConfusionDisplay", "ProbsDisplay", "pct"]


def pct(p: float) -> str:
    """A probability as the figures write it: '62.3%'."""
    return f"{100.0 * float(p):.1f}%"


@dataclass(frozen=True)
class ConfusionDisplay:
    """A confusion matrix to draw: rows true, columns predicted."""

    counts: np.ndarray  # (7, 7) counts (or any non-negative values)
    normalize: bool = False
    classes: tuple[str, ...] = EMOTIONS
    accuracy: float | None = None  # None: computed from integral counts
    model_name: str = ""
    split: str = ""
    cmap: str = CONFUSION_CMAP
    values: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        c = np.asarray(self.counts, dtype=np.float64)
        k = len(self.classes)
        if c.shape != (k, k) or k != NUM_CLASSES:
            raise ExportError(f"cm must be {NUM_CLASSES}x{NUM_CLASSES} with one class name per row, got shape {c.shape}")
        if not np.isfinite(c).all() or (c < 0).any():
            raise ExportError("cm must hold finite, non-negative values")
        acc = self.accuracy
        if acc is None and self.integral and c.sum() > 0:
            acc = float(np.trace(c) / c.sum())
        if acc is not None and not 0.0 <= acc <= 1.0:
            raise ExportError(f"accuracy must lie in [0, 1], got {acc!r}")
        object.__setattr__(self, "counts", c)
        object.__setattr__(self, "accuracy", acc)
        if self.normalize:
            rows = c.sum(axis=1, keepdims=True)
            values = np.divide(c, rows, out=np.zeros_like(c), where=rows > 0)
        else:
            values = c
        object.__setattr__(self, "values", values)

    @property
    def integral(self) -> bool:
        return bool(np.all(self.counts == np.round(self.counts)))

    @property
    def vmax(self) -> float:
        return 1.0 if self.normalize else max(1.0, float(self.counts.max()))

    @property
    def texts(self) -> list[list[str]]:
        """The text in each cell: the share (0.53) when normalised, else the count."""
        fmt = (lambda v: f"{v:.2f}") if self.normalize or not self.integral else (lambda v: f"{int(v)}")
        return [[fmt(v) for v in row] for row in self.values]

    @property
    def colorbar_label(self) -> str:
        return "share of the true class" if self.normalize else "images"

    @property
    def title(self) -> str:
        head = " on ".join(s for s in (self.model_name, self.split) if s)
        acc = f"accuracy {100 * self.accuracy:.1f}%" if self.accuracy is not None else ""
        return ": ".join(s for s in (head, acc) if s)

    @property
    def footnote(self) -> str:
        n = f"n = {int(self.counts.sum())}" if self.integral else ""
        kind = "row-normalised (each row sums to 1; diagonal = recall)" if self.normalize else "counts"
        return "   ·   ".join(s for s in (kind, n) if s)

    def hover(self, i: int, j: int) -> str:
        """What the dashboard shows on hover: the cell in words with its count (and share)."""
        n = int(self.counts[i, j]) if self.integral else self.counts[i, j]
        share = f" ({self.values[i, j]:.0%} of true {self.classes[i]})" if self.normalize else ""
        return f"true {self.classes[i]} → predicted {self.classes[j]}: {n} images{share}"


@dataclass(frozen=True)
class ProbsDisplay:
    """Class probabilities as bars, highest first: the top `top_k` (all 7 by default)."""

    probs: np.ndarray  # (7,) FER order
    true: int | None = None
    top_k: int = NUM_CLASSES

    def __post_init__(self) -> None:
        p = np.asarray(self.probs, dtype=np.float64)
        if p.shape != (NUM_CLASSES,):
            raise ExportError(f"probs must have {NUM_CLASSES} class probabilities, got shape {p.shape}")
        if not np.isfinite(p).all() or (p < 0).any():
            raise ExportError("probs must be finite and non-negative")
        if not 1 <= int(self.top_k) <= NUM_CLASSES:
            raise ExportError(f"top_k must be 1-{NUM_CLASSES}, got {self.top_k!r}")
        object.__setattr__(self, "probs", p)

    @property
    def pred(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def order(self) -> np.ndarray:
        """Class indices of the bars, top to bottom."""
        return np.argsort(-self.probs, kind="stable")[: int(self.top_k)]

    @property
    def values(self) -> np.ndarray:
        return self.probs[self.order]

    @property
    def labels(self) -> list[str]:
        return [EMOTIONS[c] + (" (true)" if c == self.true else "") for c in self.order]

    @property
    def colors(self) -> list[str]:
        return [TRUE_COLOR if c == self.true else (PRED_COLOR if i == 0 else OTHER_COLOR)
                for i, c in enumerate(self.order)]

    @property
    def texts(self) -> list[str]:
        return [pct(v) for v in self.values]

    @property
    def title(self) -> str:
        return "probabilities" if len(self.order) == NUM_CLASSES else f"top-{len(self.order)} probabilities"

    @property
    def true_note(self) -> str | None:
        """When the true class is not among the bars: its probability, said below them."""
        if self.true is None or self.true in set(self.order.tolist()):
            return None
        return f"p({EMOTIONS[self.true]}, true) = {pct(self.probs[self.true])}"

