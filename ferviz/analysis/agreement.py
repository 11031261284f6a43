"""A model's predictions against the FER+ majority vote of each face."""
from __future__ import annotations

import numpy as np

from ..data.ferplus import AlignedVotes
from ..errors import NotFoundError
from ..labels import EMOTIONS, NUM_CLASSES
from .evaluation import Evaluation


def ferplus_metrics(evaluation: Evaluation, aligned: AlignedVotes) -> dict:
    """A model's predictions against the FER+ majority.

    Left out: not-a-face images, those whose FER+ majority is contempt or unknown (no FER2013
    class) and those whose top vote is tied (no majority). Keys: n, n_used, n_not_a_face,
    n_contempt_or_unknown, n_tied,
    ``accuracy_vs_ferplus`` (prediction == FER+ majority), ``accuracy`` (against the FER2013
    labels, same images), ``label_agreement`` (FER2013 label == FER+ majority),
    ``errors_ferplus_agrees_with_model`` (model errors where FER+ sides with the model),
    ``confusion_matrix`` (rows FER+ majority, columns prediction, 7x7) and ``classes``.
    A rate over no images is None.
    """
    pos = {k: i for i, k in enumerate(aligned.ids)}
    missing = [str(i) for i in evaluation.ids if str(i) not in pos]
    if missing:
        raise NotFoundError(f"no FER+ votes for image {missing[0]!r} of {evaluation.split}")
    idx = np.array([pos[str(i)] for i in evaluation.ids], np.int64)
    maj = aligned.majority[idx]
    naf = aligned.not_a_face[idx]
    other = ~naf & (maj >= NUM_CLASSES)
    tie = ~naf & ~other & aligned.tied[idx]
    use = ~naf & ~other & ~tie
    pred, lab, m = evaluation.preds[use], evaluation.labels[use], maj[use]
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(cm, (m, pred), 1)
    rate = lambda x: float(x.mean()) if x.size else None  # noqa: E731
    return {
        "n": int(len(idx)), "n_used": int(use.sum()), "n_not_a_face": int(naf.sum()),
        "n_contempt_or_unknown": int(other.sum()), "n_tied": int(tie.sum()),
        "accuracy_vs_ferplus": rate(pred == m), "accuracy": rate(pred == lab),
        "label_agreement": rate(lab == m),
        "errors_ferplus_agrees_with_model": int(((pred != lab) & (pred == m)).sum()),
        "confusion_matrix": cm.tolist(), "classes": list(EMOTIONS),
    }
