"""The pieces of the "which method to trust" table: bootstrap intervals, the randomised models of
the sanity check, rank correlations, and the table itself on a hand-weighted model."""
from __future__ import annotations

import numpy as np
import pytest

import keras  # noqa: E402  (a requirement: a missing keras fails, never skips)

from ferviz.attribution.trust import (bootstrap_ci, candidate_layers, layer_table, randomised_model,  # noqa: E402
                                      sample_positions, spearman_per_map, trust_table, weighted_layers)
from ferviz.models import ModelCard  # noqa: E402

from tests.unit.tiny_models import faces, square_model  # noqa: E402


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 16), rng.normal(1.0, 1.0, 1024)
    lo, hi = bootstrap_ci(small)
    assert lo < small.mean() < hi
    lo2, hi2 = bootstrap_ci(large)
    assert (hi2 - lo2) < (hi - lo) / 4
    assert np.isnan(bootstrap_ci(np.array([np.nan]))[0])


def test_spearman_rules_for_blank_maps():
    from ferviz.attribution.randomisation import blank_pairs

    a = np.arange(16, dtype=float).reshape(1, 4, 4)
    assert spearman_per_map(a, a)[0] == pytest.approx(1.0)
    assert spearman_per_map(a, -a)[0] == pytest.approx(-1.0)
    assert np.isnan(spearman_per_map(a, np.zeros_like(a))[0])  # randomised map blank: left out (as Quantus)...
    assert blank_pairs(a, np.zeros_like(a)) == 1  # ... and counted
    assert np.isnan(spearman_per_map(np.zeros_like(a), a)[0])  # trained map blank: not counted
    assert blank_pairs(np.zeros_like(a), a) == 0


def _bn_model():
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax", name="head")(x))
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0.5, 0.2, w.shape).astype(np.float32) + (1.0 if "variance" in v.path else 0.0)
                       for w, v in zip(model.get_weights(), model.weights)])
    return model


def test_randomised_model_cascades_from_the_top_and_leaves_the_model_alone():
    model = _bn_model()
    before = [w.copy() for w in model.get_weights()]
    names = [layer.name for layer in weighted_layers(model)]
    assert names == ["conv", "bn", "head"]
    top1 = randomised_model(model, 1, seed=3)
    for layer in weighted_layers(model):
        same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), top1.get_layer(layer.name).get_weights()))
        assert same == (layer.name != "head"), layer.name
    full = randomised_model(model, None, seed=3)
    for layer in weighted_layers(model):
        assert not any(np.array_equal(a, b) for a, b in zip(layer.get_weights(),
                                                            full.get_layer(layer.name).get_weights())), layer.name
    bn = dict(zip(["gamma", "beta", "mean", "var"], full.get_layer("bn").get_weights()))
    assert (bn["gamma"] == 1).all() and (bn["beta"] == 0).all() and (bn["var"] == 1).all()
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the user's model
    again = randomised_model(model, None, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(full.get_weights(), again.get_weights()))  # seeded


def test_trust_table_on_a_square_detector():
    """Grad-CAM of a hand-weighted square detector: faithful, and its maps depend on the weights."""
    model = square_model()
    card = ModelCard(name="sq", file="sq.keras", gradcam_layer="last_conv", tta="mirror")
    f = faces(6, seed=2)
    df = trust_table(model, card, f, np.zeros(6, int), ["gradcam"], steps=8)
    row = df.iloc[0]
    assert row["views"] == "mirror" and row["layer"] == "last_conv" and row["n"] == 6
    assert row["deletion_auc"] < row["random_deletion_auc"]
    assert row["deletion_auc_lo"] <= row["deletion_auc"] <= row["deletion_auc_hi"]
    assert row["blank_share"] == 0.0 and row["seconds_per_face"] > 0 and row["mprt_faces"] == 6
    assert -1 <= row["mprt_spearman"] <= 1
    assert row["passes_sanity_check"] == (row["mprt_spearman_hi"] < 0.5)
    # the map beats the controls: a random order and a blurred random map, at deletion and ROAD
    assert row["deletion_auc"] < row["blur_deletion_auc"] and row["road"] < row["blur_road"] < row["random_road"]
    assert row["road_beats_blur"] == 1.0 and row["mprt_stages"] == 3
    assert 0 <= row["robust_spearman"] <= 1 and row["max_sensitivity"] >= 0 and row["robust_faces"] == 6
    assert np.isnan(row["mprt_spearman_abs"])  # only integrated gradients have an absolute variant


def test_trust_table_of_an_eight_class_model_explains_its_class_order():
    """Eight outputs in AffectNet's order (angry is output 6): the checks target class 0 through
    the card, and robustness reads the prediction back as a class index (0, not output 6)."""
    classes = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
    model = square_model(classes=classes)
    card = ModelCard(name="sq8", file="sq8.keras", gradcam_layer="last_conv", classes=classes)
    f = faces(6, seed=2)
    row = trust_table(model, card, f, np.zeros(6, int), ["gradcam"], steps=8).iloc[0]
    assert row["n"] == 6 and row["deletion_auc"] < row["random_deletion_auc"]
    assert row["robust_faces"] == 6  # every face keeps its prediction (angry) under the small perturbations
    assert row["road"] < row["random_road"]


def test_layer_table_marks_the_default_layer():
    from tests.unit.tiny_models import conv_bn_relu

    model = conv_bn_relu()
    card = ModelCard(name="c", file="c.keras")
    layers = candidate_layers(model)
    assert "drop" not in layers and layers[-1] == "pool"
    df = layer_table(model, card, faces(3), np.zeros(3, int), layers[-3:], steps=4)
    assert df["layer"].tolist() == ["bn2", "r2", "pool"]
    assert df.loc[df["default"], "layer"].tolist() == ["r2"]
    with pytest.raises(ValueError, match="gradcam or gradcampp"):
        layer_table(model, card, faces(1), [0], ["r2"], method="xrai")


def test_sample_positions():
    p = sample_positions(100, 10, seed=1)
    assert len(set(p)) == 10 and (np.diff(p) > 0).all() and p.max() < 100
    assert np.array_equal(p, sample_positions(100, 10, seed=1))
    assert len(sample_positions(5, 10)) == 5
    with pytest.raises(ValueError):
        sample_positions(5, 0)
