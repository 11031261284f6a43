"""Model cards: validation, registry, safe loading, preprocessing and refusal messages."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ferviz.analysis.evaluation import evaluate, predict_probs
from ferviz.data.splits import FERSplit
from ferviz.labels import EMOTIONS
from ferviz.models import (InputSpec, ModelError, card_from_dict, find_card, list_cards, load_card,
                           load_model, preprocess)
from tests.unit.tiny_models import brightness_model

SHUFFLED = ("neutral", "happy", "sad", "angry", "surprise", "fear", "disgust")


def _card(tmp_path, stem, model, *, classes=EMOTIONS, ext=".keras", **inp):
    model.save(tmp_path / f"{stem}{ext}")
    d = {"name": stem, "file": f"{stem}{ext}", "classes": list(classes),
         "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1], **inp}, "gradcam_layer": "conv"}
    (tmp_path / f"{stem}.json").write_text(json.dumps(d))
    return load_card(tmp_path / f"{stem}.json")


def _levels_split():
    """7 constant faces, FER class c has brightness 20 + 35*c."""
    levels = 20 + 35 * np.arange(7)
    images = np.repeat(levels.astype(np.uint8)[:, None, None], 48, 1).repeat(48, 2)
    return FERSplit(images, np.arange(7), np.array([f"img{c}" for c in range(7)]), "PrivateTest", "mem", "h")


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_unusual_card_evaluates_correctly(tmp_path, ext):
    """64x64, 3 channels, scaled to [-1, 1], classes in another order, also as legacy .h5."""
    split = _levels_split()
    lo, hi = -1.0, 1.0
    fer_centre = (20 + 35 * np.arange(7)) / 255.0 * (hi - lo) + lo
    centres = np.array([fer_centre[EMOTIONS.index(c)] for c in SHUFFLED])
    card = _card(tmp_path, "odd", brightness_model(centres, (64, 64), 3), classes=SHUFFLED, ext=ext,
                 height=64, width=64, channels=3, scale=[lo, hi])
    ev = evaluate(card, split)
    assert ev.accuracy == 1.0
    np.testing.assert_allclose(ev.probs.sum(1), 1.0, atol=1e-5)
    # the wrong scaling would not be right: read the same model with a [0, 1] card
    wrong = card_from_dict({**card.to_json(), "input": {"height": 64, "width": 64, "channels": 3, "scale": [0, 1]}},
                           card.path)
    assert evaluate(wrong, split).accuracy < 0.5


def test_preprocess_scale_resize_channels():
    img = np.array([[[0, 255], [255, 0]]], np.uint8).repeat(24, 1).repeat(24, 2)  # 48x48
    x = preprocess(img, InputSpec(48, 48, 3, (-1.0, 1.0)))
    assert x.shape == (1, 48, 48, 3) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    y = preprocess(img, InputSpec(64, 64, 1, (0.0, 1.0)))
    assert y.shape == (1, 64, 64, 1) and 0.0 <= y.min() and y.max() <= 1.0


@pytest.mark.parametrize("patch, message", [
    ({"classes": ["angry"] * 7}, "classes name angry more than once"),
    ({"classes": ["anger", *EMOTIONS]}, r"classes name angry more than once \(aliases count"),
    ({"classes": ["angry"]}, "at least 2 classes"),
    ({"classes": "angry,sad"}, "must be a list of class names"),
    ({"classes": ["joy", *EMOTIONS[1:]]}, "unknown emotion 'joy'"),
    ({"input": {"height": 48, "width": 48, "channels": 2, "scale": [0, 1]}}, "channels must be 1 or 3"),
    ({"input": {"height": 48, "width": 48, "scale": [1, 1]}}, "scale must be two different"),
    ({"input": {"height": 4, "scale": [0, 1]}}, "height must be an integer"),
    ({"input": {"height": 48, "width": 48, "channels": 1}}, "missing 'input.scale'"),
    ({"classes": list(EMOTIONS)}, "missing 'input.scale'"),  # no input at all: refused, not guessed
    ({"name": ""}, "missing or empty 'name'"),
    ({"tta": "crop10"}, "tta must be"),
])
def test_bad_cards_are_refused(patch, message):
    d = {"name": "m", "file": "m.keras", **({} if "scale" in message and "input" not in patch
                                            else {"input": {"scale": [0, 1]}}), **patch}
    with pytest.raises(ModelError, match=message):
        card_from_dict(d)


def test_model_refusals(tmp_path):
    import keras

    eight = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(8)])
    card = _card(tmp_path, "eight", eight)
    with pytest.raises(ModelError, match=r"outputs shape \(8,\), but the card lists 7 classes"):
        load_model(card)
    good = _card(tmp_path, "good", brightness_model(np.linspace(0, 1, 7)))
    mismatch = card_from_dict({**good.to_json(), "input": {"height": 64, "width": 64, "scale": [0, 1]}}, good.path)
    with pytest.raises(ModelError, match=r"card says input \(64, 64, 1\)"):
        load_model(mismatch)
    nolayer = card_from_dict({**good.to_json(), "gradcam_layer": "conv_9"}, good.path)
    with pytest.raises(ModelError, match="gradcam_layer 'conv_9' is not a layer"):
        load_model(nolayer)
    (tmp_path / "junk.keras").write_bytes(b"this is not a model")
    junk = card_from_dict({**good.to_json(), "file": "junk.keras"}, tmp_path / "good.json")
    with pytest.raises(ModelError, match="not a loadable Keras model"):
        load_model(junk)
    raw = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(raw[: len(raw) // 2])
    cut = card_from_dict({**good.to_json(), "file": "cut.keras"}, tmp_path / "good.json")
    with pytest.raises(ModelError, match="not a loadable Keras model"):
        load_model(cut)


def test_card_file_errors_and_registry(tmp_path, monkeypatch):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_card(tmp_path / "broken.json")
    (tmp_path / "orphan.json").write_text(json.dumps({"name": "o", "file": "o.keras", "input": {"scale": [0, 1]}}))
    with pytest.raises(ModelError, match="model file 'o.keras' not found"):
        load_card(tmp_path / "orphan.json")
    _card(tmp_path, "good", brightness_model(np.linspace(0, 1, 7)))
    monkeypatch.setenv("FERVIZ_MODELS", str(tmp_path))
    cards, problems = list_cards()
    assert "good" in [c.key for c in cards]
    assert any("broken.json" in p for p in problems) and any("orphan.json" in p for p in problems)
    assert find_card("good").name == "good"
    assert find_card(str(tmp_path / "good.keras")).key == "good"
    with pytest.raises(ModelError, match="no model 'nope'"):
        find_card("nope")


def test_prediction_cache_never_stale(tmp_path):
    split = _levels_split()
    centres = (20 + 35 * np.arange(7)) / 255.0
    card = _card(tmp_path, "m", brightness_model(centres))
    assert evaluate(card, split).accuracy == 1.0
    # replace the model file with one whose classes are rotated: the cache must not answer
    brightness_model(np.roll(centres, 1)).save(tmp_path / "m.keras")
    card2 = load_card(tmp_path / "m.json")
    assert evaluate(card2, split).accuracy == 0.0


def test_mirror_tta_averages_flips(tmp_path):
    import keras

    # a model whose class-0 score depends on the left half only
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Cropping2D(((0, 0), (0, 24)))(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    m = keras.Model(inp, out)
    m.layers[-1].set_weights([np.array([[5.0] + [0.0] * 6], np.float32), np.zeros(7, np.float32)])
    card = _card(tmp_path, "half", m)
    img = np.zeros((1, 48, 48), np.uint8)
    img[:, :, :24] = 255
    p = predict_probs(m, card, img)
    tta = card_from_dict({**card.to_json(), "tta": "mirror"}, card.path)
    q = predict_probs(m, tta, img)
    flipped = predict_probs(m, card, img[:, :, ::-1])
    np.testing.assert_allclose(q, (p + flipped) / 2, rtol=1e-5)
    assert not np.allclose(p, q)


def test_models_command_lists_cards(tmp_path, monkeypatch, capsys):
    from ferviz.cli import main

    card = _card(tmp_path, "listed", brightness_model(np.linspace(0, 1, 7)))
    d = {**card.to_json(), "metrics": {"PrivateTest": {"accuracy": 0.6123, "macro_f1": 0.55}},
         "training": {"params": 1210919, "wall_time_s": 1800, "hardware": "CPU"}}
    (tmp_path / "listed.json").write_text(json.dumps(d))
    monkeypatch.setenv("FERVIZ_MODELS", str(tmp_path))
    assert main(["models"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "listed" in line)
    assert "| 61.23% | 0.550 |" in row and "1.21 M" in row and "30 min" in row


def test_models_command_shows_both_stages_of_a_fine_tuned_model(tmp_path, monkeypatch, capsys):
    from ferviz.cli import main

    card = _card(tmp_path, "tuned", brightness_model(np.linspace(0, 1, 7)))
    d = {**card.to_json(), "training": {"wall_time_s": 600, "hardware": "CPU",
                                        "init": {"file": "models/x.keras", "wall_time_s": 3600}}}
    (tmp_path / "tuned.json").write_text(json.dumps(d))
    monkeypatch.setenv("FERVIZ_MODELS", str(tmp_path))
    assert main(["models"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "`tuned.keras`" in line)
    assert row.endswith("| 60 + 10 min |"), row


def test_mirror_shift_tta_views_and_average(tmp_path):
    from ferviz.analysis.evaluation import tta_views

    x = np.arange(2 * 32 * 32, dtype=np.float32).reshape(2, 32, 32, 1)
    views = tta_views(x, "mirror+shift")
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    d = 2  # 32 / 16
    down = views[2]  # shifted down by d, top rows replicated
    np.testing.assert_array_equal(down[:, d:], x[:, :-d])
    np.testing.assert_array_equal(down[:, :d], np.repeat(x[:, :1], d, axis=1))
    np.testing.assert_array_equal(views[3], views[2][:, :, ::-1])
    assert len({v.tobytes() for v in views}) == 10
    assert len(tta_views(x, "mirror")) == 2 and tta_views(x, None)[0] is x
    with pytest.raises(ValueError, match="unknown test-time augmentation 'ten-crop'"):
        tta_views(x, "ten-crop")

    m = brightness_model(np.linspace(0, 1, 7))
    card = card_from_dict({**_card(tmp_path, "s", m).to_json(), "tta": "mirror+shift"}, tmp_path / "s.json")
    img = np.zeros((1, 48, 48), np.uint8)
    img[:, :20, :30] = 255
    q = predict_probs(m, card, img)
    x48 = img[..., None].astype(np.float32) / 255
    expected = np.mean([m.predict(v, verbose=0) for v in tta_views(x48, "mirror+shift")], axis=0)
    np.testing.assert_allclose(q, expected, rtol=1e-5, atol=1e-6)


def test_card_metrics_must_be_numbers_from_0_to_1():
    from ferviz.models import ModelError, card_from_dict

    base = {"name": "m", "file": "m.keras", "input": {"scale": [0, 1]}}
    for metrics in ({"PrivateTest": 0.7}, {"PrivateTest": {"accuracy": "70%"}},
                    {"PublicTest": {"accuracy": 1.5}}, {"PrivateTest": {"macro_f1": True}}):
        with pytest.raises(ModelError, match="metrics"):
            card_from_dict({**base, "metrics": metrics})
    with pytest.raises(ModelError, match="'metrics' must be a JSON object"):
        card_from_dict({**base, "metrics": [0.7]})
    ok = card_from_dict({**base, "metrics": {"PrivateTest": {"accuracy": 0.7, "n": 3589}, "command": "x"}})
    assert ok.metrics["PrivateTest"]["accuracy"] == 0.7


def test_same_named_cards_in_two_folders_are_reported_not_shadowed(tmp_path, monkeypatch):
    import json

    from ferviz import config
    from ferviz.models import list_cards
    from tests.unit.tiny_models import brightness_model

    monkeypatch.setattr(config, "MODELS_DIR", tmp_path / "none")
    monkeypatch.delenv("FERVIZ_MODELS", raising=False)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        brightness_model(np.linspace(0, 1, 7)).save(tmp_path / folder / "m.keras")
        (tmp_path / folder / "m.json").write_text(json.dumps({"name": f"M {folder}", "file": "m.keras",
                                                                         "input": {"scale": [0, 1]}}))
    cards, problems = list_cards(tmp_path / "a", tmp_path / "b")
    assert [c.name for c in cards] == ["M a"]
    assert len(problems) == 1 and "same name 'm'" in problems[0] and str(tmp_path / "b" / "m.json") in problems[0]


def test_compute_key_follows_the_card_fields_predictions_depend_on(tmp_path):
    from dataclasses import replace

    from ferviz.models import InputSpec, ModelCard
    from tests.unit.tiny_models import brightness_model

    brightness_model(np.linspace(0, 1, 7)).save(tmp_path / "m.keras")
    card = ModelCard(name="m", file="m.keras").save(tmp_path / "m.json")
    k = card.compute_key()
    assert replace(card, name="renamed", metrics={"x": 1}).compute_key() == k
    for changed in (replace(card, tta="mirror"), replace(card, input=InputSpec(scale=(-1.0, 1.0))),
                    replace(card, classes=tuple(reversed(card.classes))), replace(card, gradcam_layer="conv")):
        assert changed.compute_key() != k


def test_logits_and_other_heads_are_turned_into_probabilities():
    import keras

    from ferviz.analysis.evaluation import predict_probs
    from ferviz.models import output_head
    from ferviz.models import ModelCard

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (5, 48, 48), dtype=np.uint8)
    inp = keras.Input((48, 48, 1))
    feat = keras.layers.Flatten()(keras.layers.AveragePooling2D(8)(inp))
    order = ("happy", "angry", "sad", "neutral", "fear", "surprise", "disgust")
    card = ModelCard(name="m", file="m.keras", classes=order)
    for act, head in ((None, "logits"), ("softmax", "probs"), ("sigmoid", "scores")):
        m = keras.Model(inp, keras.layers.Dense(7, activation=act, kernel_initializer="glorot_normal",
                                                bias_initializer="random_normal")(feat))
        assert output_head(m) == head
        out = m.predict(faces[..., None].astype(np.float32) / 255.0, verbose=0)
        want = {"logits": np.exp(out) / np.exp(out).sum(1, keepdims=True), "probs": out,
                "scores": out / out.sum(1, keepdims=True)}[head]
        p = predict_probs(m, card, faces)
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
        assert (p >= 0).all()
        np.testing.assert_allclose(p[:, card.output_to_fer], want, atol=1e-5)
