"""Figures of the failure slices: the worst slices' accuracies with their intervals against the
overall accuracy, and the error tree drawn as boxes (rule, size, error rate)."""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from ..figures import palette
from ._common import TEXT_GRAY, freeze_layout, new_figure
from .render import ExportError


def slices_figure(table: pd.DataFrame, overall: float, *, model_name: str = "", split: str = "", top: int = 12,
                  dpi: float = 150):
    """A forest plot of the `top` first slices of a ranked slice table: accuracy with its 95%
    interval, a dashed line at the overall accuracy."""
    need = {"description", "n", "accuracy", "ci_low", "ci_high", "p_adjusted"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise ExportError(f"the slices figure needs a slice table with {', '.join(sorted(need))}")
    t = table.head(top)
    if t.empty:
        raise ExportError("no slices to draw (none reached the minimum size)")
    k = len(t)
    fig = new_figure((8.0, 1.0 + 0.42 * k), dpi, constrained=True)
    ax = fig.add_subplot()
    y = np.arange(k)[::-1]
    acc = t["accuracy"].to_numpy(float)
    lo, hi = t["ci_low"].to_numpy(float), t["ci_high"].to_numpy(float)
    sig = (t["p_adjusted"].to_numpy(float) < 0.05) & (acc < overall)
    for mask, color in ((sig, palette.WRONG), (~sig, "0.55")):
        if mask.any():
            ax.errorbar(acc[mask] * 100, y[mask], xerr=[(acc - lo)[mask] * 100, (hi - acc)[mask] * 100], fmt="o",
                        color=color, ms=5, elinewidth=1.6, capsize=3)
    ax.axvline(overall * 100, color=TEXT_GRAY, ls="--", lw=1)
    ax.text(overall * 100, k - 0.4, f" overall {overall:.1%}", color=TEXT_GRAY, fontsize=8, va="bottom")
    from ..analysis.slices import with_size

    labels = [with_size(d, int(n)) for d, n in zip(t["description"], t["n"])]
    ax.set_yticks(y, [lab if len(lab) <= 70 else lab[:67] + "..." for lab in labels], fontsize=8)
    ax.set_xlabel("accuracy (%), 95% interval · red: worse than the rest (adjusted p < 0.05)")
    ax.set_xlim(max(0, min(lo.min(), overall) * 100 - 5), min(100, max(hi.max(), overall) * 100 + 5))
    ax.set_ylim(-0.7, k - 0.1)
    ax.set_title(" · ".join(p for p in (model_name, split, "failure slices") if p), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return freeze_layout(fig)


def tree_figure(nodes: pd.DataFrame, *, model_name: str = "", split: str = "", dpi: float = 150):
    """The error tree: one box per node (its rule, size and error rate), children below their
    parent, a darker red for a higher error rate."""
    need = {"node", "parent", "depth", "rule", "n", "error_rate"}
    if not isinstance(nodes, pd.DataFrame) or not need <= set(nodes.columns) or nodes.empty:
        raise ExportError(f"the tree figure needs a node table with {', '.join(sorted(need))}")
    depth = int(nodes["depth"].max())
    leaves = nodes[~nodes["node"].isin(nodes["parent"])]
    # x of each leaf in depth-first order, a parent centred over its children
    xs: dict[int, float] = {}
    order = list(nodes["node"])
    for i, node in enumerate(n for n in order if n in set(leaves["node"])):
        xs[int(node)] = float(i)
    for d in range(depth, -1, -1):
        for node in nodes.loc[nodes["depth"] == d, "node"]:
            kids = nodes.loc[nodes["parent"] == node, "node"].tolist()
            if kids:
                xs[int(node)] = float(np.mean([xs[int(c)] for c in kids]))
    width = max(len(leaves), 1)
    fig = new_figure((max(6.0, 1.55 * width), 1.4 + 1.25 * depth), dpi, constrained=False)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.9))
    ax.set_xlim(-0.6, width - 0.4)
    ax.set_ylim(depth + 0.6, -0.6)
    ax.axis("off")
    rate_max = max(float(nodes["error_rate"].max()), 1e-9)
    from matplotlib import colormaps

    cmap = colormaps["Reds"]
    for _, r in nodes.iterrows():
        x, y = xs[int(r["node"])], float(r["depth"])
        if r["parent"] >= 0:
            ax.plot([xs[int(r["parent"])], x], [y - 1 + 0.28, y - 0.28], color="0.6", lw=0.8, zorder=1)
        rule = "\n".join(textwrap.wrap(str(r["rule"]), 22, max_lines=3, placeholder="..."))
        rate = float(r["error_rate"])
        face = cmap(0.1 + 0.7 * rate / rate_max)
        ax.text(x, y, f"{rule}\nn = {int(r['n']):,} · {rate:.0%} wrong", ha="center", va="center", fontsize=8,
                color="white" if rate / rate_max > 0.7 else "black", zorder=2,
                bbox=dict(boxstyle="round,pad=0.35", fc=face, ec="0.4", lw=0.6))
    fig.suptitle(" · ".join(p for p in (model_name, split, "error tree") if p), fontsize=10)
    return fig
