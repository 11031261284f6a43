"""The Training faces nearest to any face, in the model's own space.

**Space.** A face is its penultimate features (:func:`ferviz.analysis.embedding.penultimate_features`:
the input to the model's final classification layer), averaged over the card's test-time views
with ``views="tta"`` (the default: the views the shown prediction averages) or of the face alone
with ``views="single"``. The index and every query use the same views.

**Distance.** Cosine distance, ``1 - cos(a, b)``, in [0, 2]: rows are scaled to unit length (in
float64) and compared by dot products. A row of zeros (every unit dead) has no direction: its
distance to anything is 1, as in scikit-learn. The search is exact brute force in batches of
queries (28,709 Training faces x 256 features is one matrix product per batch); ties are broken
by Training position, so the answer is the same on every run and equals a full stable sort.

**Index.** :func:`training_index` is the unit rows of the Training features, built once per model
identity (:meth:`ferviz.models.ModelCard.identity`), data hash and views: the features are the
embedding map's, cached on disk by :func:`ferviz.analysis.embedding.cached_features` (atomic
writes, shared with an embedding map of Training), so a second build reads them and only scales
the rows. Computing them with the card's views also fills the Training prediction cache in the
same pass, which the table's ``neighbour_pred`` (the model's shown prediction on each Training
face) reads.

**Table.** :func:`neighbours`: one row per query and rank, ``id, rank, neighbour_id,
neighbour_label, distance, neighbour_pred`` (class names). A query that is itself a Training face
(``exclude``) does not find itself; its copies under other ids are still found, at distance 0.
:func:`neighbourhood_sentence` says it in words: "7 of the 8 nearest Training faces are labelled sad".
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..data.splits import FERSplit
from ..errors import AnalysisError, NotFoundError
from ..labels import NAMES
from ..models import ModelCard

Progress = Callable[[float, str], None]
DEFAULT_K = 8
MAX_K = 100
#: a neighbour this close (cosine distance) is the same face for the model: a copy
COPY_DISTANCE = 1e-6
COLUMNS: tuple[str, ...] = ("id", "rank", "neighbour_id", "neighbour_label", "distance", "neighbour_pred")
_QUERY_BATCH = 256


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float64); rows of zeros stay zero. AnalysisError for a
    features array that is not 2-D and finite."""
    f = np.asarray(features)
    if f.ndim != 2 or f.shape[1] < 1:
        raise AnalysisError(f"features must be a 2-D array (N, D), got shape {f.shape}")
    f = f.astype(np.float64)
    if not np.isfinite(f).all():
        raise AnalysisError("features contain NaN or infinite values")
    norm = np.linalg.norm(f, axis=1, keepdims=True)
    return f / np.where(norm > 0, norm, 1.0)


def check_k(k) -> int:
    """k as an int in 1..MAX_K, else AnalysisError."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise AnalysisError(f"k must be a whole number in 1..{MAX_K}, got {k!r}")
    return int(k)


def nearest(unit: np.ndarray, query: np.ndarray, k: int, *, exclude: Sequence[int | None] | None = None,
            batch: int = _QUERY_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """The exact k nearest rows of `unit` (unit rows, see :func:`unit_rows`) to each row of
    `query` (raw features; scaled here) by cosine distance: (positions (Q, k) int64, distances
    (Q, k) float64), nearest first, ties by position. `exclude[i]` (a position or None) is never
    an answer for query i. k larger than what is left is cut to it."""
    q = unit_rows(query)
    index = np.asarray(unit, np.float64)
    if index.ndim != 2 or index.shape[1] != q.shape[1]:
        raise AnalysisError(f"query features have {q.shape[1]} dimensions, the index "
                            f"{index.shape[1] if index.ndim == 2 else '?'}")
    n = len(index)
    skip = list(exclude) if exclude is not None else [None] * len(q)
    if len(skip) != len(q):
        raise AnalysisError(f"exclude has {len(skip)} entries for {len(q)} queries")
    k = min(check_k(k), n - (1 if any(s is not None for s in skip) else 0))
    if k < 1:
        raise AnalysisError("the index has no face to return")
    pos = np.empty((len(q), k), np.int64)
    dist = np.empty((len(q), k), np.float64)
    for start in range(0, len(q), batch):
        d = 1.0 - q[start:start + batch] @ index.T
        np.clip(d, 0.0, 2.0, out=d)
        for r in range(len(d)):
            s = skip[start + r]
            if s is not None:
                d[r, int(s)] = np.inf
        kth = np.partition(d, k - 1, axis=1)[:, k - 1] if k < n else np.full(len(d), np.inf)
        for r in range(len(d)):
            cand = np.flatnonzero(d[r] <= kth[r])  # every tie at the k-th distance, in position order
            best = cand[np.argsort(d[r, cand], kind="stable")[:k]]
            pos[start + r], dist[start + r] = best, d[r, best]
    return pos, dist


@dataclass(frozen=True)
class TrainingIndex:
    """Unit-length penultimate features of the Training faces, with their ids and labels."""

    features: np.ndarray  # (N, D) float32, as the model gives them (cached on disk)
    ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int, class indices (ferviz.labels.NAMES)
    views: str
    model: str  # the card's name
    data_hash: str

    @cached_property
    def unit(self) -> np.ndarray:
        """(N, D) float64 unit rows (computed once per index object)."""
        return unit_rows(self.features)

    def __len__(self) -> int:
        return int(len(self.ids))

    def position(self, image_id: str) -> int:
        """Position of a Training id; NotFoundError when absent."""
        hits = np.flatnonzero(self.ids == str(image_id))
        if not hits.size:
            raise NotFoundError(f"no Training face with id {image_id!r}")
        return int(hits[0])

    def nearest(self, query: np.ndarray, k: int = DEFAULT_K, *, exclude: Sequence[str | None] | None = None):
        """(positions, distances) of the k nearest Training faces to each query row; `exclude[i]`
        is a Training id query i must not find (itself), or None."""
        skip = None
        if exclude is not None:
            lookup = {str(i): p for p, i in enumerate(self.ids)} if any(e is not None for e in exclude) else {}
            skip = [lookup.get(str(e)) if e is not None else None for e in exclude]
        return nearest(self.unit, query, k, exclude=skip)


def index_cache_path(card: ModelCard, training: FERSplit, views: str = "tta"):
    """Where the index's features live: the embedding features cache of `training`."""
    from .embedding import features_cache_path

    return features_cache_path(card, training, views)


def is_cached(card: ModelCard, training: FERSplit, views: str = "tta") -> bool:
    """Whether building the index reads its features from disk (no model pass)."""
    return index_cache_path(card, training, views).is_file()


def training_index(model, card: ModelCard, training: FERSplit, *, views: str = "tta", use_cache: bool = True,
                   progress: Progress | None = None) -> TrainingIndex:
    """The index over `training` (usually the Training split) for `card`'s model: its features
    from the disk cache when model identity, data and views match, else computed (and cached).
    `model` may be None: it is loaded only if the features must be computed."""
    from .embedding import cached_features

    if not len(training):
        raise AnalysisError(f"{training.title} has no faces to search")
    feats = cached_features(model, card, training, views=views, use_cache=use_cache, progress=progress)
    return TrainingIndex(feats, training.ids.astype(str), np.asarray(training.labels), views, card.name,
                         training.data_hash)


def query_features(model, card: ModelCard, faces: np.ndarray, views: str = "tta") -> np.ndarray:
    """Penultimate features of uint8 faces (N, H, W) or one face (H, W) that need not be in any
    split (an uploaded crop), computed the index's way (same preprocessing and views)."""
    from .embedding import penultimate_features

    f = np.asarray(faces)
    if f.ndim == 2:
        f = f[None]
    return penultimate_features(model, card, f, views=views)


def neighbours(index: TrainingIndex, query: np.ndarray, ids: Sequence[str], *, k: int = DEFAULT_K,
               preds: np.ndarray | None = None, exclude: Sequence[str | None] | None = None) -> pd.DataFrame:
    """The table of the k nearest Training faces of each query (features `query`, named `ids`):
    ``id, rank (1 = nearest), neighbour_id, neighbour_label, distance, neighbour_pred``;
    `preds` are the model's predictions on the Training faces (class indices; the column is empty
    without them). `exclude`: per query, a Training id it must not find (itself) or None."""
    q = np.asarray(query)
    if q.ndim == 1:
        q = q[None]
    ids = [str(i) for i in ids]
    if len(ids) != len(q):
        raise AnalysisError(f"{len(ids)} ids for {len(q)} query rows")
    if preds is not None and len(preds) != len(index):
        raise AnalysisError(f"{len(preds)} Training predictions for an index of {len(index)} faces")
    pos, dist = index.nearest(q, k, exclude=exclude)
    kk = pos.shape[1]
    flat = pos.ravel()
    names = np.array(NAMES, dtype=object)
    df = pd.DataFrame({
        "id": np.repeat(ids, kk),
        "rank": np.tile(np.arange(1, kk + 1), len(ids)),
        "neighbour_id": index.ids[flat],
        "neighbour_label": names[index.labels[flat]],
        "distance": dist.ravel(),
        "neighbour_pred": names[np.asarray(preds)[flat]] if preds is not None else pd.NA,
    }, columns=list(COLUMNS))
    df.attrs.update(views=index.views, model=index.model, k=kk, positions=flat)
    return df


def positions(split: FERSplit, ids: Sequence[str]) -> list[int]:
    """Positions of `ids` in `split`; NotFoundError naming the unknown ones (five at most) and a
    few ids the split has."""
    ids = [str(i) for i in ids]
    if not ids:
        raise AnalysisError("no ids given")
    where = {str(i): p for p, i in enumerate(split.ids)}
    missing = list(dict.fromkeys(i for i in ids if i not in where))
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        examples = ", ".join(map(str, split.ids[:3]))
        raise NotFoundError(f"no face with id {shown} in {split.title} ({len(split):,} faces; its ids look like "
                            f"{examples})")
    return [where[i] for i in ids]


def split_neighbours(model, card: ModelCard, index: TrainingIndex, split: FERSplit, ids: Sequence[str], *,
                     k: int = DEFAULT_K, preds: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`neighbours` of faces of `split` named by id (features computed for those faces
    alone). NotFoundError naming the unknown ids (and a few known ones) when some are not in
    `split`. A face of the index's own split does not find itself."""
    ids = list(dict.fromkeys(str(i) for i in ids))
    faces = split.images[positions(split, ids)]
    feats = query_features(model, card, faces, index.views)
    same = split.data_hash == index.data_hash
    return neighbours(index, feats, ids, k=k, preds=preds, exclude=ids if same else None)


def _most_common(values: pd.Series) -> tuple[str, int]:
    """The most common value and its count; a tie goes to the value seen first (the nearer face)."""
    order = list(values)
    counts = values.value_counts(sort=False)
    return max(counts.items(), key=lambda kv: (kv[1], -order.index(kv[0])))


def neighbourhood_sentence(rows: pd.DataFrame, label: str | None = None) -> str:
    """One sentence on one query's neighbours (its rows of the table, nearest first): the most
    common label among them ("7 of the 8 nearest Training faces are labelled sad"), with the
    query's own `label` how many share it when that is not the most common, what the model
    predicts for them (when the table has its predictions) and how many are copies (distance 0)."""
    n = len(rows)
    if not n:
        return "No Training faces to compare with."
    top, m = _most_common(rows["neighbour_label"])
    if m == n:
        text = f"All {n} nearest Training faces are labelled {top}" if n > 1 else \
            f"The nearest Training face is labelled {top}"
    elif m > 1:
        text = f"{m} of the {n} nearest Training faces are labelled {top}"
    else:
        text = f"The {n} nearest Training faces all carry different labels"
    if label is not None and label != top:
        agree = int((rows["neighbour_label"] == label).sum())
        text += f"; {agree or 'none'} {'share' if agree > 1 else 'shares'} this face's label ({label})"
    if "neighbour_pred" in rows and rows["neighbour_pred"].notna().all():
        pred, c = _most_common(rows["neighbour_pred"])
        text += f"; the model predicts {pred} for {'all' if c == n else c} of them"
    copies = int((rows["distance"] < COPY_DISTANCE).sum())
    if copies:
        text += f"; {copies} {'is a copy' if copies == 1 else 'are copies'} of this face (distance 0)"
    return text + "."
