"""The one call shape every attribution method shares.

An :class:`Explainer` is built once per (model, card) and called on batches of uint8
faces (N, H, W) with target classes (indices of ``ferviz.labels.NAMES``); it returns
(N, H, W) float32 maps in [0, 1] at the *face* size, whatever size, channels, scaling and
class order the model uses. Subclasses implement :meth:`Explainer.raw` on model input
(N, h, w, c) and model-output target indices.

Maps explain what is shown. With ``views="tta"`` (the default) a card's test-time
augmentation is followed: the method runs on every view the prediction averages over
(:mod:`ferviz.models.tta`), each view's map is mapped back onto the face (mirror and shift undone)
and each face pixel averages the views that showed it: a shifted view's padding (its replicated
edge) carries no evidence back, and a face pixel it pushed out is not averaged with a zero (either
drew a frame at the border). ``views="single"`` explains one forward pass on the face as given.

A map with no positive evidence (zero, constant or non-finite everywhere) comes back as all
zeros; :func:`blank_maps` finds them, so callers can say so instead of drawing a flat overlay.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AttributionError
from ..labels import NAMES, emotion_index
from ..models import ModelCard, preprocess
from ..models.tta import mean_over_views, to_view
from ..models.tta import views as tta_views

VIEW_MODES = ("tta", "single")
VIEW_LABELS = {"tta": "all test-time views", "single": "single view (no test-time augmentation)"}


def check_images(images: np.ndarray) -> np.ndarray:
    """uint8 faces as (N, H, W); (H, W) and (N, H, W, 1) are accepted."""
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[0] == 0:
        raise AttributionError(f"expected grayscale faces (N, H, W), got shape {np.shape(images)}")
    if x.dtype != np.uint8:
        if np.nanmin(x) < 0 or np.nanmax(x) > 255:
            raise AttributionError("faces must be uint8 pixels in 0..255")
        x = np.round(x).astype(np.uint8)
    return x


def fer_targets(targets: Any, n: int) -> np.ndarray:
    """Class indices (:data:`ferviz.labels.NAMES`; an int/name for all, or one per image) as (n,) ints."""
    if np.ndim(targets) == 0:
        return np.full(n, emotion_index(_scalar(targets)), np.int64)
    t = [emotion_index(_scalar(v)) for v in np.asarray(targets).ravel()]
    if len(t) != n:
        raise AttributionError(f"got {len(t)} targets for {n} images")
    return np.asarray(t, np.int64)


def _scalar(v):
    if isinstance(v, (np.integer, int)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, np.str_):
        return str(v)
    if isinstance(v, (str, int)):
        return v
    raise AttributionError(f"a target class must be an index 0-{len(NAMES) - 1} or an emotion name, got {v!r}")


def output_indices(card: ModelCard, fer: np.ndarray) -> np.ndarray:
    """Class indices -> the model's output indices for those classes (a class the model cannot
    output is refused: AttributionError naming the model's classes)."""
    from ..models import ModelError

    try:
        return card.output_of(fer)
    except ModelError as e:
        raise AttributionError(f"cannot explain: {e}") from None


def finish(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Raw maps (N, h, w) -> (N, H, W) float32, resized (bilinear) and scaled to [0, 1] per image.

    A map with any non-finite value is not trusted and becomes all zeros (blank), like a
    constant one."""
    m = np.asarray(raw, np.float32)
    finite = np.isfinite(m).all(axis=(1, 2), keepdims=True)
    m = np.where(finite, np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0), 0.0).astype(np.float32)
    m = resize_maps(m, size)
    lo = m.min(axis=(1, 2), keepdims=True)
    span = m.max(axis=(1, 2), keepdims=True) - lo
    out = np.where(span > 0, (m - lo) / np.where(span > 0, span, 1.0), 0.0)
    return out.astype(np.float32)


def resize_maps(m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) maps resized to `size` (bilinear, antialiased when shrinking)."""
    if m.shape[1:] == tuple(size):
        return m
    import tensorflow as tf

    down = m.shape[1] > size[0] or m.shape[2] > size[1]
    return tf.image.resize(m[..., None], size, method="bilinear", antialias=down).numpy()[..., 0]


def blank_maps(maps: np.ndarray) -> np.ndarray:
    """(N,) bool: maps with no positive evidence (finished maps that are zero everywhere)."""
    m = np.asarray(maps, np.float32)
    if m.ndim == 2:
        m = m[None]
    return ~(np.nan_to_num(m).reshape(len(m), -1).max(axis=1) > 0)


def check_views(views: str) -> str:
    """'tta' or 'single'; ValueError otherwise."""
    if views not in VIEW_MODES:
        raise AttributionError(f"views must be 'tta' (the card's test-time augmentation) or 'single', got {views!r}")
    return views


class Explainer:
    """Base class: validation, preprocessing and post-processing around :meth:`raw`."""

    method = ""
    defaults: dict[str, Any] = {}

    def __init__(self, model, card: ModelCard):
        self.card = card

    def params(self, **params: Any) -> dict[str, Any]:
        """The defaults updated with `params`; ValueError names an unknown parameter."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            allowed = ", ".join(self.defaults) or "none"
            raise AttributionError(f"{self.method}: unknown parameter(s) {', '.join(unknown)} (allowed: {allowed})")
        return {**self.defaults, **params}

    def identity(self) -> tuple:
        """What besides the parameters determines the maps (part of cache keys)."""
        return ()

    def __call__(self, images: np.ndarray, targets: Any, views: str = "tta", **params: Any) -> np.ndarray:
        faces = check_images(images)
        fer = fer_targets(targets, len(faces))
        tta = self.tta_of(views)
        p = self.params(**params)
        self.check(faces, p)
        x = preprocess(faces, self.card.input)
        raw = self.raw_views(x, output_indices(self.card, fer), faces, tta, **p)
        return finish(raw, faces.shape[1:])

    def tta_of(self, views: str) -> str | None:
        """The test-time augmentation a `views` mode applies ('tta': the card's; 'single': none)."""
        return self.card.tta if check_views(views) == "tta" else None

    def raw_views(self, x: np.ndarray, out_idx: np.ndarray, faces: np.ndarray, tta: str | None,
                  **params: Any) -> np.ndarray:
        """The raw map averaged over the views of `tta`, each mapped back onto the input's pixels
        (:func:`ferviz.models.tta.mean_over_views`: per pixel over the views that showed it)."""
        vs = tta_views(tta, x.shape[1], x.shape[2])
        if len(vs) == 1:
            return self.raw(x, out_idx, faces, **params)
        n = len(x)
        xv = np.concatenate([to_view(x, v) for v in vs])
        raw = self.raw(xv, np.tile(out_idx, len(vs)), np.tile(faces, (len(vs), 1, 1)), **params)
        raw = resize_maps(np.asarray(raw, np.float32), x.shape[1:3])
        return mean_over_views([raw[k * n:(k + 1) * n] for k in range(len(vs))], vs)

    def check(self, faces: np.ndarray, params: dict[str, Any]) -> None:
        """Reject inputs the method cannot explain (override)."""

    def raw(self, x: np.ndarray, out_idx: np.ndarray, faces: np.ndarray, **params: Any) -> np.ndarray:
        raise NotImplementedError
