"""Predictions for a model on a split (cached on disk) and the metrics built from them."""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .. import cache, config
from ..data.splits import FERSplit
from ..errors import AnalysisError
from ..labels import EMOTIONS, NUM_CLASSES
from ..models import (
    ModelCard,
    ModelError,
    ModelMemo,
    load_model,
    output_head,
    preprocess,
)

Progress = Callable[[float, str], None]
_PRED_VERSION = "3"  # 2: logits heads turned into probabilities; 3: keyed by ModelCard.identity


def predict_probs(model, card: ModelCard, images: np.ndarray, *, batch_size: int = 512,
                  progress: Progress | None = None) -> np.ndarray:
    """Class probabilities (N, 7) in FER2013 order for uint8 faces (N, H, W)."""
    import tensorflow as tf

    n = len(images)
    out = np.empty((n, NUM_CLASSES), np.float32)
    fwd = _forward(model)
    head = output_head(model)
    bad = 0
    for start in range(0, n, batch_size):
        x = preprocess(images[start:start + batch_size], card.input)
        views = tta_views(x, card.tta)
        p = sum(as_probabilities(fwd(tf.constant(v)).numpy(), head) for v in views) / len(views)
        bad += int((~np.isfinite(p)).any(axis=1).sum())
        out[start:start + len(x)][:, card.output_to_fer] = p
        if progress:
            progress(min(1.0, (start + len(x)) / n), f"predicting {min(n, start + len(x))}/{n}")
    check_finite(card, bad, n)
    return out


def check_finite(card: ModelCard, bad: int, n: int) -> None:
    """Refuse a model whose outputs are NaN or infinite on `bad` of `n` faces (ModelError)."""
    if bad:
        raise ModelError(f"{card.name} ({card.path or card.file}): the model outputs NaN or infinite values "
                         f"on {bad} of {n} faces; its weights are broken, so ferviz will not use its "
                         "predictions (nothing was cached)")


def as_probabilities(out: np.ndarray, head: str) -> np.ndarray:
    """Rows of class probabilities from outputs of a `models.output_head` kind: softmax of
    logits; other non-negative scores (e.g. sigmoid) normalised to sum to 1; negative ones, softmax."""
    out = np.asarray(out, np.float32)
    if head == "probs":
        return out
    if head == "scores" and (out >= 0).all():
        return out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
    z = np.exp(out - out.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def tta_views(x: np.ndarray, tta: str | None) -> list[np.ndarray]:
    """The views a card's test-time augmentation averages over, for a batch (N, H, W, C).

    "mirror": the face and its mirror image. "mirror+shift": those and each of them translated
    by 1/16 of the face size up, down, left and right (edges replicated), 10 views
    (:mod:`ferviz.models.tta` defines them, and maps attributions back from them).
    """
    from ..models.tta import to_view, views

    if tta is None:
        return [x]  # the face itself, not a copy
    return [to_view(x, v) for v in views(tta, x.shape[1], x.shape[2])]


_FORWARD = ModelMemo()  # model object -> its traced inference function (weakly keyed, nothing set on the model)


def _forward(model):
    """A traced inference function per model object, built once and kept in a weakly keyed memo
    beside the model (not on it). It depends on the model alone (the card's preprocessing and
    views happen outside), so any card of that model shares it; it holds the model weakly."""
    return _FORWARD.get(model, "forward", lambda: _trace_forward(model))


def _trace_forward(model):
    import tensorflow as tf

    try:
        ref = weakref.ref(model)
    except TypeError:  # not weak-referenceable: not memoised either, so a closure is fine
        return tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return tf.function(lambda x: ref()(x, training=False), reduce_retracing=True)


@dataclass(frozen=True)
class Evaluation:
    """A model's probabilities on one split, with the split's labels and ids."""

    model_name: str
    split: str
    probs: np.ndarray  # (N, 7) float32, FER order
    labels: np.ndarray  # (N,) int
    ids: np.ndarray  # (N,) str

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def n(self) -> int:
        return int(len(self.labels))

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.labels).mean())

    def per_class(self) -> pd.DataFrame:
        """Precision, recall, F1 and support per class (scikit-learn), one row per emotion."""
        from sklearn.metrics import precision_recall_fscore_support

        p, r, f, s = precision_recall_fscore_support(self.labels, self.preds, labels=range(NUM_CLASSES),
                                                     zero_division=0)
        return pd.DataFrame({"class": EMOTIONS, "precision": p, "recall": r, "f1": f, "support": s})

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the classes that occur in the labels or the predictions (a class absent
        from both, e.g. in a subset, is not counted as an F1 of 0)."""
        from sklearn.metrics import f1_score

        present = np.union1d(self.labels, self.preds)
        return float(f1_score(self.labels, self.preds, labels=present, average="macro", zero_division=0))

    def confusion(self, normalize: bool = False) -> np.ndarray:
        """7x7 confusion matrix, rows true, columns predicted; row-normalised if asked."""
        from sklearn.metrics import confusion_matrix

        return confusion_matrix(self.labels, self.preds, labels=range(NUM_CLASSES),
                                normalize="true" if normalize else None)

    def confused_pairs(self, top: int | None = None) -> pd.DataFrame:
        """Off-diagonal cells, most frequent first: true, pred, count, share of the true class."""
        cm = self.confusion()
        rows = [(EMOTIONS[t], EMOTIONS[p], int(cm[t, p]), cm[t, p] / max(1, cm[t].sum()), t, p)
                for t in range(NUM_CLASSES) for p in range(NUM_CLASSES) if t != p and cm[t, p]]
        df = pd.DataFrame(rows, columns=["true", "pred", "count", "share", "true_idx", "pred_idx"])
        df = df.sort_values(["count", "share"], ascending=False, kind="stable").reset_index(drop=True)
        return df.head(top) if top else df

    def table(self) -> pd.DataFrame:
        """One row per image: id, true, pred, confidence, loss, correct and the top-3 classes."""
        probs = self.probs
        idx = np.arange(self.n)
        top3 = np.argsort(-probs, axis=1, kind="stable")[:, :3]
        df = pd.DataFrame({
            "pos": idx,
            "id": self.ids,
            "true": np.array(EMOTIONS)[self.labels],
            "pred": np.array(EMOTIONS)[self.preds],
            "confidence": probs[idx, self.preds],
            "p_true": probs[idx, self.labels],
            "loss": -np.log(np.clip(probs[idx, self.labels], 1e-12, 1.0)),
            "correct": self.preds == self.labels,
        })
        for k in range(3):
            df[f"top{k + 1}"] = np.array(EMOTIONS)[top3[:, k]]
            df[f"top{k + 1}_p"] = probs[idx, top3[:, k]]
        return df

    def errors(self, true: int | None = None, pred: int | None = None, *,
               sort: str = "confidence", include_correct: bool = False) -> pd.DataFrame:
        """The error table, optionally one cell (true, pred), most confident (or highest loss) first."""
        df = self.table()
        m = np.ones(self.n, bool) if include_correct or (true is not None and true == pred) \
            else ~df["correct"].to_numpy()
        if true is not None:
            m &= self.labels == true
        if pred is not None:
            m &= self.preds == pred
        if sort not in ("confidence", "loss"):
            raise AnalysisError(f"sort must be 'confidence' or 'loss', got {sort!r}")
        return df[m].sort_values(sort, ascending=False, kind="stable").reset_index(drop=True)

    def predictions_frame(self) -> pd.DataFrame:
        """id, true, pred and the 7 probabilities, one row per image."""
        df = pd.DataFrame({"id": self.ids, "true": np.array(EMOTIONS)[self.labels],
                           "pred": np.array(EMOTIONS)[self.preds]})
        for j, e in enumerate(EMOTIONS):
            df[f"p_{e}"] = self.probs[:, j]
        return df

    def summary(self) -> dict:
        """JSON-ready metrics: accuracy, macro_f1, n, per_class, confusion_matrix."""
        pc = self.per_class()
        return {
            "model": self.model_name, "split": self.split, "n": self.n,
            "accuracy": self.accuracy, "macro_f1": self.macro_f1,
            "per_class": {r["class"]: {k: (int(r[k]) if k == "support" else float(r[k]))
                                       for k in ("precision", "recall", "f1", "support")}
                          for _, r in pc.iterrows()},
            "confusion_matrix": self.confusion().astype(int).tolist(),
            "classes": list(EMOTIONS),
        }


def prediction_cache_path(card: ModelCard, data: FERSplit):
    """Where a model's probabilities on a split are kept: keyed by the model's identity
    (:meth:`ModelCard.identity`: file, input, classes, views, Grad-CAM layer) and the data."""
    key = cache.key_hash("predictions", card.identity().key, data.data_hash, _PRED_VERSION)
    return config.cache_dir() / "predictions" / f"{card.key}-{data.split}-{key}.npz"


def evaluate(card: ModelCard, data: FERSplit, *, model=None, use_cache: bool = True,
             progress: Progress | None = None) -> Evaluation:
    """Predictions of `card`'s model on `data`, from the disk cache when the model and data match."""
    path = prediction_cache_path(card, data)
    cached = cache.load_arrays(path) if use_cache else None
    if cached is not None and cached["probs"].shape == (len(data), NUM_CLASSES):
        probs = cached["probs"]
    else:
        model = model if model is not None else load_model(card)
        probs = predict_probs(model, card, data.images, progress=progress)
        cache.save_arrays(path, probs=probs)
    return Evaluation(card.name, data.split, probs, data.labels, data.ids)


def card_metrics(card: ModelCard, splits, *, model=None, card_ref: str | None = None) -> dict:
    """The metrics a model card records: accuracy, macro-F1 and n on PublicTest and PrivateTest,
    plus the command that reproduces the PrivateTest number (computed fresh, never from cache)."""
    model = model if model is not None else load_model(card)
    metrics = {}
    for split in ("PublicTest", "PrivateTest"):
        ev = evaluate(card, splits[split], model=model, use_cache=False)
        metrics[split] = {"accuracy": round(ev.accuracy, 6), "macro_f1": round(ev.macro_f1, 6), "n": ev.n}
    ref = card_ref or (f"models/{card.path.name}" if card.path else card.file)
    metrics["command"] = f"python -m ferviz evaluate --model {ref} --split PrivateTest"
    return metrics
