"""Integration fixtures: a model unlike the shipped ones, shared by several real-data tests."""
from __future__ import annotations

import json

import pytest

#: the class order of the 64x64 RGB model's card (not FER2013's)
ORDER = ["neutral", "happy", "sad", "angry", "surprise", "fear", "disgust"]


@pytest.fixture(scope="session")
def other_card(tmp_path_factory):
    """A 64x64 RGB legacy .h5 model scaled to [-1, 1], classes in `ORDER`, no gradcam_layer."""
    import keras

    keras.utils.set_random_seed(7)
    inp = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    folder = tmp_path_factory.mktemp("other")
    keras.Model(inp, out).save(folder / "rgb64.h5")  # legacy Keras 2 format
    (folder / "rgb64.json").write_text(json.dumps({
        "name": "RGB 64 [-1,1]", "file": "rgb64.h5", "classes": ORDER,
        "input": {"height": 64, "width": 64, "channels": 3, "scale": [-1, 1]}}))
    return folder / "rgb64.json"
