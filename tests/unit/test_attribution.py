"""Attribution methods on hand-weighted tiny models: a bright-square detector, an
Xception-style shortcut model, a 64x64 RGB [-1, 1] shuffled-class card and a dense-only model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ferviz.models import InputSpec, ModelCard

import keras  # noqa: E402  (a requirement: a missing keras fails, never skips)

from tests.unit.tiny_models import FAST, SQUARE, faces, square_model  # noqa: E402
from ferviz.attribution import (METHODS, cached_explain, explain, get_explainer,  # noqa: E402
                                gradcam_layer, mean_map, resolve_targets)

def card_for(model, **kw) -> ModelCard:
    return ModelCard(name=kw.pop("name", "tiny"), file="tiny.keras", **kw)


def in_square(m: np.ndarray, pad: int = 1) -> bool:
    """The peak (centroid of the top-valued pixels: XRAI maps are flat per segment) is in the square."""
    r, c = np.argwhere(m >= m.max() - 1e-6).mean(axis=0)
    rows, cols = SQUARE
    return rows.start - pad <= r < rows.stop + pad and cols.start - pad <= c < cols.stop + pad


@pytest.fixture(scope="module")
def square():
    model = square_model()
    return model, card_for(model, gradcam_layer="last_conv")


def test_square_model_is_a_square_detector(square):
    from ferviz.analysis.evaluation import predict_probs

    model, card = square
    assert predict_probs(model, card, faces(2))[:, 0].min() > 0.8
    assert predict_probs(model, card, faces(2, square=False))[:, 0].max() < 0.05


@pytest.mark.parametrize("method", list(METHODS))
def test_peak_falls_inside_the_square(square, method):
    model, card = square
    maps = explain(model, card, faces(3), 0, method, **FAST.get(method, {}))
    assert maps.shape == (3, 48, 48) and maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    assert all(in_square(m) for m in maps), method


@pytest.mark.parametrize("method", ["gradcam", "gradcampp", "xrai"])
def test_maps_beat_a_random_map_on_deletion(square, method):
    from ferviz.attribution.faithfulness import deletion_insertion

    model, card = square
    x = faces(2)
    maps = explain(model, card, x, 0, method, **FAST.get(method, {}))
    random_maps = np.random.default_rng(0).random(maps.shape)
    true_maps = deletion_insertion(model, card, x, maps, 0, steps=12)
    for good, bad in zip(true_maps, deletion_insertion(model, card, x, random_maps, 0, steps=12)):
        assert good.deletion_auc < 0.5 * bad.deletion_auc, method
        assert good.insertion_auc > bad.insertion_auc, method


def test_explain_does_not_modify_the_model(square):
    model, card = square
    x = faces(4).astype(np.float32)[..., None] / 255.0
    before, weights = model.predict(x, verbose=0), [w.copy() for w in model.get_weights()]
    n_layers = len(model.layers)
    for method in METHODS:
        explain(model, card, faces(4), [0, 3, 6, 0], method, **FAST.get(method, {}))
    assert model.layers[-1].activation.__name__ == "softmax"
    assert len(model.layers) == n_layers
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)


def test_explainer_is_built_once_per_model(square):
    model, card = square
    assert get_explainer(model, card, "gradcam") is get_explainer(model, card, "gradcam")
    assert get_explainer(model, card, "gradcam") is not get_explainer(square_model(), card, "gradcam")


def test_gradcam_layer_is_found_without_the_card():
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, name="c1")(inp)
    x = keras.layers.Conv2D(4, 3, strides=2, name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Reshape((1, 1, 4))(x)
    x = keras.layers.Conv2D(7, 1, name="head_conv")(x)  # 1x1 spatial after global pooling: not a CAM layer
    out = keras.layers.Activation("softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    assert gradcam_layer(model, card_for(model)) == "c2"
    assert gradcam_layer(model, card_for(model, gradcam_layer="c1")) == "c1"
    assert np.isfinite(explain(model, card_for(model), faces(2), 3, "gradcam")).all()


def test_nested_backbone_counts_as_the_conv_layer():
    inner = keras.Input((48, 48, 1))
    backbone = keras.Model(inner, keras.layers.Conv2D(4, 3, name="inner_conv")(inner), name="backbone")
    inp = keras.Input((48, 48, 1))
    x = keras.layers.GlobalAveragePooling2D()(backbone(inp))
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x))
    assert gradcam_layer(model, card_for(model)) == "backbone"
    assert np.isfinite(explain(model, card_for(model), faces(2), [1, 2], "gradcampp")).all()


def test_bad_inputs_are_named(square):
    model, card = square
    with pytest.raises(ValueError, match="unknown attribution method 'lime'"):
        explain(model, card, faces(1), 0, "lime")
    with pytest.raises(ValueError, match="unknown emotion 'joy'"):
        explain(model, card, faces(1), "joy")
    with pytest.raises(ValueError, match="outside 0-9"):
        explain(model, card, faces(1), 10)
    with pytest.raises(ValueError, match="tiny cannot output contempt; its classes are angry, .*, neutral"):
        explain(model, card, faces(1), 7)  # a class, but not one of this model's
    with pytest.raises(ValueError, match="got 3 targets for 1 images"):
        explain(model, card, faces(1), [0, 1, 2])
    with pytest.raises(ValueError, match="unknown parameter.*stepz"):
        explain(model, card, faces(1), 0, "ig", stepz=3)
    with pytest.raises(ValueError, match="constant image"):
        explain(model, card, np.full((1, 48, 48), 128, np.uint8), 0, "xrai")
    dense = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(7, activation="softmax")])
    with pytest.raises(ValueError, match="no conv layer"):
        explain(dense, card_for(dense, name="mlp"), faces(1), 0, "gradcam")
    assert np.isfinite(explain(dense, card_for(dense, name="mlp"), faces(1), 0, "ig", steps=4)).all()


def test_resolve_targets():
    probs = np.eye(7)[[3, 5]]
    assert resolve_targets("pred", probs).tolist() == [3, 5]
    assert resolve_targets("true", probs, np.array([2, 2])).tolist() == [2, 2]
    assert resolve_targets("Sad", probs).tolist() == [4, 4]
    assert resolve_targets(6, probs).tolist() == [6, 6]
    with pytest.raises(ValueError, match="needs the true labels"):
        resolve_targets("true", probs)
    with pytest.raises(ValueError, match="bad target 'joy'"):
        resolve_targets("joy", probs)


def test_targets_a_model_cannot_output_are_refused_naming_its_classes(square):
    _, seven = square
    eight = card_for(None, classes=("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"))
    probs = np.eye(8)[[3, 7]]
    assert resolve_targets("Contemptuous", probs, card=eight).tolist() == [7, 7]
    assert resolve_targets("pred", probs, card=eight).tolist() == [3, 7]
    assert resolve_targets("true", probs, np.array([7, 0]), card=eight).tolist() == [7, 0]
    with pytest.raises(ValueError, match="target 'contempt': tiny cannot output contempt; its classes are "
                                         "angry, disgust, fear, happy, sad, surprise, neutral$"):
        resolve_targets("contempt", probs, card=seven)
    with pytest.raises(ValueError, match=r"target 'true' \(the true label of some faces\): tiny cannot output "
                                         "contempt"):
        resolve_targets("true", probs, np.array([7, 0]), card=seven)
    with pytest.raises(ValueError, match="bad target 'joy'.*known names.*contempt"):
        resolve_targets("joy", probs, card=seven)
    with pytest.raises(ValueError, match="cannot explain: tiny cannot output contempt; its classes are angry"):
        explain(square[0], seven, faces(1), "contempt", "gradcam")


EIGHT = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")  # AffectNet's order


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_explains_an_eight_class_model(method):
    """Angry (class 0) is output 6 of eight; contempt (class 7, output 7) is explained too."""
    from ferviz.analysis.evaluation import predict_probs

    model = square_model(classes=EIGHT)
    card = card_for(model, name="eight", classes=EIGHT, gradcam_layer="last_conv")
    p = predict_probs(model, card, faces(2))
    assert p.shape == (2, 8) and p[:, 0].min() > 0.8
    maps = explain(model, card, faces(2), "angry", method, **FAST.get(method, {}))
    assert maps.shape == (2, 48, 48) and all(in_square(m, pad=2) for m in maps), method
    other = explain(model, card, faces(2), [7, 0], method, **FAST.get(method, {}))
    assert other.shape == (2, 48, 48) and np.isfinite(other).all() and np.allclose(other[1], maps[1], atol=1e-5)


def test_feature_maps_of_an_eight_class_model():
    from ferviz.analysis.feature_maps import feature_maps

    model = square_model(classes=EIGHT)
    card = card_for(model, name="eight", classes=EIGHT, gradcam_layer="last_conv")
    angry = feature_maps(model, card, faces(2), "angry")
    contempt = feature_maps(model, card, faces(2), "contempt")  # a flat logit: no gradient, but no error
    assert angry.layers == contempt.layers and contempt.targets.tolist() == [7, 7]
    g = [float(np.abs(np.asarray(x.cam_grads)).sum()) for x in (angry, contempt)]
    assert g[0] > 0 and g[1] == 0


def test_mean_map():
    maps = np.zeros((2, 4, 4), np.float32)
    maps[0, 0, 0] = maps[1, 0, 0] = 1.0
    maps[1, 3, 3] = 1.0
    m = mean_map(maps)
    assert m.shape == (4, 4) and m[0, 0] == 1.0 and m[3, 3] == 0.5
    with pytest.raises(ValueError):
        mean_map(np.zeros((0, 4, 4)))


def test_other_input_size_channels_scale_and_class_order():
    classes = ("neutral", "happy", "surprise", "angry", "sad", "fear", "disgust")
    model = square_model(64, 3, (-1.0, 1.0), classes)
    card = card_for(model, input=InputSpec(64, 64, 3, (-1.0, 1.0)), classes=classes)
    from ferviz.analysis.evaluation import predict_probs

    assert predict_probs(model, card, faces(2))[:, 0].min() > 0.8  # FER class 0 = model output 3
    for method in METHODS:
        maps = explain(model, card, faces(2), 0, method, **FAST.get(method, {}))
        assert maps.shape == (2, 48, 48), method
        assert all(in_square(m, pad=2) for m in maps), method


def xception_style_model() -> keras.Model:
    """Two Xception-style blocks: a 3x3 separable path added to a 1x1 stride-2 conv shortcut."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((48, 48, 1))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    for width in (16, 32):
        a = L.SeparableConv2D(width, 3, padding="same", activation="relu")(x)
        a = L.SeparableConv2D(width, 3, padding="same")(a)
        a = L.MaxPooling2D(3, strides=2, padding="same")(a)
        s = L.Conv2D(width, 1, strides=2, padding="same")(x)
        x = L.Activation("relu")(L.Add()([a, L.BatchNormalization()(s)]))
    x = L.Conv2D(32, 3, padding="same", name="last_conv")(x)
    out = L.Dense(7, activation="softmax")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out)


def test_shortcut_model_runs_every_method_repeatedly():
    """Eager gradients through 1x1 stride-2 shortcuts segfault on this CPU; traced ones must not."""
    model = xception_style_model()
    card = card_for(model, name="xc")
    assert gradcam_layer(model, card) == "last_conv"
    for _ in range(3):
        for method in METHODS:
            maps = explain(model, card, faces(2, seed=1), [2, 4], method, **FAST.get(method, {}))
            assert maps.shape == (2, 48, 48) and np.isfinite(maps).all(), method


def test_cache_round_trip(tmp_path, square, monkeypatch):
    model, _ = square
    model.save(tmp_path / "sq.keras")
    card_path = tmp_path / "sq.json"
    card_path.write_text(json.dumps({"name": "square", "file": "sq.keras", "gradcam_layer": "last_conv",
                                     "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
    from ferviz.models import load_card

    card = load_card(card_path)
    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path / "cache"))
    x, ids, seen = faces(3), np.array(["a/1", "b 2", "c"]), []
    first = cached_explain(model, card, x, ids, "data1", [0, 3, 0], "gradcam",
                           progress=lambda f, t: seen.append(f))
    assert seen[-1] == 1.0
    np.testing.assert_array_equal(first, explain(model, card, x, [0, 3, 0], "gradcam"))
    files = list((tmp_path / "cache" / "attributions").rglob("*"))
    assert sum(f.suffix == ".npz" for f in files) == 3 and not any(f.suffix == ".tmp" for f in files)

    def boom(*a, **k):
        raise AssertionError("recomputed a cached map")
    monkeypatch.setattr(type(get_explainer(model, card, "gradcam")), "raw", boom)
    from ferviz.attribution.cache import clear_memory

    clear_memory()  # a new process: the maps come from disk
    second = cached_explain(model, card, x, ids, "data1", [0, 3, 0], "gradcam")
    np.testing.assert_array_equal(first, second)
    with pytest.raises(AssertionError, match="recomputed"):  # another target is another entry
        cached_explain(model, card, x[:1], ids[:1], "data1", 4, "gradcam")
    monkeypatch.undo()
    from ferviz.attribution import precompute
    from ferviz.data.splits import FERSplit

    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path / "cache"))
    split = FERSplit(x, np.zeros(3, int), ids, "PrivateTest", "src", "h")
    np.testing.assert_array_equal(precompute(model, card, split, [0, 3, 0], "gradcam"), first)
    hit = cached_explain(model, card, x, ids, split.data_hash, [0, 3, 0], "gradcam", chunk=1)
    np.testing.assert_array_equal(hit, first)
    for steps in (4, 5, 5):  # other parameters are other entries; batch_size is not a parameter of maps
        cached_explain(model, card, x[:1], ids[:1], "data1", 0, "ig", steps=steps, batch_size=steps)
    assert len(list((tmp_path / "cache" / "attributions").glob("*-ig-*"))) == 2


def test_repeated_request_is_served_from_memory(tmp_path, square, monkeypatch):
    import ferviz.cache as fcache

    model, _ = square
    card = card_for(model)
    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path / "cache"))
    x, ids = faces(2), np.array(["m1", "m2"])
    first = cached_explain(model, card, x, ids, "d", [0, 0], "gradcam", model_hash="mh")
    monkeypatch.setattr(fcache, "load_arrays", lambda p: (_ for _ in ()).throw(AssertionError("disk read")))
    again = cached_explain(model, card, x, ids, "d", [0, 0], "gradcam", model_hash="mh")
    np.testing.assert_array_equal(first, again)
    again[:] = 0  # callers get a copy: the memo cannot be corrupted
    np.testing.assert_array_equal(first, cached_explain(model, card, x, ids, "d", [0, 0], "gradcam", model_hash="mh"))
    with pytest.raises(AssertionError, match="disk read"):  # another target is a new request
        cached_explain(model, card, x, ids, "d", [3, 3], "gradcam", model_hash="mh")


def test_smoothgrad_map_of_a_face_does_not_depend_on_its_batch(square):
    model, card = square
    x = faces(3)
    alone = explain(model, card, x[1:2], 0, "smoothgrad", samples=4)
    in_batch = explain(model, card, x, 0, "smoothgrad", samples=4, batch_size=8)
    np.testing.assert_allclose(alone[0], in_batch[1], atol=1e-5)
