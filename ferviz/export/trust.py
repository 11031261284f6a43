"""The "which method to trust" figure: deletion/insertion AUC per method against a random order,
and the model-randomisation sanity check, each with its 95% interval."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..figures.palette import CORRECT, SERIES_COLORS, WRONG
from ._common import TEXT_GRAY, freeze_layout, new_figure
from .render import ExportError

REQUIRED = ("method", "deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc",
            "mprt_spearman", "blank_share")


def _err(df: pd.DataFrame, col: str) -> np.ndarray:
    mid = df[col].to_numpy(float)
    lo = df.get(f"{col}_lo", df[col]).to_numpy(float)
    hi = df.get(f"{col}_hi", df[col]).to_numpy(float)
    return np.nan_to_num(np.vstack([mid - lo, hi - mid]).clip(min=0))


def trust_figure(table: pd.DataFrame, *, model_name: str = "", split: str = "", dpi: float = 150):
    """Three panels from a trust table (:func:`ferviz.attribution.trust.trust_table`): deletion AUC
    (lower is better), insertion AUC (higher is better), each beside the random order, and the
    Spearman correlation with a randomised model's maps (lower: the map depends on the model)."""
    from ..attribution import METHODS

    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ExportError(f"trust table lacks column(s) {', '.join(missing)}")
    if table.empty:
        raise ExportError("trust table has no rows")
    df = table.reset_index(drop=True)
    labels = [METHODS.get(m, m) for m in df["method"]]
    y = np.arange(len(df))
    fig = new_figure((10.5, 0.45 * len(df) + 1.9), dpi, constrained=True)
    axes = fig.subplots(1, 3, sharey=True)
    for ax, col, title in ((axes[0], "deletion_auc", "deletion AUC (lower is better)"),
                           (axes[1], "insertion_auc", "insertion AUC (higher is better)")):
        ax.barh(y + 0.18, df[col], height=0.36, xerr=_err(df, col), color=SERIES_COLORS[0], label="map order",
                error_kw={"elinewidth": 1, "capsize": 2})
        ax.barh(y - 0.18, df[f"random_{col}"], height=0.36, xerr=_err(df, f"random_{col}"), color="0.75",
                label="random order", error_kw={"elinewidth": 1, "capsize": 2})
        ax.set_title(title, fontsize=9)
        ax.set_xlim(0, 1)
    axes[0].legend(fontsize=7, loc="lower right")
    rho = df["mprt_spearman"].to_numpy(float)
    axes[2].barh(y, rho, height=0.5, xerr=_err(df, "mprt_spearman"),
                 color=[CORRECT if str(ok) in ("True", "true", "1") else WRONG
                        for ok in df.get("passes_sanity_check", rho < 0.5)],
                 error_kw={"elinewidth": 1, "capsize": 2})
    axes[2].axvline(0.5, color=TEXT_GRAY, lw=0.8, ls="--")
    axes[2].set_xlim(-0.2, 1)
    axes[2].set_title("rank corr. with a randomised model\n(sanity check: green passes)", fontsize=9)
    for i, b in enumerate(df["blank_share"]):
        if b > 0:
            axes[2].text(0.98, i, f"{b:.0%} blank", transform=axes[2].get_yaxis_transform(), ha="right",
                         va="center", fontsize=7, color=WRONG)
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    n = int(df["n"].iloc[0]) if "n" in df else None
    views = str(df["views"].iloc[0]) if "views" in df else ""
    head = " · ".join(s for s in (model_name, split, f"{n} faces" if n else "", f"views: {views}" if views else "") if s)
    fig.suptitle(f"Which attribution method to trust — {head}" if head else "Which attribution method to trust",
                 fontsize=10)
    return freeze_layout(fig)
