"""Which method to trust: faithfulness with intervals, model-randomisation sanity checks,
robustness, blank maps and cost, one row per method (``python -m ferviz trust``); and the same
faithfulness per candidate Grad-CAM layer (``python -m ferviz layers``).

* **Faithfulness**: deletion and insertion AUC (:mod:`ferviz.attribution.faithfulness`) and ROAD
  (the most relevant pixels imputed from their neighbours, the share of steps at which the
  prediction is kept) of each map, of a random pixel order and of a blurred random map (the control:
  blurry maps win at deletion and ROAD without knowing the model), with bootstrap 95% intervals of
  the mean over faces.
* **Sanity checks** (:mod:`.randomisation`): the cascade of Adebayo et al. (2018), one Spearman
  correlation per stage (a weighted layer and its batch norm), re-initialising from the top down to
  the fully randomised model; ``mprt_spearman`` is its end point. Faces whose trained or randomised
  map is blank are left out (``mprt_blank_randomised`` counts the latter). A method passes
  (``passes_sanity_check``) when the upper end of the end point's 95% interval is below
  :data:`SANITY_THRESHOLD`, at least half the faces were scored, and no more than half its maps are
  blank; the check is on the map shown. For integrated gradients, whose shown map is the positive
  part (ties about half the pixels at 0), the same check on the absolute attribution (as Adebayo et al.)
  is reported beside it (``mprt_spearman_abs``, ``passes_sanity_check_abs``) but does not decide.
  eMPRT and sMPRT (Hedström et al. 2024) are reported beside the cascade.
* **Robustness** (:mod:`.robustness`): for a little noise, a 1-pixel shift and a small brightness change
  that leave the prediction unchanged, the rank correlation with the original map and Quantus's
  max-sensitivity.
* **Blank share**: maps with no positive evidence (:func:`.base.blank_maps`).
* **Seconds per face**: wall time of the method on the sample, maps computed fresh.

Every map, probability and check follows the same views (the card's test-time views by default).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AttributionError
from ..models import ModelCard
from .randomisation import (
    blank_pairs,
    cascade,
    cascade_stages,
    emprt,
    randomised_model,
    smoothed_maps,
    spearman_per_map,
    weighted_layers,
)

Progress = Callable[[float, str], None]
_VERSION = "3"  # 2: keyed by ModelCard.identity; 3: cascade, ROAD, controls, eMPRT/sMPRT, robustness
#: a method passes the randomisation check when the upper end of its correlation's 95% interval is
#: below this: its maps share less than half their ranking with a model that learned nothing
SANITY_THRESHOLD = 0.5
#: sMPRT's noisy copies per face (the last noise-free); Hedström et al. use 50 on ImageNet
SMPRT_SAMPLES = 4
SMPRT_NOISE = 0.1
CASCADE_COLUMNS = ["method", "map", "stage", "layer", "layers_randomised", "spearman", "spearman_lo",
                   "spearman_hi", "faces", "blank_randomised"]


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


def method_maps(model, card: ModelCard, faces: np.ndarray, targets: np.ndarray, method: str,
                views: str = "tta") -> dict[str, np.ndarray]:
    """The maps a method shows (``"shown"``); for integrated gradients also the absolute attribution
    (``"absolute"``), both from one pass (the same maps as ``explain(..., sign=...)``)."""
    from . import explain, get_explainer

    if method != "ig":
        return {"shown": explain(model, card, faces, targets, method, views=views)}
    from ..models import preprocess
    from .base import Explainer, check_images, fer_targets, finish, output_indices

    ex = get_explainer(model, card, "ig")
    f = check_images(faces)
    p = ex.params()
    x = preprocess(f, card.input)
    out_idx = output_indices(card, fer_targets(targets, len(f)))
    signed = Explainer.raw_views(ex, x, out_idx, f, ex.tta_of(views), steps=p["steps"],
                                 batch_size=p["batch_size"], sign="signed")
    return {"shown": finish(np.maximum(signed, 0.0), f.shape[1:]), "absolute": finish(np.abs(signed), f.shape[1:])}


def _interval_columns(row: dict, name: str, values: np.ndarray, seed: int) -> None:
    lo, hi = bootstrap_ci(values, seed=seed)
    row[name] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi


def _predict_fer(model, card: ModelCard, views: str) -> Callable[[np.ndarray], np.ndarray]:
    from .faithfulness import view_probs

    tta = card.tta if views == "tta" else None
    order = np.asarray(card.output_to_fer)
    return lambda x: order[view_probs(model, card, x, tta=tta).argmax(axis=1)]


def _explainer_of(model, card: ModelCard, method: str, targets: np.ndarray,
                  views: str) -> Callable[[np.ndarray], np.ndarray]:
    from . import explain

    return lambda x: explain(model, card, x, targets, method, views=views)


def _passes(hi: float, faces: int, n: int, blank_share: float) -> bool:
    return bool(np.isfinite(hi) and hi < SANITY_THRESHOLD and faces >= n / 2 and blank_share <= 0.5)


def trust_tables(model, card: ModelCard, faces: np.ndarray, targets: np.ndarray, methods: Sequence[str], *,
                 views: str = "tta", seed: int = 0, steps: int = 16, smprt_samples: int = SMPRT_SAMPLES,
                 robust: bool = True, progress: Progress | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trust table (one row per method, see the module) and the randomisation cascade (one row
    per method, map and stage: the Spearman correlation with the trained model's map)."""
    from . import explain, get_explainer
    from .base import blank_maps, check_views
    from .faithfulness import blurred_random_maps, deletion_insertion, road
    from .robustness import robustness

    check_views(views)
    n = len(faces)
    say = progress or (lambda f, t: None)
    n_stages = len(cascade_stages(model))
    # work units: per method its maps and checks (3 + robustness), each stage, sMPRT
    units = len(methods) * (4 if robust else 3) + n_stages + 2
    done = [0]

    def step(text: str) -> None:
        say(min(done[0] / units, 0.999), text)
        done[0] += 1

    step("blurred random map (control)")
    blur = blurred_random_maps(n, faces.shape[1:], seed=seed)
    blur_di = deletion_insertion(model, card, faces, blur, targets, steps=steps, seed=seed, views=views)
    blur_road = road(model, card, faces, blur, targets, steps=steps, seed=seed, views=views)
    predict = _predict_fer(model, card, views)
    rows, trained = [], {}
    for method in methods:
        step(f"{method}: maps")
        explain(model, card, faces[:1], targets[:1], method, views=views)  # trace once: not timed
        t0 = time.perf_counter()
        trained[method] = method_maps(model, card, faces, targets, method, views)
        seconds = (time.perf_counter() - t0) / n
        maps = trained[method]["shown"]
        step(f"{method}: deletion/insertion")
        res = deletion_insertion(model, card, faces, maps, targets, steps=steps, seed=seed, views=views)
        step(f"{method}: ROAD")
        rd = road(model, card, faces, maps, targets, steps=steps, seed=seed, views=views)
        explainer = get_explainer(model, card, method)
        row: dict[str, Any] = {"method": method, "n": n, "views": explainer.tta_of(views) or "single",
                               "layer": getattr(explainer, "layer", "")}
        for name, attr in (("deletion_auc", "deletion_auc"), ("random_deletion_auc", "random_deletion_auc"),
                           ("insertion_auc", "insertion_auc"), ("random_insertion_auc", "random_insertion_auc")):
            _interval_columns(row, name, np.array([getattr(r, attr) for r in res]), seed)
        _interval_columns(row, "blur_deletion_auc", np.array([r.deletion_auc for r in blur_di]), seed)
        _interval_columns(row, "blur_insertion_auc", np.array([r.insertion_auc for r in blur_di]), seed)
        row["deletion_beats_random"] = float(np.mean([r.deletion_auc < r.random_deletion_auc for r in res]))
        row["insertion_beats_random"] = float(np.mean([r.insertion_auc > r.random_insertion_auc for r in res]))
        row["deletion_beats_blur"] = float(np.mean([r.deletion_auc < b.deletion_auc for r, b in zip(res, blur_di)]))
        _interval_columns(row, "road", rd.road, seed)
        _interval_columns(row, "random_road", rd.random_road, seed)
        _interval_columns(row, "blur_road", blur_road.road, seed)
        row["road_beats_random"] = float(np.mean(rd.road < rd.random_road))
        row["road_beats_blur"] = float(np.mean(rd.road < blur_road.road))
        if robust:
            step(f"{method}: robustness")
            rb = robustness(maps, faces, targets,
                            lambda x, t, m=method: explain(model, card, x, t, m, views=views), predict, seed=seed)
            _interval_columns(row, "robust_spearman", rb["robust_spearman"], seed)
            _interval_columns(row, "max_sensitivity", rb["max_sensitivity"], seed)
            row["robust_faces"] = int(np.isfinite(rb["max_sensitivity"]).sum())
        row["blank_share"] = float(blank_maps(maps).mean())
        row["seconds_per_face"] = seconds
        rows.append(row)

    # the cascade: one copy of the model, re-initialised one stage more at a time, top down
    steps_rows, final = [], {}
    for stage, name, rnd in cascade(model, seed):
        step(f"randomised model: stage {stage}/{n_stages} ({name})")
        n_layers = sum(len(g) for g in cascade_stages(model)[::-1][:stage])
        for method in methods:
            for variant, rnd_maps in method_maps(rnd, card, faces, targets, method, views).items():
                rho = spearman_per_map(trained[method][variant], rnd_maps)
                lo, hi = bootstrap_ci(rho, seed=seed)
                steps_rows.append({"method": method, "map": variant, "stage": stage, "layer": name,
                                   "layers_randomised": n_layers,
                                   "spearman": float(np.nanmean(rho)) if np.isfinite(rho).any() else np.nan,
                                   "spearman_lo": lo, "spearman_hi": hi, "faces": int(np.isfinite(rho).sum()),
                                   "blank_randomised": blank_pairs(trained[method][variant], rnd_maps)})
                if stage == n_stages:
                    final[(method, variant)] = (rho, rnd_maps)
        if stage == n_stages:
            step("sMPRT: denoised maps of both models")
            for method, row in zip(methods, rows):
                if smprt_samples >= 1:
                    a = smoothed_maps(_explainer_of(model, card, method, targets, views), faces, smprt_samples,
                                      SMPRT_NOISE, seed, clean=trained[method]["shown"])
                    b = smoothed_maps(_explainer_of(rnd, card, method, targets, views), faces, smprt_samples,
                                      SMPRT_NOISE, seed, clean=final[(method, "shown")][1])
                    _interval_columns(row, "smprt_spearman", spearman_per_map(a, b), seed)
                    row["smprt_samples"] = int(smprt_samples)

    for method, row in zip(methods, rows):
        rho, rnd_maps = final[(method, "shown")]
        _interval_columns(row, "mprt_spearman", rho, seed)
        row["mprt_faces"] = int(np.isfinite(rho).sum())
        row["mprt_blank_randomised"] = blank_pairs(trained[method]["shown"], rnd_maps)
        row["mprt_stages"] = n_stages
        row["passes_sanity_check"] = _passes(row["mprt_spearman_hi"], row["mprt_faces"], n, row["blank_share"])
        if (method, "absolute") in final:
            rho_abs = final[(method, "absolute")][0]
            _interval_columns(row, "mprt_spearman_abs", rho_abs, seed)
            row["passes_sanity_check_abs"] = _passes(row["mprt_spearman_abs_hi"], int(np.isfinite(rho_abs).sum()), n,
                                                     float(blank_maps(trained[method]["absolute"]).mean()))
        else:
            row["mprt_spearman_abs"] = row["mprt_spearman_abs_lo"] = row["mprt_spearman_abs_hi"] = np.nan
            row["passes_sanity_check_abs"] = np.nan
        _interval_columns(row, "emprt", emprt(trained[method]["shown"], rnd_maps), seed)
    say(1.0, "done")
    table = pd.DataFrame(rows)
    order = [c for c in TABLE_COLUMNS if c in table.columns]
    return table[order + [c for c in table.columns if c not in order]], pd.DataFrame(steps_rows, columns=CASCADE_COLUMNS)


def _ci(name: str) -> list[str]:
    return [name, f"{name}_lo", f"{name}_hi"]


#: the trust table's columns, in order (robustness and sMPRT only when computed)
TABLE_COLUMNS = ["method", "n", "views", "layer",
                 *_ci("deletion_auc"), *_ci("random_deletion_auc"), *_ci("blur_deletion_auc"),
                 *_ci("insertion_auc"), *_ci("random_insertion_auc"), *_ci("blur_insertion_auc"),
                 "deletion_beats_random", "insertion_beats_random", "deletion_beats_blur",
                 *_ci("road"), *_ci("random_road"), *_ci("blur_road"), "road_beats_random", "road_beats_blur",
                 *_ci("mprt_spearman"), "mprt_faces", "mprt_blank_randomised", "mprt_stages", "passes_sanity_check",
                 *_ci("mprt_spearman_abs"), "passes_sanity_check_abs", *_ci("emprt"), *_ci("smprt_spearman"),
                 "smprt_samples", *_ci("robust_spearman"), *_ci("max_sensitivity"), "robust_faces",
                 "blank_share", "seconds_per_face"]


def trust_table(model, card: ModelCard, faces: np.ndarray, targets: np.ndarray, methods: Sequence[str], *,
                views: str = "tta", seed: int = 0, steps: int = 16, progress: Progress | None = None,
                **kw: Any) -> pd.DataFrame:
    """The trust table alone (:func:`trust_tables` without its cascade)."""
    return trust_tables(model, card, faces, targets, methods, views=views, seed=seed, steps=steps,
                        progress=progress, **kw)[0]


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
    """Where :func:`cached_trust_tables` keeps a table (its cascade beside it, :func:`cascade_path`):
    keyed by the model's identity (:meth:`ModelCard.identity`: file, input, classes, views, Grad-CAM
    layer), the data and every setting."""
    from .. import cache, config
    from .cache import _VERSION as maps_version

    key = cache.key_hash(_VERSION, maps_version, card.identity().key, split.data_hash, list(methods), n, seed,
                         views, steps, SMPRT_SAMPLES)
    return config.cache_dir() / "trust" / f"{card.key}-{split.split}-{key}.csv"


def cascade_path(path):
    """The cascade table kept beside a cached trust table."""
    return path.with_name(path.stem + ".cascade.csv")


def load_cached_trust(path) -> pd.DataFrame | None:
    """A cached trust table, or None when absent or unreadable."""
    try:
        return pd.read_csv(path) if path.exists() else None
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def load_cached_cascade(path) -> pd.DataFrame | None:
    """The cascade beside a cached trust table (`path`), or None."""
    return load_cached_trust(cascade_path(path))


def shown_targets(model, card: ModelCard, split, positions: np.ndarray, views: str = "tta") -> np.ndarray:
    """The prediction the maps explain, per face: the card's test-time average (``evaluate``'s, cached)
    for ``views="tta"``, one forward pass for ``views="single"``."""
    from ..analysis.evaluation import evaluate, predict_probs
    from .base import check_views

    if check_views(views) == "single":
        return predict_probs(model, replace(card, tta=None), split.images[positions]).argmax(axis=1)
    return evaluate(card, split, model=model).probs[positions].argmax(axis=1)


def _write(df: pd.DataFrame, path) -> None:
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)


def cached_trust_tables(model, card: ModelCard, split, methods: Sequence[str], *, n: int = 64, seed: int = 0,
                        views: str = "tta", steps: int = 16, use_cache: bool = True,
                        progress: Progress | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`trust_tables` on `n` faces of a FERSplit drawn with `seed`, targets the prediction the
    views show (:func:`shown_targets`), cached on disk per model file, data and settings."""
    from .base import check_views

    check_views(views)
    path = trust_cache_path(card, split, methods, n=n, seed=seed, views=views, steps=steps)
    if use_cache:
        hit, hit_cascade = load_cached_trust(path), load_cached_cascade(path)
        if hit is not None and hit_cascade is not None:
            return hit, hit_cascade
    pos = sample_positions(len(split), n, seed)
    targets = shown_targets(model, card, split, pos, views)
    df, steps_df = trust_tables(model, card, split.images[pos], targets, methods, views=views, seed=seed,
                                steps=steps, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(steps_df, cascade_path(path))
    _write(df, path)
    return df, steps_df


def cached_trust_table(model, card: ModelCard, split, methods: Sequence[str], **kw: Any) -> pd.DataFrame:
    """The trust table of :func:`cached_trust_tables` alone."""
    return cached_trust_tables(model, card, split, methods, **kw)[0]
