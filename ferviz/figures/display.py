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
from ..labels import NAMES, class_index

# the palette's colours (one per meaning): the confusion matrix's scale (ColorBrewer "Blues") and
# the probability bars (the prediction, the true class, the others), re-exported here
from .palette import CONFUSION_CMAP, OTHER_COLOR, PRED_COLOR, TRUE_COLOR

__all__ = ["CONFUSION_CMAP", "OTHER_COLOR", "PRED_COLOR", "TRUE_COLOR", "ConfusionDisplay", "ProbsDisplay", "pct"]

#: marks a row whose class the model cannot output (its faces are counted apart)
OUTSIDE_MARK = " *"


def pct(p: float) -> str:
    """A probability as the figures write it: '62.3%'."""
    return f"{100.0 * float(p):.1f}%"


def _names(names, n: int, what: str) -> tuple[str, ...]:
    """Canonical class names for `n` rows or columns (default: the first n of NAMES)."""
    if names is None:
        if not 1 <= n <= len(NAMES):
            raise ExportError(f"cm must have 1-{len(NAMES)} {what}, got {n}")
        return NAMES[:n]
    try:
        out = tuple(NAMES[class_index(c)] for c in names)
    except ValueError as e:
        raise ExportError(f"cm {what}: {e}") from None
    if len(set(out)) != len(out):
        raise ExportError(f"cm {what} name a class twice: {', '.join(out)}")
    return out


@dataclass(frozen=True)
class ConfusionDisplay:
    """A confusion matrix to draw: rows the true classes (the dataset's), columns the predicted
    ones (the model's), each named; a rectangle when they differ. A row whose class is not a
    column is a class the model cannot output: its faces are counted apart (not errors), and its
    row is marked (:data:`OUTSIDE_MARK`)."""

    counts: np.ndarray  # (R, C) counts (or any non-negative values)
    normalize: bool = False
    classes: tuple[str, ...] | None = None  # the rows' class names (default: NAMES[:R])
    accuracy: float | None = None  # None: computed from integral counts (rows the model can output)
    model_name: str = ""
    split: str = ""
    cmap: str = CONFUSION_CMAP
    columns: tuple[str, ...] | None = None  # the columns' class names (default: the rows' for a square cm)
    note: str = ""  # e.g. Evaluation.outside_note(), added to the footnote
    values: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        c = np.asarray(self.counts, dtype=np.float64)
        if c.ndim != 2:
            raise ExportError(f"cm must be a 2-D matrix (rows true, columns predicted), got shape {c.shape}")
        rows = _names(self.classes, c.shape[0], "rows")
        cols = _names(self.columns, c.shape[1], "columns") if self.columns is not None or \
            c.shape[0] != c.shape[1] else rows
        if c.shape != (len(rows), len(cols)):
            raise ExportError(f"cm must be {len(rows)}x{len(cols)}: one row per true class "
                              f"({', '.join(rows)}) and one column per predicted class ({', '.join(cols)}), "
                              f"got shape {c.shape}")
        if not np.isfinite(c).all() or (c < 0).any():
            raise ExportError("cm must hold finite, non-negative values")
        object.__setattr__(self, "counts", c)
        object.__setattr__(self, "classes", rows)
        object.__setattr__(self, "columns", cols)
        acc = self.accuracy
        scored = c[[i for i, r in enumerate(rows) if r in cols]]
        if acc is None and self.integral and scored.sum() > 0:
            acc = float(sum(c[i, j] for i, j in self.diagonal) / scored.sum())
        if acc is not None and not 0.0 <= acc <= 1.0:
            raise ExportError(f"accuracy must lie in [0, 1], got {acc!r}")
        object.__setattr__(self, "accuracy", acc)
        if self.normalize:
            sums = c.sum(axis=1, keepdims=True)
            values = np.divide(c, sums, out=np.zeros_like(c), where=sums > 0)
        else:
            values = c
        object.__setattr__(self, "values", values)

    @property
    def shape(self) -> tuple[int, int]:
        return self.counts.shape

    @property
    def diagonal(self) -> list[tuple[int, int]]:
        """(row, column) of the cells where the true class is the predicted one (right answers)."""
        col = {n: j for j, n in enumerate(self.columns)}
        return [(i, col[r]) for i, r in enumerate(self.classes) if r in col]

    @property
    def outside_rows(self) -> list[int]:
        """Rows whose true class the model cannot output (no column of that class)."""
        return [i for i, r in enumerate(self.classes) if r not in self.columns]

    @property
    def row_labels(self) -> list[str]:
        """The rows' tick labels: the class, marked when the model cannot output it."""
        out = set(self.outside_rows)
        return [r + (OUTSIDE_MARK if i in out else "") for i, r in enumerate(self.classes)]

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
        parts = [kind, n]
        if self.outside_rows:
            parts.append(f"{OUTSIDE_MARK.strip()} not a class of the model: counted apart, not errors")
        text = "   ·   ".join(s for s in parts if s)
        return text + (f"\n{self.note}" if self.note else "")

    def hover(self, i: int, j: int) -> str:
        """What the dashboard shows on hover: the cell in words with its count (and share)."""
        n = int(self.counts[i, j]) if self.integral else self.counts[i, j]
        share = f" ({self.values[i, j]:.0%} of true {self.classes[i]})" if self.normalize else ""
        apart = " (counted apart: the model cannot output it)" if i in self.outside_rows else ""
        return f"true {self.classes[i]}{apart} → predicted {self.columns[j]}: {n} images{share}"


@dataclass(frozen=True)
class ProbsDisplay:
    """Class probabilities as bars, highest first: the top `top_k` (default all) of `classes`.

    probs: (K,) with column k = class k of :data:`ferviz.labels.NAMES` (2 <= K <= 10);
    classes: the class indices to show (default every column; a model's classes when it lacks
    some of the first K); true: the true class (index), or None."""

    probs: np.ndarray  # (K,) column k = NAMES[k]
    true: int | None = None
    top_k: int | None = None  # None: every class
    classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        p = np.asarray(self.probs, dtype=np.float64)
        if p.ndim != 1 or not 2 <= len(p) <= len(NAMES):
            raise ExportError(f"probs must have 2-{len(NAMES)} class probabilities (column k = class k: "
                              f"{', '.join(NAMES)}), got shape {p.shape}")
        if not np.isfinite(p).all() or (p < 0).any():
            raise ExportError("probs must be finite and non-negative")
        cls = tuple(range(len(p))) if self.classes is None else tuple(int(c) for c in self.classes)
        if not cls or len(set(cls)) != len(cls) or min(cls) < 0 or max(cls) >= len(p):
            raise ExportError(f"classes must be distinct class indices with a probability each (0-{len(p) - 1} "
                              f"for {len(p)} probabilities), got {self.classes!r}")
        k = len(cls) if self.top_k is None else self.top_k
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= len(cls):
            raise ExportError(f"top_k must be 1-{len(cls)}, got {self.top_k!r}")
        if self.true is not None and not 0 <= int(self.true) < len(NAMES):
            raise ExportError(f"true must be a class index 0-{len(NAMES) - 1}, got {self.true!r}")
        object.__setattr__(self, "probs", p)
        object.__setattr__(self, "classes", cls)
        object.__setattr__(self, "top_k", int(k))

    @property
    def pred(self) -> int:
        return int(self.classes[int(np.argmax(self.probs[list(self.classes)]))])

    @property
    def order(self) -> np.ndarray:
        """Class indices of the bars, top to bottom."""
        cls = np.asarray(self.classes)
        return cls[np.argsort(-self.probs[cls], kind="stable")][: int(self.top_k)]

    @property
    def values(self) -> np.ndarray:
        return self.probs[self.order]

    @property
    def labels(self) -> list[str]:
        return [NAMES[c] + (" (true)" if c == self.true else "") for c in self.order]

    @property
    def colors(self) -> list[str]:
        return [TRUE_COLOR if c == self.true else (PRED_COLOR if i == 0 else OTHER_COLOR)
                for i, c in enumerate(self.order)]

    @property
    def texts(self) -> list[str]:
        return [pct(v) for v in self.values]

    @property
    def title(self) -> str:
        return "probabilities" if len(self.order) == len(self.classes) else f"top-{len(self.order)} probabilities"

    @property
    def true_note(self) -> str | None:
        """When the true class is not among the bars: its probability (or that the model cannot
        output it), said below them."""
        if self.true is None or self.true in set(self.order.tolist()):
            return None
        if self.true not in self.classes:
            return f"true: {NAMES[self.true]} (not a class of the model)"
        return f"p({NAMES[self.true]}, true) = {pct(self.probs[self.true])}"
