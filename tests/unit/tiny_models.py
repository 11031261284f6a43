"""Hand-weighted tiny Keras models for tests: their outputs are known in advance."""
from __future__ import annotations

import numpy as np

from ferviz.labels import EMOTIONS, class_index


def brightness_model(centres: np.ndarray, size=(48, 48), channels: int = 1, k: float = 40.0):
    """Softmax over -k*(mean - centre_j)^2: predicts the output j whose centre is nearest the image mean.

    Built from GlobalAveragePooling2D + Dense with set weights (the -mean^2 term is common to
    every class, so it drops out of the softmax).
    """
    import keras

    inp = keras.Input((*size, channels))
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(len(centres), activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    conv = np.zeros((3, 3, channels, 2), np.float32)
    conv[1, 1, :, 0] = 1.0 / channels  # feature 0: the channel mean
    model.get_layer("conv").set_weights([conv, np.zeros(2, np.float32)])
    w = np.zeros((2, len(centres)), np.float32)
    w[0] = 2 * k * centres
    model.get_layer("probs").set_weights([w, (-k * centres ** 2).astype(np.float32)])
    return model


SQUARE = (slice(8, 20), slice(28, 40))  # rows, cols of the bright square in the 48x48 face
REGION = (6, 22, 26, 42)  # the face region (48x48 units) class 0 looks at: r0, r1, c0, c1
FAST = {"ig": {"steps": 8}, "xrai": {"steps": 8}, "smoothgrad": {"samples": 4}}


def square_model(size: int = 48, channels: int = 1, scale=(0.0, 1.0), classes=EMOTIONS):
    """Class 0 (angry) is driven only by bright pixels inside REGION; other logits are 0. One
    output per name of `classes` (any number, aliases allowed; angry must be one)."""
    import keras

    lo, hi = scale
    inp = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(2, 1, name="last_conv")(x)
    x = keras.layers.Flatten()(x)
    k_out = len(classes)
    out = keras.layers.Dense(k_out, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    k = np.zeros((3, 3, channels, 2), np.float32)
    k[..., 0] = 1.0 / (9 * channels)  # local brightness above mid-grey
    model.get_layer("conv1").set_weights([k, np.array([-(lo + hi) / 2, 0.0], np.float32)])
    eye = np.eye(2, dtype=np.float32)[None, None]
    model.get_layer("last_conv").set_weights([eye, np.zeros(2, np.float32)])
    half = size // 2
    r0, r1, c0, c1 = (round(v * half / 48) for v in REGION)
    w = np.zeros((half, half, 2, k_out), np.float32)
    j = [class_index(c) for c in classes].index(class_index("angry"))
    area = (12 * half / 48) ** 2  # pooled positions covered by the square
    w[r0:r1, c0:c1, 0, j] = 8.0 / (area * 0.45 * (hi - lo))
    b = np.zeros(k_out, np.float32)
    b[j] = -4.0
    model.get_layer("probs").set_weights([w.reshape(-1, k_out), b])
    return model


def faces(n: int = 3, seed: int = 0, square: bool = True) -> np.ndarray:
    """Dark noise faces, with a bright 12x12 square at SQUARE unless `square` is False."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    if square:
        x[:, SQUARE[0], SQUARE[1]] = rng.integers(230, 256, (n, 12, 12))
    return x


def conv_bn_relu(conv_activation=None):
    """Conv, ReLU, conv (+ its own activation or not), batch norm, ReLU, dropout, pooling: where
    Grad-CAM's default layer is the activation after the last conv."""
    import keras

    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = keras.layers.Activation("relu", name="r1")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation=conv_activation, name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    if conv_activation is None:
        x = keras.layers.Activation("relu", name="r2")(x)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x))
