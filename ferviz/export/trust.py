"""The "which method to trust" figures: deletion/insertion AUC and ROAD per method against a random
order and a blurred random map, the model-randomisation sanity check and robustness, each with its 95%
interval; and the randomisation cascade as curves."""
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


def _passed(v) -> bool:
    return str(v) in ("True", "true", "1", "1.0")


def _faithfulness_panel(ax, df: pd.DataFrame, y: np.ndarray, col: str, random_col: str, blur_col: str,
                        title: str) -> None:
    kw = {"error_kw": {"elinewidth": 1, "capsize": 2}}
    ax.barh(y - 0.27, df[col], height=0.26, xerr=_err(df, col), color=SERIES_COLORS[0], label="map order", **kw)
    if blur_col in df:
        ax.barh(y, df[blur_col], height=0.26, xerr=_err(df, blur_col), color="0.55", label="blurred random map",
                **kw)
    ax.barh(y + 0.27, df[random_col], height=0.26, xerr=_err(df, random_col), color="0.8", label="random order",
            **kw)
    ax.set_title(title, fontsize=9)
    ax.set_xlim(0, 1)


def trust_figure(table: pd.DataFrame, *, model_name: str = "", split: str = "", dpi: float = 150):
    """Panels from a trust table (:func:`ferviz.attribution.trust.trust_table`): deletion AUC and ROAD
    (lower is better), insertion AUC (higher is better), each beside a random order and a blurred
    random map; the Spearman correlation with the fully randomised model's maps (lower: the map
    depends on the model; for integrated gradients the absolute attribution's as a hollow mark); and,
    when measured, the maps' rank correlation under small perturbations (higher: the map holds)."""
    from ..attribution import METHODS

    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ExportError(f"trust table lacks column(s) {', '.join(missing)}")
    if table.empty:
        raise ExportError("trust table has no rows")
    df = table.reset_index(drop=True)
    labels = [METHODS.get(m, m) for m in df["method"]]
    y = np.arange(len(df))
    panels = [("deletion_auc", "deletion AUC (lower is better)"), ("insertion_auc", "insertion AUC (higher is better)")]
    if "road" in df:
        panels.append(("road", "ROAD: prediction kept (lower is better)"))
    robust = "robust_spearman" in df and np.isfinite(df["robust_spearman"].to_numpy(float)).any()
    ncols = len(panels) + 1 + int(robust)
    fig = new_figure((3.4 * ncols, 0.5 * len(df) + 2.1), dpi, constrained=True)
    axes = np.atleast_1d(fig.subplots(1, ncols, sharey=True))
    for ax, (col, title) in zip(axes, panels):
        _faithfulness_panel(ax, df, y, col, f"random_{col}", f"blur_{col}", title)
    axes[0].legend(fontsize=7, loc="lower right")
    ax = axes[len(panels)]
    rho = df["mprt_spearman"].to_numpy(float)
    ax.barh(y, rho, height=0.5, xerr=_err(df, "mprt_spearman"),
            color=[CORRECT if _passed(ok) else WRONG for ok in df.get("passes_sanity_check", rho < 0.5)],
            error_kw={"elinewidth": 1, "capsize": 2})
    if "mprt_spearman_abs" in df:
        ab = df["mprt_spearman_abs"].to_numpy(float)
        if np.isfinite(ab).any():
            ax.plot(ab, y, "o", mfc="none", mec="black", ms=6, label="IG, absolute (reported, does not decide)")
            ax.legend(fontsize=7, loc="lower right")
    ax.axvline(0.5, color=TEXT_GRAY, lw=0.8, ls="--")
    ax.set_xlim(-0.2, 1)
    stages = f", {int(df['mprt_stages'].iloc[0])} stages" if "mprt_stages" in df else ""
    ax.set_title(f"rank corr. with the randomised model{stages}\n(sanity check: green passes)", fontsize=9)
    for i, b in enumerate(df["blank_share"]):
        if b > 0:
            ax.text(0.98, i, f"{b:.0%} blank", transform=ax.get_yaxis_transform(), ha="right",
                    va="center", fontsize=7, color=WRONG)
    if robust:
        ax = axes[-1]
        ax.barh(y, df["robust_spearman"], height=0.5, xerr=_err(df, "robust_spearman"), color=SERIES_COLORS[1],
                error_kw={"elinewidth": 1, "capsize": 2})
        ax.set_xlim(0, 1)
        ax.set_title("rank corr. under small perturbations\n(noise, 1-px shift, brightness; higher holds)",
                     fontsize=9)
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    n = int(df["n"].iloc[0]) if "n" in df else None
    views = str(df["views"].iloc[0]) if "views" in df else ""
    head = " · ".join(s for s in (model_name, split, f"{n} faces" if n else "", f"views: {views}" if views else "") if s)
    fig.suptitle(f"Which attribution method to trust — {head}" if head else "Which attribution method to trust",
                 fontsize=10)
    return freeze_layout(fig)


CASCADE_REQUIRED = ("method", "map", "stage", "layer", "spearman")


def cascade_figure(cascade: pd.DataFrame, *, model_name: str = "", split: str = "", dpi: float = 150):
    """The randomisation cascade (:func:`ferviz.attribution.trust.trust_tables`): per method, the rank
    correlation with the trained model's maps as the weights are re-initialised from the top down
    (stage 0: the trained model, 1 by definition), with 95% intervals; integrated gradients' absolute
    attribution dashed."""
    from ..attribution import METHODS

    missing = [c for c in CASCADE_REQUIRED if c not in cascade.columns]
    if missing:
        raise ExportError(f"cascade table lacks column(s) {', '.join(missing)}")
    if cascade.empty:
        raise ExportError("cascade table has no rows")
    stages = cascade.drop_duplicates("stage").sort_values("stage")
    fig = new_figure((max(6.0, 0.55 * len(stages) + 3.5), 4.2), dpi, constrained=True)
    ax = fig.subplots()
    for (method, variant), g in cascade.groupby(["method", "map"], sort=False):
        g = g.sort_values("stage")
        colour = SERIES_COLORS[list(dict.fromkeys(cascade["method"])).index(method) % len(SERIES_COLORS)]
        x = np.concatenate([[0], g["stage"].to_numpy(int)])
        v = np.concatenate([[1.0], g["spearman"].to_numpy(float)])
        label = METHODS.get(method, method) + (" (absolute)" if variant != "shown" else "")
        ax.plot(x, v, marker="o", ms=3, color=colour, ls="-" if variant == "shown" else "--", label=label)
        if {"spearman_lo", "spearman_hi"} <= set(g.columns):
            ax.fill_between(g["stage"], g["spearman_lo"], g["spearman_hi"], color=colour, alpha=0.12, lw=0)
    ax.axhline(0.5, color=TEXT_GRAY, lw=0.8, ls=":")
    ax.axhline(0.0, color=TEXT_GRAY, lw=0.5)
    ax.set_xticks(np.concatenate([[0], stages["stage"].to_numpy(int)]),
                  ["trained"] + [f"+{name}" for name in stages["layer"]], rotation=45, ha="right", fontsize=7)
    ax.set_ylim(-0.3, 1.05)
    ax.set_xlabel("weights re-initialised from the top down, cumulatively (each stage: a layer and its batch norm)",
                  fontsize=8)
    ax.set_ylabel("Spearman correlation with the trained model's map", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    head = " · ".join(s for s in (model_name, split) if s)
    ax.set_title(f"Randomisation cascade — {head}" if head else "Randomisation cascade", fontsize=10)
    return freeze_layout(fig)
