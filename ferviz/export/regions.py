"""Region figures: the per-group region-share chart (bars with 95% intervals, a star where the
cell differs from a reference) and the regions drawn over a face.

The colours and the order here are also the dashboard's (``ferviz.ui.charts`` imports them), so
the app and the export show the same chart.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..attribution.regions import REGIONS
from ..figures.palette import SERIES_COLORS
from ._common import check_face, check_size, freeze_layout, new_figure
from .render import ExportError

# cell first, then the references: the palette's colours of series compared side by side
GROUP_COLORS: tuple[str, ...] = SERIES_COLORS
REGION_COLORS: dict[str, str] = {"brows": "#E69F00", "eyes": "#56B4E9", "nose": "#CC79A7",
                                 "mouth": "#D55E00", "face": "#F0E442", "background": "#7F7F7F"}
REGION_COLOR_NAMES: dict[str, str] = {"brows": "orange", "eyes": "sky blue", "nose": "pink",
                                      "mouth": "vermillion", "face": "yellow", "background": "gray"}
STAR = "\u2605"


def _check_table(table: pd.DataFrame) -> None:
    need = {"group", "n", *REGIONS, *(f"{r}_lo" for r in REGIONS), *(f"{r}_hi" for r in REGIONS)}
    missing = sorted(need - set(table.columns))
    if missing:
        raise ExportError(f"region table lacks column(s) {', '.join(missing)}")
    if table.empty:
        raise ExportError("region table has no groups")


def differs_map(tests: pd.DataFrame | None) -> dict[str, list[str]]:
    """region -> references it differs from (Holm-corrected), from a tests table."""
    out: dict[str, list[str]] = {}
    if tests is None or tests.empty:
        return out
    for _, t in tests[tests["differs"].astype(bool)].iterrows():
        out.setdefault(str(t["region"]), []).append(str(t["reference"]))
    return out


def regions_figure(table: pd.DataFrame, tests: pd.DataFrame | None = None, *, title: str = "",
                   size_in: Sequence[float] | None = None, dpi: float = 150):
    """Grouped horizontal bars: one row per region, one bar per group (mean share of the positive
    attribution), 95% interval whiskers; a star after a region where the cell (first group)
    differs significantly from a reference."""
    _check_table(table)
    star = differs_map(tests)
    fig = new_figure(check_size(size_in) or (7.2, 4.6), dpi, constrained=True)
    ax = fig.add_subplot()
    k = len(table)
    height = 0.8 / k
    ys = np.arange(len(REGIONS))
    for g, (_, row) in enumerate(table.iterrows()):
        mean = np.array([row[r] for r in REGIONS], float)
        lo = np.array([row[f"{r}_lo"] for r in REGIONS], float)
        hi = np.array([row[f"{r}_hi"] for r in REGIONS], float)
        err = np.vstack([np.clip(mean - lo, 0, None), np.clip(hi - mean, 0, None)])
        y = ys - 0.4 + height * (g + 0.5)
        ax.barh(y, np.nan_to_num(mean), height=height * 0.92, color=GROUP_COLORS[g % len(GROUP_COLORS)],
                xerr=np.nan_to_num(err), error_kw={"elinewidth": 0.9, "capsize": 2, "ecolor": "0.2"},
                label=f"{row['group']} (n={int(row['n'])})")
    labels = [f"{r} {STAR}" if r in star else r for r in REGIONS]
    ax.set_yticks(ys, labels, fontsize=9)
    ax.invert_yaxis()
    note = (f"\n{STAR} the cell differs from a reference (Welch's t-test, Holm-corrected, p < 0.05)"
            if star else "")
    ax.set_xlabel("share of the positive attribution (mean, 95% interval)" + note, fontsize=8)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.suptitle(title or "Where the model looks, by facial region", fontsize=10)
    return freeze_layout(fig)


def region_overlay(face: np.ndarray, labels: np.ndarray, *, size: tuple[int, int] | None = None,
                   alpha: float = 0.4) -> np.ndarray:
    """(H, W, 3) uint8: the face in gray with each region tinted in its colour and outlined."""
    from PIL import Image

    f = check_face(face)
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ExportError(f"region map must be 2-D, got shape {lab.shape}")
    gray = f if f.ndim == 2 else np.asarray(Image.fromarray(f).convert("L"))
    out_size = size or (max(gray.shape[1], 192), max(gray.shape[0], 192))
    g = np.asarray(Image.fromarray(gray).resize(out_size, Image.Resampling.BICUBIC), np.float32)
    lab = np.asarray(Image.fromarray(lab.astype(np.uint8)).resize(out_size, Image.Resampling.NEAREST))
    colors = np.array([[int(REGION_COLORS[r][i:i + 2], 16) for i in (1, 3, 5)] for r in REGIONS], np.float32)
    rgb = (1 - alpha) * g[..., None] + alpha * colors[lab]
    edge = np.zeros(lab.shape, bool)
    edge[1:, :] |= lab[1:, :] != lab[:-1, :]
    edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
    rgb[edge] = 255.0
    return np.clip(rgb, 0, 255).astype(np.uint8)


def regions_legend() -> str:
    """The region colours in words, for captions."""
    return ", ".join(f"{r} {REGION_COLOR_NAMES[r]}" for r in REGIONS)


def regions_title(model_name: str, split: str, method: str, true: int, pred: int) -> str:
    """The chart title the command and the dashboard both use."""
    from ..attribution import METHODS
    from ..labels import NAMES

    return (f"{model_name} · {split} · {METHODS.get(method, method)} · true {NAMES[true]} → predicted "
            f"{NAMES[pred]}\nshare of the positive attribution per facial region")


def regions_csv(table: pd.DataFrame) -> bytes:
    """regions.csv as the command writes it."""
    return table.to_csv(index=False, float_format="%.6f").encode()
