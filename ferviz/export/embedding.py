"""The embedding-map scatter: one point per face (no faces drawn), coloured by the true class,
the predicted class, correct/wrong, the confidence or the label-issue verdict.

Takes the table of :func:`ferviz.analysis.embedding.cached_embedding` (columns ``x, y`` and the one
coloured by) and returns a matplotlib Figure built with the object API. All points are one
scatter collection (``ax.collections[0]``, in the table's row order), so no class is drawn on
top of another by construction; the legend lists the classes with their counts in vocabulary
order (FER2013's seven, and contempt or FER+'s non-classes where present; or correct/wrong; a
colour bar for confidence). Beyond ``RASTERIZE_ABOVE`` points the
scatter is rasterised inside SVG/PDF, so files stay small while text stays text.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..figures import palette
from ..labels import EMOTIONS, NAMES
from ._common import CORRECT, TEXT_GRAY, WRONG, check_size, freeze_layout, new_figure
from .render import ExportError

COLOR_BY: tuple[str, ...] = ("true", "pred", "correct", "confidence", "issue")
# the palette's colours (ferviz.figures.palette): values of the "issue" column (a verdict per
# face), one colour per emotion (Okabe-Ito), right and wrong
ISSUE_COLORS: dict[str, str] = dict(palette.ISSUE_COLORS)
EMOTION_COLORS: dict[str, str] = dict(palette.CLASS_COLORS)
CORRECT_COLORS = {True: palette.CORRECT, False: palette.WRONG}
RASTERIZE_ABOVE = 10_000
_LEGEND_TITLE = {"true": "true class", "pred": "predicted class", "correct": "prediction"}


def _as_bool(values: pd.Series) -> np.ndarray:
    if values.dtype == bool:
        return values.to_numpy()
    text = values.astype(str).str.strip().str.lower()
    ok = text.isin(["true", "1", "false", "0"])
    if not ok.all():
        raise ExportError(f"column 'correct' must be true/false, got {values[~ok].iloc[0]!r}")
    return text.isin(["true", "1"]).to_numpy()


def _check(df: pd.DataFrame, color_by: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ExportError("the embedding figure needs a table (pandas DataFrame) with columns x and y")
    if color_by not in COLOR_BY:
        raise ExportError(f"color_by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    missing = [c for c in ("x", "y", color_by) if c not in df.columns]
    if missing:
        raise ExportError(f"embedding table lacks column(s) {', '.join(missing)}")
    if df.empty:
        raise ExportError("embedding table has no rows")
    xy = df[["x", "y"]].to_numpy(float)
    if not np.isfinite(xy).all():
        raise ExportError("embedding coordinates x, y must be finite")
    if color_by in ("true", "pred"):
        bad = sorted(set(df[color_by].astype(str)) - set(NAMES))
        if bad:
            raise ExportError(f"column {color_by!r} holds unknown class name(s) {', '.join(map(repr, bad[:3]))}; "
                              f"known: {', '.join(NAMES)}")
    if color_by == "issue":
        bad = sorted(set(df["issue"].astype(str)) - set(ISSUE_COLORS))
        if bad:
            raise ExportError(f"column 'issue' must hold {', '.join(ISSUE_COLORS)}; got {bad[0]!r}")
    if color_by == "confidence":
        c = pd.to_numeric(df["confidence"], errors="coerce").to_numpy(float)
        if not np.isfinite(c).all() or (c < 0).any() or (c > 1).any():
            raise ExportError("column 'confidence' must hold numbers from 0 to 1")


def embedding_figure(df: pd.DataFrame, color_by: str = "true", *, model_name: str = "", split: str = "",
                     method: str = "", title: str = "", point_size: float | None = None,
                     size_in: Sequence[float] | None = None, dpi: float = 150,
                     classes: Sequence[str] | None = None):
    """A scatter of ``df.x, df.y`` coloured by `color_by` ("true", "pred", "correct" or
    "confidence"), with a legend of the classes (or correct/wrong, or a colour bar).
    `classes`: the classes the legend lists (default FER2013's seven and any other present).
    `method` ("umap"/"pca") only names the axes; the title says model, split, method and count."""
    _check(df, color_by)
    n = len(df)
    x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
    fig = new_figure(check_size(size_in) or (7.6, 6.2), dpi, constrained=True)
    ax = fig.add_subplot()
    s = point_size if point_size is not None else float(np.clip(20_000.0 / n, 1.0, 30.0))
    common = dict(s=s, linewidths=0, rasterized=n > RASTERIZE_ABOVE)
    if color_by in ("true", "pred"):
        names = df[color_by].astype(str).to_numpy()
        sc = ax.scatter(x, y, c=[EMOTION_COLORS[e] for e in names], alpha=0.75, **common)
        counts = pd.Series(names).value_counts()
        listed = set(EMOTIONS if classes is None else classes) | set(names)
        handles = [_marker(EMOTION_COLORS[e], f"{e} ({int(counts.get(e, 0))})") for e in NAMES if e in listed]
        ax.legend(handles=handles, title=_LEGEND_TITLE[color_by], fontsize=8, title_fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0)
    elif color_by == "correct":
        ok = _as_bool(df["correct"])
        sc = ax.scatter(x, y, c=[CORRECT_COLORS[bool(v)] for v in ok], alpha=0.75, **common)
        handles = [_marker(CORRECT_COLORS[True], f"{CORRECT} ({int(ok.sum())})"),
                   _marker(CORRECT_COLORS[False], f"{WRONG} ({int((~ok).sum())})")]
        ax.legend(handles=handles, title=_LEGEND_TITLE["correct"], fontsize=8, title_fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0)
    elif color_by == "issue":
        verdict = df["issue"].astype(str).to_numpy()
        sc = ax.scatter(x, y, c=[ISSUE_COLORS[v] for v in verdict], alpha=0.75, **common)
        counts = pd.Series(verdict).value_counts()
        handles = [_marker(c, f"{v} ({int(counts.get(v, 0))})") for v, c in ISSUE_COLORS.items()]
        ax.legend(handles=handles, title="confident learning", fontsize=8, title_fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0)
    else:
        conf = pd.to_numeric(df["confidence"]).to_numpy(float)
        sc = ax.scatter(x, y, c=conf, cmap=palette.CONFIDENCE_CMAP.lower(), vmin=0.0, vmax=1.0, alpha=0.85, **common)
        cb = fig.colorbar(sc, ax=ax, shrink=0.8, pad=0.02)
        cb.set_label("confidence of the shown prediction", fontsize=8)
        cb.ax.tick_params(labelsize=7)
    sc.set_gid("embedding-points")
    m = str(method).strip().lower()
    if m == "pca":
        ax.set_xlabel("PC 1", fontsize=8)
        ax.set_ylabel("PC 2", fontsize=8)
        ax.tick_params(labelsize=7)
    else:  # UMAP axes have no units: only the layout (who is near whom) means something
        ax.set_xticks([])
        ax.set_yticks([])
        if m:
            ax.set_xlabel(f"{m.upper()} 1", fontsize=8, color=TEXT_GRAY)
            ax.set_ylabel(f"{m.upper()} 2", fontsize=8, color=TEXT_GRAY)
    ax.set_aspect("equal", adjustable="datalim")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    what = {"true": "true class", "pred": "predicted class", "correct": "correct / wrong",
            "confidence": "confidence", "issue": "label issue / model error"}[color_by]
    head = " · ".join(t for t in (model_name, split, m.upper() if m else "", f"{n} faces") if t)
    fig.suptitle(title or f"Embedding map — {head}\npenultimate-layer features, coloured by {what}", fontsize=10)
    return freeze_layout(fig)


def _marker(color: str, label: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker="o", ms=6, mew=0, color=color, label=label)
