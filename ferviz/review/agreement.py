"""How far reviewers agree: Cohen's kappa for two, Fleiss' kappa for more, and each reviewer's
agreement with the FER+ majority where FER+'s votes align to the data.

Every decision is one of 10 categories (`store.CATEGORIES`): the 8 expression classes, contempt
included (keep counts as the face's own label), not a face and ambiguous. Reviewers are compared on the faces they all
decided. Kappa is (p_o - p_e) / (1 - p_e): observed agreement corrected for the agreement their
category shares would give by chance; it is undefined (None) when chance agreement is already
1 (everybody gave every face the same single category).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np

from ..data.ferplus import NF, VOTE_CLASSES, AlignedVotes
from ..errors import AnalysisError
from ..labels import EXPRESSIONS
from .store import AMBIGUOUS_CAT, CATEGORIES, NOT_A_FACE_CAT, Decision, latest

_UNKNOWN = VOTE_CLASSES.index("unknown")


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two raters' categories on the same items (scikit-learn's
    ``cohen_kappa_score``); None when it is undefined (chance agreement 1) or there are no items."""
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1:
        raise AnalysisError(f"two raters need one category per item each, got shapes {a.shape} and {b.shape}")
    if a.size == 0:
        return None
    cats = np.union1d(a, b)
    if len(cats) == 1:  # both gave every item one and the same category: p_o = p_e = 1
        return None
    return float(cohen_kappa_score(a, b, labels=cats))


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of an (items, categories) table of how many raters put each item in each
    category; every item must have the same number n >= 2 of ratings. None when undefined."""
    c = np.asarray(counts, np.float64)
    if c.ndim != 2 or c.shape[0] == 0:
        raise AnalysisError(f"Fleiss' kappa needs an (items, categories) count table, got shape {c.shape}")
    if (c < 0).any() or not np.allclose(c, np.round(c)):
        raise AnalysisError("Fleiss' kappa needs whole, non-negative counts")
    n = c.sum(axis=1)
    if not np.all(n == n[0]) or n[0] < 2:
        raise AnalysisError("Fleiss' kappa needs the same number (at least 2) of ratings for every item")
    n = n[0]
    p_item = ((c * c).sum(axis=1) - n) / (n * (n - 1))
    p_cat = c.sum(axis=0) / c.sum()
    p_bar, p_e = float(p_item.mean()), float((p_cat ** 2).sum())
    if np.isclose(p_e, 1.0):
        return None
    return (p_bar - p_e) / (1 - p_e)


def ratings(decisions: Iterable[Decision], labels: dict[tuple[str, str], int] | None = None
            ) -> tuple[list[str], dict[tuple[str, str], dict[str, int]]]:
    """(reviewers, {(split, face id): {reviewer: category}}) from the current decisions; a keep
    takes the face's label from `labels` ((split, id) -> label) when given."""
    table: dict[tuple[str, str], dict[str, int]] = {}
    for d in latest(decisions):
        orig = None if labels is None else labels.get((d.split, d.face_id))
        cat = d.category(orig)
        if cat is not None:
            table.setdefault((d.split, d.face_id), {})[d.reviewer] = int(cat)
    return sorted({r for v in table.values() for r in v}), table


def reviewer_agreement(decisions: Iterable[Decision], labels: dict[tuple[str, str], int] | None = None) -> dict:
    """The reviewers' agreement on the faces they all decided: ``reviewers``, ``n`` (those faces),
    ``method`` ("Cohen" for two reviewers, "Fleiss" for more, None for fewer), ``kappa``,
    ``observed`` (share of those faces on which all agree) and ``pairs`` (Cohen's kappa of each
    pair of reviewers on the faces both decided: a, b, n, kappa, observed)."""
    reviewers, table = ratings(decisions, labels)
    out = {"reviewers": reviewers, "n": 0, "method": None, "kappa": None, "observed": None, "pairs": []}
    for a, b in combinations(reviewers, 2):
        both = [(v[a], v[b]) for v in table.values() if a in v and b in v]
        x, y = (np.array(t, np.int64) for t in zip(*both)) if both else (np.empty(0), np.empty(0))
        out["pairs"].append({"a": a, "b": b, "n": len(both), "kappa": cohen_kappa(x, y),
                             "observed": float((x == y).mean()) if both else None})
    if len(reviewers) < 2:
        return out
    common = [v for v in table.values() if len(v) == len(reviewers)]
    out["n"] = len(common)
    if not common:
        return out
    cats = np.array([[v[r] for r in reviewers] for v in common], np.int64)
    out["observed"] = float((cats == cats[:, :1]).all(axis=1).mean())
    if len(reviewers) == 2:
        out["method"], out["kappa"] = "Cohen", cohen_kappa(cats[:, 0], cats[:, 1])
    else:
        counts = np.stack([(cats == k).sum(axis=1) for k in range(len(CATEGORIES))], axis=1)
        out["method"], out["kappa"] = "Fleiss", fleiss_kappa(counts)
    return out


def ferplus_category(votes: np.ndarray, named: bool) -> int | None:
    """The FER+ majority of one face as a review category: a class (contempt included), not a face
    (NF, or FER+ has no image), ambiguous (unknown); None when FER+ has no majority (a tie)."""
    from ..data.ferplus import majority, tied

    if not named:
        return NOT_A_FACE_CAT
    v = np.asarray(votes)
    if tied(v):
        return None
    m = int(majority(v))
    if m < len(EXPRESSIONS):
        return m
    return {NF: NOT_A_FACE_CAT, _UNKNOWN: AMBIGUOUS_CAT}.get(m)


def ferplus_agreement(decisions: Iterable[Decision], aligned: AlignedVotes,
                      labels: dict[str, int] | None = None) -> list[dict]:
    """Per reviewer, agreement with the FER+ majority on the faces of `aligned`'s split they
    decided and FER+ has a majority for (ties left out): reviewer, n, agreement
    (share equal), kappa (Cohen's, reviewer against FER+) and, when `labels` (id -> the data's
    label) is given, label_agreement (the original labels against FER+ on the same faces)."""
    pos = {str(k): i for i, k in enumerate(aligned.ids)}
    lab = None if labels is None else {(aligned.split, k): v for k, v in labels.items()}
    reviewers, table = ratings((d for d in decisions if d.split == aligned.split), lab)
    out = []
    for r in reviewers:
        mine, fer, orig = [], [], []
        for (_, face), v in table.items():
            if r not in v or face not in pos:
                continue
            k = pos[face]
            f = ferplus_category(aligned.votes[k], bool(aligned.named[k]))
            if f is None:
                continue
            mine.append(v[r])
            fer.append(f)
            if labels is not None and face in labels:
                orig.append(int(labels[face]) == f)
        a, b = np.array(mine, np.int64), np.array(fer, np.int64)
        out.append({"reviewer": r, "n": len(mine), "agreement": float((a == b).mean()) if mine else None,
                    "kappa": cohen_kappa(a, b),
                    "label_agreement": float(np.mean(orig)) if orig else None})
    return out
