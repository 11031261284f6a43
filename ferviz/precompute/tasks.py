"""Precompute tasks: what to compute, keyed by the cache entry the app reads, and how one runs.

A :class:`Task` names one cache entry by its path relative to the cache root (the same
content-addressed key the app and the other commands read: predictions, attribution maps,
embedding, landmarks), so "already cached" is "that file exists". :func:`execute` runs a batch
of tasks of one kind, model, split and method in the current process (a worker of the pool, a
Ray worker or the driver itself) with the existing cached functions and their atomic writes.
"""
from __future__ import annotations

import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .. import config
from ..errors import AnalysisError

#: what ``--what`` may name; calibration = predictions on PublicTest (fit) and PrivateTest (measured);
#: slices = the face attributes and the penultimate features the error clusters read; stress = every
#: perturbed copy of the stress test
WHAT = ("evaluate", "maps", "embedding", "landmarks", "calibration", "slices", "stress")
#: the inspector's default methods (Grad-CAM, Grad-CAM++, XRAI)
DEFAULT_METHODS = ("gradcam", "gradcampp", "xrai")
#: the app's embedding map by default
EMBEDDING_METHOD, EMBEDDING_SEED = "umap", 0
#: the maps view mode the app shows by default: the card's test-time views (the prediction shown)
VIEWS = "tta"


@dataclass(frozen=True)
class Task:
    """One cache entry to fill. `key`: its path relative to the cache root."""

    kind: str  # evaluate, maps, embedding, landmarks
    key: str
    model: str | None  # card path (None: the data only)
    split: str
    method: str | None = None
    image_id: str | None = None
    target: int | None = None

    @property
    def group(self) -> tuple:
        """Tasks of one group may run together in one batch."""
        return (self.kind, self.model, self.split, self.method)

    def cached(self, root: Path | None = None) -> bool:
        return ((root or config.cache_dir()) / self.key).is_file()


@dataclass(frozen=True)
class Outcome:
    """What one task came to: 'computed', 'cached' (filled meanwhile) or 'failed' (with `error`);
    `files`: the entry's bytes when the worker sends results back to the driver."""

    key: str
    status: str
    error: str | None = None
    files: dict[str, bytes] | None = None


# ------------------------------------------------------------------ per-process state

_STATE: dict[str, dict] = {"cards": {}, "models": {}, "splits": {}}


def _rel(path: Path) -> str:
    return str(Path(path).resolve().relative_to(config.cache_dir().resolve()))


def card_of(ref: str):
    """The card for a model reference (memoised per process)."""
    from ..models import find_card

    if ref not in _STATE["cards"]:
        _STATE["cards"][ref] = find_card(ref)
    return _STATE["cards"][ref]


def model_of(ref: str):
    """The loaded model of a card path (once per process)."""
    from ..models import load_model

    if ref not in _STATE["models"]:
        _STATE["models"][ref] = load_model(card_of(ref))
    return _STATE["models"][ref]


def split_of(data: str | None, split: str):
    """A split of the dataset at `data`, a path or a `ferviz.data.splits.data_ref` naming FER+'s
    labels too (decoded once per process)."""
    from ..data.splits import load_fer2013, parse_ref

    key = (data, split, str(config.cache_dir()))
    if key not in _STATE["splits"]:
        path, labels = parse_ref(data)
        _STATE["splits"][key] = load_fer2013(path, split, labels=labels)
    return _STATE["splits"][key]


# ------------------------------------------------------------------ planning

def evaluate_task(card, split) -> Task:
    from ..analysis.evaluation import prediction_cache_path

    return Task("evaluate", _rel(prediction_cache_path(card, split)), str(card.path), split.split)


def embedding_task(card, split) -> Task:
    from ..analysis.embedding import embedding_cache_path

    path = embedding_cache_path(card, split, EMBEDDING_METHOD, EMBEDDING_SEED)
    return Task("embedding", _rel(path), str(card.path), split.split, EMBEDDING_METHOD)


def attributes_task(split) -> Task:
    from ..analysis.attributes import attributes_cache_path

    return Task("attributes", _rel(attributes_cache_path(split.data_hash)), None, split.split)


def features_task(card, split) -> Task:
    from ..analysis.embedding import features_cache_path

    return Task("features", _rel(features_cache_path(card, split)), str(card.path), split.split)


def stress_tasks(card, split) -> list[Task]:
    """One task per perturbed copy of the stress test (its predictions' cache entry)."""
    from ..analysis import stress

    return [Task("stress", _rel(stress.cache_path(card, split, name, sev)), str(card.path), split.split,
                 f"{name}:{sev}") for name, sev in stress.plan()]


def landmarks_task(split) -> Task:
    from ..data.landmarks import landmarks_cache_path

    return Task("landmarks", _rel(landmarks_cache_path(split.data_hash)), None, split.split)


def map_entries(model, card, split, method: str, ids: Sequence[str], targets: Sequence[int],
                views: str = VIEWS) -> list[Path]:
    """The attribution-cache files the app reads for these faces and FER targets: those
    :func:`ferviz.attribution.cached_explain` fills with the method's default parameters and
    the card's model hash (what ``ui.attributions.maps_for`` asks for)."""
    from ..attribution.cache import _entry, _folder
    from ..attribution.methods import get_explainer

    explainer = get_explainer(model, card, method)
    folder = _folder(explainer, card, card.model_hash(), split.data_hash, method, explainer.params(),
                     explainer.tta_of(views))
    return [_entry(folder, i, int(t)) for i, t in zip(ids, targets)]


def chosen_faces(evaluation, cells: Sequence[tuple[int, int]] | None, scope: str, top: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(ids, class targets) of the faces whose maps the app shows: each cell's gallery (`cells`),
    every error ('errors') or every face ('all'), in the gallery's default order (most confident
    mistakes first), the first `top` of each cell (of all errors / faces without cells); the target
    is the predicted class, which the inspector explains by default and the thumbnails show."""
    frames = []
    if cells:
        for t, p in cells:
            frames.append(evaluation.errors(t, p).head(top) if top else evaluation.errors(t, p))
    else:
        rows = evaluation.errors(include_correct=(scope == "all"))
        frames.append(rows.head(top) if top else rows)
    import pandas as pd

    from ..labels import class_index

    rows = pd.concat(frames, ignore_index=True).drop_duplicates("id") if frames else None
    if rows is None or rows.empty:
        return np.array([], str), np.array([], int)
    return rows["id"].astype(str).to_numpy(), np.array([class_index(v) for v in rows["pred"]], int)


def map_tasks(card, split, evaluation, methods: Iterable[str], cells, scope: str, top: int | None,
              model=None) -> list[Task]:
    """One task per (face, method) for the chosen faces (see :func:`chosen_faces`)."""
    ids, targets = chosen_faces(evaluation, cells, scope, top)
    if not len(ids):
        return []
    model = model if model is not None else model_of(str(card.path))
    out = []
    for m in methods:
        for i, t, path in zip(ids, targets, map_entries(model, card, split, m, ids, targets)):
            out.append(Task("maps", _rel(path), str(card.path), split.split, m, str(i), int(t)))
    return out


# ------------------------------------------------------------------ running

def _run_group(tasks: Sequence[Task], data: str | None) -> None:
    """Compute a batch of one group with the app's own cached functions (atomic writes)."""
    t0 = tasks[0]
    split = split_of(data, t0.split)
    if t0.kind == "landmarks":
        from ..data.landmarks import cached_landmarks

        cached_landmarks(split.images, split.data_hash)
        return
    if t0.kind == "attributes":
        from ..analysis.attributes import image_attributes

        image_attributes(split.images, split.data_hash)
        return
    card = card_of(t0.model)
    model = model_of(t0.model)
    if t0.kind == "evaluate":
        from ..analysis.evaluation import evaluate

        evaluate(card, split, model=model)
    elif t0.kind == "features":
        from ..analysis.embedding import cached_features

        cached_features(model, card, split)
    elif t0.kind == "stress":
        from ..analysis import stress
        from ..analysis.evaluation import evaluate
        from ..data.landmarks import cached_landmarks

        points = cached_landmarks(split.images, split.data_hash).points
        for t in tasks:
            name, sev = t.method.rsplit(":", 1)
            evaluate(card, stress.perturbed_split(split, name, int(sev), points=points), model=model)
    elif t0.kind == "embedding":
        from ..analysis.embedding import cached_embedding

        cached_embedding(model, card, split, EMBEDDING_METHOD, EMBEDDING_SEED)
    elif t0.kind == "maps":
        from ..attribution import cached_explain

        pos = np.array([split.index_of(t.image_id) for t in tasks])
        cached_explain(model, card, split.images[pos], split.ids[pos], split.data_hash,
                       np.array([t.target for t in tasks]), t0.method, views=VIEWS, model_hash=card.model_hash())
    else:
        raise AnalysisError(f"unknown precompute task kind {t0.kind!r}")


def execute_task_group(tasks: Sequence[Task], data: str | None) -> None:
    """Run one batch (a seam for tests: the runner calls it through this module)."""
    _run_group(tasks, data)


_LOCAL_CACHE: dict[str, str] = {}


def execute(tasks: Sequence[Task], data: str | None, cache_root: str | None = None, send: bool = False,
            threads: int | None = None) -> list[Outcome]:
    """Run a batch in this process. `cache_root`: the shared FERVIZ_CACHE to write into (a
    worker's); `send`: write into a cache private to this process instead and send each entry's
    bytes back (workers that share no filesystem with the driver). One exception fails the
    whole batch (the runner retries its tasks one by one)."""
    if threads:
        _set_threads(threads)
    if send:
        config.set_cache_dir(_LOCAL_CACHE.setdefault("dir", tempfile.mkdtemp(prefix="ferviz-worker-")))
    elif cache_root:
        config.set_cache_dir(cache_root)
    root = config.cache_dir()
    was = {t.key for t in tasks if t.cached(root)}
    todo = [t for t in tasks if t.key not in was]
    out = [Outcome(t.key, "cached") for t in tasks if t.key in was]
    if todo:
        try:
            execute_task_group(todo, data)
        except Exception as e:  # reported with the task, never raised into the runner
            msg = f"{type(e).__name__}: {e}".strip()
            tb = traceback.format_exc(limit=3)
            return out + [Outcome(t.key, "failed", msg if msg else tb) for t in todo]
    for t in todo:
        path = root / t.key
        if not path.is_file():
            out.append(Outcome(t.key, "failed", f"{t.kind}: computed, but no cache entry at {t.key}"))
            continue
        out.append(Outcome(t.key, "computed", files={t.key: path.read_bytes()} if send else None))
    return out


def _set_threads(n: int) -> None:
    if _STATE.get("threads") == n:
        return
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, n)))
    except (RuntimeError, ImportError):  # already initialised: keep TensorFlow's choice
        pass
    _STATE["threads"] = n
