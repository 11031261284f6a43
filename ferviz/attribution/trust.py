"""Which method to trust: faithfulness with intervals, a model-randomisation sanity check, blank
maps and cost, one row per method (``python -m ferviz trust``); and the same faithfulness per
candidate Grad-CAM layer (``python -m ferviz layers``).

* **Faithfulness**: deletion and insertion AUC (:mod:`ferviz.attribution.faithfulness`) of each map and of a
  random pixel order, with bootstrap 95% intervals of the mean over faces.
* **Sanity check** (Adebayo et al. 2018, "Sanity checks for saliency maps", cascading model
  parameter randomisation): the weights are re-initialised layer by layer from the top (output)
  down; ``mprt_spearman`` is the Spearman rank correlation, per face, between the map of the
  trained model and that of the fully randomised model, averaged over faces. A method whose
  maps depend on what the model learned scores low; one that scores high mostly shows the image
  (edges, brightness). A blank map of the trained model ranks nothing, so that face is left out
  (NaN); a blank map of the randomised model against a real one counts as 0. A method passes when
  its interval's upper end is below :data:`SANITY_THRESHOLD` and no more than half its maps are blank.
  Re-initialisation follows Keras's defaults: Glorot-uniform kernels, zero biases, batch-norm
  gamma 1 / beta 0 / moving mean 0 / moving variance 1; any other weight is shuffled.
* **Blank share**: maps with no positive evidence (:func:`.base.blank_maps`).
* **Seconds per face**: wall time of the method on the sample, maps computed fresh.

Every map, probability and check follows the same views (the card's test-time views by default).
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import AttributionError
from ..models import ModelCard

Progress = Callable[[float, str], None]
_VERSION = "2"  # 2: keyed by ModelCard.identity
#: a method passes the randomisation check when the upper end of its correlation's 95% interval is
#: below this: its maps share less than half their ranking with a model that learned nothing
SANITY_THRESHOLD = 0.5


def bootstrap_ci(values: np.ndarray, *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaNs dropped)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def weighted_layers(model) -> list:
    """Top-level layers that hold weights, input side first."""
    return [layer for layer in model.layers if layer.weights]


def _reinit(var, rng: np.random.Generator) -> np.ndarray:
    name = var.path.split("/")[-1] if hasattr(var, "path") else var.name
    shape = tuple(var.shape)
    if "kernel" in name and len(shape) >= 2:
        receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)
    if name in ("bias", "beta", "moving_mean"):
        return np.zeros(shape, np.float32)
    if name in ("gamma", "moving_variance"):
        return np.ones(shape, np.float32)
    values = np.asarray(var.numpy()).ravel().copy()
    rng.shuffle(values)
    return values.reshape(shape)


def randomised_model(model, top: int | None = None, seed: int = 0):
    """A copy of `model` whose `top` highest weighted layers (all when None) are re-initialised;
    the rest keep the trained weights. The model passed in is not changed."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    layers = weighted_layers(copy)
    k = len(layers) if top is None else int(top)
    rng = np.random.default_rng(seed)
    for layer in layers[len(layers) - k:][::-1]:  # top down, so a seed gives the same cascade
        for var in layer.weights:
            var.assign(_reinit(var, rng))
    return copy


def spearman_per_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each pair of maps (N, H, W): NaN where the first (trained) map is
    constant, 0 where only the second is."""
    from scipy.stats import rankdata

    a2 = np.asarray(a, np.float64).reshape(len(a), -1)
    b2 = np.asarray(b, np.float64).reshape(len(b), -1)
    out = np.zeros(len(a2))
    for i, (x, y) in enumerate(zip(a2, b2)):
        if not np.ptp(x) > 0:
            out[i] = np.nan
        elif np.ptp(y) > 0:
            out[i] = np.corrcoef(rankdata(x), rankdata(y))[0, 1]
    return out


def mprt(model, card: ModelCard, faces: np.ndarray, targets: np.ndarray, method: str, *,
         maps: np.ndarray | None = None, views: str = "tta", seed: int = 0, stages: Sequence[int] | None = None,
         **params: Any) -> dict[int, np.ndarray]:
    """Per-face Spearman correlation between the trained model's maps and those of models with the
    top k weighted layers re-initialised, for each k in `stages` (default: all layers)."""
    from . import explain

    if maps is None:
        maps = explain(model, card, faces, targets, method, views=views, **params)
    n_layers = len(weighted_layers(model))
    out = {}
    for k in (stages or [n_layers]):
        rnd = randomised_model(model, k, seed)
        out[int(k)] = spearman_per_map(maps, explain(rnd, card, faces, targets, method, views=views, **params))
    return out


def _interval_columns(row: dict, name: str, values: np.ndarray, seed: int) -> None:
    lo, hi = bootstrap_ci(values, seed=seed)
    row[name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi


def trust_table(model, card: ModelCard, faces: np.ndarray, targets: np.ndarray, methods: Sequence[str], *,
                views: str = "tta", seed: int = 0, steps: int = 16, progress: Progress | None = None) -> pd.DataFrame:
    """One row per method: deletion/insertion AUC and their random-order references with bootstrap
    95% intervals, ``mprt_spearman`` (with its interval), ``blank_share``, ``seconds_per_face``."""
    from . import explain, get_explainer
    from .base import blank_maps
    from .faithfulness import deletion_insertion

    rows = []
    for j, method in enumerate(methods):
        report = (lambda f, t, j=j: progress((j + f) / len(methods), t)) if progress else None
        if report:
            report(0.0, f"{method}: maps")
        explain(model, card, faces[:1], targets[:1], method, views=views)  # trace once: not timed
        t0 = time.perf_counter()
        maps = explain(model, card, faces, targets, method, views=views)
        seconds = (time.perf_counter() - t0) / len(faces)
        if report:
            report(0.3, f"{method}: deletion/insertion")
        res = deletion_insertion(model, card, faces, maps, targets, steps=steps, seed=seed, views=views)
        if report:
            report(0.6, f"{method}: randomised model")
        rho = mprt(model, card, faces, targets, method, maps=maps, views=views, seed=seed)
        rho = next(iter(rho.values()))
        explainer = get_explainer(model, card, method)
        row: dict[str, Any] = {"method": method, "n": len(faces), "views": explainer.tta_of(views) or "single",
                               "layer": getattr(explainer, "layer", "")}
        for name, attr in (("deletion_auc", "deletion_auc"), ("random_deletion_auc", "random_deletion_auc"),
                           ("insertion_auc", "insertion_auc"), ("random_insertion_auc", "random_insertion_auc")):
            _interval_columns(row, name, np.array([getattr(r, attr) for r in res]), seed)
        row["deletion_beats_random"] = float(np.mean([r.deletion_auc < r.random_deletion_auc for r in res]))
        row["insertion_beats_random"] = float(np.mean([r.insertion_auc > r.random_insertion_auc for r in res]))
        _interval_columns(row, "mprt_spearman", rho, seed)
        row["mprt_faces"] = int(np.isfinite(rho).sum())
        row["blank_share"] = float(blank_maps(maps).mean())
        row["passes_sanity_check"] = bool(np.isfinite(row["mprt_spearman_hi"])
                                          and row["mprt_spearman_hi"] < SANITY_THRESHOLD
                                          and row["blank_share"] <= 0.5)
        row["seconds_per_face"] = seconds
        rows.append(row)
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(rows)


def candidate_layers(model, limit: int = 10) -> list[str]:
    """The last `limit` top-level spatial layers (convs, their normalisations and activations, pools)."""
    from .gradients import spatial_layers

    skip = ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout")  # identity at inference
    return [layer.name for layer in spatial_layers(model) if type(layer).__name__ not in skip][-int(limit):]


def layer_table(model, card: ModelCard, faces: np.ndarray, targets: np.ndarray, layers: Sequence[str], *,
                method: str = "gradcam", views: str = "tta", seed: int = 0, steps: int = 16,
                progress: Progress | None = None) -> pd.DataFrame:
    """One row per candidate layer: Grad-CAM (or Grad-CAM++) deletion/insertion AUC with intervals,
    the random references, and the share of blank maps; `default` marks the layer ferviz uses."""
    from . import explain
    from .base import blank_maps
    from .faithfulness import deletion_insertion
    from .gradients import gradcam_layer

    if method not in ("gradcam", "gradcampp"):
        raise AttributionError(f"layers are compared with gradcam or gradcampp, not {method!r}")
    default = gradcam_layer(model, card)
    rows = []
    for j, name in enumerate(layers):
        if progress:
            progress(j / len(layers), f"layer {name}")
        c = replace(card, gradcam_layer=name)
        maps = explain(model, c, faces, targets, method, views=views)
        res = deletion_insertion(model, c, faces, maps, targets, steps=steps, seed=seed, views=views)
        row: dict[str, Any] = {"layer": name, "kind": type(model.get_layer(name)).__name__,
                               "default": name == default}
        for attr in ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"):
            _interval_columns(row, attr, np.array([getattr(r, attr) for r in res]), seed)
        row["blank_share"] = float(blank_maps(maps).mean())
        rows.append(row)
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(rows)


def sample_positions(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """`n` distinct positions out of `n_total`, drawn with `seed`, in increasing order."""
    if n < 1:
        raise AttributionError(f"--n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, size=min(n, n_total), replace=False))


def trust_cache_path(card: ModelCard, split, methods: Sequence[str], *, n: int = 64, seed: int = 0,
                     views: str = "tta", steps: int = 16):
    """Where :func:`cached_trust_table` keeps a table: keyed by the model's identity
    (:meth:`ModelCard.identity`: file, input, classes, views, Grad-CAM layer), the data and every setting."""
    from .. import cache, config
    from .cache import _VERSION as maps_version

    key = cache.key_hash(_VERSION, maps_version, card.identity().key, split.data_hash, list(methods), n, seed,
                         views, steps)
    return config.cache_dir() / "trust" / f"{card.key}-{split.split}-{key}.csv"


def load_cached_trust(path) -> pd.DataFrame | None:
    """A cached trust table, or None when absent or unreadable."""
    try:
        return pd.read_csv(path) if path.exists() else None
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def cached_trust_table(model, card: ModelCard, split, methods: Sequence[str], *, n: int = 64, seed: int = 0,
                       views: str = "tta", steps: int = 16, use_cache: bool = True,
                       progress: Progress | None = None) -> pd.DataFrame:
    """:func:`trust_table` on `n` faces of a FERSplit drawn with `seed`, targets the shown
    (test-time averaged) prediction, cached on disk per model file, data and settings."""
    from ..analysis.evaluation import evaluate
    from .base import check_views

    check_views(views)
    path = trust_cache_path(card, split, methods, n=n, seed=seed, views=views, steps=steps)
    hit = load_cached_trust(path) if use_cache else None
    if hit is not None:
        return hit
    pos = sample_positions(len(split), n, seed)
    probs = evaluate(card, split, model=model).probs[pos]
    targets = probs.argmax(axis=1)
    df = trust_table(model, card, split.images[pos], targets, methods, views=views, seed=seed, steps=steps,
                     progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
    return df
