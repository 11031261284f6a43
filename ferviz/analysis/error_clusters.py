"""Error clusters: the model's mistakes grouped by what the model computes for them (its
penultimate-layer features, as the embedding map uses), each described in words.

The errors' features are L2-normalised and clustered by scikit-learn's k-means (``k`` given, or
the silhouette-best of 3-8). A cluster is described by the attributes whose mean differs most
from the whole split's, in standard deviations of the split ("darker (−1.1 sd)"; a flag as its
share against the split's, or, for likely label issues, which only errors carry, against all the
errors': "likely label issues 85% (vs 67% of all errors)"), and by its confusion mix
("64% predicted sad, 48% truly fear (most often fear → sad, 40%)").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import AnalysisError, NotFoundError
from .slices import column_label, present, slice_values

CLUSTER_COLUMNS = ("cluster", "n", "description", "top_pred", "top_pred_share", "top_true", "top_true_share",
                   "mean_confidence")
MIN_Z = 0.3


@dataclass(frozen=True)
class ErrorClusters:
    """``table``: one row per cluster, largest first; ``labels``: cluster per face (-1 = correct)."""

    table: pd.DataFrame
    labels: np.ndarray = field(repr=False)
    ids: np.ndarray = field(repr=False)

    def mask(self, cluster: int) -> np.ndarray:
        if int(cluster) not in set(self.table["cluster"]):
            raise NotFoundError(f"no error cluster {cluster} (there are {len(self.table)})")
        return self.labels == int(cluster)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def choose_k(x: np.ndarray, ks: Sequence[int] = range(3, 9), seed: int = 0, sample: int = 2000) -> int:
    """The k of k-means with the best silhouette (on at most `sample` points)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    ks = [k for k in ks if 2 <= k < len(x)]
    if not ks:
        return max(1, min(2, len(np.unique(np.round(x, 6), axis=0))))
    best, best_s = ks[0], -2.0
    for k in ks:
        lab = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
        if len(set(lab)) < 2:
            continue
        s = silhouette_score(x, lab, sample_size=min(sample, len(x)), random_state=seed)
        if s > best_s:
            best, best_s = k, s
    return best


def describe_cluster(mask: np.ndarray, attrs: pd.DataFrame, wrong: np.ndarray | None = None, *,
                     top: int = 3) -> list[str]:
    """The attributes that set the faces of `mask` apart from the whole split, strongest first. A
    circular flag (likely label issue: only errors carry it) is compared with all the errors
    (`wrong`) instead."""
    from .attributes import BY_NAME

    parts = []
    for a in present(attrs, circular=True):
        v = slice_values(attrs, a.name)
        if a.kind == "flag":
            ref = v[wrong] if a.circular and wrong is not None and wrong.any() else v
            share, base = v[mask].mean(), ref.mean()
            sd = np.sqrt(base * (1 - base)) if 0 < base < 1 else 0.0
            if sd > 0:
                vs = "of all errors" if ref is not v else "of all faces"
                parts.append(((share - base) / sd, f"{a.natural_text} {share:.0%} (vs {base:.0%} {vs})"))
            continue
        sd = v.std()
        if sd > 0:
            z = (v[mask].mean() - v.mean()) / sd
            word = BY_NAME[a.name].high if z > 0 else BY_NAME[a.name].low
            word = word or ("more" if z > 0 else "less")
            parts.append((z, f"{word} ({column_label(a)} {z:+.1f} sd)".replace(f"{z:+.1f}", f"{z:+.1f}".replace("-", "−"))))
    parts.sort(key=lambda p: -abs(p[0]))
    return [text for z, text in parts[:top] if abs(z) >= MIN_Z]


def error_clusters(features: np.ndarray, correct: np.ndarray, attrs: pd.DataFrame, labels: np.ndarray,
                   preds: np.ndarray, classes: Sequence[str] | None = None, *,
                   confidence: np.ndarray | None = None, k: int | None = None, seed: int = 0,
                   scored: np.ndarray | None = None) -> ErrorClusters:
    """Cluster the errors of a split by their penultimate features and describe each cluster.
    `classes`: the names of the label indices (default :data:`ferviz.labels.NAMES`); `scored`
    (bool per face, e.g. ``Evaluation.scored``): faces whose true class the model can output; the
    others are not errors (cluster -1, like the correct faces)."""
    from sklearn.cluster import KMeans

    from ..labels import NAMES

    correct = np.asarray(correct, bool)
    n = len(correct)
    if not (len(features) == len(attrs) == len(labels) == len(preds) == n):
        raise AnalysisError("features, attributes, labels and predictions must cover the same faces")
    in_scope = np.ones(n, bool) if scored is None else np.asarray(scored, bool)
    if len(in_scope) != n:
        raise AnalysisError(f"{len(in_scope)} scored flags for {n} faces")
    is_wrong = ~correct & in_scope
    wrong = np.flatnonzero(is_wrong)
    ids = attrs["id"].astype(str).to_numpy() if "id" in attrs.columns else np.arange(n).astype(str)
    out = np.full(n, -1, np.int64)
    if len(wrong) < 2:
        return ErrorClusters(pd.DataFrame(columns=list(CLUSTER_COLUMNS)), out, ids)
    x = _normalise(features[wrong])
    if k is not None and not 1 <= int(k) <= len(wrong):
        raise AnalysisError(f"k must be between 1 and the number of errors ({len(wrong)}), got {k}")
    distinct = len(np.unique(np.round(x, 6), axis=0))  # k-means cannot make more clusters than points
    k = choose_k(x, ks=range(3, min(8, distinct) + 1), seed=seed) if k is None else int(k)
    k = max(1, min(k, distinct))
    lab = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    # number the clusters by size, largest first (stable across runs for a seed)
    sizes = np.bincount(lab, minlength=k)
    rank = np.empty(k, np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    out[wrong] = rank[lab]
    top = int(max(np.max(labels, initial=0), np.max(preds, initial=0))) + 1
    if classes is None or (len(classes) < top and tuple(classes) == NAMES[:len(classes)]):
        classes = NAMES
    names = np.asarray(classes, dtype=object)
    rows = []
    for c in range(k):
        m = out == c
        if not m.any():
            continue
        p_counts = np.bincount(np.asarray(preds)[m], minlength=len(names))
        t_counts = np.bincount(np.asarray(labels)[m], minlength=len(names))
        tp, tt = int(p_counts.argmax()), int(t_counts.argmax())
        sp, stt = p_counts[tp] / m.sum(), t_counts[tt] / m.sum()
        cells = np.bincount(np.asarray(labels)[m] * len(names) + np.asarray(preds)[m], minlength=len(names) ** 2)
        ct, cp = divmod(int(cells.argmax()), len(names))
        words = describe_cluster(m, attrs, is_wrong)
        mix = (f"{sp:.0%} predicted {names[tp]}, {stt:.0%} truly {names[tt]} "
               f"(most often {names[ct]} → {names[cp]}, {cells.max() / m.sum():.0%})")
        rows.append((c, int(m.sum()), ", ".join(words + [mix]) if words else mix, names[tp], sp, names[tt], stt,
                     float(np.mean(confidence[m])) if confidence is not None else float("nan")))
    return ErrorClusters(pd.DataFrame(rows, columns=list(CLUSTER_COLUMNS)), out, ids)
