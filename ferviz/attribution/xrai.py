"""XRAI (Kapishnikov et al., https://arxiv.org/abs/1906.02825) via ``saliency.core.XRAI``.

saliency's defaults are tuned for 224x224 photos: each face is resized to 224x224 for
six Felzenszwalb runs (scales 50-1200, sigma 0.8, min_size 150), the ~240 masks are
resized back and dilated by a radius-5 disk, and IG runs 100 steps per baseline at batch
1 (200 model calls). Measured on 48x48 PrivateTest faces with a baseline CNN (deletion
AUC, lower is better): the 224 segmentation (~250 ms) and the skimage dilation of its
masks (~0.25 ms each) dominate; 16 IG steps rank segments as well as 100 (0.167 vs 0.165, 24 faces).
ferviz therefore uses:

* Felzenszwalb on the 48x48 face itself (no resize), scales (5, 10, 20, 40, 80, 160),
  sigma 0.8 (as the defaults; 0.5 ranked worse on the shipped baseline: deletion AUC 0.201 vs
  0.182 on 48 faces), min_size 8: segments of the same size *relative to the face* as the
  defaults give (150 px of 224² ~ 7 px of 48²), from eye corners to face halves;
* identical masks across scales dropped (~470 -> ~250), the rest dilated by the defaults'
  radius 5 (with OpenCV, ~10x faster than skimage, same masks). Blobby masks matter:
  coarser segments with radius 0-3 ranked worse (0.17-0.19 vs 0.149 on 64 faces; the
  defaults 0.156);
* segments computed once per face (LRU-cached by content) and passed as ``segments=``;
* IG with 16 steps per baseline (XRAI's two baselines, the face's min and max constant
  images; saliency's path points ``linspace(0, 1, steps)``), computed by ferviz in batches
  (gradients in ``tf.function``, :mod:`.gradients`) and handed to saliency as
  ``base_attribution``, so saliency only ranks the segments.

Test-time augmentation: the IG attributions are computed on every view of the card's
``tta``, mapped back onto the face (the chain rule, :func:`ferviz.tta.from_view` "sum") and
averaged; the baselines are constant images, the same for every view, so this is IG of the
view-averaged model. The face is segmented once. Segmentation runs on whichever of the face
and its mirror image sorts first (by pixel bytes) and is mirrored back, so the masks of a
mirrored face are the mirrored masks and XRAI maps are mirror-equivariant like the views.

A constant face is refused: XRAI's baselines then equal the input and its segment
normalisation divides by zero (NaN maps). For models with another input size, segments
are made at face size and resized to the model's; the map is resized back to the face.
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
        w = one_hot(np.full(len(x), int(call_model_args["target"])))
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

        from ..models.tta import from_view, to_view, views

        alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32)  # saliency's path points
        vs = views(tta, x.shape[1], x.shape[2])
        scores = self._scores
        total = np.zeros_like(x)
        flat = x.reshape(len(x), -1)
        for lo_hi in (flat.min(axis=1), flat.max(axis=1)):  # saliency's two constant baselines
            base = np.broadcast_to(lo_hi[:, None, None, None], x.shape).astype(np.float32)
            for v in vs:
                xv = to_view(x, v)
                diff = xv - base
                per = max(1, batch_size // steps)
                attr = np.empty_like(xv)
                for s in range(0, len(x), per):
                    d = diff[s:s + per]
                    pts = base[s:s + per, None] + alphas[None, :, None, None, None] * d[:, None]
                    w = np.repeat(one_hot(out_idx[s:s + per]), steps, axis=0)
                    g = scores.input_gradients(tf.constant(pts.reshape((-1,) + x.shape[1:])), tf.constant(w))
                    attr[s:s + per] = g.numpy().reshape(pts.shape).mean(axis=1) * d
                total += from_view(attr, v, "sum")
        return (total / (2 * len(vs))).astype(np.float32)
