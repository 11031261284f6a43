"""The confusion-matrix figure: counts or row-normalised shares, annotated, with colorbar; rows the
dataset's classes, columns the model's (a rectangle when they differ), rows the model cannot
output marked and hatched."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..figures.display import CONFUSION_CMAP
from ._common import TEXT_GRAY, check_size, freeze_layout, new_figure
from .render import ExportError


def confusion_figure(cm: np.ndarray, *, normalize: bool = False, accuracy: float | None = None,
                     model_name: str = "", split: str = "", cmap: str = CONFUSION_CMAP,
                     classes: Sequence[str] | None = None, columns: Sequence[str] | None = None,
                     note: str = "", size_in: Sequence[float] | None = None, dpi: float = 150):
    """Rows true, columns predicted. cm: (R, C) counts, e.g. ``Evaluation.matrix()`` (rows
    `classes`, the dataset's; columns `columns`, the model's) or a square ``Evaluation.confusion()``
    (default names: the first R of :data:`ferviz.labels.NAMES`).

    normalize: show each row divided by its total (recall on the diagonal), counts stay
    in the subtitle's n; accuracy: shown in the title (default: computed from the counts of the
    rows the model can output); note: a line under the matrix (e.g. ``Evaluation.outside_note()``).
    """
    import matplotlib

    from ..figures.display import ConfusionDisplay

    if cmap not in matplotlib.colormaps:
        raise ExportError(f"unknown colormap {cmap!r}")
    try:
        d = ConfusionDisplay(cm, normalize=normalize, classes=None if classes is None else tuple(classes),
                             columns=None if columns is None else tuple(columns), accuracy=accuracy,
                             model_name=model_name, split=split, cmap=cmap, note=note)
    except ValueError as e:
        raise ExportError(str(e)) from None
    return render_confusion(d, size_in=size_in, dpi=dpi)


def render_confusion(d, *, size_in: Sequence[float] | None = None, dpi: float = 150):
    """The matplotlib rendering of a :class:`ferviz.figures.display.ConfusionDisplay`."""
    import matplotlib

    values, vmax, texts = d.values, d.vmax, d.texts
    n_rows, n_cols = values.shape
    default = (6.4 + 0.6 * max(0, n_cols - 8), 5.6 + 0.5 * max(0, n_rows - 8))  # room for 9-10 classes
    fig = new_figure(check_size(size_in) or default, dpi, constrained=True)
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap=d.cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    cb = fig.colorbar(im, ax=ax, shrink=0.85)
    cb.set_label(d.colorbar_label, fontsize=9)
    colormap = matplotlib.colormaps[d.cmap]
    diagonal, outside = set(d.diagonal), set(d.outside_rows)
    fs = 9 if max(n_rows, n_cols) <= 8 else 8
    for i in range(n_rows):
        if i in outside:  # a class the model cannot output: hatched, its counts in grey italics
            ax.add_patch(matplotlib.patches.Rectangle((-0.5, i - 0.5), n_cols, 1, fill=False, hatch="//",
                                                      edgecolor="0.55", linewidth=0))
        for j in range(n_cols):
            r, g, b, _ = colormap(values[i, j] / vmax)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=fs,
                    color="white" if dark else ("0.3" if i in outside else "black"),
                    fontstyle="italic" if i in outside else "normal",
                    fontweight="bold" if (i, j) in diagonal else "normal")
    ax.set_xticks(range(n_cols), list(d.columns), rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n_rows), d.row_labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(d.title, fontsize=11)
    fig.supxlabel(d.footnote, fontsize=7, color=TEXT_GRAY)
    return freeze_layout(fig)
