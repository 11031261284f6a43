"""Integrated gradients (Sundararajan et al., https://arxiv.org/abs/1703.01365), batched.

Path from a black face in model-input space (the low end of the card's pixel scale)
to the input, midpoint Riemann sum with `steps` points; all (image, step) points of a
batch go through one traced gradient function (see :mod:`.gradients`) in chunks of
`batch_size`. The map is the attribution summed over channels, keeping the positive
part (evidence *for* the target, like Grad-CAM's ReLU); ``sign="absolute"`` keeps the
magnitude instead. With test-time views the signed attributions are averaged over the views
(mapped back by the chain rule) *before* the sign is applied, so evidence one view gives and
another takes away cancels as it does in the averaged prediction.
"""
from __future__ import annotations

import numpy as np

from ..errors import AttributionError
from ..models import ModelCard
from .base import Explainer
from .gradients import one_hot, score_model

_SIGNS = ("positive", "absolute", "signed")


def reduce_channels(attr: np.ndarray, sign: str) -> np.ndarray:
    """(N, h, w, c) attributions -> (N, h, w) by channel sum: its positive part, its magnitude, or
    as it is ("signed")."""
    if sign not in _SIGNS:
        raise AttributionError(f"sign must be one of {', '.join(_SIGNS[:2])}, got {sign!r}")
    s = attr.sum(axis=-1)
    return {"positive": lambda: np.maximum(s, 0.0), "absolute": lambda: np.abs(s), "signed": lambda: s}[sign]()


def integrated_gradients(scores, x: np.ndarray, out_idx: np.ndarray, baseline: np.ndarray, *,
                         steps: int = 32, batch_size: int = 256) -> np.ndarray:
    """IG attributions (N, h, w, c) of the target logits for model inputs x from `baseline`."""
    import tensorflow as tf

    if steps < 1:
        raise AttributionError(f"steps must be at least 1, got {steps}")
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
    diff = x - baseline
    total = np.zeros_like(x)
    per = max(1, batch_size // steps)  # images per gradient call
    for s in range(0, len(x), per):
        d = diff[s:s + per]
        pts = baseline[s:s + per, None] + alphas[None, :, None, None, None] * d[:, None]
        w = np.repeat(one_hot(out_idx[s:s + per], scores.width), steps, axis=0)
        g = scores.input_gradients(tf.constant(pts.reshape((-1,) + x.shape[1:])), tf.constant(w)).numpy()
        total[s:s + per] = g.reshape(pts.shape).mean(axis=1) * d
    return total


class IntegratedGradients(Explainer):
    """Integrated gradients from a black face."""

    method = "ig"
    defaults = {"steps": 32, "batch_size": 256, "sign": "positive"}

    def __init__(self, model, card: ModelCard):
        super().__init__(model, card)
        self._scores = score_model(model)

    def raw_views(self, x, out_idx, faces, tta, *, steps=32, batch_size=256, sign="positive"):
        if sign not in _SIGNS[:2]:
            raise AttributionError(f"sign must be one of {', '.join(_SIGNS[:2])}, got {sign!r}")
        signed = super().raw_views(x, out_idx, faces, tta, steps=steps, batch_size=batch_size, sign="signed")
        return reduce_channels(signed[..., None], sign)

    def raw(self, x, out_idx, faces, *, steps=32, batch_size=256, sign="positive"):
        base = np.full_like(x, self.card.input.scale[0])
        return reduce_channels(integrated_gradients(self._scores, x, out_idx, base, steps=int(steps),
                                                    batch_size=int(batch_size)), sign)
