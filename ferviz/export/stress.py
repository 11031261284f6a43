"""The stress test's figure: accuracy against severity, one panel per perturbation, a line for the
whole split and one per class (the class palette), with the 95% intervals of the whole split."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..figures import palette
from ..labels import NAMES
from ._common import freeze_layout, new_figure
from .render import ExportError


def stress_figure(table: pd.DataFrame, *, perturbations=None, classes=("all",) + NAMES, model_name: str = "",
                  split: str = "", other: pd.DataFrame | None = None, other_name: str = "", dpi: float = 150):
    """Small multiples of a stress table (``stress_test(...).table()``); `other` (a second model's
    table) is drawn dashed, whole split only. `classes`: the lines drawn ("all" and any class the
    table has rows for)."""
    need = {"perturbation", "severity", "class", "accuracy", "ci_low", "ci_high"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns) or table.empty:
        raise ExportError(f"the stress figure needs a stress table with {', '.join(sorted(need))}")
    names = list(dict.fromkeys(table["perturbation"])) if perturbations is None else list(perturbations)
    missing = [n for n in names if n not in set(table["perturbation"])]
    if missing:
        raise ExportError(f"no results for {', '.join(missing)}")
    from ..analysis.perturbations import PERTURBATIONS

    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = new_figure((3.1 * cols + 1.6, 2.5 * rows + 0.6), dpi, constrained=True)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    for ax, name in zip(axes, names):
        t = table[table["perturbation"] == name]
        for cls in classes:
            c = t[t["class"] == cls].sort_values("severity")
            if c.empty:
                continue
            x, y = c["severity"].to_numpy(), 100 * c["accuracy"].to_numpy()
            if cls == "all":
                ax.fill_between(x, 100 * c["ci_low"], 100 * c["ci_high"], color="0.8", lw=0)
                ax.plot(x, y, color="black", lw=2.2, marker="o", ms=3, label="all faces", zorder=3)
            else:
                ax.plot(x, y, color=palette.CLASS_COLORS.get(cls, "0.5"), lw=1.2, label=cls)
        if other is not None:
            o = other[(other["perturbation"] == name) & (other["class"] == "all")].sort_values("severity")
            if not o.empty:
                ax.plot(o["severity"], 100 * o["accuracy"], color="black", lw=1.6, ls="--",
                        label=other_name or "second model")
        ax.set_title(PERTURBATIONS[name].label if name in PERTURBATIONS else name, fontsize=9)
        ax.set_xticks(sorted(set(t["severity"])))
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    for ax in axes[::cols]:
        ax.set_ylabel("accuracy (%)")
    for ax in axes[(rows - 1) * cols:]:
        ax.set_xlabel("severity")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    fig.suptitle(" · ".join(p for p in (model_name, split, "stress test") if p), fontsize=10)
    return freeze_layout(fig)
