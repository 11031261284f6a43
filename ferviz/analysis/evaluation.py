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
from ..labels import NAMES, NUM_CLASSES, width
from ..models import (
    ModelCard,
    ModelError,
    ModelMemo,
    load_model,
    output_head,
    preprocess,
)

Progress = Callable[[float, str], None]
_PRED_VERSION = "4"  # 2: logits heads turned into probabilities; 3: keyed by ModelCard.identity; 4: any classes


def predict_probs(model, card: ModelCard, images: np.ndarray, *, batch_size: int = 512,
                  progress: Progress | None = None, columns: int | None = None) -> np.ndarray:
    """Class probabilities (N, K) for uint8 faces (N, H, W): column k is class k of
    :data:`ferviz.labels.NAMES` (FER2013's seven first), 0 for a class the model cannot output.
    K is `columns`, default :func:`ferviz.labels.width` of the card's classes (7 for FER2013's)."""
    import tensorflow as tf

    n = len(images)
    out = np.zeros((n, max(columns or 0, width(card.classes))), np.float32)
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
    """A model's probabilities on one split, with the split's labels and ids.

    Class indices (labels, predictions, probability columns) are indices into
    :data:`ferviz.labels.NAMES`. `model_classes`: the classes the model can output (default:
    every column); `data_classes`: the dataset's classes (default: FER2013's seven and any label
    beyond). A face whose true class the model cannot output is *outside*: it is counted apart,
    never as an error (:attr:`scored`)."""

    model_name: str
    split: str
    probs: np.ndarray  # (N, K) float32, column k = class k of NAMES
    labels: np.ndarray  # (N,) int
    ids: np.ndarray  # (N,) str
    model_classes: tuple[int, ...] | None = None
    data_classes: tuple[int, ...] | None = None

    def __post_init__(self):
        k = int(self.probs.shape[1]) if np.ndim(self.probs) == 2 else NUM_CLASSES
        if self.model_classes is None:
            object.__setattr__(self, "model_classes", tuple(range(k)))
        if self.data_classes is None:
            top = int(np.max(self.labels, initial=0)) + 1 if len(self.labels) else 0
            object.__setattr__(self, "data_classes", tuple(range(max(NUM_CLASSES, top))))
        object.__setattr__(self, "model_classes", tuple(int(c) for c in self.model_classes))
        object.__setattr__(self, "data_classes", tuple(int(c) for c in self.data_classes))

    @property
    def classes(self) -> tuple[str, ...]:
        """The names of the probability columns (index = class index)."""
        return NAMES[:self.probs.shape[1]]

    @property
    def rows(self) -> tuple[int, ...]:
        """The confusion matrix's rows: the dataset's classes."""
        return self.data_classes

    @property
    def columns(self) -> tuple[int, ...]:
        """The confusion matrix's columns: the model's classes."""
        return self.model_classes

    @property
    def square(self) -> bool:
        """True when the dataset's classes and the model's are the same (a square matrix)."""
        return self.data_classes == self.model_classes

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def n(self) -> int:
        return int(len(self.labels))

    @property
    def scored(self) -> np.ndarray:
        """(N,) bool: faces whose true class the model can output (the rest are counted apart)."""
        return np.isin(self.labels, self.model_classes)

    @property
    def n_scored(self) -> int:
        return int(self.scored.sum())

    @property
    def n_outside(self) -> int:
        """Faces whose true class the model cannot output: not errors, not in the accuracy."""
        return self.n - self.n_scored

    def outside_note(self) -> str:
        """A sentence on the faces counted apart ("" when none)."""
        if not self.n_outside:
            return ""
        lacks = sorted(set(self.labels[~self.scored].tolist()))
        names = ", ".join(NAMES[c] for c in lacks)
        return (f"{self.n_outside:,} of {self.n:,} faces are labelled {names}, which {self.model_name} cannot "
                "output: they are counted apart (not errors, not in the accuracy)")

    @property
    def correct(self) -> np.ndarray:
        """(N,) bool: scored faces predicted right (a face outside is never correct nor an error)."""
        return self.preds == self.labels

    @property
    def wrong(self) -> np.ndarray:
        """(N,) bool: the errors, scored faces predicted wrong."""
        return self.scored & (self.preds != self.labels)

    @property
    def accuracy(self) -> float:
        m = self.scored
        return float((self.preds[m] == self.labels[m]).mean()) if m.any() else float("nan")

    def per_class(self) -> pd.DataFrame:
        """Precision, recall, F1 and support per class the model can output (scikit-learn), on
        the scored faces."""
        from sklearn.metrics import precision_recall_fscore_support

        m, cols = self.scored, list(self.model_classes)
        p, r, f, s = precision_recall_fscore_support(self.labels[m], self.preds[m], labels=cols, zero_division=0)
        return pd.DataFrame({"class": [NAMES[c] for c in cols], "precision": p, "recall": r, "f1": f, "support": s})

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the classes that occur in the (scored) labels or the predictions (a class
        absent from both, e.g. in a subset, is not counted as an F1 of 0)."""
        from sklearn.metrics import f1_score

        m = self.scored
        present = np.union1d(self.labels[m], self.preds[m])
        return float(f1_score(self.labels[m], self.preds[m], labels=present, average="macro", zero_division=0))

    def confusion(self, normalize: bool = False) -> np.ndarray:
        """K x K confusion matrix over every column class (index = class index), rows true,
        columns predicted, every face (outside ones in their own rows); row-normalised if asked.
        :meth:`matrix` gives the rectangular true-classes x model-classes view."""
        from sklearn.metrics import confusion_matrix

        k = self.probs.shape[1]
        return confusion_matrix(self.labels, self.preds, labels=range(k), normalize="true" if normalize else None)

    def matrix(self, normalize: bool = False) -> pd.DataFrame:
        """The confusion matrix as shown: rows the dataset's classes, columns the model's (a
        rectangle when they differ); row-normalised if asked."""
        cm = self.confusion(normalize=normalize)[np.ix_(self.rows, self.columns)]
        return pd.DataFrame(cm, index=pd.Index([NAMES[c] for c in self.rows], name="true"),
                            columns=pd.Index([NAMES[c] for c in self.columns], name="predicted"))

    def confused_pairs(self, top: int | None = None) -> pd.DataFrame:
        """Off-diagonal cells of scored faces, most frequent first: true, pred, count, share of the true class."""
        cm = self.confusion()
        names = self.classes
        rows = [(names[t], names[p], int(cm[t, p]), cm[t, p] / max(1, cm[t].sum()), t, p)
                for t in self.model_classes for p in self.model_classes if t != p and cm[t, p]]
        df = pd.DataFrame(rows, columns=["true", "pred", "count", "share", "true_idx", "pred_idx"])
        df = df.sort_values(["count", "share"], ascending=False, kind="stable").reset_index(drop=True)
        return df.head(top) if top else df

    def table(self) -> pd.DataFrame:
        """One row per image: id, true, pred, confidence, loss, correct and the top-3 classes."""
        probs = self.probs
        idx = np.arange(self.n)
        names = np.array(NAMES, dtype=object)
        top3 = np.argsort(-probs, axis=1, kind="stable")[:, :3]
        p_true = probs[idx, np.minimum(self.labels, probs.shape[1] - 1)] * (self.labels < probs.shape[1])
        df = pd.DataFrame({
            "pos": idx,
            "id": self.ids,
            "true": names[self.labels],
            "pred": names[self.preds],
            "confidence": probs[idx, self.preds],
            "p_true": p_true,
            "loss": -np.log(np.clip(p_true, 1e-12, 1.0)),
            "correct": self.preds == self.labels,
        })
        if self.n_outside:
            df["scored"] = self.scored
        for k in range(3):
            df[f"top{k + 1}"] = names[top3[:, k]]
            df[f"top{k + 1}_p"] = probs[idx, top3[:, k]]
        return df

    def errors(self, true: int | None = None, pred: int | None = None, *,
               sort: str = "confidence", include_correct: bool = False) -> pd.DataFrame:
        """The error table, optionally one cell (true, pred), most confident (or highest loss) first."""
        df = self.table()
        outside_row = true is not None and true not in self.model_classes  # faces counted apart, asked for
        m = np.ones(self.n, bool) if include_correct or outside_row or (true is not None and true == pred) \
            else self.wrong
        if true is not None:
            m &= self.labels == true
        if pred is not None:
            m &= self.preds == pred
        if sort not in ("confidence", "loss"):
            raise AnalysisError(f"sort must be 'confidence' or 'loss', got {sort!r}")
        return df[m].sort_values(sort, ascending=False, kind="stable").reset_index(drop=True)

    def predictions_frame(self) -> pd.DataFrame:
        """id, true, pred and the model's class probabilities, one row per image."""
        names = np.array(NAMES, dtype=object)
        df = pd.DataFrame({"id": self.ids, "true": names[self.labels], "pred": names[self.preds]})
        if self.n_outside:
            df["scored"] = self.scored
        for j in self.model_classes:
            df[f"p_{NAMES[j]}"] = self.probs[:, j]
        return df

    def summary(self) -> dict:
        """JSON-ready metrics: accuracy, macro_f1, n, per_class, confusion_matrix (rows
        `true_classes`, columns `classes`: the model's), and the faces counted apart."""
        pc = self.per_class()
        out = {
            "model": self.model_name, "split": self.split, "n": self.n,
            "accuracy": self.accuracy, "macro_f1": self.macro_f1,
            "per_class": {r["class"]: {k: (int(r[k]) if k == "support" else float(r[k]))
                                       for k in ("precision", "recall", "f1", "support")}
                          for _, r in pc.iterrows()},
            "confusion_matrix": self.matrix().to_numpy().astype(int).tolist(),
            "classes": [NAMES[c] for c in self.columns],
        }
        if not self.square:
            out["true_classes"] = [NAMES[c] for c in self.rows]
        if self.n_outside:
            out["n_scored"], out["n_outside"] = self.n_scored, self.n_outside
            out["outside"] = {NAMES[c]: int((self.labels == c).sum()) for c in self.rows if c not in self.columns}
        return out


def prediction_cache_path(card: ModelCard, data: FERSplit):
    """Where a model's probabilities on a split are kept: keyed by the model's identity
    (:meth:`ModelCard.identity`: file, input, classes, views, Grad-CAM layer) and the data."""
    key = cache.key_hash("predictions", card.identity().key, data.data_hash, _PRED_VERSION,
                         columns(card, data))
    return config.cache_dir() / "predictions" / f"{card.key}-{data.split}-{key}.npz"


def evaluate(card: ModelCard, data: FERSplit, *, model=None, use_cache: bool = True,
             progress: Progress | None = None) -> Evaluation:
    """Predictions of `card`'s model on `data`, from the disk cache when the model and data match."""
    path = prediction_cache_path(card, data)
    k = columns(card, data)
    cached = cache.load_arrays(path) if use_cache else None
    if cached is not None and cached["probs"].shape == (len(data), k):
        probs = cached["probs"]
    else:
        model = model if model is not None else load_model(card)
        probs = predict_probs(model, card, data.images, progress=progress, columns=k)
        cache.save_arrays(path, probs=probs)
    return Evaluation(card.name, data.split, probs, data.labels, data.ids, card.class_ids, data.class_ids)


def columns(card: ModelCard, data: FERSplit | None = None) -> int:
    """How many probability columns a card's predictions on `data` have: enough for the model's
    classes and the dataset's (:func:`ferviz.labels.width`)."""
    return width(card.classes, data.classes if data is not None else ())


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
