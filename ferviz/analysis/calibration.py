"""Calibration: does a model's confidence match its accuracy? ECE, reliability, temperature.

ECE (expected calibration error, Guo et al. 2017) uses the top label: confidence = max_k p_k,
correct = argmax == label, 15 equal-width bins (0, 1/15], (1/15, 2/15], ..., (14/15, 1]
(right-closed; a confidence of exactly 0 falls in the first bin), and
ECE = sum over bins of |bin| / N * |accuracy(bin) - mean confidence(bin)|.

Per-class reliability is one-vs-rest (classwise calibration): for class k, confidence = p_k
and correct = (label == k), over all images, so every image contributes to every class.

Temperature scaling fits one T > 0 on a held-out split (PublicTest) by minimising the mean
negative log-likelihood of softmax(z / T) over log T (scipy's bounded scalar minimiser).
ferviz's probabilities are averages over test-time-augmented views, so no single logit
vector exists; z = log(max(p, 1e-12)) is used instead (softmax(z) gives back p, and
dividing by T sharpens (T < 1) or softens (T > 1) it). The argmax, hence accuracy, never
changes.

For an evaluation (:func:`scored_probs`, :func:`calibrate_evaluations`) the columns are the
model's classes (whatever their number) and the faces are the scored ones: a face whose true
class the model cannot output has no probability to be calibrated against and is counted apart.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import AnalysisError
from ..labels import NAMES

N_BINS = 15
PROB_FLOOR = 1e-12  # probabilities below this are treated as this before taking logs
SUM_TOL = 1e-3  # rows of probs must sum to 1 within this
T_BOUNDS = (0.01, 100.0)


def check_probs(probs: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """float64 probs (N, K >= 2) with finite, non-negative rows summing to 1 (within 1e-3) and
    integer labels (N,) in 0..K-1; ValueError naming the problem otherwise."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise AnalysisError(f"probs must be (N, K) with N >= 1 and K >= 2, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise AnalysisError("probs contain NaN or infinite values")
    if (p < 0).any():
        raise AnalysisError("probs must be non-negative")
    sums = p.sum(axis=1)
    if np.abs(sums - 1).max() > SUM_TOL:
        i = int(np.abs(sums - 1).argmax())
        raise AnalysisError(f"probs rows must sum to 1 (row {i} sums to {sums[i]:.6g})")
    if labels is None:
        return p, None
    y = np.asarray(labels)
    if y.shape != (len(p),):
        raise AnalysisError(f"labels must be ({len(p)},), one per row of probs, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        if y.dtype.kind != "f" or not np.isfinite(y).all() or (y != np.round(y)).any():
            raise AnalysisError(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise AnalysisError(f"labels must lie in 0-{p.shape[1] - 1}, got {y.min()}..{y.max()}")
    return p, y


def _check_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or not 1 <= n_bins <= 1000:
        raise AnalysisError(f"the number of bins must be an integer in 1-1000, got {n_bins!r}")
    return int(n_bins)


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram data: per equal-width bin its edges, count, mean confidence and
    accuracy (NaN for an empty bin), and the ECE. `cls` is None for the top label, else the
    one-vs-rest class index. No plotting library needed: `frame()` feeds any chart."""

    bin_lo: np.ndarray
    bin_hi: np.ndarray
    count: np.ndarray  # int
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float
    n: int
    cls: int | None = None

    @property
    def gap(self) -> np.ndarray:
        """accuracy - confidence per bin (negative: overconfident)."""
        return self.accuracy - self.confidence

    def frame(self) -> pd.DataFrame:
        """bin, bin_lo, bin_hi, count, confidence, accuracy: one row per bin."""
        return pd.DataFrame({"bin": np.arange(len(self.count)), "bin_lo": self.bin_lo,
                             "bin_hi": self.bin_hi, "count": self.count,
                             "confidence": self.confidence, "accuracy": self.accuracy})

    def to_dict(self, classes: Sequence[str] | None = None) -> dict:
        """JSON-ready (empty bins: null confidence/accuracy). `classes`: the names of the
        probability columns (default :data:`ferviz.labels.NAMES`, column k = class k)."""
        def clean(a):
            return [None if math.isnan(v) else float(v) for v in a]
        names = NAMES if classes is None else tuple(classes)
        return {"class": None if self.cls is None else names[self.cls] if self.cls < len(names)
                else int(self.cls), "n": self.n, "ece": self.ece,
                "bin_lo": [float(v) for v in self.bin_lo], "bin_hi": [float(v) for v in self.bin_hi],
                "count": [int(v) for v in self.count], "confidence": clean(self.confidence),
                "accuracy": clean(self.accuracy)}


def _edges(n_bins: int) -> np.ndarray:
    return np.arange(n_bins + 1) / n_bins  # k / n exactly rounded: 9 / 15 == 0.6


def bin_index(conf: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """The right-closed bin (0, 1/n], (1/n, 2/n], ... of each confidence (0 -> bin 0)."""
    edges = _edges(_check_bins(n_bins))
    return np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)


def _reliability(conf: np.ndarray, correct: np.ndarray, n_bins: int, cls: int | None) -> Reliability:
    edges = _edges(n_bins)
    b = bin_index(conf, n_bins)
    count = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(b, conf, minlength=n_bins) / count
        acc = np.bincount(b, correct.astype(np.float64), minlength=n_bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / len(conf) * np.abs(acc[filled] - mean_conf[filled])))
    return Reliability(edges[:-1], edges[1:], count, mean_conf, acc, ece, int(len(conf)), cls)


def reliability(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = N_BINS,
                cls: int | None = None) -> Reliability:
    """Top-label reliability (cls None) or one-vs-rest reliability of class `cls`."""
    p, y = check_probs(probs, labels)
    n_bins = _check_bins(n_bins)
    if cls is None:
        return _reliability(p.max(axis=1), p.argmax(axis=1) == y, n_bins, None)
    if isinstance(cls, bool) or not isinstance(cls, (int, np.integer)) or not 0 <= cls < p.shape[1]:
        raise AnalysisError(f"class must be an index in 0-{p.shape[1] - 1}, got {cls!r}")
    return _reliability(p[:, cls], y == cls, n_bins, int(cls))


def ece(probs: np.ndarray, labels: np.ndarray, *, n_bins: int = N_BINS) -> float:
    """Expected calibration error of the top label (15 right-closed equal-width bins)."""
    return reliability(probs, labels, n_bins=n_bins).ece


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels (probabilities floored at 1e-12)."""
    p, y = check_probs(probs, labels)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], PROB_FLOOR))))


def scaled_nll(probs: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean NLL of softmax(log(p) / T), from log-probabilities (no underflow at small T)."""
    p, y = check_probs(probs, labels)
    z = _logits(p) / _check_temperature(temperature)
    return float(-np.mean(_log_softmax(z)[np.arange(len(y)), y]))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _logits(p: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(p, PROB_FLOOR))


def _check_temperature(t: float) -> float:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not math.isfinite(t) or t <= 0:
        raise AnalysisError(f"temperature must be a finite number > 0, got {t!r}")
    return float(t)


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) per row (float64); the argmax is unchanged."""
    p, _ = check_probs(probs)
    return np.exp(_log_softmax(_logits(p) / _check_temperature(temperature)))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.01, 100] minimising the NLL of softmax(log(p) / T) on these labels."""
    from scipy.optimize import minimize_scalar

    p, y = check_probs(probs, labels)
    z, rows = _logits(p), np.arange(len(y))

    def loss(log_t: float) -> float:
        return float(-np.mean(_log_softmax(z / math.exp(log_t))[rows, y]))

    lo, hi = (math.log(v) for v in T_BOUNDS)
    res = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    return float(math.exp(res.x))


@dataclass(frozen=True)
class CalibrationResult:
    """Temperature fitted on one split (`fit_split`), measured on another (`split`)."""

    model: str
    fit_split: str
    split: str
    temperature: float
    n: int
    n_bins: int
    accuracy: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    fit_nll_before: float
    fit_nll_after: float
    # (split, "before"/"after") -> top-label Reliability; per_class: same keys -> one per class
    reliability: dict = field(repr=False)
    per_class: dict = field(default_factory=dict, repr=False)
    classes: tuple[str, ...] = NAMES[:7]  # the probability columns' names (per-class order)
    n_outside: int = 0  # faces of `split` whose true class the model cannot output (left out)

    def to_dict(self) -> dict:
        """JSON-ready summary (the per-class ECEs on `split` when computed)."""
        d = {"model": self.model, "fit_split": self.fit_split, "split": self.split,
             "temperature": self.temperature, "n": self.n, "n_bins": self.n_bins,
             "accuracy": self.accuracy, "ece_before": self.ece_before, "ece_after": self.ece_after,
             "nll_before": self.nll_before, "nll_after": self.nll_after,
             "fit_nll_before": self.fit_nll_before, "fit_nll_after": self.fit_nll_after,
             "classes": list(self.classes)}
        if self.n_outside:
            d["n_outside"] = self.n_outside
        if self.per_class:
            d["per_class_ece"] = {stage: {self.classes[r.cls]: r.ece for r in self.per_class[(self.split, stage)]}
                                  for stage in ("before", "after")}
        return d

    def frame(self) -> pd.DataFrame:
        """One row per (split, stage, class, bin): split, stage (before/after temperature),
        class ('all' = top label), bin, bin_lo, bin_hi, count, confidence, accuracy."""
        parts = []
        for (split, stage), rel in self.reliability.items():
            parts.append(_tagged(rel.frame(), split, stage, "all"))
            for r in self.per_class.get((split, stage), ()):
                parts.append(_tagged(r.frame(), split, stage, self.classes[r.cls]))
        return pd.concat(parts, ignore_index=True)


def _tagged(df: pd.DataFrame, split: str, stage: str, cls: str) -> pd.DataFrame:
    df.insert(0, "class", cls)
    df.insert(0, "stage", stage)
    df.insert(0, "split", split)
    return df


def temperature_calibration(fit_probs: np.ndarray, fit_labels: np.ndarray, probs: np.ndarray,
                            labels: np.ndarray, *, n_bins: int = N_BINS, per_class: bool = False,
                            model: str = "", fit_split: str = "PublicTest", split: str = "PrivateTest",
                            classes: Sequence[str] | None = None, n_outside: int = 0) -> CalibrationResult:
    """Fit T on (fit_probs, fit_labels), then measure ECE, NLL and reliability before and after
    on both splits; per_class adds one-vs-rest reliability for every class. `classes`: the names
    of the K columns (default the first K of :data:`ferviz.labels.NAMES`)."""
    fp, fy = check_probs(fit_probs, fit_labels)
    p, y = check_probs(probs, labels)
    classes = tuple(classes) if classes is not None else NAMES[:p.shape[1]]
    if fp.shape[1] != p.shape[1] or len(classes) != p.shape[1]:
        raise AnalysisError(f"both splits need the same {len(classes)} classes, got {fp.shape[1]} and {p.shape[1]}")
    n_bins = _check_bins(n_bins)
    t = fit_temperature(fp, fy)
    rel, pc = {}, {}
    for name, (q, lab) in ((fit_split, (fp, fy)), (split, (p, y))):
        for stage, probs_ in (("before", q), ("after", apply_temperature(q, t))):
            rel[(name, stage)] = reliability(probs_, lab, n_bins=n_bins)
            if per_class:
                pc[(name, stage)] = [reliability(probs_, lab, n_bins=n_bins, cls=k) for k in range(q.shape[1])]
    return CalibrationResult(
        model=model, fit_split=fit_split, split=split, temperature=t, n=int(len(y)), n_bins=n_bins,
        accuracy=float((p.argmax(axis=1) == y).mean()),
        ece_before=rel[(split, "before")].ece, ece_after=rel[(split, "after")].ece,
        nll_before=nll(p, y), nll_after=scaled_nll(p, y, t),
        fit_nll_before=nll(fp, fy), fit_nll_after=scaled_nll(fp, fy, t),
        reliability=rel, per_class=pc, classes=classes, n_outside=int(n_outside))


def scored_probs(ev) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """An `evaluation.Evaluation`'s probabilities over the model's classes (columns in vocabulary
    order), the scored faces' labels as column positions, and the columns' names. Faces whose
    true class the model cannot output are left out (they have no probability to calibrate)."""
    cols = [int(c) for c in ev.model_classes]
    m = np.asarray(ev.scored, bool)
    pos = np.full(max(int(np.max(ev.labels, initial=0)), max(cols)) + 1, -1, np.int64)
    pos[cols] = np.arange(len(cols))
    return ev.probs[m][:, cols], pos[np.asarray(ev.labels)[m]], tuple(NAMES[c] for c in cols)


def evaluation_ece(ev, *, n_bins: int = N_BINS) -> float:
    """Top-label ECE of an `evaluation.Evaluation` on its scored faces (:func:`scored_probs`)."""
    p, y, _ = scored_probs(ev)
    return ece(p, y, n_bins=n_bins)


def evaluation_reliability(ev, *, n_bins: int = N_BINS) -> Reliability:
    """Top-label reliability of an `evaluation.Evaluation` on its scored faces."""
    p, y, _ = scored_probs(ev)
    return reliability(p, y, n_bins=n_bins)


def calibrate_evaluations(fit, test, *, n_bins: int = N_BINS, per_class: bool = False) -> CalibrationResult:
    """`temperature_calibration` of two `evaluation.Evaluation`s of one model (e.g. PublicTest,
    PrivateTest), over the model's classes and the scored faces (:func:`scored_probs`)."""
    if fit.model_name != test.model_name:
        raise AnalysisError(f"fit and test evaluations come from different models: {fit.model_name} vs {test.model_name}")
    if tuple(fit.model_classes) != tuple(test.model_classes):
        raise AnalysisError("fit and test evaluations have different model classes: "
                            f"{', '.join(NAMES[c] for c in fit.model_classes)} vs "
                            f"{', '.join(NAMES[c] for c in test.model_classes)}")
    fp, fy, classes = scored_probs(fit)
    p, y, _ = scored_probs(test)
    return temperature_calibration(fp, fy, p, y, n_bins=n_bins, per_class=per_class, model=test.model_name,
                                   fit_split=fit.split, split=test.split, classes=classes,
                                   n_outside=int(test.n_outside))
