"""The confusion-matrix figure: counts or row-normalised shares, annotated, with colorbar."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..figures.display import CONFUSION_CMAP
from ..labels import EMOTIONS
from ._common import TEXT_GRAY, check_size, freeze_layout, new_figure
from .render import ExportError


def confusion_figure(cm: np.ndarray, *, normalize: bool = False, accuracy: float | None = None,
                     model_name: str = "", split: str = "", cmap: str = CONFUSION_CMAP,
                     classes: Sequence[str] = EMOTIONS, size_in: Sequence[float] | None = None,
                     dpi: float = 150):
    """Rows true, columns predicted. cm: (7, 7) counts (as from Evaluation.confusion()).

    normalize: show each row divided by its total (recall on the diagonal), counts stay
    in the subtitle's n; accuracy: shown in the title (default: computed from the counts).
    """
    import matplotlib

    from ..figures.display import ConfusionDisplay

    if cmap not in matplotlib.colormaps:
        raise ExportError(f"unknown colormap {cmap!r}")
    try:
        d = ConfusionDisplay(cm, normalize=normalize, classes=tuple(classes), accuracy=accuracy,
                             model_name=model_name, split=split, cmap=cmap)
    except ValueError as e:
        raise ExportError(str(e)) from None
    return render_confusion(d, size_in=size_in, dpi=dpi)


def render_confusion(d, *, size_in: Sequence[float] | None = None, dpi: float = 150):
    """The matplotlib rendering of a :class:`ferviz.figures.display.ConfusionDisplay`."""
    import matplotlib

    values, vmax, k, texts = d.values, d.vmax, len(d.classes), d.texts
    fig = new_figure(check_size(size_in) or (6.4, 5.6), dpi, constrained=True)
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap=d.cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    cb = fig.colorbar(im, ax=ax, shrink=0.85)
    cb.set_label(d.colorbar_label, fontsize=9)
    colormap = matplotlib.colormaps[d.cmap]
    for i in range(k):
        for j in range(k):
            r, g, b, _ = colormap(values[i, j] / vmax)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=9,
                    color="white" if dark else "black",
                    fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(k), list(d.classes), rotation=35, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), list(d.classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(d.title, fontsize=11)
    fig.supxlabel(d.footnote, fontsize=7, color=TEXT_GRAY)
    return freeze_layout(fig)
