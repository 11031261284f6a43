"""Explanations on the real PrivateTest: maps follow the shown (test-time averaged) prediction, no
method is blank on the shipped models or on a model of another size and scaling, and the trust and
layers commands report on real faces."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ferviz.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in (ROOT / "models").glob("*.json"))
pytestmark = pytest.mark.data
N_FACES = 64


@pytest.fixture(scope="module")
def other_card(tmp_path_factory):
    """64x64 RGB in [-1, 1], classes in another order, 10-view TTA, no gradcam_layer: found by ferviz."""
    import keras

    keras.utils.set_random_seed(11)
    inp = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, name="c1")(inp)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Activation("relu", name="r1")(x)
    x = keras.layers.Conv2D(16, 3, name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.Activation("relu", name="r2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    folder = tmp_path_factory.mktemp("other-tta")
    keras.Model(inp, out).save(folder / "rgb64.keras")
    (folder / "rgb64.json").write_text(json.dumps({
        "name": "RGB 64 [-1,1] TTA", "file": "rgb64.keras", "tta": "mirror+shift",
        "classes": ["neutral", "happy", "sad", "angry", "surprise", "fear", "disgust"],
        "input": {"height": 64, "width": 64, "channels": 3, "scale": [-1, 1]}}))
    return folder / "rgb64.json"


def _sample(split, n=N_FACES, seed=0):
    from ferviz.attribution.trust import sample_positions

    return sample_positions(len(split), n, seed)


@pytest.mark.slow
@pytest.mark.parametrize("which", [*SHIPPED, "other"])
def test_every_method_gives_non_blank_maps(which, private_test, other_card):
    """At least 95% non-blank maps for the shown prediction on 64 random PrivateTest faces."""
    from ferviz.attribution import METHODS, blank_maps, explain, gradcam_layer
    from ferviz.analysis.evaluation import evaluate
    from ferviz.models import load_card, load_model

    card = load_card(other_card if which == "other" else ROOT / "models" / f"{which}.json")
    model = load_model(card)
    assert card.tta == "mirror+shift"
    layer = gradcam_layer(model, card)
    assert type(model.get_layer(layer)).__name__ == "Activation", layer  # rectified feature maps
    pos = _sample(private_test)
    targets = evaluate(card, private_test, model=model).probs[pos].argmax(axis=1)  # what the app shows
    faces = private_test.images[pos]
    for method in METHODS:
        maps = explain(model, card, faces, targets, method)
        assert maps.shape == (N_FACES, 48, 48) and np.isfinite(maps).all()
        share = blank_maps(maps).mean()
        assert share <= 0.05, f"{card.name} {method}: {share:.0%} blank maps"


def test_tta_maps_differ_from_single_view_maps_where_the_views_disagree(private_test):
    """On real faces whose single-view prediction differs from the shown 10-view one, the default map
    explains the shown class and is not the single-view map."""
    from ferviz.attribution import explain
    from ferviz.analysis.evaluation import evaluate, predict_probs
    from ferviz.models import load_card, load_model

    card = load_card(ROOT / "models" / "vgg_small_ft.json")
    model = load_model(card)
    pos = np.arange(400)
    shown = evaluate(card, private_test, model=model).probs[pos].argmax(axis=1)
    from dataclasses import replace

    single = predict_probs(model, replace(card, tta=None), private_test.images[pos]).argmax(axis=1)
    differ = pos[shown != single][:6]
    assert len(differ) >= 3  # ~11% of PrivateTest
    faces, targets = private_test.images[differ], shown[shown != single][:6]
    tta = explain(model, card, faces, targets, "gradcam")
    one = explain(model, card, faces, targets, "gradcam", views="single")
    assert np.abs(tta - one).reshape(len(differ), -1).max(axis=1).min() > 0.05


def test_trust_command_on_real_faces(fer_path, tmp_path, monkeypatch):
    card = ROOT / "models" / "baseline_cnn.json"
    args = ["trust", "--model", str(card), "--data", str(fer_path), "--n", "6", "--methods", "gradcam,gradcampp",
            "--out", str(tmp_path)]
    assert main(args) == 0
    df = pd.read_csv(tmp_path / "trust.csv")
    assert list(df["method"]) == ["gradcam", "gradcampp"]
    for col in ("deletion_auc", "deletion_auc_lo", "deletion_auc_hi", "insertion_auc", "random_deletion_auc",
                "random_insertion_auc_hi", "blur_deletion_auc", "road", "random_road", "blur_road", "mprt_spearman",
                "blank_share", "seconds_per_face", "passes_sanity_check", "mprt_faces", "mprt_blank_randomised",
                "emprt", "smprt_spearman", "robust_spearman", "max_sensitivity"):
        assert col in df.columns, col
    assert (df["deletion_auc_lo"] <= df["deletion_auc"]).all() and (df["deletion_auc"] <= df["deletion_auc_hi"]).all()
    assert df["mprt_spearman"].between(-1, 1).all() and (df["seconds_per_face"] > 0).all()
    assert (df["views"] == "mirror+shift").all() and (df["layer"] == "relu4").all()
    assert (df["mprt_faces"] + df["mprt_blank_randomised"] <= 6).all()
    assert (tmp_path / "trust.png").stat().st_size > 10_000 and (tmp_path / "cascade.png").stat().st_size > 10_000
    # the cascade: one correlation per stage (conv+bn x4, fc+bn, probs), the last the table's end point
    steps = pd.read_csv(tmp_path / "cascade.csv")
    for method in ("gradcam", "gradcampp"):
        g = steps[steps["method"] == method]
        assert list(g["stage"]) == [1, 2, 3, 4, 5, 6] and list(g["layer"]) == ["probs", "fc", "conv4", "conv3",
                                                                               "conv2", "conv1"]
        assert g["spearman"].iloc[-1] == pytest.approx(df.set_index("method").loc[method, "mprt_spearman"], abs=1e-3)
    # the second run is served from the per-model cache: same numbers, nothing recomputed
    import ferviz.attribution.trust as trust

    def recompute(*a, **k):
        raise AssertionError("the trust table was recomputed instead of read from the cache")
    monkeypatch.setattr(trust, "trust_tables", recompute)
    assert main(args[:-1] + [str(tmp_path / "again")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / "trust.csv"), df)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / "cascade.csv"), steps)


def test_layers_command_lists_candidates(fer_path, tmp_path, capsys):
    card = ROOT / "models" / "vgg_small_ft.json"
    assert main(["layers", "--model", str(card), "--data", str(fer_path), "--n", "4", "--limit", "3",
                 "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "layers.csv")
    assert list(df["layer"]) == ["block4_bn2", "block4_relu2", "block4_pool"]
    assert df.loc[df["default"], "layer"].tolist() == ["block4_relu2"]
    assert "block4_relu2" in capsys.readouterr().out


def test_explain_flags_views_and_blank_maps(fer_path, private_test, tmp_path):
    card = ROOT / "models" / "vgg_small_ft.json"
    ids = [str(i) for i in private_test.ids[:3]]
    assert main(["explain", "--model", str(card), "--data", str(fer_path), "--ids", *ids, "--method", "gradcampp",
                 "--out", str(tmp_path)]) == 0
    z = np.load(tmp_path / "maps.npz")
    assert z["blank"].dtype == bool and z["blank"].shape == (3,)
    assert not z["blank"].any()  # on the rectified layer Grad-CAM++ finds evidence
    assert str(z["views"]) == "mean of 10 test-time views (mirror+shift)"
    assert main(["explain", "--model", str(card), "--data", str(fer_path), "--ids", *ids, "--method", "gradcampp",
                 "--views", "single", "--out", str(tmp_path / "single")]) == 0
    assert str(np.load(tmp_path / "single" / "maps.npz")["views"]).startswith("single view")
