"""Other expression sets than FER2013's seven, end to end on hand-built models whose answers are
known: an eight-class model (AffectNet's order, contempt included) and a seven-class one, on a
seven-class split and on an eight-class folder dataset whose folders use other spellings
("Anger", "sadness", "Contempt"). The matrix is rectangular (rows the dataset's classes, columns
the model's), faces of a class the model cannot output are counted apart (never errors, never in
an accuracy), and label issues, calibration, slices, the error tree and clusters and the stress
test all run with eight probability columns.

Faces are flat grey images: class c's faces have the grey level ``LEVELS[c]``; the brightness
models predict the class whose level is nearest the face's mean. Of each class's ten faces two
are one level up (class c+1's level; contempt's wrap to angry's), so every model has errors whose
cells are known in advance."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from ferviz.analysis.calibration import calibrate_evaluations, scored_probs
from ferviz.analysis.error_clusters import error_clusters
from ferviz.analysis.error_tree import error_tree
from ferviz.analysis.evaluation import Evaluation, columns, evaluate
from ferviz.analysis.label_issues import OUTSIDE, evaluation_issues, label_issues
from ferviz.analysis.slices import find_slices
from ferviz.analysis.stress import stress_test
from ferviz.data.splits import FERSplit, load_all
from ferviz.errors import DataError
from ferviz.labels import EMOTIONS, EXPRESSIONS, class_index
from ferviz.models import load_card
from tests.class_sets import AFFECTNET_ORDER, write_folders
from tests.unit.tiny_models import brightness_model

LEVELS = 40 + 24 * np.arange(8)  # class c's grey level (NAMES index c; contempt = 7 is the brightest)
PER_CLASS, SHIFTED = 10, 2  # faces per class, of which the last SHIFTED sit at the next class's level
#: folder names as other datasets spell them (CK+'s "anger", "sadness", "contempt"; any case)
FOLDERS = {0: "Anger", 1: "disgusted", 2: "Fear", 3: "happiness", 4: "sadness", 5: "Surprised", 6: "neutral",
           7: "Contempt"}
CONTEMPT = class_index("contempt")


def _faces(classes, seed=0):
    """(faces, labels, the level index each face sits at) for PER_CLASS faces of each class."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.asarray(classes), PER_CLASS)
    shift = np.tile(np.arange(PER_CLASS) >= PER_CLASS - SHIFTED, len(classes))
    at = np.where(shift, (labels + 1) % 8, labels)
    x = np.clip(LEVELS[at][:, None, None] + rng.integers(-2, 3, (len(labels), 48, 48)), 0, 255).astype(np.uint8)
    return x, labels.astype(np.int64), at


def _card(folder, stem, classes):
    """A brightness model whose output j answers class `classes[j]` (any alias), with its card."""
    centres = np.array([LEVELS[class_index(c)] for c in classes], np.float32) / 255.0
    brightness_model(centres).save(folder / f"{stem}.keras")
    (folder / f"{stem}.json").write_text(json.dumps({
        "name": stem, "file": f"{stem}.keras", "classes": list(classes),
        "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
    return load_card(folder / f"{stem}.json")


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class_set_models")
    return {"eight": _card(folder, "eight", AFFECTNET_ORDER), "seven": _card(folder, "seven", EMOTIONS)}


@pytest.fixture(scope="module")
def seven_split():
    x, y, _ = _faces(range(7))
    return FERSplit(x, y, np.array([f"s{i}" for i in range(len(y))]), "PrivateTest", "synthetic-7", "h7")


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory):
    """An eight-class dataset in CK+/AffectNet-style class folders, loaded the ferviz way."""
    root = tmp_path_factory.mktemp("eight_class_folders")
    x, y, at = _faces(range(8), seed=1)
    write_folders(root, x, y, FOLDERS)
    splits = load_all(root)
    split = splits[splits.resolve("test")]
    order = np.array([int(re.search(r"(\d+)", str(i)).group(1)) for i in split.ids])
    return split, x[order], y[order], at[order]


def _pred(at, model_classes):
    """The class a brightness model answers for faces at these levels: the nearest level it has."""
    have = np.array(sorted(model_classes))
    return have[np.abs(LEVELS[at][:, None] - LEVELS[have][None]).argmin(axis=1)]


# ------------------------------------------------------------------ the evaluation itself

def test_folder_names_in_any_spelling_map_to_the_vocabulary(folder_data):
    split, x, y, _ = folder_data
    assert split.classes == EXPRESSIONS and split.class_ids == tuple(range(8)) and split.title == "test"
    assert (split.labels == y).all() and (split.images == x).all()  # "Anger" is angry, "Contempt" contempt, ...
    assert np.bincount(split.labels).tolist() == [PER_CLASS] * 8


def test_a_folder_that_is_no_expression_is_refused(tmp_path):
    x, y, _ = _faces([3])
    write_folders(tmp_path, x, y, {3: "bored"})
    with pytest.raises(DataError, match="class folder 'bored' is not an expression.*contempt"):
        load_all(tmp_path)


def test_eight_class_model_on_the_seven_class_split(cards, seven_split):
    card = cards["eight"]
    assert card.class_ids == tuple(range(8)) and card.classes[6] == "angry"  # "anger" read as angry
    ev = evaluate(card, seven_split)
    _, _, at = _faces(range(7))
    want = _pred(at, range(8))
    assert ev.probs.shape == (70, 8) == (len(seven_split), columns(card, seven_split))
    np.testing.assert_allclose(ev.probs.sum(axis=1), 1, atol=1e-5)
    assert (ev.preds == want).all()
    m = ev.matrix()
    assert m.shape == (7, 8) and list(m.index) == list(EMOTIONS) and list(m.columns) == list(EXPRESSIONS)
    assert not ev.square and ev.n_outside == 0 and ev.outside_note() == ""
    assert m.loc["neutral", "contempt"] == SHIFTED  # neutral faces at contempt's level read as contempt
    assert m.to_numpy().sum() == 70 and np.trace(m.to_numpy()[:, :7]) == 7 * (PER_CLASS - SHIFTED)
    assert ev.accuracy == pytest.approx(0.8) and int(ev.wrong.sum()) == 14
    s = ev.summary()
    assert s["classes"] == list(EXPRESSIONS) and s["true_classes"] == list(EMOTIONS)
    assert np.array(s["confusion_matrix"]).shape == (7, 8) and "n_outside" not in s


def test_eight_class_model_on_the_eight_class_folders(cards, folder_data):
    split, _, _, at = folder_data
    ev = evaluate(cards["eight"], split)
    assert ev.square and ev.probs.shape == (80, 8) and ev.n_outside == 0
    assert (ev.preds == _pred(at, range(8))).all()
    m = ev.matrix()
    assert m.shape == (8, 8) and list(m.index) == list(m.columns) == list(EXPRESSIONS)
    assert (np.diag(m.to_numpy()) == PER_CLASS - SHIFTED).all()
    assert m.loc["contempt", "angry"] == SHIFTED and m.loc["neutral", "contempt"] == SHIFTED
    assert ev.per_class().set_index("class").loc["contempt", "support"] == PER_CLASS
    assert len(ev.errors(CONTEMPT, 0)) == SHIFTED and (ev.errors(CONTEMPT, 0)["true"] == "contempt").all()


def test_faces_of_a_class_the_model_lacks_are_counted_apart(cards, folder_data):
    split, _, y, at = folder_data
    ev = evaluate(cards["seven"], split)
    pred = _pred(at, range(7))
    assert ev.probs.shape == (80, 8) and (ev.probs[:, CONTEMPT] == 0).all() and (ev.preds == pred).all()
    contempt = y == CONTEMPT
    assert ev.n_outside == PER_CLASS and ev.n_scored == 70 and (ev.scored == ~contempt).all()
    assert not ev.wrong[contempt].any() and not ev.correct[contempt].any()  # neither right nor wrong
    scored = ~contempt
    assert ev.accuracy == pytest.approx((pred[scored] == y[scored]).mean())
    assert ev.accuracy == pytest.approx((7 * (PER_CLASS - SHIFTED) + SHIFTED) / 70)  # neutral's shifted stay neutral
    assert int(ev.wrong.sum()) == 12 and "contempt" not in set(ev.errors()["true"])
    m = ev.matrix()
    assert m.shape == (8, 7) and list(m.index) == list(EXPRESSIONS) and list(m.columns) == list(EMOTIONS)
    assert m.loc["contempt"].sum() == PER_CLASS and m.loc["contempt", "neutral"] == PER_CLASS - SHIFTED
    outside = ev.errors(CONTEMPT)
    assert len(outside) == PER_CLASS and outside["scored"].eq(False).all()
    s = ev.summary()
    assert s["n_outside"] == PER_CLASS and s["outside"] == {"contempt": PER_CLASS} and len(s["per_class"]) == 7
    assert "10 of 80 faces are labelled contempt" in ev.outside_note() and "counted apart" in ev.outside_note()


# ------------------------------------------------------------------ analyses with eight columns

def test_label_issues_over_the_models_classes(cards, folder_data):
    split, _, y, _ = folder_data
    eight = evaluation_issues(evaluate(cards["eight"], split))
    ev8 = evaluate(cards["eight"], split)
    direct = label_issues(ev8.probs, ev8.labels, ev8.ids)  # every class is the model's: the plain rule
    assert (eight.flagged == direct.flagged).all() and np.allclose(eight.score, direct.score)
    assert eight.confident_joint.shape == (8, 8) and eight.n_outside == 0
    assert "contempt" in set(eight.frame()["true"]) and set(eight.frame()["kind"]) <= {"correct", "label issue",
                                                                                        "model error"}
    ev7 = evaluate(cards["seven"], split)
    seven = evaluation_issues(ev7)
    contempt = y == CONTEMPT
    assert seven.n == 80 and seven.n_outside == PER_CLASS and seven.confident_joint.shape == (8, 8)
    assert not seven.flagged[contempt].any() and np.isnan(seven.score[contempt]).all()
    assert (seven.kind[contempt] == OUTSIDE).all() and not seven.errors[contempt].any()
    assert seven.confident_joint[CONTEMPT].sum() == 0 and seven.confident_joint[:, CONTEMPT].sum() == 0
    sub = label_issues(ev7.probs[~contempt][:, :7], ev7.labels[~contempt])  # the scored faces, the model's columns
    assert (seven.flagged[~contempt] == sub.flagged).all()
    assert np.allclose(seven.score[~contempt], sub.score)
    f = seven.frame()
    assert (f.tail(PER_CLASS)["kind"] == OUTSIDE).all()  # no score: last
    assert seven.counts()["n_outside"] == PER_CLASS and seven.counts()["errors"] == int(ev7.wrong.sum())


def test_calibration_over_the_models_classes(cards, folder_data):
    split, _, _, _ = folder_data
    fit = FERSplit(*_faces(range(8), seed=5)[:2], np.array([f"p{i}" for i in range(80)]), "PublicTest",
                   "synthetic-8", "hp", classes=EXPRESSIONS)
    res = calibrate_evaluations(evaluate(cards["eight"], fit), evaluate(cards["eight"], split), per_class=True)
    assert res.classes == EXPRESSIONS and res.n == 80 and res.n_outside == 0
    assert len(res.per_class[(res.split, "before")]) == 8
    d = res.to_dict()
    assert set(d["per_class_ece"]["before"]) == set(EXPRESSIONS) and d["classes"] == list(EXPRESSIONS)
    assert set(res.frame()["class"]) == {"all", *EXPRESSIONS}
    assert res.accuracy == pytest.approx(evaluate(cards["eight"], split).accuracy)
    ev7 = evaluate(cards["seven"], split)
    p, y, names = scored_probs(ev7)
    assert p.shape == (70, 7) and names == EMOTIONS and y.max() == 6
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    res7 = calibrate_evaluations(evaluate(cards["seven"], fit), ev7, per_class=True)
    assert res7.classes == EMOTIONS and res7.n == 70 and res7.n_outside == PER_CLASS
    assert res7.accuracy == pytest.approx(ev7.accuracy) and res7.to_dict()["n_outside"] == PER_CLASS
    assert len(res7.per_class[(res7.split, "after")]) == 7


def _outside_case(n=600, seed=0):
    """600 faces: the dark ones (brightness < 60) are contempt, which a seven-class model cannot
    output (it says neutral); the others are scored, right 80% of the time at random."""
    rng = np.random.default_rng(seed)
    attrs = pd.DataFrame({"id": [f"f{k}" for k in range(n)], "brightness": rng.uniform(0, 255, n),
                          "contrast": rng.uniform(20, 100, n)})
    dark = attrs["brightness"].to_numpy() < 60
    labels = np.where(dark, CONTEMPT, rng.integers(0, 7, n))
    right = rng.random(n) < 0.8
    preds = np.where(dark, 6, np.where(right, labels, (labels + 1) % 7))
    probs = np.zeros((n, 8), np.float32)
    probs[np.arange(n), preds] = 1.0
    ev = Evaluation("m", "PrivateTest", probs, labels, attrs["id"].to_numpy(), tuple(range(7)), tuple(range(8)))
    return attrs, ev, dark


def test_slices_tree_and_clusters_leave_the_faces_counted_apart_out():
    attrs, ev, dark = _outside_case()
    assert ev.n_outside == dark.sum() and not ev.wrong[dark].any()
    naive = find_slices(attrs, ev.preds == ev.labels)  # the outside faces as errors: the dark slice "fails"
    assert naive.table.iloc[0]["slice"].startswith("brightness:") and naive.table.iloc[0]["p_adjusted"] < 0.05
    s = find_slices(attrs, ev.correct, scored=ev.scored)
    assert s.n_outside == dark.sum() and len(s.ids) == len(attrs)
    assert all(not (m & dark).any() for m in s.masks.values())  # in no slice
    assert not ((s.table["p_adjusted"] < 0.05) & (s.table["difference"] < -0.2)).any()
    assert s.overall == pytest.approx(ev.accuracy)
    tree = error_tree(attrs, ev.correct, scored=ev.scored, min_leaf=30)
    assert tree.members.shape[0] == len(attrs) and not tree.members[dark].any()
    root = tree.nodes.iloc[0]
    assert root["n"] == ev.n_scored and root["errors"] == int(ev.wrong.sum())
    feats = np.random.default_rng(1).normal(size=(len(attrs), 4))
    cl = error_clusters(feats, ev.correct, attrs, ev.labels, ev.preds, scored=ev.scored, k=3)
    assert (cl.labels[dark] == -1).all() and ((cl.labels >= 0) == ev.wrong).all()
    assert int(cl.table["n"].sum()) == int(ev.wrong.sum()) and "contempt" not in set(cl.table["top_true"])


def test_stress_keeps_the_evaluations_columns(cards, folder_data, seven_split):
    split = folder_data[0]
    res = stress_test(cards["seven"], split, ["brightness"], [1, 2])
    base = evaluate(cards["seven"], split)
    assert res.base.shape == (80, 8) and all(p.shape == (80, 8) for p in res.probs.values())
    assert (res.base == base.probs).all() and res.model_classes == tuple(range(7)) and res.n_outside == PER_CLASS
    t = res.table().set_index(["perturbation", "severity", "class"])
    assert t.loc[("brightness", 0, "all"), "n"] == 70
    assert t.loc[("brightness", 0, "all"), "accuracy"] == pytest.approx(base.accuracy)
    assert "contempt" not in set(res.table()["class"]) and "contempt" not in set(res.flips()["from"])
    fm = res.flip_matrix("brightness", 2)
    assert fm.shape == (7, 7) and "contempt" not in fm.index
    assert fm.to_numpy().sum() == res.flips().query("severity == 2")["count"].sum()
    res8 = stress_test(cards["eight"], seven_split, ["brightness"], [1])
    assert res8.base.shape == (70, 8) and res8.flip_matrix("brightness", 1).shape == (7, 8)
    dim = res8.probs_at("brightness", 1).argmax(axis=1)
    assert (dim <= res8.base.argmax(axis=1)).mean() > 0.9  # dimmer reads darker, contempt (brightest) included


# ------------------------------------------------------------------ names and counts across the other modules

def test_error_views_say_which_faces_are_counted_apart(cards, folder_data):
    from ferviz.analysis.error_views import LABEL_ISSUE, MODEL_ERROR, annotate, error_view, view_title

    split = folder_data[0]
    ev = evaluate(cards["seven"], split)
    issues = evaluation_issues(ev)
    rows = annotate(ev.errors(CONTEMPT), issues)
    assert len(rows) == PER_CLASS and (rows["verdict"] == OUTSIDE).all() and not rows["likely_label_issue"].any()
    errors = error_view(ev, None, None, issues=issues)
    assert len(errors) == int(ev.wrong.sum()) and set(errors["verdict"]) <= {LABEL_ISSUE, MODEL_ERROR}
    assert "cannot output" in view_title(CONTEMPT, None, ev.model_classes)
    assert view_title(CONTEMPT, 6, range(8)) == "true **contempt** → predicted **neutral**"
    assert view_title(6, CONTEMPT) == "true **neutral** → predicted **contempt**"


def test_prototypes_neighbours_duplicates_and_precompute_name_contempt(cards, folder_data):
    from ferviz.analysis.neighbours import TrainingIndex, neighbours
    from ferviz.analysis.prototypes import prototypes
    from ferviz.data.duplicates import find_duplicates
    from ferviz.precompute.tasks import chosen_faces

    split, x, y, _ = folder_data
    feats = (np.eye(8)[y] + 0.05 * np.random.default_rng(0).normal(size=(len(y), 8))).astype(np.float32)
    protos = prototypes(feats, y, split.ids, n_prototypes=2, n_criticisms=1)
    assert set(protos["label"]) == set(EXPRESSIONS)
    index = TrainingIndex(feats, split.ids.astype(str), y, "tta", "m", "h")
    q = feats[y == CONTEMPT][:1] + 0.01
    table = neighbours(index, q, ["q"], k=3, preds=np.full(len(y), CONTEMPT))
    assert (table["neighbour_label"] == "contempt").all() and (table["neighbour_pred"] == "contempt").all()
    train = FERSplit(x[:4], y[:4], np.array(["t0", "t1", "t2", "t3"]), "Training", "synthetic", "ht",
                     classes=EXPRESSIONS)
    test = FERSplit(x[y == CONTEMPT][:1], np.array([CONTEMPT]), np.array(["c0"]), "PrivateTest", "synthetic", "ht",
                    classes=EXPRESSIONS)
    pairs = find_duplicates({"Training": FERSplit(np.concatenate([train.images, test.images]),
                                                  np.append(train.labels, 0), np.append(train.ids, "copy"),
                                                  "Training", "synthetic", "ht", classes=EXPRESSIONS),
                             "PrivateTest": test}, use_cache=False)
    row = pairs[pairs["id"] == "c0"].iloc[0]
    assert (row["label"], row["duplicate_id"], row["duplicate_label"], row["kind"]) == ("contempt", "copy",
                                                                                        "angry", "exact")
    ids, targets = chosen_faces(evaluate(cards["eight"], split), [(6, CONTEMPT)], "errors", None)
    assert len(ids) == SHIFTED and (targets == CONTEMPT).all()


def test_the_embedding_marks_the_faces_counted_apart(cards, folder_data):
    from ferviz.analysis.embedding import cached_embedding, penultimate_features

    split, _, y, _ = folder_data
    df = cached_embedding(None, cards["seven"], split, "pca")
    contempt = y == CONTEMPT
    assert df["scored"].tolist() == (~contempt).tolist() and not df["correct"][contempt].any()
    assert set(df["true"]) == set(EXPRESSIONS) and "contempt" not in set(df["pred"])
    assert "scored" not in cached_embedding(None, cards["eight"], split, "pca").columns
    from ferviz.models import load_model

    _, probs = penultimate_features(load_model(cards["seven"]), cards["seven"], split.images[:3], with_probs=True,
                                    columns=columns(cards["seven"], split))
    assert probs.shape == (3, 8) and (probs[:, CONTEMPT] == 0).all()
