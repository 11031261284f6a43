"""Datasets and models whose classes are not FER2013's seven, made from real FER2013 faces at test
time: a CK+-style folder (contempt, no neutral, CK+'s folder names) and an AffectNet-style
eight-class folder (capitalised names), with the shipped seven-class baseline and an eight-class
model built from it. Each loads, evaluates, explains, exports and opens in the app."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ferviz import cli
from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.labels import EMOTIONS, EXPRESSIONS, NAMES
from tests.class_sets import BASELINE, eight_class_model, write_folders

pytestmark = [pytest.mark.data, pytest.mark.slow]

PER_CLASS = 12
CK_FOLDERS = {0: "anger", 1: "disgust", 2: "fear", 3: "happy", 4: "sadness", 5: "surprise", 7: "contempt"}
AFFECTNET_FOLDERS = {0: "Anger", 1: "Disgust", 2: "Fear", 3: "Happy", 4: "Sad", 5: "Surprise", 6: "Neutral",
                     7: "Contempt"}
CONTEMPT = 7


@pytest.fixture(scope="module")
def faces(fer_path):
    """Real PrivateTest faces: PER_CLASS of each FER2013 class, then PER_CLASS more neutral faces
    that the folders file as contempt (FER2013 has none)."""
    from ferviz.data.splits import load_fer2013

    split = load_fer2013(fer_path, "PrivateTest")
    idx = [np.flatnonzero(split.labels == c)[:PER_CLASS] for c in range(7)]
    idx.append(np.flatnonzero(split.labels == 6)[PER_CLASS:2 * PER_CLASS])
    labels = np.concatenate([np.full(PER_CLASS, c) for c in range(8)])
    return split.images[np.concatenate(idx)], labels


@pytest.fixture(scope="module")
def ckplus(faces, tmp_path_factory):
    images, labels = faces
    keep = labels != 6  # CK+ has no neutral
    return write_folders(tmp_path_factory.mktemp("ckplus"), images[keep], labels[keep], CK_FOLDERS)


@pytest.fixture(scope="module")
def affectnet(faces, tmp_path_factory):
    images, labels = faces
    return write_folders(tmp_path_factory.mktemp("affectnet"), images, labels, AFFECTNET_FOLDERS)


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    from ferviz.models import load_card

    return load_card(eight_class_model(tmp_path_factory.mktemp("eight")))


@pytest.fixture(scope="module")
def baseline():
    from ferviz.models import load_card

    return load_card(BASELINE)


def _test_split(root):
    from ferviz.data.splits import load_all

    splits = load_all(root)
    return splits[splits.resolve("test")]


def test_the_folders_load_with_their_own_classes_and_pixels(ckplus, affectnet, faces):
    images, labels = faces
    ck = _test_split(ckplus)
    assert ck.classes == ("angry", "disgust", "fear", "happy", "sad", "surprise", "contempt")
    assert np.bincount(ck.labels, minlength=8).tolist() == [PER_CLASS] * 6 + [0, PER_CLASS]
    an = _test_split(affectnet)
    assert an.classes == EXPRESSIONS
    # the same real faces, pixel for pixel (PNG is lossless), in the order written, under their class
    np.testing.assert_array_equal(an.images, images)
    np.testing.assert_array_equal(an.labels, labels)
    np.testing.assert_array_equal(ck.images, images[labels != 6])


def test_a_seven_class_model_on_ckplus_counts_contempt_apart(ckplus, baseline, faces):
    from ferviz.analysis.evaluation import Evaluation, evaluate

    ck = _test_split(ckplus)
    ev = evaluate(baseline, ck)
    m = ev.matrix()
    assert list(m.index) == list(ck.classes) and list(m.columns) == list(EMOTIONS)  # 7 x 7, not the same 7
    assert not ev.square and ev.n_outside == PER_CLASS and ev.n_scored == 6 * PER_CLASS
    assert m.loc["contempt"].sum() == PER_CLASS and "neutral" in m.columns and "neutral" not in m.index
    # accuracy and errors are on the 72 faces the model can be right about, nothing else
    scored = ck.labels != CONTEMPT
    assert ev.accuracy == pytest.approx(float((ev.preds[scored] == ck.labels[scored]).mean()))
    assert len(ev.errors()) == int((ev.preds[scored] != ck.labels[scored]).sum())
    assert not (ev.errors()["true"] == "contempt").any()
    assert len(ev.errors(true=CONTEMPT)) == PER_CLASS  # asked for, the contempt faces are there
    assert "12 of 84 faces are labelled contempt, which Baseline CNN cannot output" in ev.outside_note()
    s = ev.summary()
    assert s["outside"] == {"contempt": PER_CLASS} and s["true_classes"][-1] == "contempt"
    assert np.asarray(s["confusion_matrix"]).shape == (7, 7)
    # the folder's faces are predicted exactly as the same FER2013 faces are
    from ferviz.analysis.evaluation import predict_probs
    from ferviz.models import load_model

    images, labels = faces
    direct = predict_probs(load_model(baseline), baseline, images[labels != 6])
    assert ev.probs.shape == (84, 8) and not ev.probs[:, CONTEMPT].any()  # a column for the dataset's contempt, all 0
    np.testing.assert_allclose(direct, ev.probs[:, :7], atol=1e-5)
    assert isinstance(ev, Evaluation)


def test_an_eight_class_model_on_fer2013_and_on_affectnet(fer_path, affectnet, eight, baseline):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_fer2013

    from dataclasses import replace

    fer = load_fer2013(fer_path, "PrivateTest").subset(np.arange(400))
    # one view each: averaging views' softmaxes over 8 classes may move the argmax among the 7
    ev8, ev7 = evaluate(replace(eight, tta=None), fer), evaluate(replace(baseline, tta=None), fer)
    assert ev8.probs.shape == (400, 8) and ev8.matrix().shape == (7, 8)
    assert list(ev8.matrix().columns) == list(EXPRESSIONS) and ev8.n_outside == 0
    # its seven FER2013 outputs are the baseline's: where it does not say contempt, it says what the baseline says
    not_contempt = ev8.preds != CONTEMPT
    assert 0 < (~not_contempt).sum() < 400
    np.testing.assert_array_equal(ev8.preds[not_contempt], ev7.preds[not_contempt])
    an = _test_split(affectnet)
    ev = evaluate(eight, an)
    assert ev.square and ev.matrix().shape == (8, 8) and ev.n_outside == 0
    assert ev.per_class()["class"].tolist() == list(EXPRESSIONS)


def test_explaining_contempt(affectnet, eight, baseline):
    from ferviz.attribution import explain
    from ferviz.errors import AttributionError
    from ferviz.models import load_model

    an = _test_split(affectnet)
    face = an.images[an.labels == CONTEMPT][:2]
    model = load_model(eight)
    for method in ("gradcam", "ig"):
        contempt = explain(model, eight, face, "contempt", method=method)
        happy = explain(model, eight, face, "happy", method=method)
        assert contempt.shape == (2, 48, 48) and (contempt.max(axis=(1, 2)) > 0).all()
        assert np.abs(contempt - happy).mean() > 0.01
    with pytest.raises(AttributionError, match="cannot output contempt"):
        explain(load_model(baseline), baseline, face, "contempt")


def test_exports_and_evaluate_name_the_rectangle(ckplus, baseline, tmp_path, capsys):
    code = cli.main(["evaluate", "--model", str(baseline.path), "--data", str(ckplus), "--split", "test",
                     "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    s = json.loads(out[out.index("{"):])
    assert s["classes"] == list(EMOTIONS) and s["true_classes"][-1] == "contempt"
    assert s["n_outside"] == PER_CLASS
    code = cli.main(["export", "--model", str(baseline.path), "--data", str(ckplus), "--split", "test",
                     "--confusion-matrix", "--format", "svg", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    svg = next(tmp_path.glob("*confusion*.svg")).read_text()
    assert "contempt" in svg and "neutral" in svg


def test_the_app_opens_ckplus_with_both_models(ckplus, eight, baseline, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    models = tmp_path / "models"
    models.mkdir()
    for card in (baseline, eight):
        shutil.copy(card.path, models / card.path.name)
        shutil.copy(card.model_path, models / card.model_path.name)
    monkeypatch.setenv("FERVIZ_DATA", str(ckplus))
    monkeypatch.setenv("FERVIZ_MODELS", str(models))
    for stem, n_cols in (("baseline_cnn", 7), ("eight_class", 8)):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.session_state["sel_model"] = stem
        at.run()
        assert not at.exception, at.exception
        shown = "\n".join(str(getattr(e, "value", "")) for e in (*at.markdown, *at.caption, *at.info, *at.warning))
        matrices = [c for c in at.get("plotly_chart") if "heatmap" in c.proto.spec]
        assert matrices, "no confusion matrix on the Overview"
        z = json.loads(matrices[0].proto.spec)["data"][0]["z"]
        assert np.asarray(z).shape == (7, n_cols)
        if n_cols == 7:
            assert "counted apart" in shown
        assert NAMES[CONTEMPT] in matrices[0].proto.spec
