"""Deletion/insertion checks on a hand-weighted bright-square detector."""
from __future__ import annotations

import numpy as np
import pytest

import keras  # noqa: E402  (a requirement: a missing keras fails, never skips)

from ferviz.attribution.faithfulness import (  # noqa: E402
    Faithfulness,
    deletion_insertion,
    faithfulness,
    method_faithfulness,
    summarise,
)
from ferviz.models import ModelCard  # noqa: E402


@pytest.fixture(scope="module")
def detector():
    """p(class 0) is high exactly when the rows 8-19, cols 28-39 square is bright."""
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(1, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    model = keras.Model(inp, out)
    model.layers[1].set_weights([np.full((3, 3, 1, 1), 1 / 9, np.float32), np.array([-0.5], np.float32)])
    w = np.zeros((48, 48, 7), np.float32)
    w[6:22, 26:42, 0] = 12.0 / (144 * 0.45)
    model.layers[-1].set_weights([w.reshape(-1, 7), np.array([-4, 0, 0, 0, 0, 0, 0], np.float32)])
    return model, ModelCard(name="square", file="square.keras")


def faces(n=2):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    x[:, 8:20, 28:40] = 240
    return x


def square_map():
    m = np.zeros((48, 48), np.float32)
    m[8:20, 28:40] = 1.0
    return m


@pytest.mark.parametrize("fill", ["mean", "blur"])
def test_true_map_beats_random_map(detector, fill):
    model, card = detector
    x = faces(2)
    random_map = np.random.default_rng(1).random((48, 48)).astype(np.float32)
    good = deletion_insertion(model, card, x, np.stack([square_map()] * 2), 0, fill=fill, steps=12)
    bad = deletion_insertion(model, card, x, np.stack([random_map] * 2), 0, fill=fill, steps=12)
    for g, b in zip(good, bad):
        assert g.deletion_auc < 0.5 * b.deletion_auc
        assert g.insertion_auc > b.insertion_auc + 0.3
        assert g.deletion_auc < g.random_deletion_auc and g.insertion_auc > g.random_insertion_auc
        assert g.curves["deletion"][0] > 0.8 and g.curves["deletion"][-1] < 0.1  # whole face removed
        assert len(g.curves["fraction"]) == 13


def test_single_image_and_summary(detector):
    model, card = detector
    r = faithfulness(model, card, faces(1)[0], square_map(), "angry", steps=8)
    assert isinstance(r, Faithfulness) and 0.0 <= r.deletion_auc <= 1.0
    s = summarise([r, r])
    assert s.n == 2 and s.deletion_auc == pytest.approx(r.deletion_auc) and s.deletion_win_rate == 1.0


def test_method_aggregate(detector):
    model, card = detector
    s = method_faithfulness(model, card, faces(2), 0, "gradcam", check={"steps": 8})
    assert s.n == 2 and s.deletion_win_rate == 1.0 and s.insertion_win_rate == 1.0


def test_bad_input(detector):
    model, card = detector
    with pytest.raises(ValueError, match="fill must be"):
        deletion_insertion(model, card, faces(1), square_map()[None], 0, fill="zeros")
    with pytest.raises(ValueError, match="maps have shape"):
        deletion_insertion(model, card, faces(2), square_map()[None], 0)
    with pytest.raises(ValueError):
        summarise([])
