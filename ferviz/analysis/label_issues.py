"""Label issues by confident learning: is an error the model's or the label's?

Each image gets a label-quality score, its *self-confidence* (the predicted probability of
its given label; low = suspicious), and a flag. The flagged set is the one confident learning
(Northcutt et al., 2021) finds with the defaults of cleanlab 2.x's
``cleanlab.filter.find_label_issues(labels, pred_probs)`` (``prune_by_noise_rate``,
``frac_noise=1``, ``min_examples_per_class=1``); the tests check the two agree exactly.
This is an independent numpy implementation of the published algorithm:

1. Per-class thresholds: t_k = mean p_k over the images labelled k (a class nobody is labelled
   with gets 2, i.e. never reached); at least 2e-6.
2. Confident joint C[given i, true j]: an image counts in (its label, j) when p_j >= t_j - 1e-6
   for exactly one j, or for the most probable of several; images above no threshold do not
   count. The diagonal is raised to at least 1.
3. Calibration: each row is scaled to the number of images labelled i, the whole to N, and
   rows rounded to integers preserving their totals (largest remainders get the +1s).
4. Every given class keeps at least one example: where a calibrated diagonal is 0 it becomes
   1 and the column's off-diagonal counts drop by 1 / (non-zero count - 1) each, then truncate.
5. Prune by noise rate: for each off-diagonal cell (given i, true j) with count n > 0, among
   the images labelled i (only if there are at least 2) flag the n with the largest margin
   p_j - p_i.
6. Un-flag any image whose given label is still the argmax after adding 1e-6 to its
   probability (the model agrees with the label), so every flagged image is misclassified.

Ties (equal margins, equal rounding remainders) are broken by numpy's default ``argsort``,
as cleanlab does, so the two pick the same images.

A misclassified image is a *likely label issue* when flagged and a *likely model error*
otherwise. The suggested label is the model's prediction (argmax), as cleanlab's Datalab
reports it; for flagged images it always differs from the given label.

For an evaluation (:func:`evaluation_issues`) confident learning runs over the model's classes
(whatever their number) on the faces whose true class the model can output; a face labelled with
a class the model cannot output is *counted apart* (kind ``"counted apart"``, never flagged, no
score), never a model error.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import AnalysisError
from ..labels import NAMES

_EPS = 1e-6  # cleanlab's floating-point slack: thresholds and the final agreement check
_MIN_THRESHOLD = 2 * _EPS
_NEVER = 2.0  # threshold of a class no image is labelled with
KINDS = ("correct", "label issue", "model error")
OUTSIDE = "counted apart"  # the kind of a face whose true class the model cannot output


def check_inputs(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated (probs, labels): probs (N, K) in [0, 1], labels (N,) integers in 0..K-1 with at
    least two distinct values. ValueError otherwise. float32/float64 probs keep their dtype."""
    p = np.asarray(probs)
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] < 2 or p.shape[0] < 1:
        raise AnalysisError(f"probs must be (N, K) with N >= 1 and K >= 2, got shape {p.shape}")
    if y.shape != (len(p),):
        raise AnalysisError(f"labels must be ({len(p)},), one per row of probs, got shape {y.shape}")
    if not np.isfinite(p).all() or p.min() < -_EPS or p.max() > 1 + _EPS:
        raise AnalysisError("probs must be finite probabilities in [0, 1]")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise AnalysisError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise AnalysisError(f"labels must lie in 0-{p.shape[1] - 1}, got {y.min()}..{y.max()}")
    if len(np.unique(y)) < 2:
        raise AnalysisError("confident learning needs at least two different labels")
    return p, y


def self_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The label-quality score: each image's predicted probability of its given label."""
    p, y = np.asarray(probs), np.asarray(labels, np.int64)
    return p[np.arange(len(y)), y]


def confident_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_k: mean p_k over the images labelled k (2 for a class with none), at least 2e-6."""
    p, y = check_inputs(probs, labels)
    return _thresholds(p, y)


def _thresholds(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    k = p.shape[1]
    present = np.bincount(y, minlength=k) > 0
    # cleanlab's list of per-class means becomes float64 only when some class is missing
    dtype = p.dtype if present.all() else np.float64
    t = np.array([p[y == c, c].mean() if present[c] else _NEVER for c in range(k)], dtype=dtype)
    return np.maximum(t, _MIN_THRESHOLD)


def confident_joint(probs: np.ndarray, labels: np.ndarray, *, calibrate: bool = True) -> np.ndarray:
    """C[given i, true j] (K, K) integer counts, calibrated to the label counts unless asked not."""
    p, y = check_inputs(probs, labels)
    return _confident_joint(p, y, calibrate)


def _confident_joint(p: np.ndarray, y: np.ndarray, calibrate: bool) -> np.ndarray:
    k = p.shape[1]
    above = p >= _thresholds(p, y) - _EPS
    n_above = above.sum(axis=1)
    guess = np.where(n_above > 1, p.argmax(axis=1), above.argmax(axis=1))
    counted = n_above > 0
    cj = np.zeros((k, k), np.int64)
    np.add.at(cj, (y[counted], guess[counted]), 1)
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
    if not calibrate:
        return cj
    counts = np.bincount(y, minlength=k)
    rows = np.maximum(cj.sum(axis=1), 1e-100)
    scaled = cj / rows[:, None] * counts[:, None]
    # summed column by column, the memory order of cleanlab's array, so the totals agree to the bit
    total = float(np.sum(scaled.ravel(order="F")))
    scaled = scaled / max(total, 1e-100) * counts.sum()
    return _round_rows(scaled)


def _round_rows(x: np.ndarray) -> np.ndarray:
    """Round each row to integers keeping its (rounded) total: the entries that rounding
    shortchanged most get +1 (or those it favoured most get -1) until the totals agree."""
    out = np.round(x)
    for i, row in enumerate(x):
        target = np.round(np.sum(row))
        while abs(np.round(np.sum(out[i])) - target) > _EPS:
            gap = np.round(target - np.round(np.sum(out[i])))
            step = 1 if gap >= 0 else -1
            n = min(int(abs(gap)), len(row))
            order = np.argsort(row - out[i])  # default kind: the tie order cleanlab gets
            chosen = order[::-1][:n] if step > 0 else order[:n]
            out[i, chosen] += step
    return out.astype(np.int64)


def _prune_counts(cj: np.ndarray) -> np.ndarray:
    """P[true j, given i]: how many images labelled i to flag as truly j, after making sure every
    given class keeps at least one example (step 4)."""
    m = cj.T.astype(np.int64)
    diag = m.diagonal().copy()
    raised = np.maximum(diag, 1)
    per_entry = (raised - diag) / np.maximum(np.count_nonzero(m, axis=0) - 1.0, 1.0)
    out = np.maximum(m - per_entry, 0)
    np.fill_diagonal(out, raised)
    return out.astype(np.int64)  # truncates the lowered counts


def find_label_issues(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Boolean mask (N,) of likely label issues: cleanlab's ``find_label_issues`` with its defaults."""
    p, y = check_inputs(probs, labels)
    prune = _prune_counts(_confident_joint(p, y, calibrate=True))
    flagged = np.zeros(len(y), bool)
    for given in range(p.shape[1]):
        members = np.flatnonzero(y == given)
        if len(members) < 2:  # a class with a single example keeps it
            continue
        for true in range(p.shape[1]):
            n = prune[true, given]
            if true == given or n <= 0:
                continue
            margin = p[members, true] - p[members, given]
            flagged[members[np.argsort(-margin)[:n]]] = True
    bumped = p.copy()
    bumped[np.arange(len(y)), y] += _EPS
    flagged[bumped.argmax(axis=1) == y] = False
    return flagged


@dataclass(frozen=True)
class LabelIssues:
    """Per image (in the split's order): score (self-confidence), flagged, suggested label.
    Labels and predictions are indices of the probability columns (for an evaluation, of
    :data:`ferviz.labels.NAMES`)."""

    labels: np.ndarray  # (N,) given labels
    preds: np.ndarray  # (N,) argmax of the probabilities
    suggested: np.ndarray  # (N,) the label confident learning suggests (= preds)
    score: np.ndarray  # (N,) self-confidence, low = likely issue (NaN for a face counted apart)
    flagged: np.ndarray  # (N,) bool
    ids: np.ndarray  # (N,) str
    confident_joint: np.ndarray  # (K, K) calibrated, rows given, columns true
    scored: np.ndarray | None = None  # (N,) bool: the true class is one the model can output (None: all)

    @property
    def n(self) -> int:
        return int(len(self.labels))

    @property
    def in_scope(self) -> np.ndarray:
        """(N,) bool: faces confident learning looked at (the rest are counted apart)."""
        return np.ones(self.n, bool) if self.scored is None else np.asarray(self.scored, bool)

    @property
    def n_outside(self) -> int:
        return self.n - int(self.in_scope.sum())

    @property
    def errors(self) -> np.ndarray:
        return self.in_scope & (self.preds != self.labels)

    @property
    def kind(self) -> np.ndarray:
        """'correct', 'label issue' (flagged), 'model error' (misclassified, not flagged) or
        'counted apart' (a true class the model cannot output)."""
        k = np.where(self.flagged, KINDS[1], np.where(self.errors, KINDS[2], KINDS[0])).astype(object)
        k[~self.in_scope] = OUTSIDE
        return k

    @property
    def order(self) -> np.ndarray:
        """Positions by score, lowest first (ties in split order; faces counted apart last):
        most likely issue first."""
        return np.argsort(self.score, kind="stable")

    def counts(self) -> dict:
        """JSON-ready: n, errors, flagged, flagged_errors, model_errors (and n_outside, the faces
        counted apart, when there are any)."""
        errors, flagged = self.errors, self.flagged
        out = {"n": self.n, "errors": int(errors.sum()), "flagged": int(flagged.sum()),
               "flagged_errors": int((flagged & errors).sum()),
               "model_errors": int((errors & ~flagged).sum())}
        if self.n_outside:
            out["n_outside"] = self.n_outside
        return out

    def frame(self, classes: Sequence[str] | None = None) -> pd.DataFrame:
        """id, true, pred, suggested, score, flagged, kind, pos; sorted by score ascending.
        `classes`: the names of the label indices (default :data:`ferviz.labels.NAMES`)."""
        names = np.asarray(NAMES if classes is None else classes, dtype=object)
        df = pd.DataFrame({"id": self.ids, "true": names[self.labels], "pred": names[self.preds],
                           "suggested": names[self.suggested], "score": self.score.astype(np.float64),
                           "flagged": self.flagged, "kind": self.kind, "pos": np.arange(self.n)})
        return df.iloc[self.order].reset_index(drop=True)


def label_issues(probs: np.ndarray, labels: np.ndarray, ids: Sequence[str] | None = None) -> LabelIssues:
    """Score, flag and suggested label for every image (see the module docstring)."""
    p, y = check_inputs(probs, labels)
    ids = np.asarray([str(i) for i in range(len(y))] if ids is None else ids).astype(str)
    if ids.shape != y.shape:
        raise AnalysisError(f"ids must be ({len(y)},), one per image, got shape {ids.shape}")
    preds = p.argmax(axis=1)
    return LabelIssues(labels=y, preds=preds, suggested=preds, score=self_confidence(p, y),
                       flagged=find_label_issues(p, y), ids=ids,
                       confident_joint=_confident_joint(p, y, calibrate=True))


def evaluation_issues(ev) -> LabelIssues:
    """`label_issues` of an `evaluation.Evaluation` (or a `mean_evaluation`), over the model's
    classes; faces whose true class the model cannot output are counted apart (never flagged,
    score NaN). Labels, predictions and the (K, K) confident joint index :data:`ferviz.labels.NAMES`."""
    cols = np.asarray(ev.model_classes, np.int64)
    labels = np.asarray(ev.labels, np.int64)
    m = np.asarray(ev.scored, bool)
    k = int(ev.probs.shape[1])
    if not m.any():
        raise AnalysisError(f"no face of {ev.split} has a class {ev.model_name} can output "
                            f"({', '.join(NAMES[c] for c in cols)}): no label issues to look for")
    pos = np.full(max(k, int(labels.max(initial=0)) + 1), -1, np.int64)
    pos[cols] = np.arange(len(cols))
    sub = label_issues(ev.probs[m][:, cols], pos[labels[m]], np.asarray(ev.ids)[m])
    preds = cols[np.asarray(ev.probs)[:, cols].argmax(axis=1)]
    score = np.full(len(labels), np.nan, sub.score.dtype)
    score[m] = sub.score
    flagged = np.zeros(len(labels), bool)
    flagged[m] = sub.flagged
    cj = np.zeros((k, k), np.int64)
    cj[np.ix_(cols, cols)] = sub.confident_joint
    return LabelIssues(labels=labels, preds=preds, suggested=preds, score=score, flagged=flagged,
                       ids=np.asarray(ev.ids).astype(str), confident_joint=cj, scored=m)


def mean_evaluation(evaluations: Sequence):
    """The mean probabilities of several models' Evaluations on the same split, as one
    Evaluation named 'A + B' that can output any class one of them can (a model's missing class
    counts as probability 0). ValueError when the splits, ids or labels differ."""
    from .evaluation import Evaluation

    evs = list(evaluations)
    if not evs:
        raise AnalysisError("mean_evaluation needs at least one evaluation")
    first = evs[0]
    for ev in evs[1:]:
        if ev.split != first.split or not np.array_equal(ev.ids, first.ids) \
                or not np.array_equal(ev.labels, first.labels):
            raise AnalysisError(f"cannot average {ev.model_name} on {ev.split} with {first.model_name} "
                             f"on {first.split}: not the same images")
    if len(evs) == 1:
        return first
    k = max(ev.probs.shape[1] for ev in evs)
    wide = [np.pad(ev.probs, ((0, 0), (0, k - ev.probs.shape[1]))) for ev in evs]
    probs = np.mean(np.stack(wide), axis=0).astype(first.probs.dtype)
    classes = tuple(sorted({int(c) for ev in evs for c in ev.model_classes}))
    return Evaluation(" + ".join(ev.model_name for ev in evs), first.split, probs, first.labels, first.ids,
                      classes, first.data_classes)
