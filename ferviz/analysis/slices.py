"""Failure slices: groups of faces, found automatically, on which a model does worse than on the rest.

Candidates are built from the face attributes (:mod:`ferviz.analysis.attributes`):

- **one attribute**: each fifth of its values (quantile bins, on the absolute value for roll and
  yaw; landmark attributes among the faces whose landmarks were found), its natural threshold
  (e.g. |roll| > 15°), and each flag;
- **two attributes**: every intersection of two one-attribute slices of different attributes,
  kept only when it does worse than both of its parts (otherwise it says nothing new).

For each slice: its size, its accuracy with a 95% Wilson interval, the accuracy of the rest, the
difference, the **excess errors** (how many more errors than the rest's error rate would give:
``n * (rest accuracy - accuracy)``), and a two-sided Fisher exact p-value of slice against
rest, corrected by the Benjamini-Hochberg method for every slice tested (one- and two-attribute,
all that reached the minimum size): among the slices called significant (adjusted p < 0.05), at
most 5% are expected to be flukes. The likely-label-issue flag never defines a slice: confident
learning flags only misclassified faces, so such a slice would be wrong by construction. Only slices of at least ``min_size`` faces (and rests as large) are tested.
The table is ranked: significantly worse slices first, by excess errors.

Faces whose true class the model cannot output (another expression set than the model's) are not
right or wrong: with ``scored`` they are left out of every slice, rest and accuracy.

statsmodels gives the intervals and the correction, scipy the exact tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import AnalysisError, NotFoundError
from .attributes import BY_NAME, Attribute

MIN_SIZE = 30
BINS = 5
ALPHA = 0.05
_ORDINAL = {1: "lowest", 2: "second", 3: "middle", 4: "fourth", 5: "highest"}
TABLE_COLUMNS = ("slice", "description", "n", "errors", "accuracy", "ci_low", "ci_high", "rest_accuracy",
                 "difference", "excess_errors", "p_value", "p_adjusted", "attributes", "sentence")


def fmt_value(a: Attribute, v: float) -> str:
    """A threshold as the user reads it: '15°', '4.2 px', '98', '0.25'."""
    if a.unit == "degrees":
        return f"{v:.0f}°"
    if a.unit == "pixels":
        return f"{v:.1f} px"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.1f}"


def column_label(a: Attribute) -> str:
    """'brightness', '|head roll|' (folded attributes read as absolute values)."""
    return f"|{a.label}|" if a.fold else a.label


def slice_values(attrs: pd.DataFrame, name: str) -> np.ndarray:
    """The values slices use for attribute `name`: absolute for folded attributes."""
    v = attrs[name].to_numpy(np.float64)
    return np.abs(v) if BY_NAME[name].fold else v


def present(attrs: pd.DataFrame, *, circular: bool = False) -> list[Attribute]:
    """The known attributes among `attrs`' columns, in :data:`ATTRIBUTES` order (without the
    circular ones, defined by the model's errors, unless asked)."""
    from .attributes import ATTRIBUTES

    return [a for a in ATTRIBUTES if a.name in attrs.columns and (circular or not a.circular)]


@dataclass(frozen=True)
class Candidate:
    key: str
    description: str
    phrase: str  # the condition alone, for combinations: "brightness < 98"
    attribute: str
    mask: np.ndarray = field(repr=False)


def _domain(attrs: pd.DataFrame, a: Attribute) -> np.ndarray:
    if a.landmark and "template" in attrs.columns:
        return attrs["template"].to_numpy() == 0
    return np.ones(len(attrs), bool)


def one_attribute_candidates(attrs: pd.DataFrame, *, bins: int = BINS) -> list[Candidate]:
    """Quantile bins, natural thresholds and flags of every attribute present."""
    out: list[Candidate] = []
    for a in present(attrs):
        v = slice_values(attrs, a.name)
        dom = _domain(attrs, a)
        label = column_label(a)
        if a.kind == "flag":
            out.append(Candidate(a.name, a.natural_text, a.label, a.name, (v > 0.5) & dom))
            continue
        if dom.sum() == 0:
            continue
        edges = np.unique(np.quantile(v[dom], np.linspace(0, 1, bins + 1)))
        if len(edges) >= 3:
            for k in range(len(edges) - 1):
                lo, hi = edges[k], edges[k + 1]
                last = k == len(edges) - 2
                if k == 0:
                    m, phrase = v < hi, f"{label} < {fmt_value(a, hi)}"
                    text = f"{a.low} faces ({phrase}, the lowest {_share(bins)})" if a.low else f"faces with {phrase}"
                elif last:
                    m, phrase = v >= lo, f"{label} ≥ {fmt_value(a, lo)}"
                    text = f"{a.high} faces ({phrase}, the highest {_share(bins)})" if a.high else f"faces with {phrase}"
                else:
                    m = (v >= lo) & (v < hi)
                    phrase = f"{label} {fmt_value(a, lo)}–{fmt_value(a, hi)}"
                    text = f"faces with {phrase}"
                out.append(Candidate(f"{a.name}:q{k + 1}", text, phrase, a.name, m & dom))
        if a.natural is not None:
            op = a.natural_op
            m = v < a.natural if op == "<" else v > a.natural
            out.append(Candidate(f"{a.name}:{op}{fmt_value(a, a.natural).replace(' ', '')}", a.natural_text,
                                 f"{label} {op} {fmt_value(a, a.natural)}", a.name, m & dom))
    return out


def _share(bins: int) -> str:
    return {2: "half", 3: "third", 4: "quarter", 5: "fifth", 10: "tenth"}.get(bins, f"1/{bins}")


@dataclass(frozen=True)
class SliceSearch:
    """The ranked slice table and every slice's members (positions in the split)."""

    table: pd.DataFrame
    masks: dict[str, np.ndarray] = field(repr=False)
    ids: np.ndarray = field(repr=False)
    overall: float = float("nan")
    tested: int = 0
    n_outside: int = 0  # faces counted apart (a true class the model cannot output): in no slice

    def mask(self, key: str) -> np.ndarray:
        if key not in self.masks:
            raise NotFoundError(f"no slice {key!r}; slices: {', '.join(list(self.masks)[:5])} ...")
        return self.masks[key]

    def members(self, key: str) -> np.ndarray:
        """The ids of slice `key`'s faces, in the split's order."""
        return self.ids[self.mask(key)]

    def members_frame(self) -> pd.DataFrame:
        """``slice,id``: one row per member of every slice in the table, in the table's order."""
        keys = self.table["slice"].tolist()
        return pd.DataFrame({"slice": np.repeat(keys, [int(self.masks[k].sum()) for k in keys]),
                             "id": np.concatenate([self.ids[self.masks[k]] for k in keys]) if keys else []})

    def worst(self, top: int = 5, *, overlap: float = 0.5, significant: bool = True) -> pd.DataFrame:
        """The `top` first worse slices (in the table's order: significantly worse first; with
        `significant`, only those) that are different groups of faces: a slice sharing more than
        `overlap` of the smaller one's faces with a slice already picked (e.g. "sharp faces whose
        landmarks were not found" after "faces whose landmarks were not found") is passed over.
        May be fewer than `top`."""
        t = self.table
        worse = t["difference"] < 0
        if significant:
            worse &= t["p_adjusted"] < ALPHA
        picked: list[int] = []
        for i in np.flatnonzero(worse.to_numpy()):
            m = self.masks[t["slice"].iat[i]]
            if all((m & self.masks[t["slice"].iat[j]]).sum() <= overlap * min(m.sum(), t["n"].iat[j])
                   for j in picked):
                picked.append(int(i))
            if len(picked) == top:
                break
        return t.iloc[picked]


def wilson(k: np.ndarray, n: np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson interval of k successes in n (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(np.asarray(k), np.maximum(np.asarray(n), 1), alpha=alpha, method="wilson")
    return np.asarray(lo, np.float64), np.asarray(hi, np.float64)


def fisher_p(k: np.ndarray, n: np.ndarray, K: int, N: int) -> np.ndarray:
    """Two-sided Fisher exact p of each slice (k correct of n) against the rest (K-k of N-n)."""
    from scipy.stats import fisher_exact

    return np.array([fisher_exact([[ki, ni - ki], [K - ki, (N - ni) - (K - ki)]])[1] for ki, ni in zip(k, n)],
                    np.float64)


CORRECTION = "fdr_bh"  # statsmodels' name of the Benjamini-Hochberg correction


def adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg-adjusted p-values (statsmodels), in the input's order."""
    from statsmodels.stats.multitest import multipletests

    if len(p) == 0:
        return np.zeros(0)
    return multipletests(np.asarray(p, np.float64), method=CORRECTION)[1]


def with_size(description: str, n: int) -> str:
    """'dim faces (brightness < 60; n = 709)', 'faces ... (n = 74)'."""
    return f"{description[:-1]}; n = {n:,})" if description.endswith(")") else f"{description} (n = {n:,})"


def sentence(description: str, n: int, acc: float, lo: float, hi: float, rest: float,
             p_adjusted: float | None = None, tested: int | None = None) -> str:
    """'faces turned ... (n = 312): accuracy 52% [47, 58] vs 69% for the rest' (+ significance)."""
    head = with_size(description[:1].upper() + description[1:], n)
    text = f"{head}: accuracy {acc:.0%} [{100 * lo:.0f}, {100 * hi:.0f}] vs {rest:.0%} for the rest"
    if p_adjusted is not None and p_adjusted >= ALPHA:
        text += f" (not significant after correcting for {tested:,} slices)" if tested else " (not significant)"
    return text


def find_slices(attrs: pd.DataFrame, correct: np.ndarray, *, min_size: int = MIN_SIZE, bins: int = BINS,
                pairs: bool = True, scored: np.ndarray | None = None) -> SliceSearch:
    """Test every one- and two-attribute slice of `attrs` (an ``id`` column plus attributes, one row
    per face) against the rest, for `correct` (bool per face). `scored` (bool per face, e.g.
    ``Evaluation.scored``): the faces that count; the others (a true class the model cannot output)
    are in no slice nor rest, and the masks still cover every face. See the module docstring."""
    correct = np.asarray(correct, bool)
    if len(correct) != len(attrs):
        raise AnalysisError(f"{len(correct)} answers for {len(attrs)} faces")
    if scored is not None:
        scored = np.asarray(scored, bool)
        if len(scored) != len(attrs):
            raise AnalysisError(f"{len(scored)} scored flags for {len(attrs)} faces")
        if not scored.all():
            ids = attrs["id"].astype(str).to_numpy() if "id" in attrs.columns else \
                np.arange(len(attrs)).astype(str)
            sub = find_slices(attrs[scored].reset_index(drop=True), correct[scored],
                              min_size=min_size, bins=bins, pairs=pairs)
            masks = {}
            for key, m in sub.masks.items():
                full = np.zeros(len(attrs), bool)
                full[scored] = m
                masks[key] = full
            return SliceSearch(sub.table, masks, ids, sub.overall, sub.tested, int((~scored).sum()))
    if min_size < 1:
        raise AnalysisError(f"min_size must be at least 1, got {min_size}")
    ids = attrs["id"].astype(str).to_numpy() if "id" in attrs.columns else np.arange(len(attrs)).astype(str)
    N, K = len(correct), int(correct.sum())
    ones = [c for c in one_attribute_candidates(attrs, bins=bins) if min_size <= c.mask.sum() <= N - min_size]
    cands = list(ones)
    if pairs and ones:
        M = np.stack([c.mask for c in ones]).astype(np.float32)
        n2 = M @ M.T
        k2 = M @ (M * correct).T
        acc1 = np.diag(k2) / np.maximum(np.diag(n2), 1)
        for i in range(len(ones)):
            for j in range(i + 1, len(ones)):
                a, b = ones[i], ones[j]
                nij = int(n2[i, j])
                if a.attribute == b.attribute or nij < min_size or nij > N - min_size:
                    continue
                if k2[i, j] / nij < min(acc1[i], acc1[j]):
                    cands.append(Candidate(f"{a.key} & {b.key}", f"faces with {a.phrase} and {b.phrase}",
                                           f"{a.phrase} and {b.phrase}", f"{a.attribute}+{b.attribute}",
                                           a.mask & b.mask))
    n = np.array([int(c.mask.sum()) for c in cands], np.int64)
    k = np.array([int((c.mask & correct).sum()) for c in cands], np.int64)
    acc = k / np.maximum(n, 1)
    rest = (K - k) / np.maximum(N - n, 1)
    lo, hi = wilson(k, n)
    p = fisher_p(k, n, K, N)
    padj = adjust(p)
    overall = K / N if N else float("nan")
    table = pd.DataFrame({
        "slice": [c.key for c in cands], "description": [c.description for c in cands], "n": n, "errors": n - k,
        "accuracy": acc, "ci_low": lo, "ci_high": hi, "rest_accuracy": rest, "difference": acc - rest,
        "excess_errors": n * (rest - acc), "p_value": p, "p_adjusted": padj,
        "attributes": [c.attribute.count("+") + 1 for c in cands]})
    table["sentence"] = [sentence(d, int(ni), a_, l_, h_, r_, pa, len(cands))
                         for d, ni, a_, l_, h_, r_, pa in zip(table["description"], n, acc, lo, hi, rest, padj)]
    worse = (table["p_adjusted"] < ALPHA) & (table["difference"] < 0)
    table = (table.assign(_worse=worse).sort_values(["_worse", "excess_errors", "slice"], ascending=[False, False, True],
                                                      kind="stable").drop(columns="_worse").reset_index(drop=True))
    masks = {c.key: c.mask for c in cands}
    return SliceSearch(table[list(TABLE_COLUMNS)], masks, ids, overall, len(cands))


# ------------------------------------------------------------------ comparing two models

def compare_slices(search: SliceSearch, correct_a: np.ndarray, correct_b: np.ndarray) -> pd.DataFrame:
    """For each slice of `search`: model A's and B's accuracy, the faces B fixes (A wrong, B right)
    and breaks (A right, B wrong), and an exact McNemar p (binomial on the discordant faces),
    Benjamini-Hochberg-corrected. ``verdict``: ``fixes``, ``breaks`` or ``same`` (not significant)."""
    from scipy.stats import binomtest

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape or len(a) != len(search.ids):
        raise AnalysisError("the two models' answers must cover the same faces as the slices")
    rows = []
    for key, desc in zip(search.table["slice"], search.table["description"]):
        m = search.masks[key]
        fixed, broken = int((m & ~a & b).sum()), int((m & a & ~b).sum())
        p = binomtest(fixed, fixed + broken).pvalue if fixed + broken else 1.0
        rows.append((key, desc, int(m.sum()), a[m].mean(), b[m].mean(), fixed, broken, p))
    df = pd.DataFrame(rows, columns=["slice", "description", "n", "accuracy_a", "accuracy_b", "fixed", "broken",
                                     "p_value"])
    df["p_adjusted"] = adjust(df["p_value"].to_numpy())
    df["change"] = df["accuracy_b"] - df["accuracy_a"]
    sig = df["p_adjusted"] < ALPHA
    df["verdict"] = np.where(sig & (df["change"] > 0), "fixes", np.where(sig & (df["change"] < 0), "breaks", "same"))
    return df.sort_values("change", kind="stable").reset_index(drop=True)
