"""A model's predictions against the FER+ majority vote of each face."""
from __future__ import annotations

import numpy as np

from ..data.ferplus import AlignedVotes
from ..errors import NotFoundError
from ..labels import EXPRESSIONS, NAMES
from .evaluation import Evaluation


def ferplus_metrics(evaluation: Evaluation, aligned: AlignedVotes) -> dict:
    """A model's predictions against the FER+ majority, over the classes the model can output
    (contempt too for a model that has it).

    Left out: not-a-face images, those whose FER+ majority is unknown or a class the model cannot
    output (contempt for a seven-class model), and those whose top vote is tied (no majority).
    Keys: n, n_used, n_not_a_face, n_contempt_or_unknown (majority unknown or outside the model's
    classes), n_tied, ``accuracy_vs_ferplus`` (prediction == FER+ majority), ``accuracy`` (against
    the dataset's labels, same images, those of a class the model can output), ``label_agreement``
    (dataset label == FER+ majority), ``errors_ferplus_agrees_with_model`` (model errors where FER+
    sides with the model), ``confusion_matrix`` (rows FER+ majority, columns prediction, both the
    model's classes) and ``classes`` (theirs, in vocabulary order). A rate over no images is None.
    """
    pos = {k: i for i, k in enumerate(aligned.ids)}
    missing = [str(i) for i in evaluation.ids if str(i) not in pos]
    if missing:
        raise NotFoundError(f"no FER+ votes for image {missing[0]!r} of {evaluation.split}")
    idx = np.array([pos[str(i)] for i in evaluation.ids], np.int64)
    cols = sorted(int(c) for c in evaluation.model_classes)
    usable = [c for c in cols if c < len(EXPRESSIONS)]  # a majority is an expression (never unknown)
    maj = aligned.majority[idx]
    naf = aligned.not_a_face[idx]
    other = ~naf & ~np.isin(maj, usable)
    tie = ~naf & ~other & aligned.tied[idx]
    use = ~naf & ~other & ~tie
    pred, lab, m = evaluation.preds[use], evaluation.labels[use], maj[use]
    scored = np.isin(lab, cols)
    at = np.full(len(NAMES), -1, np.int64)
    at[cols] = np.arange(len(cols))
    cm = np.zeros((len(cols), len(cols)), np.int64)
    np.add.at(cm, (at[m], at[pred]), 1)
    rate = lambda x: float(x.mean()) if x.size else None  # noqa: E731
    return {
        "n": int(len(idx)), "n_used": int(use.sum()), "n_not_a_face": int(naf.sum()),
        "n_contempt_or_unknown": int(other.sum()), "n_tied": int(tie.sum()),
        "accuracy_vs_ferplus": rate(pred == m), "accuracy": rate(pred[scored] == lab[scored]),
        "label_agreement": rate(lab == m),
        "errors_ferplus_agrees_with_model": int(((pred != lab) & (pred == m) & scored).sum()),
        "confusion_matrix": cm.tolist(), "classes": [NAMES[c] for c in cols],
    }
