"""Are the maps faithful? Deletion and insertion curves (Petsiuk et al., RISE, 2018).

Pixels are removed (deletion: set to the fill) or revealed (insertion: start from the
fill) in order of attribution, most important first, in `steps` equal steps, while the
model's probability for the target class is followed; the area under each curve
summarises it (deletion: lower is better; insertion: higher is better). The same curves
for random pixel orders are the reference a useful map must beat. The fill is the face's
mean grey (``"mean"``, default) or a Gaussian blur of it (``"blur"``). Ties in a map
(XRAI's flat segments) are broken at random. Probabilities follow the same views as the maps:
``views="tta"`` (default) averages them over the card's test-time views, the prediction that is
shown; ``views="single"`` uses one forward pass. All variants run in batches.

**ROAD** (Rong et al. 2022, "A Consistent and Efficient Evaluation Strategy for Attribution
Methods"; as Quantus's ``ROAD``): the most relevant pixels are not set to a fill but *imputed*
from their neighbours (noisy linear imputation: each removed pixel is the weighted mean of its 8
neighbours, edge neighbours 1/6, corner 1/12, solved as one sparse linear system, plus Gaussian noise
of 0.01 of the pixel range), so the removal itself leaks less of the removed shape to the model. At the
midpoints of `steps` equal fractions the model's prediction (same views) is compared with the target;
the ROAD score of a face is the share of fractions at which the prediction is kept (the area under
Quantus's MoRF accuracy curve; lower is more faithful), beside the same for a random order.

A **blurred random map** (:func:`blurred_random_maps`) is the control both measures need: removing
smooth blobs hurts a face more than scattered pixels, so a blurry map beats a random pixel order
without knowing anything about the model; a method should beat the blurred random map too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import AttributionError
from ..models import ModelCard, preprocess
from .base import check_images, fer_targets, output_indices
from .gradients import score_model

FILLS = ("mean", "blur")


@dataclass(frozen=True)
class Faithfulness:
    """Deletion/insertion AUCs of one map, of random orders, and the curves (fraction, p)."""

    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    curves: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class FaithfulnessSummary:
    """Means over a set of images, and how often the map beat the random order."""

    n: int
    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float
    random_insertion_auc: float
    deletion_win_rate: float
    insertion_win_rate: float


def _fill(face: np.ndarray, fill: str, sigma: float) -> np.ndarray:
    if fill == "mean":
        return np.full(face.shape, face.mean(), np.float32)
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(face.astype(np.float32), sigma=sigma, mode="nearest")


def view_probs(model, card: ModelCard, faces: np.ndarray, batch_size: int = 512,
               tta: str | None = None) -> np.ndarray:
    """Output probabilities (N, C) of faces (uint8 or float pixels), averaged over the views of `tta`."""
    import tensorflow as tf

    from ..analysis.evaluation import tta_views

    scores = score_model(model)
    out = []
    for s in range(0, len(faces), batch_size):
        x = preprocess(faces[s:s + batch_size], card.input)
        vs = tta_views(x, tta)
        p = tf.nn.softmax(scores.logits(tf.constant(np.concatenate(vs)))).numpy()
        out.append(p.reshape(len(vs), len(x), -1).mean(axis=0))
    return np.concatenate(out)


def _probs(model, card: ModelCard, faces: np.ndarray, out_idx: np.ndarray, batch_size: int,
           tta: str | None = None) -> np.ndarray:
    p = view_probs(model, card, faces, batch_size, tta)
    return p[np.arange(len(p)), out_idx]


def deletion_insertion(model, card: ModelCard, images: np.ndarray, maps: np.ndarray, targets: Any, *,
                       steps: int = 16, fill: str = "mean", n_random: int = 1, seed: int = 0,
                       blur_sigma: float = 4.0, batch_size: int = 512, views: str = "tta") -> list[Faithfulness]:
    """Deletion/insertion results for uint8 faces (N, H, W), their maps (N, H, W) and FER targets."""
    from .base import check_views

    tta = card.tta if check_views(views) == "tta" else None
    faces = check_images(images)
    m = np.asarray(maps, np.float32)
    if m.ndim == 2:
        m = m[None]
    if m.shape != faces.shape:
        raise AttributionError(f"maps have shape {m.shape}, faces {faces.shape}")
    if fill not in FILLS:
        raise AttributionError(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")
    if steps < 1 or n_random < 1:
        raise AttributionError("steps and n_random must be at least 1")
    out_idx = output_indices(card, fer_targets(targets, len(faces)))
    rng = np.random.default_rng(seed)
    n_pix = faces.shape[1] * faces.shape[2]
    frac = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(frac * n_pix).astype(int)
    n_orders = 1 + n_random
    results = []
    for i, face in enumerate(faces):
        f = face.astype(np.float32).ravel()
        base = _fill(face, fill, blur_sigma).ravel()
        orders = [np.lexsort((rng.random(n_pix), -np.nan_to_num(m[i]).ravel()))]
        orders += [rng.permutation(n_pix) for _ in range(n_random)]
        rank = np.empty((n_orders, n_pix), int)
        for o, order in enumerate(orders):
            rank[o, order] = np.arange(n_pix)
        chosen = rank[:, None, :] < counts[None, :, None]  # (orders, steps+1, pixels)
        deleted = np.where(chosen, base, f)
        inserted = np.where(chosen, f, base)
        batch = np.concatenate([deleted, inserted]).reshape(-1, *face.shape)
        p = _probs(model, card, batch, np.full(len(batch), out_idx[i]), batch_size, tta)
        p = p.reshape(2, n_orders, steps + 1)
        auc = np.trapezoid(p, frac, axis=-1)
        curves = {"fraction": frac, "deletion": p[0, 0], "insertion": p[1, 0],
                  "random_deletion": p[0, 1:].mean(axis=0), "random_insertion": p[1, 1:].mean(axis=0)}
        results.append(Faithfulness(float(auc[0, 0]), float(auc[1, 0]), float(auc[0, 1:].mean()),
                                    float(auc[1, 1:].mean()), curves))
    return results


def faithfulness(model, card: ModelCard, image: np.ndarray, attribution: np.ndarray, target: Any,
                 **kw: Any) -> Faithfulness:
    """Deletion/insertion check of one face (H, W), its map (H, W) and FER target."""
    one = deletion_insertion(model, card, np.asarray(image)[None], np.asarray(attribution)[None], target, **kw)
    return one[0]


def summarise(results: list[Faithfulness]) -> FaithfulnessSummary:
    """Mean AUCs over images and the share of images where the map beat random order."""
    if not results:
        raise AttributionError("no faithfulness results to summarise")
    a = np.array([[r.deletion_auc, r.insertion_auc, r.random_deletion_auc, r.random_insertion_auc]
                  for r in results])
    return FaithfulnessSummary(len(results), *map(float, a.mean(axis=0)),
                               float((a[:, 0] < a[:, 2]).mean()), float((a[:, 1] > a[:, 3]).mean()))


def method_faithfulness(model, card: ModelCard, images: np.ndarray, targets: Any, method: str = "gradcam",
                        *, views: str = "tta", check: dict[str, Any] | None = None,
                        **params: Any) -> FaithfulnessSummary:
    """Per-model aggregate: explain `images` with `method`, then summarise their deletion/insertion."""
    from . import explain

    maps = explain(model, card, images, targets, method, views=views, **params)
    return summarise(deletion_insertion(model, card, images, maps, targets, views=views, **(check or {})))


IMPUTATION_NOISE = 0.01  # ROAD's noise, as a fraction of the 0-255 pixel range (Quantus's default)
_NEIGHBOURS = (((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((0, -1), 1 / 6),
               ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))


def noisy_linear_imputation(face: np.ndarray, removed: np.ndarray, noise: float = IMPUTATION_NOISE * 255,
                            rng: np.random.Generator | None = None) -> np.ndarray:
    """A float copy of `face` (H, W) whose flat pixel indices `removed` are replaced by the
    weighted mean of their 8 neighbours (removed neighbours solved for jointly), plus Gaussian
    noise of std `noise` (grey levels). At least one pixel must be kept."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    h, w = face.shape
    flat = face.astype(np.float64).ravel()
    removed = np.unique(np.asarray(removed, np.int64))
    if len(removed) == 0:
        return flat.reshape(h, w)
    if len(removed) >= flat.size:
        raise AttributionError("imputation needs at least one kept pixel")
    var = np.full(flat.size, -1)
    var[removed] = np.arange(len(removed))
    rows, cols = np.divmod(removed, w)
    ri, ci, vals = [], [], []
    b = np.zeros(len(removed))
    total = np.zeros(len(removed))
    for (dr, dc), wt in _NEIGHBOURS:
        r, c = rows + dr, cols + dc
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        i = np.flatnonzero(ok)
        nb = r[ok] * w + c[ok]
        total[i] += wt
        inner = var[nb] >= 0
        ri.append(i[inner])
        ci.append(var[nb[inner]])
        vals.append(np.full(int(inner.sum()), -wt))
        b[i[~inner]] += wt * flat[nb[~inner]]
    diag = np.arange(len(removed))
    a = coo_matrix((np.concatenate([*vals, total]), (np.concatenate([*ri, diag]), np.concatenate([*ci, diag]))),
                   shape=(len(removed), len(removed))).tocsc()
    sol = spsolve(a, b)
    rng = rng if rng is not None else np.random.default_rng(0)
    out = flat.copy()
    out[removed] = sol + noise * rng.standard_normal(len(removed))
    return out.reshape(h, w)


@dataclass(frozen=True)
class Road:
    """ROAD scores per face (lower: more faithful) for the map's order and a random order, and the
    map order's curve (prediction kept, per fraction removed)."""

    road: np.ndarray
    random_road: np.ndarray
    fractions: np.ndarray
    kept: np.ndarray = field(compare=False, repr=False)


def road(model, card: ModelCard, images: np.ndarray, maps: np.ndarray, targets: Any, *, steps: int = 16,
         seed: int = 0, noise: float = IMPUTATION_NOISE, batch_size: int = 512, views: str = "tta") -> Road:
    """ROAD (most relevant first) of uint8 faces (N, H, W), their maps and FER targets, with a random
    order for reference; ties in a map are broken at random."""
    from .base import check_views

    tta = card.tta if check_views(views) == "tta" else None
    faces = check_images(images)
    m = np.asarray(maps, np.float32)
    if m.shape != faces.shape:
        raise AttributionError(f"maps have shape {m.shape}, faces {faces.shape}")
    if steps < 1:
        raise AttributionError("steps must be at least 1")
    out_idx = output_indices(card, fer_targets(targets, len(faces)))
    rng = np.random.default_rng(seed)
    n_pix = faces.shape[1] * faces.shape[2]
    fractions = (np.arange(steps) + 0.5) / steps
    counts = np.clip((fractions * n_pix).astype(int), 0, n_pix - 1)
    batch = []
    for i, face in enumerate(faces):
        orders = (np.lexsort((rng.random(n_pix), -np.nan_to_num(m[i]).ravel())), rng.permutation(n_pix))
        for order in orders:
            for k in counts:
                batch.append(noisy_linear_imputation(face, order[:k], noise * 255, rng))
    x = np.clip(np.stack(batch), 0, 255).astype(np.float32)
    pred = view_probs(model, card, x, batch_size, tta).argmax(axis=1).reshape(len(faces), 2, steps)
    kept = pred == out_idx[:, None, None]
    return Road(kept[:, 0].mean(axis=1), kept[:, 1].mean(axis=1), fractions, kept[:, 0])


def blurred_random_maps(n: int, shape: tuple[int, int], *, sigma: float = 4.0, seed: int = 0) -> np.ndarray:
    """`n` control maps (n, H, W) in [0, 1]: uniform noise smoothed by a Gaussian of `sigma` pixels
    (about Grad-CAM's blob size on 48x48 faces), one draw per face from `seed`."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    out = np.empty((n, *shape), np.float32)
    for i in range(n):
        g = gaussian_filter(rng.random(shape), sigma=sigma, mode="reflect")
        out[i] = (g - g.min()) / max(float(np.ptp(g)), 1e-12)
    return out
