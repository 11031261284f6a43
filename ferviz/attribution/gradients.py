"""Safe gradients: every gradient ferviz takes runs inside a traced ``tf.function``.

On this CPU with TensorFlow 2.21 (oneDNN on), an *eager* gradient through a model with
1x1 stride-2 Conv2D shortcuts (Xception/ResNet style) kills the process (seen 5 runs out of 5);
the same gradient traced in a ``tf.function`` is safe. So this module builds, once per
model, a sub-model from the input to ``[feature map, pre-softmax logits]`` and traced
functions for batches. The shared model is never modified (no activation swap, no clone).

Logits: when the model ends in ``Dense(softmax)`` the sub-model outputs that layer's
*input* and the logits are recomputed from its kernel and bias (exactly what
tf-keras-vis's ``ReplaceToLinear`` gives); a final ``Softmax``/``Activation("softmax")``
layer is skipped the same way; a model whose last layer is linear already yields logits;
any other head falls back to ``log(probability)`` (same argmax, softmax-shifted scores).
"""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import AttributionError
from ..models import ModelCard, activation_name, output_head

_SCORE_MODELS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def layer_output(layer):
    """The layer's output tensor in its parent graph (for a nested model, its call's output)."""
    nodes = getattr(layer, "_inbound_nodes", None)
    if hasattr(layer, "layers") and nodes:  # a nested model: .output is its own inner tensor
        return nodes[-1].output_tensors[0]
    return layer.output


def _rank(layer) -> int:
    try:
        return len(layer_output(layer).shape)
    except (AttributeError, ValueError, IndexError):
        return 0


def _is_conv(layer) -> bool:
    """A conv layer, or a nested model (a backbone) whose output is an image-like feature map."""
    return ("conv" in type(layer).__name__.lower() or hasattr(layer, "layers")) and _rank(layer) == 4


_FOLLOWERS = {"BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softplus",
              "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "LayerNormalization",
              "GroupNormalization"}  # element-wise layers that may follow a conv at the same resolution
_RECTIFIERS = {"ReLU", "LeakyReLU", "ELU", "PReLU", "Softplus"}
_RECTIFYING = {"relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softplus", "mish",
               "hard_silu", "hard_swish"}  # activations that (nearly) rectify: not linear, tanh, sigmoid


def _single_input(layer):
    try:
        x = layer.input
    except (AttributeError, ValueError):
        return None
    return None if isinstance(x, (list, tuple)) else x


def rectified_layer(model, conv) -> object:
    """The activation that follows `conv` (through batch norm, dropout, ...), or `conv` itself when
    no activation follows it directly (e.g. its own ``activation="relu"``)."""
    layers = model.layers
    chosen = cur = conv
    for nxt in layers[layers.index(conv) + 1:]:
        if type(nxt).__name__ not in _FOLLOWERS or _single_input(nxt) is not layer_output(cur):
            break
        cur = nxt
        kind = type(nxt).__name__
        if kind in _RECTIFIERS or (kind == "Activation" and activation_name(nxt) in _RECTIFYING):
            chosen = nxt
    return chosen


def spatial_layers(model) -> list:
    """Top-level layers with a spatial (4-D, larger than 1x1) output, up to global pooling/flatten."""
    out = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind.startswith("Global") or kind == "Flatten" or (out and 0 < _rank(layer) < 4):
            break
        if _rank(layer) == 4 and not kind.startswith("Input"):
            h, w = layer_output(layer).shape[1:3]
            if (h or 2) * (w or 2) > 1:
                out.append(layer)
    return out


def gradcam_layer(model, card: ModelCard) -> str:
    """The layer Grad-CAM uses: the card's `gradcam_layer`, else the activation that follows the
    last conv layer with a spatial (4-D, larger than 1x1) output before any global pooling or
    flatten (Grad-CAM assumes rectified feature maps; a raw conv output before its batch norm
    and ReLU gives weak or blank maps).

    Only top-level layers count; a nested backbone model counts as one layer (its output)."""
    if card.gradcam_layer:
        where = f"{card.name}: gradcam_layer {card.gradcam_layer!r}"
        try:
            layer = model.get_layer(card.gradcam_layer)
        except ValueError:
            raise AttributionError(f"{where} is not a (top-level) layer of the model") from None
        if _rank(layer) != 4:
            raise AttributionError(f"{where} has no 4-D (image-like) output")
        return layer.name
    convs = [layer for layer in spatial_layers(model) if _is_conv(layer)]
    if not convs:
        raise AttributionError(f"{card.name}: the model has no conv layer with a spatial output, so Grad-CAM "
                         "cannot be computed; set gradcam_layer in its card or use ig/xrai")
    return rectified_layer(model, convs[-1]).name


class ScoreModel:
    """Input -> (feature map of `feature_layer` or None, class logits), with traced gradient fns."""

    def __init__(self, model, feature_layer: str | None = None):
        import keras
        import tensorflow as tf

        last = model.layers[-1]
        act = activation_name(last)
        self._kernel = self._bias = None
        self._log = False
        if type(last).__name__ == "Dense" and act == "softmax":
            pre, self._kernel = last.input, last.kernel
            self._bias = last.bias if last.use_bias else None
        elif type(last).__name__ == "Softmax" or (type(last).__name__ == "Activation" and act == "softmax"):
            pre = last.input
        else:
            pre = model.outputs[0]
            self._log = output_head(model) != "logits"
        outs = [pre] if feature_layer is None else [layer_output(model.get_layer(feature_layer)), pre]
        self.sub = keras.Model(model.inputs, outs, name="ferviz_score_model")
        self.feature_layer = feature_layer
        shape = tuple(model.input_shape[1:])
        x_spec = tf.TensorSpec((None, *shape), tf.float32)
        self.width = int(model.output_shape[-1])  # the model's outputs (one weight per output)
        w_spec = tf.TensorSpec((None, self.width), tf.float32)
        self.input_gradients = tf.function(self._input_gradients, input_signature=[x_spec, w_spec])
        self.feature_gradients = tf.function(self._feature_gradients, input_signature=[x_spec, w_spec])
        self.logits = tf.function(self._logits_of, input_signature=[x_spec])

    def _head(self, pre):
        import tensorflow as tf

        pre = tf.cast(pre, tf.float32)
        if self._kernel is not None:
            z = tf.matmul(pre, tf.cast(self._kernel, tf.float32))
            return z + tf.cast(self._bias, tf.float32) if self._bias is not None else z
        return tf.math.log(tf.maximum(pre, 1e-12)) if self._log else pre

    def _run(self, x):
        out = self.sub(x, training=False)
        return (out[0], self._head(out[1])) if self.feature_layer else (None, self._head(out))

    def _logits_of(self, x):
        return self._run(x)[1]

    def _input_gradients(self, x, weights):
        """d(sum_k weights[:, k] * logit_k)/dx for a batch: (N, h, w, c)."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(self._run(x)[1] * weights, axis=1)
        return tape.gradient(score, x)

    def _feature_gradients(self, x, weights):
        """The feature map A and d(score)/dA for a batch, both (N, h', w', k)."""
        import tensorflow as tf

        with tf.GradientTape() as tape:
            feats, logits = self._run(x)
            score = tf.reduce_sum(logits * weights, axis=1)
        grads = tape.gradient(score, feats)
        return tf.cast(feats, tf.float32), tf.cast(grads, tf.float32)


def score_model(model, feature_layer: str | None = None) -> ScoreModel:
    """The ScoreModel for `model` (built once per model and feature layer)."""
    per_model = _SCORE_MODELS.setdefault(model, {})
    if feature_layer not in per_model:
        per_model[feature_layer] = ScoreModel(model, feature_layer)
    return per_model[feature_layer]


def one_hot(output_index: np.ndarray, width: int) -> np.ndarray:
    """(N,) model-output indices -> (N, width) float32 one-hot selection weights."""
    w = np.zeros((len(output_index), int(width)), np.float32)
    w[np.arange(len(output_index)), output_index] = 1.0
    return w


def batched(fn, arrays: tuple[np.ndarray, ...], batch_size: int) -> list:
    """Call a traced fn on aligned slices of `arrays`; returns the list of numpy outputs."""
    import tensorflow as tf

    outs = []
    for s in range(0, len(arrays[0]), batch_size):
        r = fn(*(tf.constant(a[s:s + batch_size]) for a in arrays))
        outs.append(tuple(t.numpy() for t in r) if isinstance(r, (tuple, list)) else r.numpy())
    return outs
