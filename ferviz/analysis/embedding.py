"""The embedding map: every face of a split as a point, placed by what the model "sees".

1. **Features** (:func:`penultimate_features`): the input to the model's final classification
   layer, i.e. the penultimate layer's output. For a final ``Dense(K, softmax)`` that is the
   Dense layer's input; a trailing ``Softmax``/``Activation`` layer after the Dense is skipped,
   and a final layer that is itself a model (nested models) is looked into. Faces are
   preprocessed per the model card (size, channels, scaling) and run in batches through one
   traced ``tf.function``; the result is flattened to ``(N, D)`` float32.

   **Test-time views.** With ``views="tta"`` (the default) the features are the *mean over the
   card's test-time views* (``card.tta``: the face and its mirror image, plus shifts for
   "mirror+shift"), the same views the shown prediction averages. For a final Dense layer the
   logits are linear in the features, so the averaged features give exactly the mean of the
   per-view logits: a point sits where the averaged prediction comes from. ``views="single"``
   uses the face alone (one pass). A card without ``tta`` gives the same features either way.

2. **Projection** (:func:`embed`): the features are *standardised* first (each feature centred and
   scaled to unit variance over the faces given; constant features, such as dead ReLU units,
   stay 0), so that a few high-variance units do not dominate the distances. Then PCA
   (scikit-learn; fast, linear, a good first view) or UMAP (``umap-learn``; non-linear, keeps
   local neighbourhoods) maps them to 2-D. Both are deterministic for a given ``seed``
   (UMAP with ``random_state`` set runs single-threaded). Below 4,096 faces UMAP uses exact
   neighbours; ferviz hands it the exact euclidean distance matrix computed by scikit-learn,
   which is what UMAP would compute itself, only faster (timings: docs/regions-and-embedding.md).
   Above that, UMAP's approximate nearest-neighbour search is used as usual.

3. **Cache** (:func:`cached_embedding`): features are cached per model identity
   (:meth:`ferviz.models.ModelCard.identity`: file, card input, classes, TTA, Grad-CAM layer), data
   and views; coordinates per those plus method, parameters, seed and library version. A second
   call with the same arguments reads both from disk and computes nothing (and loads no model).
   Computing the features also yields the model's outputs, so when the split's predictions are
   not cached yet the same pass fills :mod:`ferviz.analysis.evaluation`'s prediction cache (same views,
   same probabilities) instead of running the model a second time.
   The table joins the coordinates with the evaluation's shown prediction
   (:func:`ferviz.analysis.evaluation.evaluate`): ``id, x, y, true, pred, confidence, correct``.
"""
from __future__ import annotations

import warnings
import weakref
from importlib import metadata
from typing import Any, Callable

import numpy as np
import pandas as pd

from .. import cache, config
from ..data.splits import FERSplit
from ..errors import AnalysisError
from ..labels import NAMES, width
from ..models import ModelCard, ModelError, ModelMemo, load_model, preprocess

Progress = Callable[[float, str], None]
METHODS: tuple[str, ...] = ("umap", "pca")
VIEWS: tuple[str, ...] = ("tta", "single")
COLUMNS: tuple[str, ...] = ("id", "x", "y", "true", "pred", "confidence", "correct")
UMAP_DEFAULTS: dict[str, Any] = {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean"}
_FEATURES_VERSION = "2"  # 2: keyed by ModelCard.identity
_EMBED_VERSION = "2"  # 2: on features keyed by ModelCard.identity
_UMAP_EXACT_BELOW = 4096  # UMAP computes exact neighbours below this many faces (approximate above)
_SKIPPED_HEADS = ("Softmax", "Activation")  # weightless layers after the classification layer


# ------------------------------------------------------------------ features

def _producer(tensor):
    """The operation and node (in the graph that holds `tensor`) that produced it."""
    hist = getattr(tensor, "_keras_history", None)
    if hist is None:
        return None, None
    op, node_index = hist[0], hist[1]
    return op, op._inbound_nodes[node_index]


def _head(model):
    """The final classification operation of a (functional or sequential) model, the symbolic
    tensor it receives in the model's graph, and the weightless Softmax/Activation layers
    skipped after it (in the order they apply)."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if not outputs or len(outputs) != 1:
        raise ModelError(f"model {getattr(model, 'name', '?')!r} has no single symbolic output; "
                         "the embedding map needs a functional or sequential Keras model")
    t, after = outputs[0], []
    while True:
        op, node = _producer(t)
        if op is None or node is None or not node.input_tensors:
            raise ModelError(f"model {model.name!r}: found no classification layer before its output")
        if type(op).__name__ in _SKIPPED_HEADS and not op.weights:
            after.insert(0, op)
            t = node.input_tensors[0]
            continue
        if len(node.input_tensors) != 1:
            raise ModelError(f"model {model.name!r}: the classification layer {op.name!r} has "
                             f"{len(node.input_tensors)} inputs; expected one")
        return op, node.input_tensors[0], after


def classification_layer(model):
    """The model's final classification layer (looking into a nested model at the end)."""
    import keras

    op, _, _ = _head(model)
    while isinstance(op, keras.Model):
        op, _, _ = _head(op)
    return op


def _extractor(model) -> Callable:
    """A Keras callable: model input -> (classification layer's input, model output), one pass."""
    import keras

    op, t, after = _head(model)
    if len(model.inputs) != 1:
        raise ModelError(f"model {model.name!r} has {len(model.inputs)} inputs; expected one")
    inp = model.inputs[0]
    ident = t is inp
    if isinstance(op, keras.Model):  # nested: the inner model's features of what it receives
        inner = _extractor(op)
        prefix = None if ident else keras.Model(inp, t)

        def nested(x, training=False):
            f, o = inner(x if prefix is None else prefix(x, training=training), training=training)
            for layer in after:  # the weightless Softmax/Activation layers after the nested model
                o = layer(o, training=training)
            return f, o
        return nested
    if ident:  # the model's weak reference: the memo of feature functions must not keep it alive
        try:
            ref = weakref.ref(model)
        except TypeError:
            return lambda x, training=False: (x, model(x, training=training))
        return lambda x, training=False: (x, ref()(x, training=training))
    return keras.Model(inp, [t, model.outputs[0]])


_FEATURE_FUNCTIONS = ModelMemo()  # model object -> its traced feature function (nothing set on the model)


def feature_function(model):
    """A traced function: preprocessed batch -> (penultimate features, model output), built once
    per model object and kept in a weakly keyed memo beside it (dropped with the model). It
    depends on the model alone (preprocessing and views are applied outside it)."""
    return _FEATURE_FUNCTIONS.get(model, "features", lambda: _trace_features(model))


def _trace_features(model):
    import tensorflow as tf

    ext = _extractor(model)
    return tf.function(lambda x: tuple(ext(x, training=False)), reduce_retracing=True)


def _check_views(views: str) -> str:
    if views not in VIEWS:
        raise AnalysisError(f"views must be 'tta' (the card's test-time views, averaged) or 'single', got {views!r}")
    return views


def penultimate_features(model, card: ModelCard, images: np.ndarray, *, batch_size: int = 256,
                         views: str = "tta", with_probs: bool = False, columns: int | None = None,
                         progress: Progress | None = None):
    """The input to the model's final classification layer for uint8 faces (N, H, W), as (N, D)
    float32, preprocessed per `card`. ``views="tta"``: averaged over the card's test-time views
    (as the shown prediction); ``"single"``: the face alone. ModelError if any is non-finite.

    ``with_probs=True`` returns ``(features, probs)``: the same pass's class probabilities
    (N, K), column k = class k of :data:`ferviz.labels.NAMES` (K: `columns`, default enough for the
    card's classes), as :func:`ferviz.analysis.evaluation.predict_probs` computes them (averaged over
    the same views), so a cold embedding need not run the model twice."""
    import tensorflow as tf

    from ..models import output_head
    from .evaluation import as_probabilities, check_finite, tta_views

    _check_views(views)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise AnalysisError(f"batch_size must be a positive integer, got {batch_size!r}")
    imgs = np.asarray(images)
    n = len(imgs)
    if n == 0:
        raise AnalysisError("no images given")
    fn = feature_function(model)
    head = output_head(model)
    tta = card.tta if views == "tta" else None
    feats, probs, bad_p = None, np.zeros((n, max(columns or 0, width(card.classes))), np.float32), 0
    for start in range(0, n, batch_size):
        x = preprocess(imgs[start:start + batch_size], card.input)
        vs = tta_views(x, tta)
        f_sum, p_sum = 0.0, 0.0
        for v in vs:
            f, o = fn(tf.constant(np.ascontiguousarray(v)))
            f_sum = f_sum + f.numpy().reshape(len(x), -1).astype(np.float64)
            if with_probs:
                p_sum = p_sum + as_probabilities(o.numpy(), head)
        if feats is None:
            feats = np.empty((n, f_sum.shape[1]), np.float32)
        feats[start:start + len(x)] = f_sum / len(vs)
        if with_probs:
            p = p_sum / len(vs)
            bad_p += int((~np.isfinite(p)).any(axis=1).sum())
            probs[start:start + len(x)][:, card.output_to_fer] = p
        if progress:
            progress(min(1.0, (start + len(x)) / n), f"features {min(n, start + len(x))}/{n}")
    bad = int((~np.isfinite(feats)).any(axis=1).sum())
    if bad:
        raise ModelError(f"{card.name} ({card.path or card.file}): the penultimate features are NaN or "
                         f"infinite on {bad} of {n} faces; the model's weights are broken")
    if with_probs:
        check_finite(card, bad_p, n)
        return feats, probs
    return feats


# ------------------------------------------------------------------ projection

def _check_method(method: str) -> str:
    m = str(method).strip().lower() if isinstance(method, str) else method
    if m not in METHODS:
        raise AnalysisError(f"unknown embedding method {method!r}; use one of {', '.join(METHODS)}")
    return m


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise AnalysisError(f"seed must be an integer in 0..2**32-1, got {seed!r}")
    return int(seed)


def standardise(features: np.ndarray) -> np.ndarray:
    """Each column centred and scaled to unit variance (float64); constant columns become 0."""
    f = np.asarray(features, np.float64)
    sd = f.std(axis=0)
    return (f - f.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def embed(features: np.ndarray, method: str = "umap", seed: int = 0, **params) -> np.ndarray:
    """2-D coordinates (N, 2) float32 of standardised `features` (N, D) by PCA or UMAP.

    `params` go to :class:`sklearn.decomposition.PCA` or :class:`umap.UMAP` (UMAP defaults:
    n_neighbors=15 (at most N-1), min_dist=0.1, euclidean). Deterministic for a given seed.
    ValueError for an unknown method or parameter, non-finite features, or too few rows
    (UMAP needs 3, PCA 2)."""
    method = _check_method(method)
    seed = _check_seed(seed)
    f = np.asarray(features)
    if f.ndim != 2 or f.shape[1] < 1:
        raise AnalysisError(f"features must be a 2-D array (N, D), got shape {f.shape}")
    if not np.issubdtype(f.dtype, np.number) or np.issubdtype(f.dtype, np.complexfloating):
        raise AnalysisError(f"features must be real numbers, got dtype {f.dtype}")
    n = f.shape[0]
    need = 3 if method == "umap" else 2
    if n < need:
        raise AnalysisError(f"{method.upper()} needs at least {need} faces, got {n}")
    bad = ~np.isfinite(f)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise AnalysisError(f"features contain {int(bad.sum())} non-finite values (NaN or infinite) in "
                         f"{len(rows)} of {n} rows (first: {rows[:5].tolist()})")
    z = standardise(f)
    if method == "pca":
        xy = _pca(z, seed, params)
    else:
        xy = _umap(z, seed, params)
    xy = np.asarray(xy, np.float32)
    if xy.shape != (n, 2) or not np.isfinite(xy).all():
        raise AnalysisError(f"{method.upper()} gave no finite 2-D layout for these features")
    return xy


def _check_params(cls, params: dict, method: str) -> None:
    fixed = {"random_state", "n_components"} & set(params)
    if fixed:
        raise AnalysisError(f"{', '.join(sorted(fixed))} cannot be set: the map is 2-D and `seed` sets the random state")
    unknown = set(params) - set(cls().get_params())
    if unknown:
        raise AnalysisError(f"unknown {method.upper()} parameter(s): {', '.join(sorted(unknown))}")


def _pca(z: np.ndarray, seed: int, params: dict) -> np.ndarray:
    from sklearn.decomposition import PCA

    _check_params(PCA, params, "pca")
    k = min(2, z.shape[0], z.shape[1])
    out = PCA(n_components=k, random_state=seed, **params).fit_transform(z)
    if k < 2:
        out = np.hstack([out, np.zeros((len(out), 2 - k))])
    return out


def _umap(z: np.ndarray, seed: int, params: dict) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap

    _check_params(umap.UMAP, params, "umap")
    kw = {**UMAP_DEFAULTS, **params}
    kw["n_neighbors"] = max(2, min(int(kw["n_neighbors"]), z.shape[0] - 1))
    kw.update(n_components=2, random_state=seed, n_jobs=1)
    if z.shape[0] <= kw["n_neighbors"] + 2:  # spectral init needs more points than neighbours
        kw.setdefault("init", "random")
        if kw["init"] == "spectral":
            kw["init"] = "random"
    x = z
    if kw["metric"] == "euclidean" and z.shape[0] < _UMAP_EXACT_BELOW and not kw.get("force_approximation_algorithm"):
        # UMAP's own small-data path: exact distances, but through a Python callable per pair
        # (~10 s for 3,589 faces); the same matrix from scikit-learn's BLAS path takes ~0.1 s
        from sklearn.metrics import pairwise_distances

        x, kw["metric"] = pairwise_distances(z, metric="euclidean"), "precomputed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", small-data notes
        try:
            return umap.UMAP(**kw).fit_transform(x)
        except TypeError as e:
            raise AnalysisError(f"bad UMAP parameter: {e}") from None


# ------------------------------------------------------------------ selection

def box_bounds(box) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1), each pair ordered, of a box given as Streamlit's box selection gives it
    (``{"x": [a, b], "y": [c, d]}``), as plotly keeps it (``{"x0", "x1", "y0", "y1"}``), or as a
    sequence ``(x0, x1, y0, y1)``. AnalysisError for anything else."""
    try:
        if isinstance(box, dict) and "x" in box and "y" in box:
            (a, b), (c, d) = box["x"], box["y"]
        elif isinstance(box, dict):
            a, b, c, d = box["x0"], box["x1"], box["y0"], box["y1"]
        else:
            a, b, c, d = box
        a, b, c, d = (float(v) for v in (a, b, c, d))
    except (KeyError, TypeError, ValueError):
        raise AnalysisError(f"a box is x and y ranges, got {box!r}") from None
    if not all(np.isfinite((a, b, c, d))):
        raise AnalysisError(f"a box needs finite corners, got {box!r}")
    return min(a, b), max(a, b), min(c, d), max(c, d)


def in_box(x, y, box) -> np.ndarray:
    """Which points (x, y) lie in `box` (see :func:`box_bounds`), edges included: the one rule
    the embedding page's box selection and its tests count faces by. Compared in float64 (the
    table's float32 coordinates convert exactly)."""
    x0, x1, y0, y1 = box_bounds(box)
    xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)


# ------------------------------------------------------------------ cache

def _features_key(card: ModelCard, split: FERSplit, views: str) -> str:
    """The model's identity (:meth:`ModelCard.identity`), the data and the views."""
    return cache.key_hash("features", card.identity().key, split.data_hash, card.tta if views == "tta" else None,
                          views, _FEATURES_VERSION)


def features_cache_path(card: ModelCard, split: FERSplit, views: str = "tta"):
    key = _features_key(card, split, _check_views(views))
    return config.cache_dir() / "features" / f"{card.key}-{split.split}-{key}.npz"


def _library_version(method: str) -> str:
    try:
        return metadata.version("umap-learn" if method == "umap" else "scikit-learn")
    except metadata.PackageNotFoundError:
        return "?"


def embedding_cache_path(card: ModelCard, split: FERSplit, method: str = "umap", seed: int = 0,
                         views: str = "tta", params: dict | None = None):
    method, seed, views = _check_method(method), _check_seed(seed), _check_views(views)
    key = cache.key_hash("embedding", _features_key(card, split, views), method, seed, dict(params or {}),
                         _library_version(method), _EMBED_VERSION)
    return config.cache_dir() / "embeddings" / f"{card.key}-{split.split}-{method}-{key}.npz"


def cached_features(model, card: ModelCard, split: FERSplit, *, views: str = "tta", use_cache: bool = True,
                    progress: Progress | None = None) -> np.ndarray:
    """`penultimate_features` of a split, from the disk cache when model, card and data match
    (`model` may be None: it is loaded only if the features must be computed)."""
    return _cached_features(model, card, split, views, use_cache, progress)[0]


def _cached_features(model, card, split, views, use_cache, progress):
    """(features, the model if one was loaded or given). When the features are computed and the
    split's predictions are not cached yet, the same pass also fills the prediction cache."""
    from .evaluation import columns, prediction_cache_path

    path = features_cache_path(card, split, views)
    got = cache.load_arrays(path) if use_cache else None
    if got is not None and got.get("features") is not None and got["features"].shape[:1] == (len(split),):
        return got["features"], model
    model = model if model is not None else load_model(card)
    ppath = prediction_cache_path(card, split)
    fuse = (views == "tta" or card.tta is None) and not ppath.is_file()  # the shown prediction's views
    out = penultimate_features(model, card, split.images, views=views, with_probs=fuse,
                               columns=columns(card, split), progress=progress)
    feats = out[0] if fuse else out
    cache.save_arrays(path, features=feats)
    if fuse:
        cache.save_arrays(ppath, probs=out[1])
    return feats, model


def cached_embedding(model, card: ModelCard, split: FERSplit, method: str = "umap", seed: int = 0, *,
                     views: str = "tta", params: dict | None = None, use_cache: bool = True,
                     progress: Progress | None = None) -> pd.DataFrame:
    """One row per face of `split`: ``id, x, y, true, pred, confidence, correct`` (class names;
    pred and confidence are the evaluation's shown prediction), and ``scored`` when some faces are
    of a class the model cannot output (those are counted apart: neither correct nor errors). Coordinates come from the disk
    cache when model, card input/TTA, data, views, method, params and seed match; otherwise
    features (themselves cached) are computed and projected. `model` may be None (loaded only
    when needed). ``df.attrs`` records method, seed, views, params and whether it was cached."""
    method, seed, views = _check_method(method), _check_seed(seed), _check_views(views)
    params = dict(params or {})
    n = len(split)
    path = embedding_cache_path(card, split, method, seed, views, params)
    got = cache.load_arrays(path) if use_cache else None
    from_cache = got is not None and got.get("xy") is not None and got["xy"].shape == (n, 2)
    if from_cache:
        xy = got["xy"]
    else:
        step = (lambda f, t: progress(0.8 * f, t)) if progress else None
        feats, model = _cached_features(model, card, split, views, use_cache, step)
        if progress:
            progress(0.8, f"{method.upper()} of {n} faces")
        xy = embed(feats, method, seed, **params)
        cache.save_arrays(path, xy=xy)
    from .evaluation import evaluate

    ev = evaluate(card, split, model=model)
    preds = ev.preds
    df = pd.DataFrame({
        "id": split.ids.astype(str),
        "x": xy[:, 0].astype(np.float32),
        "y": xy[:, 1].astype(np.float32),
        "true": np.array(NAMES, dtype=object)[split.labels],
        "pred": np.array(NAMES, dtype=object)[preds],
        "confidence": ev.probs[np.arange(n), preds].astype(np.float32),
        "correct": ev.correct,
    })
    if ev.n_outside:
        df["scored"] = ev.scored
    df.attrs.update(method=method, seed=seed, views=views, params=params, from_cache=bool(from_cache),
                    model=card.name, split=split.split)
    if progress:
        progress(1.0, "done")
    return df
