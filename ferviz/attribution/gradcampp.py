"""Grad-CAM++ (Chattopadhyay et al., https://arxiv.org/abs/1710.11063), batched and traced.

Follows tf-keras-vis's ``GradcamPlusPlus`` (exponential of the logit as the score, its
derivatives expressed through the first-order gradient g):
alpha = g^2 / (2 g^2 + sum_ij(A) g^3), weights = sum_ij(alpha * ReLU(g)) (alphas
normalised per channel), CAM = ReLU(sum_k w_k A_k). The common factor exp(logit) of
tf-keras-vis is left out: it scales each CAM by a positive constant that the [0, 1]
scaling removes, and it overflows for confident logits.
"""
from __future__ import annotations

from .gradcam import GradCAM


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++ on the same layer and sub-model as Grad-CAM."""

    method = "gradcampp"

    @staticmethod
    def combine(feats, grads):
        import tensorflow as tf

        g2 = grads * grads
        g3 = g2 * grads
        total = tf.reduce_sum(feats, axis=(1, 2), keepdims=True)
        denom = 2.0 * g2 + g3 * total
        denom += tf.cast(tf.equal(g2, 0.0), denom.dtype)
        alphas = g2 / denom
        norm = tf.reduce_sum(alphas, axis=(1, 2), keepdims=True)
        alphas /= norm + tf.cast(tf.equal(norm, 0.0), norm.dtype)
        weights = tf.reduce_sum(alphas * tf.nn.relu(grads), axis=(1, 2), keepdims=True)
        return tf.reduce_sum(weights * feats, axis=-1)
