"""SmoothGrad (Smilkov et al., https://arxiv.org/abs/1706.03825), batched and traced.

Input-gradient magnitudes averaged over `samples` noisy copies of the input (Gaussian,
`noise` times the card's pixel range), summed over channels. Cheap: one traced gradient
call per chunk of images x samples. A magnitude map: it shows where the class score is
sensitive, not whether a pixel speaks for or against the class (so it is blank only where the
gradient vanishes). With test-time views the per-view magnitudes are averaged.
"""
from __future__ import annotations

import zlib

import numpy as np

from ..models import ModelCard
from .base import Explainer
from .gradients import one_hot, score_model


class SmoothGrad(Explainer):
    """SmoothGrad (Smilkov et al., 2017): input gradients averaged over noisy copies."""

    method = "smoothgrad"
    defaults = {"samples": 16, "noise": 0.15, "batch_size": 256, "seed": 0}

    def __init__(self, model, card: ModelCard):
        super().__init__(model, card)
        self._scores = score_model(model)

    def identity(self) -> tuple:
        return ("per-input noise",)

    def raw(self, x, out_idx, faces, *, samples=16, noise=0.15, batch_size=256, seed=0):
        import tensorflow as tf

        lo, hi = self.card.input.scale
        out = np.zeros(x.shape[:3], np.float32)
        per = max(1, int(batch_size) // int(samples))
        for s in range(0, len(x), per):
            xs = x[s:s + per]
            # noise drawn per model input from (seed, its values): a map does not depend on its
            # batch neighbours or position, and a test-time view gets the same noise whichever face
            # it came from (so maps of a mirrored face are the mirrored maps)
            pts = xs[:, None] + np.stack([
                np.random.default_rng([int(seed), zlib.crc32(np.ascontiguousarray(v).tobytes())]).normal(
                    0, noise * abs(hi - lo), (samples,) + x.shape[1:])
                for v in xs])
            w = np.repeat(one_hot(out_idx[s:s + per], self._scores.width), samples, axis=0)
            g = self._scores.input_gradients(tf.constant(pts.reshape((-1,) + x.shape[1:]), tf.float32),
                                             tf.constant(w)).numpy()
            out[s:s + per] = np.abs(g.reshape(pts.shape)).mean(axis=1).sum(axis=-1)
        return out
