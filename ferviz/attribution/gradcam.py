"""Grad-CAM (Selvaraju et al., https://arxiv.org/abs/1610.02391), batched and traced.

Same definition as tf-keras-vis's ``Gradcam`` with ``ReplaceToLinear``: the target's
pre-softmax logit is differentiated w.r.t. the layer's output A (the card's ``gradcam_layer``,
else the activation after the last spatial convolution, :func:`.gradients.gradcam_layer`: Grad-CAM
assumes rectified, non-negative feature maps); channel weights
are the spatial mean of those gradients; CAM = ReLU(sum_k w_k A_k), upsampled
(bilinear) to the face and scaled to [0, 1]. Everything runs inside one ``tf.function``
per model (see :mod:`.gradients`), on batches.
"""
from __future__ import annotations

import numpy as np

from ..models import ModelCard
from .base import Explainer
from .gradients import batched, gradcam_layer, one_hot, score_model


class GradCAM(Explainer):
    """Grad-CAM on the card's (or the detected) last conv layer."""

    method = "gradcam"
    defaults = {"batch_size": 128}

    def __init__(self, model, card: ModelCard):
        import tensorflow as tf

        super().__init__(model, card)
        self.layer = gradcam_layer(model, card)
        self._scores = score_model(model, self.layer)
        spec = self._scores.feature_gradients.input_signature
        self._cam = tf.function(self._cam_of, input_signature=spec)

    def identity(self) -> tuple:
        return (self.layer,)

    def _cam_of(self, x, weights):
        import tensorflow as tf

        feats, grads = self._scores.feature_gradients(x, weights)
        return tf.nn.relu(self.combine(feats, grads))

    @staticmethod
    def combine(feats, grads):
        """Grad-CAM: channel weights are the spatially averaged gradients."""
        import tensorflow as tf

        alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        return tf.reduce_sum(feats * alpha, axis=-1)

    def raw(self, x: np.ndarray, out_idx: np.ndarray, faces: np.ndarray, *,
            batch_size: int = 128) -> np.ndarray:
        return np.concatenate(batched(self._cam, (x, one_hot(out_idx, self._scores.width)), int(batch_size)))
