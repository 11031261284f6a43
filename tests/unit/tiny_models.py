"""Hand-weighted tiny Keras models for tests: their outputs are known in advance."""
from __future__ import annotations

import numpy as np


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
