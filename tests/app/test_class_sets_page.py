"""The dashboard with other class sets than FER2013's seven (AppTest).

On real FER2013 PrivateTest faces: an eight-class model (the shipped baseline with a contempt
output, in AffectNet's class order) shows a rectangular 7x8 confusion matrix whose cells open
their faces, and eight probability bars in the Inspector; a CK+-style folder (contempt, no
neutral, CK+'s folder names) with the shipped seven-class baseline marks its contempt row, says
how many faces are counted apart and leaves them out of the accuracy and the errors. The Labels
switch reads FER+'s majority from fer2013.csv, and on image folders says why it cannot and falls
back to the dataset's own labels."""
from __future__ import annotations


import numpy as np
import pytest

from ferviz.analysis.evaluation import evaluate
from ferviz.data.splits import load_all
from ferviz.labels import EMOTIONS, EXPRESSIONS, NAMES
from ferviz.models import load_card
from tests.app.helpers import chart, app_on, page, texts, tiles
from tests.class_sets import BASELINE, CKPLUS_FOLDERS, eight_class_model, write_folders

PER_CLASS, CONTEMPT_FACES = 10, 6
CONTEMPT, NEUTRAL = NAMES.index("contempt"), NAMES.index("neutral")
#: CK+'s folder of each class index (CKPLUS_FOLDERS: anger, contempt, disgust, fear, happy, sadness, surprise)
CK_FOLDERS = dict(zip((0, CONTEMPT, 1, 2, 3, 4, 5), CKPLUS_FOLDERS))
data = pytest.mark.data


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _decoded(values) -> np.ndarray:
    """A plotly JSON array: a (nested) list or a typed array {"dtype", "bdata", "shape"}."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        a = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return a.reshape([int(k) for k in str(values.get("shape", len(a))).split(",")])
    return np.asarray(values)


def _matrix(at) -> tuple[np.ndarray, list[str], list[str]]:
    """The Overview's confusion matrix: counts (rows true), row and column tick labels."""
    spec = chart(at, "Confusion matrix")
    return (_decoded(spec["data"][0]["z"]), list(spec["layout"]["yaxis"]["ticktext"]),
            list(spec["layout"]["xaxis"]["ticktext"]))


def _click(at, row: int, col: int):
    """A click on the matrix cell at (row, column) position, as the browser reports it."""
    at.session_state["cm_chart"] = {"selection": {"points": [{"x": col, "y": row, "curve_number": 1}],
                                                  "point_indices": [0], "box": [], "lasso": []}}
    return at.run()


@pytest.fixture(scope="module")
def faces(fer_path):
    """Real PrivateTest faces: PER_CLASS of each FER2013 class, then CONTEMPT_FACES more neutral
    faces that a CK+-style folder files as contempt (FER2013 has none)."""
    from ferviz.data.splits import load_fer2013

    split = load_fer2013(fer_path, "PrivateTest")
    idx = [np.flatnonzero(split.labels == c)[:PER_CLASS] for c in range(7)]
    idx.append(np.flatnonzero(split.labels == NEUTRAL)[PER_CLASS:PER_CLASS + CONTEMPT_FACES])
    labels = np.concatenate([np.full(PER_CLASS, c) for c in range(7)] + [np.full(CONTEMPT_FACES, CONTEMPT)])
    return split.images[np.concatenate(idx)], labels


@pytest.fixture(scope="module")
def env(faces, tmp_path_factory):
    """Two datasets of real faces (FER2013's seven in its folder names; CK+'s folders with
    contempt and without neutral) and a model folder holding the eight-class model (the shipped
    seven-class baseline is in models/)."""
    images, labels = faces
    fer = labels < 7
    seven = write_folders(tmp_path_factory.mktemp("fer7"), images[fer], labels[fer], dict(enumerate(EMOTIONS)))
    ck = labels != NEUTRAL
    ckplus = write_folders(tmp_path_factory.mktemp("ckplus"), images[ck], labels[ck], CK_FOLDERS)
    models = tmp_path_factory.mktemp("eightmodels")
    card = eight_class_model(models)
    return {"fer7": {"data": str(seven), "models": str(models)}, "ckplus": {"data": str(ckplus), "models": str(models)},
            "card": str(card)}


def _evaluation(data: str, card) -> object:
    splits = load_all(data)
    return evaluate(load_card(card), splits[splits.resolve("test")])


@data
def test_an_eight_class_model_gets_a_rectangular_matrix_whose_cells_open_their_faces(env, monkeypatch):
    ev = _evaluation(env["fer7"]["data"], env["card"])
    assert ev.probs.shape == (7 * PER_CLASS, 8) and not ev.square and not ev.n_outside
    at = app_on(env["fer7"], monkeypatch, "eight_class").run()
    _ok(at)
    z, rows, cols = _matrix(at)
    assert z.shape == (7, 8)  # rows the dataset's seven, columns the model's eight
    assert rows == list(EMOTIONS) and cols == list(EXPRESSIONS)  # contempt a column only, vocabulary order
    np.testing.assert_array_equal(z, ev.matrix().to_numpy())
    assert z[:, 7].sum() == (ev.preds == CONTEMPT).sum()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == f"{ev.accuracy:.2%}" and metrics["Errors"] == f"{int(ev.wrong.sum()):,}"
    assert "counted apart" not in texts(at)  # every true class is one the model can output
    assert "Rows: the dataset's 7 classes; columns: the model's 8." in texts(at)
    # the contempt column's cell of the neutral row: positions map to the cell's classes
    at = _click(at, EMOTIONS.index("neutral"), 7)
    _ok(at)
    n = int(((ev.labels == NEUTRAL) & (ev.preds == CONTEMPT)).sum())
    assert f"true **neutral** → predicted **contempt**: **{n:,}** images" in texts(at)
    assert at.session_state["sel_true"] == "neutral" and at.session_state["sel_pred"] == "contempt"
    assert at.query_params["pred"] == "contempt"
    assert [t["id"] for t in tiles(at)] == list(ev.errors(NEUTRAL, CONTEMPT)["id"])[:24]
    # the Errors page offers the model's eight classes as predictions, the dataset's seven as truths
    assert at.selectbox(key="err_pred").options == ["(any)", *EXPRESSIONS]
    assert at.selectbox(key="err_true").options == ["(any)", *EMOTIONS]


@data
def test_the_inspector_shows_a_bar_per_class_of_the_eight_class_model(env, monkeypatch):
    ev = _evaluation(env["fer7"]["data"], env["card"])
    pos = int(np.argmax(ev.probs[:, CONTEMPT]))  # the face the model finds most contemptuous
    at = app_on(env["fer7"], monkeypatch, "eight_class")
    at.session_state["sel_id"] = str(ev.ids[pos])
    at.session_state["insp_methods"] = ["gradcam"]  # one map is enough here
    at = page(at.run(), "inspector")
    _ok(at)
    bars = chart(at, "Baseline CNN + contempt")["data"][0]
    true = NAMES[int(ev.labels[pos])]
    assert sorted(label.replace(" (true)", "") for label in bars["y"]) == sorted(EXPRESSIONS)
    assert f"{true} (true)" in bars["y"] and len(bars["y"]) == 8
    order = np.argsort(-ev.probs[pos], kind="stable")
    np.testing.assert_allclose(_decoded(bars["x"]), ev.probs[pos][order], rtol=1e-6)
    assert bars["y"][0].startswith(NAMES[int(ev.preds[pos])])  # highest first
    assert "contempt" in [b.replace(" (true)", "") for b in bars["y"]]
    assert at.selectbox(key="insp_other").options == list(EXPRESSIONS)


@data
def test_a_ckplus_folder_with_the_seven_class_baseline_counts_contempt_apart(env, monkeypatch):
    ev = _evaluation(env["ckplus"]["data"], BASELINE)
    assert ev.n_outside == CONTEMPT_FACES and ev.rows[-1] == CONTEMPT and CONTEMPT not in ev.columns
    at = app_on(env["ckplus"], monkeypatch, "baseline_cnn").run()
    _ok(at)
    z, rows, cols = _matrix(at)
    assert z.shape == (7, 7)  # CK+'s seven (no neutral, contempt) x the model's seven
    assert rows == [*(NAMES[c] for c in ev.rows[:-1]), "contempt (not a model class)"]
    assert cols == list(EMOTIONS) and "contempt" not in cols
    assert z[-1].sum() == CONTEMPT_FACES
    shown = texts(at)
    assert f"{CONTEMPT_FACES:,} of {ev.n:,} faces are labelled contempt" in shown and "counted apart" in shown
    assert ev.outside_note() in shown
    metrics = {m.label: m.value for m in at.metric}
    naive = int((ev.preds != ev.labels).sum())
    assert metrics["Errors"] == f"{int(ev.wrong.sum()):,}" and int(ev.wrong.sum()) == naive - CONTEMPT_FACES
    assert metrics["Accuracy"] == f"{ev.accuracy:.2%}"
    assert ev.accuracy == pytest.approx((ev.preds == ev.labels)[ev.scored].mean())
    spec = chart(at, "Confusion matrix")
    recall = [a["text"] for a in spec["layout"]["annotations"]][2::2]
    assert recall[-1] == "apart"  # the contempt row has no recall: its faces are counted apart
    # its row opens those faces, said to be counted apart, with neither mark of right nor wrong
    at = _click(at, 6, EMOTIONS.index("neutral"))
    _ok(at)
    n = len(ev.errors(CONTEMPT, NEUTRAL))
    assert "true **contempt** predicted **neutral**: a class the model cannot output" in texts(at)
    assert all(t["caption"].startswith(":gray[○]") for t in tiles(at)) and len(tiles(at)) == n


def test_ferplus_labels_from_fer2013_csv_and_the_link_keeps_them(ferplus_csv_env, monkeypatch):
    """fer2013.csv aligns with FER+: the switch reads FER+'s majority (eight classes, contempt
    included; ties and non-faces left out), the matrix has a contempt row Tiny A cannot output,
    the link says labels=ferplus, and every tile says "FER+ agrees with the label" (FER+ is it)."""
    from ferviz.data import ferplus as fp

    splits = load_all(ferplus_csv_env["data"], labels="ferplus")
    split = splits["Training"]
    ev = evaluate(load_card(f"{ferplus_csv_env['models']}/tiny_a.json"), split)
    assert split.classes == EXPRESSIONS and len(split) < 30  # two non-faces (rows 17, 23) left out
    at = app_on(ferplus_csv_env, monkeypatch)
    at.query_params.update({"labels": "ferplus", "split": "Training"})
    at = at.run()
    _ok(at)
    assert at.session_state["sel_labels"] == "ferplus" and at.query_params["labels"] == "ferplus"
    shown = texts(at)
    assert "labels: FER+ majority (8 classes:" in shown and "FER+ labels not available" not in shown
    z, rows, cols = _matrix(at)
    assert z.shape == (8, 7) and rows[-1] == "contempt (not a model class)" and cols == list(EMOTIONS)
    np.testing.assert_array_equal(z, ev.matrix().to_numpy())
    assert {m.label: m.value for m in at.metric}["Accuracy"] == f"{ev.accuracy:.2%}"
    report = next(c.value for c in at.caption if "python -m ferviz report" in c.value)
    assert "--labels ferplus" in report and "ferplus::" not in report  # the report reads the same labels
    common = NAMES[int(np.bincount(split.labels).argmax())]
    at.session_state["sel_true"] = at.session_state["sel_pred"] = common  # its faces the model gets right
    at = page(at, "errors")
    _ok(at)
    shown = tiles(at)
    assert shown and all(fp.AGREES_LABEL in t["badges"] for t in shown)  # FER+ is the label: never against it
    assert "The labels are FER+'s majority vote" in texts(at)
    # back to the dataset's own labels: the link drops the label set again
    at.radio(key="w_sel_labels").set_value("fer2013").run()
    _ok(at)
    assert "labels" not in at.query_params and "labels: FER2013 (7 classes:" in texts(at)


@data
def test_ferplus_labels_on_image_folders_say_why_and_fall_back(env, monkeypatch):
    from ferviz.data import ferplus as fp

    at = app_on(env["fer7"], monkeypatch, "eight_class")
    at.query_params.update({"labels": "ferplus"})
    at = at.run()
    _ok(at)
    errors = [e.value for e in at.sidebar.error]
    assert any("FER+ labels not available" in e and fp.REFUSAL in e for e in errors), errors
    shown = texts(at)
    assert "labels: its own (7 classes: angry, disgust, fear, happy, sad, surprise, neutral)" in shown  # not FER2013's files
    z, _, _ = _matrix(at)
    assert z.shape == (7, 8)  # the page works on the dataset's own labels


@data
def test_two_models_with_different_classes_compare_on_the_faces_both_can_score(env, monkeypatch):
    eight = _evaluation(env["fer7"]["data"], env["card"])
    seven = _evaluation(env["fer7"]["data"], BASELINE)
    at = app_on(env["fer7"], monkeypatch, "eight_class")
    at.session_state["sel_model2"] = "baseline_cnn"
    at = page(at.run(), "compare")
    _ok(at)
    assert "only Baseline CNN + contempt: contempt; only Baseline CNN: none" in texts(at)
    spec = chart(at, "minus")
    diff = _decoded(spec["data"][0]["text"]).astype(int)
    assert diff.shape == (7, 8) and list(spec["layout"]["xaxis"]["ticktext"]) == list(EXPRESSIONS)
    np.testing.assert_array_equal(diff[:, :7], eight.matrix().to_numpy()[:, :7] - seven.matrix().to_numpy())
    np.testing.assert_array_equal(diff[:, 7], eight.matrix().to_numpy()[:, 7])  # the second cannot say contempt
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Baseline CNN + contempt"] == f"{eight.accuracy:.2%}"
    assert metrics["Baseline CNN"] == f"{seven.accuracy:.2%}"
    first_only = int((eight.correct & ~seven.correct).sum())
    assert any(f"Baseline CNN + contempt right, Baseline CNN wrong ({first_only})" in t.label for t in at.tabs)


@data
def test_the_review_relabels_with_the_datasets_classes(env, monkeypatch):
    ev = _evaluation(env["ckplus"]["data"], BASELINE)
    at = app_on(env["ckplus"], monkeypatch, "baseline_cnn")
    at = page(at.run(), "review")
    _ok(at)
    classes = [k for k in range(len(NAMES)) if any(b.key == f"rv_class_{k}" for b in at.button)]
    assert classes == list(ev.rows)  # CK+'s: contempt, not neutral
    assert at.button(key=f"rv_class_{CONTEMPT}").label == "contempt"
    assert "**1-7** relabel as angry, disgust, fear, happy, sad, surprise, contempt" in texts(at)
