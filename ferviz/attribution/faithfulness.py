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


def _probs(model, card: ModelCard, faces: np.ndarray, out_idx: np.ndarray, batch_size: int,
           tta: str | None = None) -> np.ndarray:
    import tensorflow as tf

    from ..analysis.evaluation import tta_views

    scores = score_model(model)
    out = []
    for s in range(0, len(faces), batch_size):
        x = preprocess(faces[s:s + batch_size], card.input)
        vs = tta_views(x, tta)
        p = tf.nn.softmax(scores.logits(tf.constant(np.concatenate(vs)))).numpy()
        p = p.reshape(len(vs), len(x), -1).mean(axis=0)
        out.append(p[np.arange(len(x)), out_idx[s:s + batch_size]])
    return np.concatenate(out)


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
