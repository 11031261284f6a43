"""The stress test: a model's accuracy and its probability of the true class under each
perturbation (:mod:`ferviz.analysis.perturbations`) and severity, overall and per class with 95%
Wilson intervals, and the **flips**: faces the model read right before that it reads as another
class under a perturbation ("occluding the mouth turns 212 happy faces into neutral").

Each (perturbation, severity) is one evaluation of a perturbed copy of the split through
:func:`ferviz.analysis.evaluation.evaluate` (batched, the card's test-time views), cached on disk
per model identity like every evaluation: the perturbed copy's data hash records the split,
perturbation, severity and seed. Severity 0 is the split itself: its numbers are ``evaluate``'s.

Any class sets: the probabilities have the evaluation's columns (:func:`.evaluation.columns`);
accuracies and flips count the faces whose true class the model can output; a face of a class it
cannot output is counted apart (:attr:`StressResult.n_outside`), as in every evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .. import cache
from ..errors import AnalysisError, NotFoundError
from ..labels import NAMES
from .perturbations import PERTURBATIONS, check, perturb

_VERSION = "1"
STRESS_COLUMNS = ("perturbation", "severity", "class", "n", "accuracy", "ci_low", "ci_high", "mean_p_true")
FLIP_COLUMNS = ("perturbation", "severity", "from", "to", "count", "share")
Progress = Callable[[float, str], None]


def perturbed_split(split, name: str, severity: int, *, points: np.ndarray | None = None, seed: int = 0):
    """A copy of `split` whose faces are perturbed (severity 0: `split` itself), with a data hash of
    its own so its predictions are cached apart."""

    check(name, severity)
    if severity == 0:
        return split
    return replace(split, images=perturb(split.images, name, severity, points=points, seed=seed),
                   source_hash=cache.key_hash(split.source_hash, "perturbed", name, severity, seed, _VERSION))


def plan(perturbations: Iterable[str] | None = None, severities: Iterable[int] | None = None) -> list[tuple[str, int]]:
    """The (perturbation, severity) pairs to evaluate, severity 0 excluded (it is the split)."""
    names = list(PERTURBATIONS) if perturbations is None else list(dict.fromkeys(perturbations))
    bad = [s for s in (severities or ()) if not 0 <= int(s) <= 5]
    if bad:
        raise AnalysisError(f"severities run from 0 to 5, got {bad[0]}")
    out = []
    for name in names:
        p = check(name, 0)
        for s in (p.severities if severities is None else severities):
            if s == 0 or s not in p.severities:
                continue
            out.append((name, int(s)))
    if not names:
        raise AnalysisError("no perturbation chosen")
    return out


@dataclass(frozen=True)
class StressResult:
    """Predictions of one model on a split under each (perturbation, severity). Probability column
    k is class k of :data:`ferviz.labels.NAMES`; `model_classes` are the classes the model can
    output (default every column), `data_classes` the split's (default those in `labels`)."""

    model_name: str
    split: str
    labels: np.ndarray = field(repr=False)
    ids: np.ndarray = field(repr=False)
    base: np.ndarray = field(repr=False)  # (N, K) probabilities at severity 0
    probs: dict = field(repr=False)  # (name, severity) -> (N, K)
    classes: tuple[str, ...] | None = None  # the names of the K columns (default NAMES[:K])
    model_classes: tuple[int, ...] | None = None
    data_classes: tuple[int, ...] | None = None

    def __post_init__(self):
        k = int(self.base.shape[1])
        bad = [key for key, p in self.probs.items() if np.shape(p) != np.shape(self.base)]
        if bad:
            raise AnalysisError(f"the predictions under {bad[0][0]} at severity {bad[0][1]} have shape "
                                f"{np.shape(self.probs[bad[0]])}, not the evaluation's {np.shape(self.base)}")
        if self.classes is None:
            object.__setattr__(self, "classes", NAMES[:k])
        if self.model_classes is None:
            object.__setattr__(self, "model_classes", tuple(range(k)))
        if self.data_classes is None:
            object.__setattr__(self, "data_classes", tuple(sorted({int(c) for c in np.unique(self.labels)})))
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "model_classes", tuple(int(c) for c in self.model_classes))
        object.__setattr__(self, "data_classes", tuple(int(c) for c in self.data_classes))

    @property
    def perturbations(self) -> list[str]:
        return list(dict.fromkeys(n for n, _ in self.probs))

    @property
    def scored(self) -> np.ndarray:
        """(N,) bool: faces whose true class the model can output (the rest are counted apart)."""
        return np.isin(self.labels, self.model_classes)

    @property
    def n_outside(self) -> int:
        """Faces whose true class the model cannot output: in no accuracy and no flip."""
        return int(len(self.labels) - self.scored.sum())

    def probs_at(self, name: str, severity: int) -> np.ndarray:
        if severity == 0:
            return self.base
        if (name, severity) not in self.probs:
            raise NotFoundError(f"no results for {name} at severity {severity}")
        return self.probs[(name, severity)]

    def table(self) -> pd.DataFrame:
        """``perturbation,severity,class,n,accuracy,ci_low,ci_high,mean_p_true``; class ``all`` is
        the split's scored faces, then one row per dataset class the model can output."""
        from .slices import wilson

        rows = []
        y = self.labels
        scored = self.scored
        groups = [("all", scored)] + [(self.classes[k], y == k) for k in self.data_classes
                                      if k in self.model_classes]
        for name in self.perturbations:
            sevs = [0] + sorted(s for n, s in self.probs if n == name)
            for s in sevs:
                p = self.probs_at(name, s)
                right = p.argmax(axis=1) == y
                pt = p[np.arange(len(y)), np.minimum(y, p.shape[1] - 1)] * (y < p.shape[1])
                for cls, m in groups:
                    n = int(m.sum())
                    if n == 0:
                        continue
                    k = int(right[m].sum())
                    lo, hi = wilson(np.array([k]), np.array([n]))
                    rows.append((name, s, cls, n, k / n, float(lo[0]), float(hi[0]), float(pt[m].mean())))
        return pd.DataFrame(rows, columns=list(STRESS_COLUMNS))

    def flip_mask(self, name: str, severity: int, true: int, to: int) -> np.ndarray:
        """Faces of class `true` read right at severity 0 and read as `to` under the perturbation."""
        before = self.base.argmax(axis=1)
        after = self.probs_at(name, severity).argmax(axis=1)
        return (self.labels == true) & (before == true) & (after == to) & (to != true)

    def flip_matrix(self, name: str, severity: int) -> pd.DataFrame:
        """Flip counts: rows the class read right before (the model's classes the split has),
        columns the class read under the perturbation (the model's classes); diagonal 0."""
        before = self.base.argmax(axis=1)
        after = self.probs_at(name, severity).argmax(axis=1)
        right = (before == self.labels) & self.scored
        k = self.base.shape[1]
        cells = np.zeros((k, k), np.int64)
        np.add.at(cells, (self.labels[right], after[right]), 1)
        np.fill_diagonal(cells, 0)
        rows = [c for c in self.data_classes if c in self.model_classes]
        cols = list(self.model_classes)
        return pd.DataFrame(cells[np.ix_(rows, cols)], index=pd.Index([self.classes[c] for c in rows],
                                                                       name="read right as"),
                            columns=[self.classes[c] for c in cols])

    def flips(self) -> pd.DataFrame:
        """``perturbation,severity,from,to,count,share``: faces of class `from` the model read right
        before and reads as `to` under the perturbation; `share` is of those read right before."""
        before = self.base.argmax(axis=1)
        right = (before == self.labels) & self.scored
        k = self.base.shape[1]
        cols = list(self.model_classes)
        rows = []
        for (name, s), p in self.probs.items():
            after = p.argmax(axis=1)
            cells = np.zeros((k, k), np.int64)
            np.add.at(cells, (self.labels[right], after[right]), 1)
            base_n = np.bincount(self.labels[right], minlength=k)
            for t in cols:
                for q in cols:
                    if t != q and cells[t, q]:
                        rows.append((name, s, self.classes[t], self.classes[q], int(cells[t, q]),
                                     cells[t, q] / max(1, base_n[t])))
        df = pd.DataFrame(rows, columns=list(FLIP_COLUMNS))
        return df.sort_values(["count", "perturbation", "severity"], ascending=[False, True, True],
                              kind="stable").reset_index(drop=True)


def flip_sentence(name: str, severity: int, true: str, to: str, count: int) -> str:
    """'Occluding the mouth (severity 3: ...) turns 212 happy faces into neutral'."""
    from .perturbations import describe

    text = describe(name, severity)
    return f"{text[:1].upper() + text[1:]} turns {count:,} {true} {'face' if count == 1 else 'faces'} into {to}"


def _probe(split, name: str, severity: int, seed: int):
    """The perturbed split without its faces: enough to find its cached predictions."""

    if severity == 0:
        return split
    return replace(split, images=split.images[:0],
                   source_hash=cache.key_hash(split.source_hash, "perturbed", name, severity, seed, _VERSION))


def cache_path(card, split, name: str, severity: int, *, seed: int = 0):
    """Where the predictions of (name, severity) are cached (``precompute --what stress`` fills it)."""
    from .evaluation import prediction_cache_path

    return prediction_cache_path(card, _probe(split, name, severity, seed))


def is_cached(card, split, name: str, severity: int, *, seed: int = 0) -> bool:
    """Whether the predictions of (name, severity) are on disk (no faces perturbed to find out)."""
    from .evaluation import prediction_cache_path

    return prediction_cache_path(card, _probe(split, name, severity, seed)).is_file()


def cached_count(card, split, perturbations: Sequence[str] | None = None, *, seed: int = 0) -> tuple[int, int]:
    """(evaluations on disk, evaluations in the whole plan) of the stress test."""
    todo = plan(perturbations)
    return sum(is_cached(card, split, n, s, seed=seed) for n, s in todo), len(todo)


def stress_test(card, split, perturbations: Sequence[str] | None = None, severities: Sequence[int] | None = None, *,
                model=None, points: np.ndarray | None = None, seed: int = 0, use_cache: bool = True,
                only_cached: bool = False, progress: Progress | None = None) -> StressResult:
    """Evaluate `card` on `split` under each chosen perturbation and severity (all by default).
    `points`: the split's landmarks for the occlusions (found and cached when None and needed).
    Cached evaluations are read without perturbing the faces; with `only_cached`, the others are
    left out of the result (nothing is computed but severity 0)."""
    from .evaluation import evaluate

    todo = plan(perturbations, severities)
    if use_cache:
        cached = {(n, s) for n, s in todo if is_cached(card, split, n, s, seed=seed)}
    else:
        cached = set()
    if only_cached:
        todo = [t for t in todo if t in cached]
    if points is None and any(n.startswith("occlude_") and (n, s) not in cached for n, s in todo):
        from ..data.landmarks import cached_landmarks

        points = cached_landmarks(split.images, split.data_hash).points
    if model is None and not (set(todo) <= cached and is_cached(card, split, "mirror", 0)):
        from ..models import load_model

        model = load_model(card)
    step = progress or (lambda f, t: None)
    base = evaluate(card, split, model=model, use_cache=use_cache)
    probs = {}
    for i, (name, s) in enumerate(todo):
        step(i / max(1, len(todo)), f"{name} severity {s}")
        data = _probe(split, name, s, seed) if (name, s) in cached else \
            perturbed_split(split, name, s, points=points, seed=seed)
        probs[(name, s)] = evaluate(card, data, model=model, use_cache=use_cache).probs
    step(1.0, "done")
    return StressResult(card.name, split.split, np.asarray(split.labels), np.asarray(split.ids).astype(str),
                        base.probs, probs, base.classes, base.model_classes, base.data_classes)
