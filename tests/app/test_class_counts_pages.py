"""Every page with a six-class and a ten-class model (AppTest on the tiny FER2013 csv).

The six-class model has no disgust (as models that merge it into angry), so FER2013's disgust
faces are counted apart; the ten-class model outputs FER2013's seven, contempt and FER+'s
non-classes unknown and not a face, in its own order. Both are hand-weighted brightness models
whose predictions are known: each page opens without an exception or an error message, the
Overview's matrix has the dataset's 7 rows and the model's columns, and the Inspector draws one
bar per class the model can output."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ferviz.labels import EMOTIONS, NAMES
from ferviz.ui.navigation import PAGES
from tests.app.helpers import chart, LEVELS, app_on, page, texts, write_fer_csv, tiny_rows
from tests.unit.tiny_models import brightness_model

SIX = tuple(c for c in EMOTIONS if c != "disgust")
#: the ten in another order than the vocabulary's; the extra three sit beyond the faces' levels
TEN = ("neutral", "not a face", "happy", "sad", "unknown", "surprise", "fear", "disgust", "angry", "contempt")
EXTRA_LEVEL = {"contempt": 250.0, "unknown": 5.0, "not a face": 252.0}


def _centre(name: str) -> float:
    return (LEVELS[EMOTIONS.index(name)] if name in EMOTIONS else EXTRA_LEVEL[name]) / 255.0


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("classcounts")
    write_fer_csv(root / "fer2013.csv", tiny_rows())
    models = root / "models"
    models.mkdir()
    for stem, classes in (("six", SIX), ("ten", TEN)):
        brightness_model(np.array([_centre(c) for c in classes])).save(models / f"{stem}.keras")
        (models / f"{stem}.json").write_text(json.dumps({
            "name": f"{len(classes)} classes", "file": f"{stem}.keras", "gradcam_layer": "conv",
            "classes": list(classes), "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
    return {"data": str(root / "fer2013.csv"), "models": str(models)}


def _ok(at, where):
    assert not at.exception, (where, [e.value for e in at.exception])
    assert not [e.value for e in at.error], (where, [e.value for e in at.error])


@pytest.mark.parametrize("stem, classes", [("six", SIX), ("ten", TEN)])
def test_every_page_opens_with_six_and_ten_classes(env, monkeypatch, stem, classes):
    at = app_on(env, monkeypatch, stem).run()
    _ok(at, "overview")
    spec = chart(at, "Confusion matrix")
    cols = list(spec["layout"]["xaxis"]["ticktext"])
    rows = [t.split(" (")[0] for t in spec["layout"]["yaxis"]["ticktext"]]
    assert rows == list(EMOTIONS)  # the dataset's seven rows
    assert cols == [c for c in NAMES if c in classes]  # the model's columns, in vocabulary order
    if stem == "six":
        assert "8 of 56 faces are labelled disgust" in texts(at)  # counted apart, said
        assert "(not a model class)" in spec["layout"]["yaxis"]["ticktext"][1]
    for spec_ in PAGES:
        if spec_.name in ("overview", "data"):
            continue
        at = page(at, spec_.name)
        _ok(at, spec_.name)
    at.session_state["sel_id"] = "0"  # an angry face
    at = page(at, "inspector")
    _ok(at, "inspector")
    shown = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    bar = next(s for s in shown if s["data"] and s["data"][0].get("type") == "bar")
    names = [str(y).split(" (")[0] for y in bar["data"][0]["y"]]
    assert sorted(names) == sorted(classes), names  # one bar per class the model can output
