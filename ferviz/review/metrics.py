"""A model's metrics with the review applied: each reviewed face takes its reviewed label.

Per face, the reviewers' current decisions are combined: the category most of them chose (keep
is the face's own label), and a face whose reviewers are split evenly between categories is
*disputed*. Faces reviewed as not a face, ambiguous or disputed are left out; faces nobody
reviewed keep their label. Accuracy, macro-F1 and the confusion matrix are then an
:class:`~ferviz.analysis.evaluation.Evaluation`'s, on those labels.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..analysis.evaluation import Evaluation
from .store import AMBIGUOUS_CAT, NOT_A_FACE_CAT, Decision, latest

DISPUTED = -1


def consensus(decisions: Iterable[Decision], labels: dict[str, int]) -> dict[str, int]:
    """Face id -> its reviewed category (a class 0-7, `store.NOT_A_FACE_CAT`, `store.AMBIGUOUS_CAT`, or
    `DISPUTED` on a tie), from the current decisions on one split; `labels` maps id -> the
    data's label (what keep means)."""
    votes: dict[str, Counter] = {}
    for d in latest(decisions):
        cat = d.category(labels.get(d.face_id))
        if cat is not None:
            votes.setdefault(d.face_id, Counter())[int(cat)] += 1
    out = {}
    for face, c in votes.items():
        (top, k), *rest = c.most_common()
        out[face] = DISPUTED if rest and rest[0][1] == k else top
    return out


@dataclass(frozen=True)
class ReviewedMetrics:
    """The original evaluation, the reviewed one (kept faces, reviewed labels) and the counts."""

    original: Evaluation
    reviewed: Evaluation
    n_reviewed: int  # faces with a decision
    n_kept: int  # reviewed, label unchanged
    n_relabelled: int
    n_not_a_face: int
    n_ambiguous: int
    n_disputed: int

    @property
    def n_left_out(self) -> int:
        return self.n_not_a_face + self.n_ambiguous + self.n_disputed

    @property
    def accuracy(self) -> float | None:
        return self.reviewed.accuracy if self.reviewed.n else None

    @property
    def macro_f1(self) -> float | None:
        return self.reviewed.macro_f1 if self.reviewed.n else None

    def confusion(self) -> np.ndarray:
        """K x K counts on the reviewed labels (K the probability columns), rows reviewed label,
        columns prediction (`Evaluation.confusion`; `reviewed.matrix()` is the rectangle shown)."""
        return self.reviewed.confusion()

    def summary(self) -> dict:
        """JSON-ready: n, the counts, accuracy and macro-F1 before and after, the confusion matrix."""
        return {"split": self.original.split, "n": self.original.n, "n_used": self.reviewed.n,
                "n_reviewed": self.n_reviewed, "n_kept": self.n_kept, "n_relabelled": self.n_relabelled,
                "n_not_a_face": self.n_not_a_face, "n_ambiguous": self.n_ambiguous,
                "n_disputed": self.n_disputed, "accuracy_original": self.original.accuracy,
                "macro_f1_original": self.original.macro_f1, "accuracy": self.accuracy,
                "macro_f1": self.macro_f1, "confusion_matrix": self.confusion().astype(int).tolist()}


def reviewed_metrics(ev: Evaluation, decisions: Iterable[Decision]) -> ReviewedMetrics:
    """`ev`'s metrics with the review applied (see the module docstring). Decisions on other splits
    or on faces not in `ev` are ignored."""
    ids = np.asarray(ev.ids).astype(str)
    labels = dict(zip(ids.tolist(), np.asarray(ev.labels).tolist()))
    mine = [d for d in decisions if d.split == ev.split and d.face_id in labels]
    cats = consensus(mine, labels)
    new = np.asarray(ev.labels).copy()
    keep = np.ones(len(ids), bool)
    relabelled = kept = 0
    for i, face in enumerate(ids.tolist()):
        c = cats.get(face)
        if c is None:
            continue
        if c in (NOT_A_FACE_CAT, AMBIGUOUS_CAT, DISPUTED):
            keep[i] = False
        else:
            relabelled += c != new[i]
            kept += c == new[i]
            new[i] = c
    counts = Counter(cats.values())
    probs = ev.probs[keep]
    top = int(new[keep].max(initial=0)) + 1
    if top > probs.shape[1]:  # a relabel to a class beyond the columns (e.g. contempt): room for it
        probs = np.pad(probs, ((0, 0), (0, top - probs.shape[1])))
    rows = tuple(sorted(set(ev.data_classes) | {int(c) for c in new[keep]}))
    reviewed = Evaluation(ev.model_name, ev.split, probs, new[keep], ids[keep], ev.model_classes, rows)
    return ReviewedMetrics(ev, reviewed, len(cats), int(kept), int(relabelled), counts[NOT_A_FACE_CAT],
                           counts[AMBIGUOUS_CAT], counts[DISPUTED])


__all__ = ["DISPUTED", "ReviewedMetrics", "consensus", "reviewed_metrics"]
