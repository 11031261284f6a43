"""Maps explain the prediction that is shown: test-time views, mirror equivariance, blank maps,
the rectified Grad-CAM layer and the refusal of models with non-finite outputs."""
from __future__ import annotations

import numpy as np
import pytest

from ferviz.labels import EMOTIONS
from ferviz.models import ModelCard, ModelError
from ferviz.models.tta import from_view, to_view, views

import keras  # noqa: E402  (a requirement: a missing keras fails, never skips)

from ferviz.attribution import (METHODS, blank_maps, blank_message, cached_explain, explain,  # noqa: E402
                                gradcam_layer, resolve_targets, views_label)
from ferviz.analysis.evaluation import predict_probs, tta_views  # noqa: E402

from tests.unit.tiny_models import FAST, conv_bn_relu, faces, square_model  # noqa: E402

LEFT = (slice(16, 32), slice(4, 16))  # rows, cols of the bright patch; RIGHT is its mirror image
RIGHT = (slice(16, 32), slice(32, 44))


@pytest.mark.parametrize("tta", [None, "mirror", "mirror+shift"])
def test_views_match_the_prediction_views(tta):
    x = np.random.default_rng(0).random((3, 48, 40, 2)).astype(np.float32)
    vs = views(tta, 48, 40)
    assert len(vs) == {None: 1, "mirror": 2, "mirror+shift": 10}[tta]
    for got, want in zip([to_view(x, v) for v in vs], tta_views(x, tta)):
        np.testing.assert_array_equal(got, want)
    # the mirror+shift shift is edge-replicated by round(48 / 16) = 3 pixels
    if tta == "mirror+shift":
        down = to_view(x, vs[2])
        np.testing.assert_array_equal(down[:, 3:], x[:, :-3])
        np.testing.assert_array_equal(down[:, :3], np.repeat(x[:, :1], 3, axis=1))


@pytest.mark.parametrize("tta", ["mirror", "mirror+shift"])
def test_sum_inverse_is_the_chain_rule(tta):
    """<view(x), g> == <x, from_view(g)>: summing back is the transpose of taking the view."""
    rng = np.random.default_rng(1)
    x, g = rng.random((2, 48, 48)), rng.random((2, 48, 48))
    for v in views(tta, 48, 48):
        lhs = (to_view(x, v) * g).sum(axis=(1, 2))
        rhs = (x * from_view(g, v, "sum")).sum(axis=(1, 2))
        np.testing.assert_allclose(lhs, rhs, rtol=1e-5)


def test_mean_inverse_undoes_a_shift_without_inflating_the_edge():
    vs = views("mirror+shift", 48, 48)
    m = np.ones((1, 48, 48), np.float32)
    back = from_view(to_view(m, vs[2]), vs[2], "mean")  # shifted down by 3
    assert back[0, :45].min() == 1.0 and back[0, :45].max() == 1.0
    np.testing.assert_array_equal(back[0, 45:], 0.0)  # pushed out of the frame: the model never saw it
    back_sum = from_view(to_view(m, vs[2]), vs[2], "sum")
    np.testing.assert_array_equal(back_sum[0, 0], 4.0)  # the edge row collects its 3 copies + itself


def test_bad_inverse_mode_and_tta_are_refused():
    with pytest.raises(ValueError, match="how must be one of"):
        from_view(np.zeros((1, 4, 4)), views(None, 4, 4)[0], "max")
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        views("rotate", 48, 48)


@pytest.fixture(scope="module")
def square_tta():
    model = square_model()
    return model, ModelCard(name="tiny-tta", file="tiny.keras", gradcam_layer="last_conv", tta="mirror+shift")


@pytest.mark.parametrize("method", list(METHODS))
def test_map_of_a_mirrored_face_is_the_mirrored_map(square_tta, method):
    """The card's views are mirror-symmetric, so the TTA map must be mirror-equivariant."""
    model, card = square_tta
    f = faces(2, seed=4)
    both = np.concatenate([f, f[:, :, ::-1]])
    maps = explain(model, card, both, 0, method, **FAST.get(method, {}))
    assert not blank_maps(maps).any()
    np.testing.assert_allclose(maps[2:], maps[:2, :, ::-1], atol=2e-4)
    if method not in ("gradcam", "gradcampp"):  # (its CAM is bright pixels times a global weight)
        # the single view of this asymmetric model is not equivariant: the test can fail
        single = explain(model, card, both, 0, method, views="single", **FAST.get(method, {}))
        assert np.abs(single[2:] - single[:2, :, ::-1]).max() > 0.05


def lopsided_model(a: float = 6.0, b: float = 12.0) -> keras.Model:
    """Class 0 (angry) responds to a bright LEFT patch with weight a, class 1 (disgust) to a bright
    RIGHT patch with weight b > a; other logits 0. A face bright on the left: the face alone says
    angry, its mirror says disgust more strongly, so the 2-view mean says disgust."""
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(1, 1, activation="relu", name="bright")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(7, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    model.get_layer("bright").set_weights([np.ones((1, 1, 1, 1), np.float32), np.array([-0.5], np.float32)])
    w = np.zeros((48, 48, 7), np.float32)
    area = 16 * 12
    w[LEFT[0], LEFT[1], 0] = a / (0.5 * area)
    w[RIGHT[0], RIGHT[1], 1] = b / (0.5 * area)
    model.get_layer("probs").set_weights([w.reshape(-1, 7), np.zeros(7, np.float32)])
    return model


def test_disagreeing_views_the_map_explains_the_tta_prediction():
    model = lopsided_model()
    card = ModelCard(name="lopsided", file="l.keras", tta="mirror")
    face = np.zeros((1, 48, 48), np.uint8)
    face[0, LEFT[0], LEFT[1]] = 255
    single_card = ModelCard(name="lopsided", file="l.keras", tta=None)
    assert predict_probs(model, single_card, face).argmax() == 0  # the face alone: angry
    probs = predict_probs(model, card, face)
    target = resolve_targets("pred", probs)
    assert target[0] == 1  # the shown (2-view) prediction: disgust
    for method in ("ig", "smoothgrad", "xrai"):
        tta_map = explain(model, card, face, target, method, **FAST.get(method, {}))[0]
        single_map = explain(model, card, face, target, method, views="single", **FAST.get(method, {}))[0]
        # the mirror view's evidence for disgust is the bright patch, mapped back to the left
        assert tta_map[LEFT].mean() > 5 * tta_map[RIGHT].mean(), method
        assert np.abs(tta_map - single_map).max() > 0.5, method
    # one forward pass on the face has no evidence for disgust at all (the right side is dark)
    for method in ("ig", "xrai"):
        assert blank_maps(explain(model, card, face, target, method, views="single", steps=8))[0], method
    assert views_label(card) == "mean of 2 test-time views (mirror)"
    assert views_label(card, "single").startswith("single view")


def test_cached_maps_keep_single_and_tta_apart(tmp_path, monkeypatch, square_tta):
    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path))
    model, card = square_tta
    f = faces(2, seed=6)
    ids = np.array(["a", "b"])
    tta = cached_explain(model, card, f, ids, "data-1", 0, "gradcam", model_hash="m")
    single = cached_explain(model, card, f, ids, "data-1", 0, "gradcam", views="single", model_hash="m")
    np.testing.assert_allclose(tta, explain(model, card, f, 0, "gradcam"), atol=1e-6)
    np.testing.assert_allclose(single, explain(model, card, f, 0, "gradcam", views="single"), atol=1e-6)
    assert np.abs(tta - single).max() > 1e-3
    assert len(list((tmp_path / "attributions").iterdir())) == 2
    with pytest.raises(ValueError, match="views must be"):
        cached_explain(model, card, f, ids, "data-1", 0, "gradcam", views="both", model_hash="m")


def test_blank_maps_are_found_and_named():
    maps = np.zeros((3, 4, 4), np.float32)
    maps[1, 0, 0] = 1.0
    assert blank_maps(maps).tolist() == [True, False, True]
    assert blank_maps(maps[1]).tolist() == [False]
    from ferviz.attribution.base import finish

    raw = np.ones((3, 6, 6), np.float32)
    raw[1, 2, 2] = np.nan  # one non-finite value: the whole map is not trusted
    raw[2, 0, 0] = 2.0
    assert blank_maps(finish(raw, (12, 12))).tolist() == [True, True, False]
    msg = blank_message("gradcampp", 4, "block4_relu2")
    assert msg == "Grad-CAM++ finds no positive evidence for sad at layer block4_relu2"
    assert "layer" not in blank_message("xrai", 4, "block4_relu2")


def test_a_model_without_positive_evidence_gives_blank_maps():
    """Every logit is 0 whatever the face: no method finds evidence."""
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="conv")(inp)
    out = keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    model.layers[-1].set_weights([np.zeros((48 * 48 * 2, 7), np.float32), np.zeros(7, np.float32)])
    card = ModelCard(name="flat", file="f.keras", tta="mirror")
    for method in ("gradcam", "gradcampp", "ig"):
        assert blank_maps(explain(model, card, faces(2), 3, method, **FAST.get(method, {}))).all(), method


def test_default_gradcam_layer_is_the_activation_after_the_last_conv():
    card = ModelCard(name="c", file="c.keras")
    assert gradcam_layer(conv_bn_relu(), card) == "r2"
    assert gradcam_layer(conv_bn_relu("relu"), card) == "c2"  # the conv's own activation rectifies


def test_shipped_model_architectures_default_to_their_relu():
    from ferviz.models.architectures import build

    card = ModelCard(name="c", file="c.keras")
    assert gradcam_layer(build("vgg_small"), card) == "block4_relu2"
    assert gradcam_layer(build("baseline_cnn"), card) == "relu4"


def _nan_model():
    inp = keras.Input((48, 48, 1))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax", name="out")(x))
    w, b = model.get_layer("out").get_weights()
    b[2] = np.nan
    model.get_layer("out").set_weights([w, b])
    return model


def test_a_model_with_nan_outputs_is_refused_and_nothing_is_cached(tmp_path, monkeypatch):
    from ferviz.data.splits import FERSplit
    from ferviz.analysis.evaluation import evaluate, prediction_cache_path

    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path))
    model = _nan_model()
    path = tmp_path / "nan.keras"
    model.save(path)
    card = ModelCard(name="NaN model", file="nan.keras", path=tmp_path / "nan.json")
    imgs = faces(5)
    with pytest.raises(ModelError, match=r"NaN model .*NaN or infinite values on 5 of 5 faces"):
        predict_probs(model, card, imgs)
    split = FERSplit(imgs, np.zeros(5, np.int64), np.array(list("abcde")), "PrivateTest", "synthetic", "h")
    with pytest.raises(ModelError, match="5 of 5 faces"):
        evaluate(card, split, model=model)
    assert not prediction_cache_path(card, split).exists()


def test_nan_model_is_refused_by_the_cli(tmp_path, monkeypatch, capsys):
    """evaluate and predict on a model whose outputs are NaN: exit 2 with the message."""
    import json

    from ferviz.cli import main

    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path / "cache"))
    _nan_model().save(tmp_path / "nan.keras")
    (tmp_path / "nan.json").write_text(json.dumps({"name": "NaN model", "file": "nan.keras",
                                                   "input": {"height": 48, "width": 48, "channels": 1,
                                                             "scale": [0, 1]},
                                                   "classes": list(EMOTIONS)}))
    csv = tmp_path / "fer.csv"
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"] + [f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 2304)))},PrivateTest"
                                       for i in range(4)]
    csv.write_text("\n".join(rows) + "\n")
    assert main(["evaluate", "--model", str(tmp_path / "nan.json"), "--data", str(csv)]) == 2
    err = capsys.readouterr().err
    assert "NaN or infinite values on 4 of 4 faces" in err and "NaN model" in err
    assert not list((tmp_path / "cache").glob("predictions/*"))


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def test_exports_annotate_blank_maps_instead_of_drawing_them():
    from ferviz.export import annotated_figure, cell_sheet

    face = faces(1)[0]
    probs = np.full(7, 1 / 7)
    good = np.random.default_rng(0).random((48, 48)).astype(np.float32)
    fig = annotated_figure(face, probs, overlays={"Grad-CAM (sad)": good, "Grad-CAM++ (sad)": np.zeros((48, 48))})
    assert sum("no positive\nevidence" in t for t in _texts(fig)) == 1
    sheet = cell_sheet(faces(3), np.full((3, 7), 1 / 7), ["a", "b", "c"], true="fear", pred="sad",
                       overlays=np.stack([good, np.zeros((48, 48)), good]), method="Grad-CAM++")
    texts = _texts(sheet)
    assert sum(t.endswith("· no evidence") for t in texts) == 1
    assert any("1 map(s) with no positive evidence" in t for t in texts)


def test_ig_averages_signed_evidence_over_the_views_before_keeping_the_positive_part():
    """A patch that helps the class a little in one view and hurts it a lot in the mirror view is
    evidence against the averaged prediction: no positive IG (the per-view positive parts would
    have shown it)."""
    model = lopsided_model()
    w = np.zeros((48, 48, 7), np.float32)
    area = 16 * 12
    w[LEFT[0], LEFT[1], 0] = 0.2 / (0.5 * area)  # angry: +0.2 for a bright left patch ...
    w[RIGHT[0], RIGHT[1], 0] = -3.0 / (0.5 * area)  # ... and -3 for a bright right patch
    model.get_layer("probs").set_weights([w.reshape(-1, 7), np.zeros(7, np.float32)])
    card = ModelCard(name="lopsided", file="l.keras", tta="mirror")
    face = np.zeros((1, 48, 48), np.uint8)
    face[0, LEFT[0], LEFT[1]] = 255
    assert predict_probs(model, card, face)[0, 0] < 1 / 7  # the patch lowers p(angry) on average
    assert blank_maps(explain(model, card, face, 0, "ig", steps=8))[0]
    single = explain(model, card, face, 0, "ig", views="single", steps=8)[0]
    assert single[LEFT].mean() > 0.5  # one view alone sees evidence for angry
