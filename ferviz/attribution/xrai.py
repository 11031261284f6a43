"""XRAI (Kapishnikov et al., https://arxiv.org/abs/1906.02825) via ``saliency.core.XRAI``, with
settings for 48x48 faces instead of saliency's 224x224-photo defaults (how they were chosen, with
the measurements: docs/attribution.md, "XRAI on 48x48 faces"):

* Felzenszwalb on the face itself (no resize), scales (5, 10, 20, 40, 80, 160), sigma 0.8,
  min_size 8; identical masks across scales dropped, the rest dilated by a radius-5 disk
  (OpenCV); segments computed once per face (LRU-cached by content) and passed as ``segments=``;
* integrated gradients with 16 steps per baseline (the face's min and max constant images),
  computed by ferviz in batches inside ``tf.function`` (:mod:`.gradients`) and handed to
  saliency as ``base_attribution``, so saliency only ranks the segments.

Test-time views: the IG attributions of every view of the card's ``tta`` are mapped back onto
the face and averaged, each face pixel over the views that showed it (a shifted view's
replicated edge carries nothing back: :func:`ferviz.models.tta.mean_over_views`). The face is
segmented once, on whichever of the face and its mirror sorts first, and mirrored back, so XRAI
maps are mirror-equivariant like the views.

A constant face is refused (its baselines equal the input: NaN maps). For models with another
input size, segments are made at face size and resized to the model's; the map is resized back.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

import numpy as np

from ..errors import AttributionError
from ..models import ModelCard
from .base import Explainer
from .gradients import one_hot, score_model

FACE_SEGMENTATION = {"scales": (5, 10, 20, 40, 80, 160), "sigma": 0.8, "min_size": 8, "dilation": 5}


def call_model_function(model) -> Callable:
    """A saliency ``call_model_function``: gradients of the target logit, traced and batched.

    ``call_model_args={"target": model_output_index}``.
    """
    import tensorflow as tf
    from saliency.core.base import INPUT_OUTPUT_GRADIENTS

    scores = score_model(model)

    def call(x_batch, call_model_args=None, expected_keys=None):
        x = np.asarray(x_batch, np.float32)
        w = one_hot(np.full(len(x), int(call_model_args["target"])), scores.width)
        return {INPUT_OUTPUT_GRADIENTS: scores.input_gradients(tf.constant(x), tf.constant(w)).numpy()}
    return call


def _dilate(masks: list[np.ndarray], radius: int) -> list[np.ndarray]:
    from skimage.morphology import disk

    fp = disk(radius).astype(np.uint8)
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv is a dependency; skimage gives the same masks
        from skimage.morphology import dilation

        return [dilation(m, footprint=fp) for m in masks]
    return [cv2.dilate(m.view(np.uint8), fp).astype(bool) for m in masks]


@lru_cache(maxsize=512)
def _segments_cached(face: bytes, shape: tuple[int, int], out_shape: tuple[int, int], scales: tuple,
                     sigma: float, min_size: int, dilation: int) -> tuple[np.ndarray, ...]:
    from skimage.segmentation import felzenszwalb
    from skimage.transform import resize

    im = np.frombuffer(face, np.uint8).reshape(shape).astype(np.float64)
    im = (im - im.min()) / (im.max() - im.min()) * 2.0 - 1.0  # saliency's [-1, 1] range
    unique: dict[bytes, np.ndarray] = {}
    for scale in scales:
        seg = felzenszwalb(im, scale=scale, sigma=sigma, min_size=min_size)
        for label in np.unique(seg):
            m = seg == label
            unique.setdefault(m.tobytes(), m)
    masks = list(unique.values())
    if dilation:
        masks = _dilate(masks, dilation)
    if tuple(shape) != tuple(out_shape):
        masks = [resize(m, out_shape, order=0, preserve_range=True, anti_aliasing=False).astype(bool)
                 for m in masks]
    for m in masks:
        m.setflags(write=False)
    return tuple(masks)


def face_segments(face: np.ndarray, out_shape: tuple[int, int] | None = None, *,
                  scales=FACE_SEGMENTATION["scales"], sigma: float = 0.8, min_size: int = 8,
                  dilation: int = 5) -> list[np.ndarray]:
    """Dilated Felzenszwalb masks of a uint8 face at several scales (cached per face content)."""
    f = np.ascontiguousarray(face, np.uint8)
    if f.max() == f.min():
        raise AttributionError("XRAI cannot explain a constant image (every pixel "
                         f"{int(f.flat[0])}): its baselines equal the input and its maps are NaN")
    out = tuple(out_shape or f.shape)
    flip = np.ascontiguousarray(f[:, ::-1])
    mirrored = flip.tobytes() < f.tobytes()  # segment a canonical orientation (mirror-equivariant)
    masks = _segments_cached((flip if mirrored else f).tobytes(), f.shape, out, tuple(scales), float(sigma),
                             int(min_size), int(dilation))
    return [np.ascontiguousarray(m[:, ::-1]) for m in masks] if mirrored else list(masks)


class XRAI(Explainer):
    """XRAI with segmentation and IG settings for 48x48 faces (see the module docstring)."""

    method = "xrai"
    defaults = {"steps": 16, **FACE_SEGMENTATION, "min_pixel_diff": 50, "algorithm": "full"}

    def __init__(self, model, card: ModelCard):
        super().__init__(model, card)
        self._scores = score_model(model)
        self._call = call_model_function(model)

    def check(self, faces: np.ndarray, params: dict[str, Any]) -> None:
        flat = faces.reshape(len(faces), -1)
        bad = np.flatnonzero(flat.max(axis=1) == flat.min(axis=1))
        if bad.size:
            raise AttributionError(f"XRAI cannot explain a constant image (image {int(bad[0])} has every pixel "
                             f"{int(flat[bad[0], 0])}): its baselines equal the input and its maps are NaN")

    def raw_views(self, x, out_idx, faces, tta, *, steps=16, scales=(), sigma=0.8, min_size=8, dilation=5,
                  min_pixel_diff=50, algorithm="full"):
        from saliency.core import XRAI as _XRAI
        from saliency.core import XRAIParameters

        attr = self.base_attribution(x, out_idx, tta, int(steps))
        xrai = _XRAI()
        extra = XRAIParameters(steps=int(steps), algorithm=algorithm)
        extra.experimental_params["min_pixel_diff"] = int(min_pixel_diff)
        out = np.empty(x.shape[:3], np.float32)
        for i in range(len(x)):
            segs = face_segments(faces[i], x.shape[1:3], scales=scales, sigma=sigma, min_size=min_size,
                                 dilation=dilation)
            if not (attr[i].max(axis=-1) > 0).any():  # no positive evidence anywhere: a blank map
                out[i] = 0.0
                continue
            out[i] = xrai.GetMask(x[i], self._call, call_model_args={"target": int(out_idx[i])},
                                  segments=segs, base_attribution=attr[i], batch_size=int(steps),
                                  extra_parameters=extra)
        return out

    def base_attribution(self, x: np.ndarray, out_idx: np.ndarray, tta: str | None, steps: int,
                         batch_size: int = 512) -> np.ndarray:
        """XRAI's IG (N, h, w, c): the mean over its min/max baselines, averaged over the views."""
        import tensorflow as tf

        from ..models.tta import mean_over_views, to_view, views

        alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32)  # saliency's path points
        vs = views(tta, x.shape[1], x.shape[2])
        scores = self._scores
        per_view = [np.zeros_like(x) for _ in vs]
        flat = x.reshape(len(x), -1)
        for lo_hi in (flat.min(axis=1), flat.max(axis=1)):  # saliency's two constant baselines
            base = np.broadcast_to(lo_hi[:, None, None, None], x.shape).astype(np.float32)
            for v, total in zip(vs, per_view):
                xv = to_view(x, v)
                diff = xv - base
                per = max(1, batch_size // steps)
                attr = np.empty_like(xv)
                for s in range(0, len(x), per):
                    d = diff[s:s + per]
                    pts = base[s:s + per, None] + alphas[None, :, None, None, None] * d[:, None]
                    w = np.repeat(one_hot(out_idx[s:s + per], scores.width), steps, axis=0)
                    g = scores.input_gradients(tf.constant(pts.reshape((-1,) + x.shape[1:])), tf.constant(w))
                    attr[s:s + per] = g.numpy().reshape(pts.shape).mean(axis=1) * d
                total += attr / 2.0
        return mean_over_views(per_view, vs)
