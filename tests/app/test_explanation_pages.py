"""What the app says about its explanations: the views a map follows, blank maps named instead of
drawn flat, the "which method to trust" table, and models with NaN outputs refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.app.helpers import APP, LEVELS, page, texts
from tests.unit.tiny_models import brightness_model


def _no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def _save(folder, stem, model, name, **card):
    model.save(folder / f"{stem}.keras")
    (folder / f"{stem}.json").write_text(json.dumps({
        "name": name, "file": f"{stem}.keras", "gradcam_layer": "conv",
        "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}, **card}))


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory):
    """A TTA card, a model with no positive evidence anywhere and a model whose outputs are NaN."""
    import keras

    folder = tmp_path_factory.mktemp("odd-models")
    _save(folder, "tiny_tta", brightness_model(LEVELS / 255.0), "Tiny TTA", tta="mirror")
    flat = brightness_model(LEVELS / 255.0)
    flat.get_layer("probs").set_weights([np.zeros((2, 7), np.float32), np.zeros(7, np.float32)])
    _save(folder, "tiny_flat", flat, "Tiny flat")
    nan = brightness_model(LEVELS / 255.0)
    w, b = nan.get_layer("probs").get_weights()
    b[3] = np.nan
    nan.get_layer("probs").set_weights([w, b])
    _save(folder, "tiny_nan", nan, "Tiny NaN")
    assert isinstance(flat, keras.Model)
    return folder


@pytest.fixture
def odd_app(tiny_env, odd_models, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FERVIZ_DATA", tiny_env["data"])
    monkeypatch.setenv("FERVIZ_MODELS", str(odd_models))
    return AppTest.from_file(APP, default_timeout=240)


def test_inspector_says_which_views_the_maps_follow(odd_app):
    odd_app.session_state["sel_model"] = "tiny_tta"
    at = odd_app.run()
    at.session_state["sel_id"] = "6"
    at = page(at, "inspector")
    _no_exceptions(at)
    assert "maps: mean of 2 test-time views (mirror)" in texts(at)
    assert at.radio(key="insp_views").value == "tta"
    at.radio(key="insp_views").set_value("single").run()
    _no_exceptions(at)
    assert "maps: single view (no test-time augmentation)" in texts(at)


def test_blank_maps_are_named_not_drawn(odd_app):
    odd_app.session_state["sel_model"] = "tiny_flat"
    at = odd_app.run()
    at.session_state["sel_id"] = "6"
    at = page(at, "inspector")
    _no_exceptions(at)
    warnings = [w.value for w in at.warning]
    assert "Grad-CAM finds no positive evidence for angry at layer conv" in warnings  # all logits 0: argmax angry
    assert "Grad-CAM++ finds no positive evidence for angry at layer conv" in warnings
    assert sum("no map" in c for img in at.image for c in img.captions) == 3  # the face, no flat overlay


def test_a_model_with_nan_outputs_is_refused(odd_app):
    odd_app.session_state["sel_model"] = "tiny_nan"
    at = odd_app.run()
    _no_exceptions(at)
    errors = " ".join(e.value for e in at.error)
    assert "Tiny NaN" in errors and "NaN or infinite values on 56 of 56 faces" in errors
    assert not at.metric  # no accuracy shown for it


def _trust_table(at):
    return next(d.value for d in at.dataframe if "sanity check" in d.value.columns)


def test_which_method_to_trust_table(app):
    at = app.run()
    at = page(at, "errors")  # all errors
    at.selectbox(key="trust_n").set_value(8).run()
    assert "Not computed yet for Tiny A on 8 faces" in texts(at)
    at.button(key="trust_go").click().run()
    _no_exceptions(at)
    table = _trust_table(at)
    assert list(table["method"]) == ["Grad-CAM", "Grad-CAM++", "XRAI", "Integrated gradients", "SmoothGrad"]
    assert set(table["sanity check"]) <= {"passes", "fails"}
    assert table["deletion AUC"].str.match(r"0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]").all()
    for col in ("random / blurred random deletion", "ROAD", "left out (randomised map blank)", "eMPRT", "sMPRT",
                "corr. under small perturbations", "max-sensitivity"):
        assert col in table.columns, col
    assert table.loc[table["method"] == "Integrated gradients", "randomised-model corr."].str.contains(
        "absolute").all()
    assert at.get("plotly_chart")  # the cascade as curves
    assert "Passes the sanity check" in texts(at) or "No method passes the sanity check" in texts(at)
    # the table is cached per model file: a new session shows it without computing
    at2 = page(app.run(), "errors")
    at2.selectbox(key="trust_n").set_value(8).run()
    assert "Not computed yet" not in texts(at2)
    assert list(_trust_table(at2)["method"]) == list(table["method"])
