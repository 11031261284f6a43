"""Precompute a lab's analyses ahead of time: ``python -m ferviz precompute``.

The work is planned as tasks keyed by the content-addressed cache entries the app reads
(:mod:`.tasks`), what is cached is skipped, and the rest runs in this process, on a local process
pool or on Ray (:mod:`.runner`). Predictions come first (the maps' faces and targets are the
gallery's, from the predictions), then landmarks, embeddings and maps. :func:`coverage` says how
much of a model's work is cached (the Dataset page).
"""
from __future__ import annotations

import os
from typing import Sequence

from ..errors import AnalysisError
from .runner import Report, Summary, batches, run_tasks, stderr_report
from .tasks import DEFAULT_METHODS, WHAT, Outcome, Task, chosen_faces, map_entries

__all__ = ["DEFAULT_METHODS", "WHAT", "Outcome", "Summary", "Task", "batches", "chosen_faces", "coverage",
           "map_entries", "plan", "precompute", "run_tasks", "stderr_report"]

#: the splits calibration reads: temperature fitted on PublicTest, measured on PrivateTest
CALIBRATION_SPLITS = ("PublicTest", "PrivateTest")


def _check_what(what: Sequence[str]) -> list[str]:
    bad = sorted(set(what) - set(WHAT))
    if bad:
        raise AnalysisError(f"--what: unknown {', '.join(bad)}; choose from {', '.join(WHAT)}")
    return list(dict.fromkeys(what))


def plan(cards, data: str | None, splits: Sequence[str], what: Sequence[str], *, phase: int,
         cells=None, scope: str = "errors", top: int | None = None, methods: Sequence[str] = DEFAULT_METHODS
         ) -> list[Task]:
    """The tasks of a phase: 1, the predictions (every split named, and calibration's two); 2,
    landmarks, embeddings and maps (which read the phase-1 predictions from the cache)."""
    from ..analysis.evaluation import evaluate
    from .tasks import (attributes_task, embedding_task, evaluate_task, features_task, landmarks_task, map_tasks,
                        split_of, stress_tasks)

    what = _check_what(what)
    out: list[Task] = []
    if phase == 1:
        for card in cards:
            names = list(splits) if {"evaluate", "maps", "embedding", "slices", "stress"} & set(what) else []
            names += list(CALIBRATION_SPLITS) if "calibration" in what else []
            for name in dict.fromkeys(names):
                out.append(evaluate_task(card, split_of(data, name)))
        return out
    if {"landmarks", "stress"} & set(what):  # the stress test's occlusions read the landmarks
        out += [landmarks_task(split_of(data, name)) for name in splits]
    if "slices" in what:
        out += [attributes_task(split_of(data, name)) for name in splits]
    for card in cards:
        for name in splits:
            split = split_of(data, name)
            if "embedding" in what:
                out.append(embedding_task(card, split))
            if "slices" in what:
                out.append(features_task(card, split))
            if "stress" in what:
                out += stress_tasks(card, split)
            if "maps" in what:
                ev = evaluate(card, split)  # cached by phase 1
                out += map_tasks(card, split, ev, methods, cells, scope, top)
    return out


def precompute(cards, data: str | None, splits: Sequence[str], what: Sequence[str], *, cells=None,
               scope: str = "errors", top: int | None = None, methods: Sequence[str] = DEFAULT_METHODS,
               workers: int = 0, ray: str | None = None, send: bool = False, report: Report | None = None
               ) -> Summary:
    """Plan and run both phases; the counts of the whole run."""
    s = Summary()
    for phase in (1, 2):
        tasks = plan(cards, data, splits, what, phase=phase, cells=cells, scope=scope, top=top, methods=methods)
        if report and tasks:
            report(f"precompute: phase {phase}: {len(tasks)} tasks "
                   f"({', '.join(f'{k} {v}' for k, v in _kinds(tasks).items())})")
        run_tasks(tasks, data=data, workers=workers, ray=ray, send=send, report=report, summary=s)
    return s


def _kinds(tasks: Sequence[Task]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tasks:
        out[t.kind] = out.get(t.kind, 0) + 1
    return out


def coverage(model, card, split, methods: Sequence[str] = DEFAULT_METHODS) -> dict:
    """What of a model's work on a split is cached: predictions, embedding, landmarks, and per
    method the maps of its errors (explaining the prediction, the card's views). Reads file names
    only; the maps' counts need the predictions cached (None otherwise)."""
    from ..analysis.embedding import embedding_cache_path
    from ..analysis.evaluation import evaluate, prediction_cache_path
    from ..data.landmarks import landmarks_cache_path

    out = {"predictions": prediction_cache_path(card, split).is_file(),
           "embedding": embedding_cache_path(card, split, "umap", 0).is_file(),
           "landmarks": landmarks_cache_path(split.data_hash).is_file(), "errors": None, "maps": {}}
    if not out["predictions"]:
        return out
    ev = evaluate(card, split)
    ids, targets = chosen_faces(ev, None, "errors", None)
    out["errors"] = len(ids)
    for m in methods:
        paths = map_entries(model, card, split, m, ids, targets) if len(ids) else []
        present = set(os.listdir(paths[0].parent)) if paths and paths[0].parent.is_dir() else set()
        out["maps"][m] = sum(p.name in present for p in paths)
    return out
