"""Why a model fails, in one call: the face attributes of a split with the model's data facts,
the ranked failure slices, the error tree and the error clusters (what ``python -m ferviz slices``
writes and the *Failure slices* page shows)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from ..errors import DataError
from .error_clusters import ErrorClusters, error_clusters
from .error_tree import ErrorTree, error_tree
from .slices import SliceSearch, find_slices

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class FailureAnalysis:
    """Everything the slices command writes, for one model on one split."""

    attributes: pd.DataFrame
    slices: SliceSearch
    tree: ErrorTree
    clusters: ErrorClusters | None
    correct: np.ndarray
    notes: tuple[str, ...] = ()
    scored: np.ndarray | None = None  # faces whose true class the model can output (None: all)


def data_facts(split, splits: Mapping | None, evaluation) -> tuple[dict, list[str]]:
    """The keyword arguments of :func:`ferviz.analysis.attributes.face_attributes` that ferviz can
    know for this split (issues, copies, aligned), and a note for each it cannot."""
    from ..data.duplicates import find_duplicates, training_duplicates
    from ..data.splits import align_votes
    from .label_issues import evaluation_issues

    facts, notes = {}, []
    try:
        facts["issues"] = evaluation_issues(evaluation)
    except Exception as e:  # fewer than two classes in a tiny split
        notes.append(f"no label-issue flag: {e}")
    if split.split == "Training":
        notes.append("no Training-copy flag: this is the Training split")
    elif splits is not None and "Training" in splits:
        facts["copies"] = training_duplicates(find_duplicates(splits), split.split)
    else:
        notes.append("no Training-copy flag: the dataset has no Training split to compare with")
    try:
        facts["aligned"] = align_votes(split)
    except DataError as e:
        notes.append("no FER+ attributes: " + str(e).split(": ", 1)[-1].split(";")[0].split(". ")[0])
    return facts, notes


def analyse_failures(card, split, *, splits: Mapping | None = None, model=None, clusters: bool = True,
                     k: int | None = None, min_size: int = 30, max_depth: int = 3, seed: int = 0,
                     use_cache: bool = True, progress: Progress | None = None) -> FailureAnalysis:
    """Attributes, slices, error tree and (with `clusters`) error clusters of `card` on `split`.
    `splits` (all splits of the dataset) lets the Training-copy flag be computed. Faces whose
    true class the model cannot output are counted apart: in no slice, node or cluster."""
    from ..labels import NAMES
    from .attributes import face_attributes, image_attributes
    from .embedding import cached_features
    from .evaluation import evaluate

    step = progress or (lambda f, t: None)
    step(0.0, "landmarks and pixel attributes")
    base = image_attributes(split.images, split.data_hash, use_cache=use_cache)
    step(0.3, "the model's predictions")
    ev = evaluate(card, split, model=model, use_cache=use_cache)
    facts, notes = data_facts(split, splits, ev)
    attrs = face_attributes(split, base=base, **facts)
    correct, scored = ev.correct, ev.scored
    if ev.n_outside:
        notes.append(ev.outside_note())
    step(0.5, "slices")
    search = find_slices(attrs, correct, min_size=min_size, scored=scored)
    tree = error_tree(attrs, correct, max_depth=max_depth, min_leaf=min_size, seed=seed, scored=scored)
    found = None
    if clusters:
        step(0.6, "penultimate features of the errors")
        feats = cached_features(model, card, split, use_cache=use_cache)
        step(0.9, "error clusters")
        found = error_clusters(feats, correct, attrs, ev.labels, ev.preds, NAMES,
                               confidence=ev.probs.max(axis=1), k=k, seed=seed, scored=scored)
    step(1.0, "done")
    return FailureAnalysis(attrs, search, tree, found, correct, tuple(notes), scored)
