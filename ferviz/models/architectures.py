"""Keras architectures the training command can build, by name."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from ..errors import ModelError

if TYPE_CHECKING:  # keras is imported when a model is built, so the CLI starts fast
    import keras


def baseline_cnn(input_shape=(48, 48, 1), num_classes: int = 7, dropout: float = 1.0) -> "keras.Model":
    """Seed 000's vanilla CNN: four 3x3x32 convs, two 2x2 max-pools, batch norm, FC, 50% dropout."""
    import keras
    from keras import layers

    inp = keras.Input(input_shape, name="image")
    x = inp
    for block in range(2):
        for j in range(2):
            x = layers.Conv2D(32, 3, padding="same", use_bias=False, name=f"conv{block * 2 + j + 1}")(x)
            x = layers.BatchNormalization(name=f"bn{block * 2 + j + 1}")(x)
            x = layers.Activation("relu", name=f"relu{block * 2 + j + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, use_bias=False, name="fc")(x)
    x = layers.BatchNormalization(name="bn_fc")(x)
    x = layers.Activation("relu", name="relu_fc")(x)
    x = layers.Dropout(0.5 * dropout, name="dropout")(x)
    out = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inp, out, name="baseline_cnn")


def _vgg(input_shape, num_classes, widths, convs_per_block, dense, name, dropout) -> "keras.Model":
    import keras
    from keras import layers

    inp = keras.Input(input_shape, name="image")
    x = inp
    for b, w in enumerate(widths, start=1):
        for j in range(1, convs_per_block + 1):
            x = layers.Conv2D(w, 3, padding="same", use_bias=False, name=f"block{b}_conv{j}")(x)
            x = layers.BatchNormalization(name=f"block{b}_bn{j}")(x)
            x = layers.Activation("relu", name=f"block{b}_relu{j}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
        x = layers.Dropout((0.1 + 0.05 * b) * dropout, name=f"block{b}_drop")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(dense, use_bias=False, name="fc")(x)
    x = layers.BatchNormalization(name="bn_fc")(x)
    x = layers.Activation("relu", name="relu_fc")(x)
    x = layers.Dropout(0.5 * dropout, name="dropout")(x)
    out = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inp, out, name=name)


def vgg_small(input_shape=(48, 48, 1), num_classes: int = 7, dropout: float = 1.0) -> "keras.Model":
    """CPU-friendly VGG-style net: 4 blocks of two 3x3 convs (32-64-128-256), 1.77M params."""
    return _vgg(input_shape, num_classes, (32, 64, 128, 256), 2, 256, "vgg_small", dropout)


def vgg_deep(input_shape=(48, 48, 1), num_classes: int = 7, dropout: float = 1.0) -> "keras.Model":
    """Deeper VGG-style net in the spirit of published VGG19 FER2013 work (64-128-256-512, 2 convs/block); for GPUs."""
    return _vgg(input_shape, num_classes, (64, 128, 256, 512), 2, 512, "vgg_deep", dropout)


ARCHITECTURES: dict[str, Callable[..., "keras.Model"]] = {
    "baseline_cnn": baseline_cnn,
    "vgg_small": vgg_small,
    "vgg_deep": vgg_deep,
}

DROPOUT_SCALES = (0.0, 1.5)  # the range of `build`'s dropout scale
#: The layer Grad-CAM uses for each architecture: the ReLU after the last conv (rectified feature maps).
GRADCAM_LAYERS = {"baseline_cnn": "relu4", "vgg_small": "block4_relu2", "vgg_deep": "block4_relu2"}


def build(arch: str, input_shape=(48, 48, 1), num_classes: int = 7, dropout: float = 1.0) -> "keras.Model":
    """Build an architecture by name; ``dropout`` scales every dropout rate (1 = as designed).

    ValueError lists the known names.
    """
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    lo, hi = DROPOUT_SCALES
    if not lo <= dropout <= hi:
        raise ModelError(f"dropout scale must be between {lo} and {hi}, got {dropout}")
    return ARCHITECTURES[arch](input_shape, num_classes, dropout=dropout)
