"""Prototypes and criticisms per class: the most and the least typical faces in the model's space.

**Space.** The same as the nearest Training faces (:mod:`ferviz.analysis.neighbours`): the
penultimate features, over the card's test-time views by default, compared by cosine distance.

**Prototypes: k-medoids.** For each class (the faces *labelled* with it), k faces of the class
(medoids) chosen so that the sum of every face's cosine distance to its nearest medoid is small:
PAM's greedy BUILD step to start (first the face with the smallest total distance to the
others, then each time the face that lowers the total the most), then the alternating algorithm
(assign each face to its nearest medoid; move each medoid to the member of its cluster with the
smallest total distance to the others) until nothing changes. A medoid left alone in its
cluster is an outlier, not a prototype: it is dropped (and shows up among the criticisms), so a
class may get fewer prototypes than asked. Every step is deterministic (ties
go to the lower position); the `seed` only picks which faces a class larger than `max_faces`
keeps for the search (the assignment afterwards counts every face). Prototypes are listed
largest cluster first, each with the share of its class's faces nearest to it.

**Criticisms.** The faces of the class farthest (cosine distance) from every one of its
prototypes: the least typical, where a class's prototypes say least. Mislabelled faces and
faces that are not faces often end up here.

Why not MMD-critic: its criticisms are where the prototypes misrepresent the data's *density*
(often near the prototypes), not the faces least like the class, which is what a FER user asks
for; k-medoids needs no kernel width. scikit-learn-extra's KMedoids is not used (unmaintained).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..data.splits import FERSplit
from ..errors import AnalysisError
from ..labels import NAMES
from ..models import ModelCard
from .neighbours import unit_rows

Progress = Callable[[float, str], None]
METHOD = "k-medoids (PAM BUILD, then alternating), cosine distance"
DEFAULT_PROTOTYPES = 6
DEFAULT_CRITICISMS = 6
MAX_FACES = 2000  # per class, for the medoid search (its distance matrix: 2000^2 float64 = 32 MB)
COLUMNS: tuple[str, ...] = ("label", "kind", "rank", "pos", "id", "distance", "share")


def _check_count(value, name: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= 100:
        raise AnalysisError(f"{name} must be a whole number in {lo}..100, got {value!r}")
    return int(value)


def kmedoids(dist: np.ndarray, k: int, *, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """k medoids of a square distance matrix (n, n): (medoid rows (k,), each row's cluster (n,)).
    BUILD then alternating; deterministic, ties to the lower row. k is cut to n."""
    d = np.asarray(dist, np.float64)
    n = len(d)
    if d.ndim != 2 or d.shape != (n, n) or n == 0:
        raise AnalysisError(f"a distance matrix must be square and non-empty, got shape {d.shape}")
    k = min(_check_count(k, "k", 1), n)
    medoids = [int(np.argmin(d.sum(axis=1)))]
    near = d[medoids[0]].copy()
    for _ in range(1, k):
        gain = np.maximum(near[None, :] - d, 0.0).sum(axis=1)
        gain[medoids] = -1.0
        best = int(np.argmax(gain))
        medoids.append(best)
        near = np.minimum(near, d[best])
    med = np.array(medoids, np.int64)
    for _ in range(max_iter):
        assign = np.argmin(d[med], axis=0)  # ties: the earlier medoid
        new = med.copy()
        for c in range(k):
            members = np.flatnonzero(assign == c)
            if members.size:  # an empty cluster (its medoid a duplicate of another) keeps its medoid
                new[c] = members[int(np.argmin(d[np.ix_(members, members)].sum(axis=1)))]
        if np.array_equal(new, med):
            break
        med = new
    return med, np.argmin(d[med], axis=0)


def class_prototypes(features: np.ndarray, *, n_prototypes: int = DEFAULT_PROTOTYPES,
                     n_criticisms: int = DEFAULT_CRITICISMS, max_faces: int = MAX_FACES,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the faces of one class (features (n, D)): (prototype rows ordered largest cluster
    first, their shares of the n faces, criticism rows farthest first, their distances to the
    nearest prototype)."""
    u = unit_rows(features)
    n = len(u)
    if n == 0:
        return (np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64), np.empty(0))
    rows = np.arange(n)
    if n > max_faces:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_faces, replace=False))
    sub = u[rows]
    dist = np.clip(1.0 - sub @ sub.T, 0.0, 2.0)
    med, _ = kmedoids(dist, max(1, n_prototypes))
    protos = rows[med]
    to_proto = np.clip(1.0 - u @ u[protos].T, 0.0, 2.0)  # every face of the class, (n, k)
    assign = np.argmin(to_proto, axis=1)
    sizes = np.bincount(assign, minlength=len(protos))
    keep = sizes > 1 if (sizes > 1).any() else sizes > 0  # a medoid alone in its cluster is an outlier
    if not keep.all():
        protos, to_proto = protos[keep], to_proto[:, keep]
        assign = np.argmin(to_proto, axis=1)
        sizes = np.bincount(assign, minlength=len(protos))
    order = np.lexsort((protos, -sizes))  # largest cluster first, ties by position
    protos, shares = protos[order], sizes[order] / n
    nearest = to_proto.min(axis=1)
    others = np.setdiff1d(np.arange(n), protos)
    crit = others[np.lexsort((others, -nearest[others]))][:n_criticisms]  # farthest first, ties by position
    return protos, shares, crit, nearest[crit]


def prototypes(features: np.ndarray, labels: np.ndarray, ids: Sequence[str] | None = None, *,
               n_prototypes: int = DEFAULT_PROTOTYPES, n_criticisms: int = DEFAULT_CRITICISMS,
               max_faces: int = MAX_FACES, seed: int = 0) -> pd.DataFrame:
    """Prototypes and criticisms of every class present in `labels` (indices of
    :data:`ferviz.labels.NAMES`, e.g. a dataset's classes, contempt included), one row per
    face chosen: ``label, kind ("prototype" or "criticism"), rank (1 first), pos (row of
    `features`), id, distance (cosine, to the class's nearest prototype; 0 for a prototype),
    share (a prototype's share of its class's faces; NaN for a criticism)``. Deterministic for
    `seed` (which only matters for classes above `max_faces`)."""
    f = np.asarray(features)
    lab = np.asarray(labels)
    if f.ndim != 2 or len(f) != len(lab):
        raise AnalysisError(f"features (N, D) and labels (N,) must match, got {f.shape} and {lab.shape}")
    n_prototypes = _check_count(n_prototypes, "the number of prototypes", 1)
    n_criticisms = _check_count(n_criticisms, "the number of criticisms")
    if isinstance(max_faces, bool) or not isinstance(max_faces, (int, np.integer)) or max_faces < 2:
        raise AnalysisError(f"max_faces must be a whole number of at least 2, got {max_faces!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise AnalysisError(f"seed must be an integer in 0..2**32-1, got {seed!r}")
    id_arr = np.asarray(ids).astype(str) if ids is not None else np.arange(len(f)).astype(str)
    parts = []
    if lab.size and (lab.min() < 0 or lab.max() >= len(NAMES)):
        raise AnalysisError(f"labels must be class indices 0-{len(NAMES) - 1}, got {lab.min()}..{lab.max()}")
    for c in np.unique(lab).astype(int):
        where = np.flatnonzero(lab == c)
        protos, shares, crit, dist = class_prototypes(f[where], n_prototypes=n_prototypes, n_criticisms=n_criticisms,
                                                      max_faces=max_faces, seed=seed)
        for kind, rows, d, s in (("prototype", protos, np.zeros(len(protos)), shares),
                                 ("criticism", crit, dist, np.full(len(crit), np.nan))):
            pos = where[rows]
            parts.append(pd.DataFrame({"label": NAMES[c], "kind": kind, "rank": np.arange(1, len(rows) + 1),
                                       "pos": pos, "id": id_arr[pos], "distance": d, "share": s}))
    if not parts:
        raise AnalysisError("no faces given")
    df = pd.concat(parts, ignore_index=True)[list(COLUMNS)]
    df.attrs.update(method=METHOD, seed=seed, max_faces=max_faces)
    return df


def split_prototypes(model, card: ModelCard, split: FERSplit, *, views: str = "tta",
                     n_prototypes: int = DEFAULT_PROTOTYPES, n_criticisms: int = DEFAULT_CRITICISMS,
                     seed: int = 0, use_cache: bool = True, progress: Progress | None = None) -> pd.DataFrame:
    """:func:`prototypes` of a split's faces per labelled class, in `card`'s model's penultimate
    space (features cached as the embedding map's; `model` may be None, loaded only if needed)."""
    from .embedding import cached_features

    feats = cached_features(model, card, split, views=views, use_cache=use_cache, progress=progress)
    df = prototypes(feats, split.labels, split.ids, n_prototypes=n_prototypes, n_criticisms=n_criticisms, seed=seed)
    df.attrs.update(views=views, model=card.name, split=split.split)
    return df
