"""Where the model looks, by facial region: brows, eyes, nose, mouth, the rest of the face and the
background, built from five landmarks (:mod:`ferviz.data.landmarks`).

**Regions.** In a frame aligned with the eye line (origin between the eyes, ``u`` along the eye
line, ``v`` towards the mouth, ``d`` the distance between the eyes):

- *eyes*: an ellipse around each eye, 0.30d wide and 0.17d high (semi-axes);
- *brows*: an ellipse 0.33d above each eye, 0.36d by 0.14d;
- *mouth*: an ellipse around the mouth corners' midpoint, half the corner distance + 0.12d by 0.22d;
- *nose*: an ellipse from between the eyes to just below the nose tip, 0.25d wide;
- *face*: the rest of an oval 0.98d wide from 0.9d above the eyes to 0.55d below the mouth;
- *background*: everything outside that oval (hair, neck, the backdrop).

Where they overlap the earlier in :data:`PRIORITY` wins. The geometry is fitted by eye to FER2013
faces (see the inspector's region overlay) and is fixed, so shares are comparable across faces.

**Shares.** For a map, the share of a region is the region's part of the map's *positive* mass;
the shares of a face sum to 1. A map with no positive mass (blank) has no shares (NaN) and is
counted apart. Larger regions collect more of a uniform map, so compare shares between groups of
faces (a confusion cell against references) rather than between regions. Grad-CAM, Grad-CAM++,
integrated gradients and SmoothGrad put their mass where the evidence is (a model that reads only
the mouth gets a mouth share above 95%, tested); XRAI ranks whole image segments, which are found
in the pixels and cross region borders, so its shares are blurred towards the segments' areas.

**Groups.** :func:`cell_report` compares a confusion cell (true t, predicted p) with two
references: the correctly classified faces of t and those of p, each explained towards its
predicted class. Per group and region: the mean share with a bootstrap 95% interval; per region
and reference: Welch's t-test of the cell against the reference, Holm-corrected over all regions
and both references (so "differs" holds at 5% family-wise).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import AttributionError
from ..labels import NAMES

REGIONS: tuple[str, ...] = ("brows", "eyes", "nose", "mouth", "face", "background")
PRIORITY: tuple[str, ...] = ("eyes", "brows", "mouth", "nose", "face")  # background: the rest
BOOTSTRAP = 2000
ALPHA = 0.05


def _frame(points: np.ndarray, size: tuple[int, int]):
    """Pixel-centre coordinates (u, v) in the eye-aligned frame, in units of the eye distance,
    and the landmarks in the same frame."""
    h, w = size
    p = np.asarray(points, np.float64) * np.array([w, h])
    le, re = p[0], p[1]
    centre = (le + re) / 2
    axis = re - le
    d = max(float(np.linalg.norm(axis)), 1e-6)
    ux = axis / d
    vy = np.array([-ux[1], ux[0]])  # 90 degrees clockwise on screen: towards the mouth
    ys, xs = np.mgrid[0:h, 0:w]
    rel = np.stack([xs + 0.5, ys + 0.5], axis=-1) - centre
    grid = np.stack([rel @ ux, rel @ vy], axis=-1) / d
    marks = ((p - centre) @ np.stack([ux, vy], axis=1)) / d
    return grid, marks


def _ellipse(grid: np.ndarray, centre, a: float, b: float) -> np.ndarray:
    du = (grid[..., 0] - centre[0]) / a
    dv = (grid[..., 1] - centre[1]) / b
    return du * du + dv * dv <= 1.0


def region_map(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) int8 region index (into :data:`REGIONS`) for one face's landmarks (5, 2)."""
    grid, m = _frame(points, size)
    le, re, nose, ml, mr = m
    mouth = (ml + mr) / 2
    half_mouth = float(np.linalg.norm(mr - ml)) / 2
    nose_bottom = nose[1] + 0.15
    shapes = {
        "eyes": _ellipse(grid, le, 0.30, 0.17) | _ellipse(grid, re, 0.30, 0.17),
        "brows": _ellipse(grid, le + [0, -0.33], 0.36, 0.14) | _ellipse(grid, re + [0, -0.33], 0.36, 0.14),
        "mouth": _ellipse(grid, mouth, half_mouth + 0.12, 0.22),
        "nose": _ellipse(grid, (nose[0] / 2, nose_bottom / 2), 0.25, max(nose_bottom / 2, 0.05)),
    }
    top, bottom = -0.9, mouth[1] + 0.55
    shapes["face"] = _ellipse(grid, (mouth[0] / 2, (top + bottom) / 2), 0.98, (bottom - top) / 2)
    labels = np.full(size, REGIONS.index("background"), np.int8)
    for name in reversed(PRIORITY):  # paint the lowest priority first
        labels[shapes[name]] = REGIONS.index(name)
    return labels


def region_maps(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W) region indices for (N, 5, 2) landmarks."""
    return np.stack([region_map(p, size) for p in np.asarray(points)]) if len(points) else \
        np.zeros((0, *size), np.int8)


def region_shares(maps: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, R) share of each map's positive mass per region (rows sum to 1; NaN for blank maps)."""
    m = np.clip(np.nan_to_num(np.asarray(maps, np.float64), nan=0.0, posinf=0.0, neginf=0.0), 0, None)
    if m.shape != labels.shape:
        raise AttributionError(f"maps {m.shape} and region maps {labels.shape} differ in shape")
    n, r = len(m), len(REGIONS)
    flat_m = m.reshape(n, -1)
    flat_l = labels.reshape(n, -1).astype(np.int64) + (np.arange(n) * r)[:, None]
    sums = np.bincount(flat_l.ravel(), weights=flat_m.ravel(), minlength=n * r).reshape(n, r)
    total = sums.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, sums / total, np.nan)


def area_shares(labels: np.ndarray) -> np.ndarray:
    """(N, R) share of the pixels per region: the shares a uniform map would get."""
    return region_shares(np.ones(labels.shape), labels)


def bootstrap_ci(shares: np.ndarray, *, n_boot: int = BOOTSTRAP, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile 95% interval of the mean share per region over faces (rows with NaN dropped)."""
    s = shares[~np.isnan(shares).any(axis=1)]
    if len(s) == 0:
        nan = np.full(shares.shape[1], np.nan)
        return nan, nan.copy()
    rng = np.random.default_rng(seed)
    means = np.empty((n_boot, s.shape[1]))
    for k in range(0, n_boot, 250):  # bounded memory for large groups
        idx = rng.integers(0, len(s), (min(250, n_boot - k), len(s)))
        means[k:k + len(idx)] = s[idx].mean(axis=1)
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN and is not counted)."""
    p = np.asarray(p, float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    vals = p[ok]
    order = np.argsort(vals)
    m = len(vals)
    adj = np.maximum.accumulate((m - np.arange(m)) * vals[order]).clip(max=1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


@dataclass
class Group:
    """Faces of one group: the cell or a reference."""

    name: str
    true: int
    pred: int
    pos: np.ndarray  # split positions
    shares: np.ndarray  # (n, R)
    detected: np.ndarray  # (n,) landmarks from ONet (False: template)

    @property
    def valid(self) -> np.ndarray:
        return self.shares[~np.isnan(self.shares).any(axis=1)]


@dataclass
class RegionReport:
    """Per-group mean region shares with intervals (:attr:`table`), the cell-vs-reference tests
    (:attr:`tests`) and one row per face (:attr:`faces`)."""

    groups: list[Group]
    method: str
    views: str
    n_boot: int = BOOTSTRAP
    table: pd.DataFrame = field(init=False)
    tests: pd.DataFrame = field(init=False)
    faces: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        rows = []
        for k, g in enumerate(self.groups):
            valid = g.valid
            lo, hi = bootstrap_ci(g.shares, n_boot=self.n_boot, seed=k)
            mean = valid.mean(axis=0) if len(valid) else np.full(len(REGIONS), np.nan)
            row = {"group": g.name, "true": NAMES[g.true], "pred": NAMES[g.pred], "n": len(valid),
                   "n_blank": len(g.shares) - len(valid), "n_template": int((~g.detected).sum())}
            row.update({r: float(mean[i]) for i, r in enumerate(REGIONS)})
            for i, r in enumerate(REGIONS):
                row[f"{r}_lo"], row[f"{r}_hi"] = float(lo[i]), float(hi[i])
            rows.append(row)
        self.table = pd.DataFrame(rows)
        self.tests = self._tests()
        self.faces = self._faces()

    def _tests(self) -> pd.DataFrame:
        from scipy import stats

        cols = ["region", "reference", "cell_mean", "reference_mean", "difference", "p", "p_holm", "differs"]
        if len(self.groups) < 2:
            return pd.DataFrame(columns=cols)
        cell = self.groups[0].valid
        rows = []
        for ref in self.groups[1:]:
            other = ref.valid
            for i, r in enumerate(REGIONS):
                a, b = cell[:, i], other[:, i]
                if len(a) < 2 or len(b) < 2:
                    p = float("nan")
                elif max(a.std(), b.std()) < 1e-9:  # constant groups: a t-test has no spread to use
                    p = 1.0 if abs(a.mean() - b.mean()) < 1e-9 else 0.0
                else:
                    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
                cm = float(cell[:, i].mean()) if len(cell) else float("nan")
                om = float(other[:, i].mean()) if len(other) else float("nan")
                rows.append({"region": r, "reference": ref.name, "cell_mean": cm, "reference_mean": om,
                             "difference": cm - om, "p": p})
        df = pd.DataFrame(rows)
        df["p_holm"] = holm(df["p"].to_numpy())
        df["differs"] = df["p_holm"] < ALPHA
        return df[cols]

    def _faces(self) -> pd.DataFrame:
        parts = []
        for g in self.groups:
            d = pd.DataFrame(g.shares, columns=list(REGIONS))
            d.insert(0, "pos", g.pos)
            d.insert(0, "group", g.name)
            d["landmarks"] = np.where(g.detected, "onet", "template")
            parts.append(d)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def differing(self) -> list[str]:
        """Sentences naming the regions where the cell differs from a reference. Shares are
        fractions, so their difference is in percentage points ('mouth: 1.7 percentage points
        more than correct fear (12.0% vs 10.3%, ...)'), not a percentage of the reference."""
        out = []
        for _, t in self.tests[self.tests["differs"]].iterrows():
            word = "more" if t["difference"] > 0 else "less"
            out.append(f"{t['region']}: {abs(t['difference']) * 100:.1f} percentage points {word} than "
                       f"{t['reference']} ({t['cell_mean']:.1%} vs {t['reference_mean']:.1%}, "
                       f"Holm p = {t['p_holm']:.2g})")
        return out


def group_positions(true: np.ndarray, pred: np.ndarray, t: int, p: int, *, max_faces: int | None = 100,
                    seed: int = 0, model_classes: Sequence[int] | None = None
                    ) -> dict[str, tuple[int, int, np.ndarray]]:
    """The cell and its references: name -> (true, pred, split positions), each at most
    `max_faces` drawn at random with `seed` (in split order). A true class the model cannot
    output (not in `model_classes`, default every class) has no "correct" reference."""
    rng = np.random.default_rng(seed)

    def pick(mask: np.ndarray) -> np.ndarray:
        pos = np.flatnonzero(mask)
        if max_faces is not None and len(pos) > max_faces:
            pos = np.sort(rng.choice(pos, int(max_faces), replace=False))
        return pos

    groups = {f"cell {NAMES[t]}→{NAMES[p]}": (t, p, pick((true == t) & (pred == p)))}
    if t != p:
        if model_classes is None or t in {int(c) for c in model_classes}:
            groups[f"correct {NAMES[t]}"] = (t, t, pick((true == t) & (pred == t)))
        groups[f"correct {NAMES[p]}"] = (p, p, pick((true == p) & (pred == p)))
    return groups


MapsFor = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (positions, FER targets) -> maps


def cell_report(true: np.ndarray, pred: np.ndarray, points: np.ndarray, detected: np.ndarray, t: int, p: int,
                maps_for: MapsFor, *, method: str = "gradcam", views: str = "tta", max_faces: int | None = 100,
                seed: int = 0, n_boot: int = BOOTSTRAP, model_classes: Sequence[int] | None = None) -> RegionReport:
    """Region shares of a confusion cell and its references. `true`/`pred` are the split's labels
    and shown predictions, `points`/`detected` its landmarks; `maps_for(pos, targets)` returns the
    maps (N, H, W) of those faces towards those classes (each group towards its predicted class).
    `model_classes`: the class indices the model can output (default every class of
    :data:`ferviz.labels.NAMES`); the predicted class `p` must be one of them, the true class `t`
    may be any (a class the model lacks has no "correct" reference)."""
    allowed = sorted(int(c) for c in model_classes) if model_classes is not None else list(range(len(NAMES)))
    if not 0 <= t < len(NAMES):
        raise AttributionError(f"true class {t} is not a class index (0-{len(NAMES) - 1}: {', '.join(NAMES)})")
    if p not in allowed:
        what = f"{p} ({NAMES[p]})" if 0 <= p < len(NAMES) else str(p)
        raise AttributionError(f"predicted class {what} is not one the model can output: "
                               + ", ".join(f"{c} {NAMES[c]}" for c in allowed))
    groups = []
    for name, (gt, gp, pos) in group_positions(np.asarray(true), np.asarray(pred), t, p, max_faces=max_faces,
                                               seed=seed, model_classes=model_classes).items():
        if len(pos):
            maps = np.asarray(maps_for(pos, np.full(len(pos), gp)))
            labels = region_maps(points[pos], maps.shape[1:3])
            shares = region_shares(maps, labels)
        else:
            shares = np.zeros((0, len(REGIONS)))
        groups.append(Group(name, gt, gp, pos, shares, np.asarray(detected)[pos].astype(bool)))
    if not len(groups[0].pos):
        raise AttributionError(f"no faces in the cell true {NAMES[t]} → predicted {NAMES[p]}")
    return RegionReport(groups, method, views, n_boot)
