"""The inspector's "Nearest Training faces" (built on a click the first time, then at once), the
Your face page's, and the Prototypes page: what they show is what the core computes, a Training
copy shows at distance 0, and a neighbour opens in the inspector on Training."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferviz.analysis import neighbours as nb
from ferviz.analysis import prototypes as pr
from ferviz.data.splits import load_all
from ferviz.labels import EMOTIONS
from ferviz.models import load_card, load_model
from ferviz.ui.neighbours import distance_text
from tests.app.helpers import LEVELS, app_on, page, texts, tiles, upload_astronaut
from tests.unit.tiny_models import brightness_model


@pytest.fixture(scope="module")
def nb_env(quality_env, tmp_path_factory):
    """The quality data (Training copies of PrivateTest faces 26 and 0) with a brightness model whose
    penultimate features are (mean brightness, 1): each brightness its own direction, so cosine
    distances tell faces apart (the tiny models' features all point the same way)."""
    folder = tmp_path_factory.mktemp("nbmodels")
    model = brightness_model(LEVELS / 255.0)
    conv = model.get_layer("conv")
    conv.set_weights([conv.get_weights()[0], np.array([0.0, 1.0], np.float32)])  # the Dense ignores feature 1
    model.save(folder / "nb_a.keras")
    (folder / "nb_a.json").write_text(json.dumps({
        "name": "Neighbours A", "file": "nb_a.keras", "gradcam_layer": "conv",
        "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
    return {"data": quality_env["data"], "models": str(folder)}


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _core(env, face, image_id=None, k=8, exclude=None):
    card = load_card(Path(env["models"]) / "nb_a.json")
    splits = load_all(env["data"])
    training = splits["Training"]
    index = nb.training_index(None, card, training)
    from ferviz.analysis.evaluation import evaluate

    preds = evaluate(card, training).preds
    q = nb.query_features(load_model(card), card, face)
    return nb.neighbours(index, q, [image_id or "upload"], k=k, preds=preds,
                         exclude=exclude), splits


def _neighbour_tiles(at):
    return [t for t in tiles(at) if t["caption"] and "→" in t["caption"] and "top" not in t["caption"]]


def test_inspector_builds_on_a_click_then_shows_the_neighbours(nb_env, monkeypatch):
    at = app_on(nb_env, monkeypatch, "nb_a")
    at.session_state["sel_id"] = "26"  # a fear face at happy's brightness, copied into Training as id 77
    at = page(at.run(), "inspector")
    _ok(at)
    assert "Nearest Training faces" in [s.value for s in at.subheader]
    assert "Find the nearest Training faces" in [b.label for b in at.button]
    assert not _neighbour_tiles(at)
    at.button(key="insp_nb_build").click()
    at = at.run()
    _ok(at)
    split = load_all(nb_env["data"])["PrivateTest"]
    face = split.images[split.index_of("26")]
    df, _ = _core(nb_env, face, "26")
    sentence = nb.neighbourhood_sentence(df, "fear")
    assert sentence in texts(at) and "1 is a copy of this face (distance 0)" in sentence
    shown = _neighbour_tiles(at)
    assert [t["id"] for t in shown] == df["neighbour_id"].tolist() and len(shown) == 8
    assert shown[0]["id"] == "77" and shown[0]["badges"] == ["copy · distance 0"]
    first = df.iloc[0]
    assert f"**{first['neighbour_label']}** → **{first['neighbour_pred']}**" in shown[0]["caption"]
    assert first["neighbour_label"] == "happy"
    for t, d in zip(shown[1:], df["distance"].iloc[1:]):
        assert distance_text(d) in texts(at)

    # the next visit finds the index cached: no button; fewer neighbours when asked
    at.session_state["insp_nb_k"] = 4
    at = at.run()
    _ok(at)
    assert "Find the nearest Training faces" not in [b.label for b in at.button]
    assert len(_neighbour_tiles(at)) == 4

    at.button(key="insp_nb_inspect_0").click()  # the Training copy opens in the inspector, on Training
    at = at.run()
    _ok(at)
    assert at.session_state["sel_split"] == "Training" and at.session_state["sel_id"] == "77"


def test_a_training_face_does_not_find_itself(nb_env, monkeypatch):
    at = app_on(nb_env, monkeypatch, "nb_a")
    at.session_state["sel_split"] = "Training"
    at.session_state["sel_id"] = "77"
    at = page(at.run(), "inspector")
    _ok(at)
    if "Find the nearest Training faces" in [b.label for b in at.button]:
        at = at.button(key="insp_nb_build").click().run()
    ids = [t["id"] for t in _neighbour_tiles(at)]
    training = load_all(nb_env["data"])["Training"]
    df, _ = _core(nb_env, training.images[training.index_of("77")], "77", exclude=["77"])
    assert ids == df["neighbour_id"].tolist() and "77" not in ids and len(ids) == 8
    assert nb.neighbourhood_sentence(df, "happy") in texts(at)


def test_your_face_shows_the_nearest_training_faces_of_the_crop(nb_env, monkeypatch):
    at = upload_astronaut(app_on(nb_env, monkeypatch, "nb_a"))
    _ok(at)
    if "Find the nearest Training faces" in [b.label for b in at.button]:
        at = at.button(key="up_nb_build").click().run()
        _ok(at)
    shown = _neighbour_tiles(at)
    assert len(shown) == 8
    assert "nearest Training faces" in texts(at) or "The nearest Training face" in texts(at)


def test_prototypes_page_shows_the_cores_prototypes_and_criticisms(nb_env, monkeypatch):
    at = app_on(nb_env, monkeypatch, "nb_a")
    at.session_state["proto_n"] = 3
    at = page(at.run(), "prototypes")
    _ok(at)
    split = load_all(nb_env["data"])["PrivateTest"]
    card = load_card(Path(nb_env["models"]) / "nb_a.json")
    df = pr.split_prototypes(None, card, split, n_prototypes=3, n_criticisms=3)
    heads = [s.value for s in at.subheader]
    for i, e in enumerate(EMOTIONS):
        assert f"{e} · {int((split.labels == i).sum()):,} faces" in heads
    want = []
    for e in EMOTIONS:
        rows = df[df["label"] == e]
        want += rows[rows.kind == "prototype"]["id"].tolist() + rows[rows.kind == "criticism"]["id"].tolist()
    assert [t["id"] for t in tiles(at)] == want
    assert "Prototypes** (most typical)" in texts(at) and "Criticisms** (least typical)" in texts(at)

    at.radio(key="proto_class").set_value("sad")
    at = at.run()
    _ok(at)
    sad = df[df["label"] == "sad"]
    assert [s.value for s in at.subheader] == [f"sad · {int((split.labels == 4).sum()):,} faces"]
    assert [t["id"] for t in tiles(at)] == sad[sad.kind == "prototype"]["id"].tolist() + \
        sad[sad.kind == "criticism"]["id"].tolist()
