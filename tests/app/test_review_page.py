"""The Label review page: deciding on three faces moves the reviewed accuracy by exactly what the
decisions imply (here and on the Overview); undo, progress, a second reviewer's kappa, faces sent
from the Errors gallery, and a damaged database shown as a message."""
from __future__ import annotations

from pathlib import Path

import pytest

from ferviz.analysis.evaluation import evaluate
from ferviz.analysis.label_issues import evaluation_issues
from ferviz.data.splits import load_all
from ferviz.labels import EMOTIONS
from ferviz.models import load_card
from ferviz.review.store import ReviewStore
from ferviz.ui import review as review_ui
from tests.app.helpers import app_on, open_page, page, texts


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _metrics(at):
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "reviews.sqlite"
    monkeypatch.setenv("FERVIZ_REVIEWS", str(path))
    return path


@pytest.fixture(scope="module")
def core(quality_env):
    """The core's evaluation of Tiny A on the quality data's PrivateTest and its flagged faces, in
    the review's order (most likely label issue first)."""
    split = load_all(quality_env["data"])["PrivateTest"]
    ev = evaluate(load_card(Path(quality_env["models"]) / "tiny_a.json"), split)
    li = evaluation_issues(ev)
    flagged = [str(li.ids[i]) for i in li.order if li.flagged[i]]
    return split, ev, flagged


def _review_page(env, monkeypatch, name: str | None = "ann"):
    at = page(app_on(env, monkeypatch).run(), "review")
    _ok(at)
    if name:
        at.text_input(key="w_rv_name").input(name).run()
        _ok(at)
    return at


def test_reviewing_three_faces_changes_the_reviewed_accuracy_by_exactly_the_expected_amount(
        quality_env, monkeypatch, db, core):
    split, ev, flagged = core
    assert len(flagged) >= 3
    at = _review_page(quality_env, monkeypatch, name=None)
    assert at.button(key="rv_keep").disabled and "Type your name" in texts(at)
    assert "Accuracy, reviewed labels" not in _metrics(at)  # no decisions: no reviewed numbers
    at.text_input(key="w_rv_name").input("ann").run()
    assert not at.button(key="rv_keep").disabled
    f1, f2, f3 = flagged[:3]
    pos = {i: split.index_of(i) for i in (f1, f2, f3)}
    assert all(ev.preds[p] != ev.labels[p] for p in pos.values())  # flagged faces are errors
    assert f"Face 1 of {len(flagged)} · id {f1}" in texts(at)
    # 1: relabel as the model's prediction (key 1-7) -> right; 2: not a face -> left out; 3: keep -> still wrong
    at.button(key=f"rv_class_{ev.preds[pos[f1]]}").click().run()
    assert f"Face 2 of {len(flagged)} · id {f2}" in texts(at)  # moved on by itself
    at.button(key="rv_not_a_face").click().run()
    at.button(key="rv_keep").click().run()
    _ok(at)
    right = int((ev.preds == ev.labels).sum())
    want = (right + 1) / (ev.n - 1)
    shown = _metrics(at)
    assert shown["Accuracy, reviewed labels"] == f"{want:.2%}"
    delta = next(m for m in at.metric if m.label == "Accuracy, reviewed labels").delta
    assert delta == f"{(want - ev.accuracy) * 100:+.2f} pts"
    assert shown["Reviewed faces"] == "3" and shown["Left out"] == "1"
    assert f"3 of {len(flagged)} faces reviewed by ann" in [p.proto.text for p in at.get("progress")]
    got = {d.face_id: d.text for d in ReviewStore(db).decisions()}
    assert got == {f1: f"relabel as {EMOTIONS[ev.preds[pos[f1]]]}", f2: "not a face", f3: "keep"}
    # the Overview shows the same numbers beside the original ones
    ov = page(at, "overview")
    _ok(ov)
    assert _metrics(ov)["Accuracy, reviewed labels"] == f"{want:.2%}"
    assert _metrics(ov)["Accuracy"] == f"{ev.accuracy:.2%}"


def test_undo_previous_next_and_a_second_reviewers_kappa(quality_env, monkeypatch, db, core):
    flagged = core[2]
    at = _review_page(quality_env, monkeypatch)
    at.button(key="rv_ambiguous").click().run()
    at.button(key="rv_not_a_face").click().run()
    assert f"Face 3 of {len(flagged)}" in texts(at)
    at.button(key="rv_undo").click().run()  # undoes 'not a face' on face 2 and goes back to it
    _ok(at)
    assert f"Face 2 of {len(flagged)}" in texts(at) and f"Undone: not a face on face {flagged[1]}." in texts(at)
    assert "Your decision: not reviewed yet" in texts(at)
    at.button(key="rv_prev").click().run()
    assert "Your decision: **ambiguous**" in texts(at)
    at.button(key="rv_next").click().run()
    assert f"Face 2 of {len(flagged)}" in texts(at)
    assert [d.face_id for d in ReviewStore(db).decisions()] == [flagged[0]]
    # a second reviewer (another name) decides on the same two faces: agreement appears
    at.text_input(key="w_rv_name").input("bob").run()
    at.button(key="rv_prev").click().run()
    at.button(key="rv_ambiguous").click().run()
    at.button(key="rv_keep").click().run()
    at.text_input(key="w_rv_name").input("ann").run()
    at.button(key="rv_prev").click().run()
    at.button(key="rv_keep").click().run()  # ann keeps face 2 too: both agree on both faces
    _ok(at)
    assert "Cohen's κ = **1.00**" in texts(at) and "all agree on 100.00%" in texts(at)
    at.button(key="rv_prev").click().run()
    assert "Other reviewers: bob: keep" in texts(at)


def test_review_these_faces_from_the_errors_gallery(quality_env, monkeypatch, db, core):
    at = app_on(quality_env, monkeypatch)
    at.session_state["sel_true"], at.session_state["sel_pred"] = "happy", "sad"
    at = page(at.run(), "errors")
    _ok(at)
    ids = [b.key.removeprefix("err_inspect_") for b in at.button if (b.key or "").startswith("err_inspect_")]
    at.button(key="err_review").click().run()
    open_page(at, "review").run()  # AppTest does not follow the app's own page switch
    _ok(at)
    radio = at.radio(key="w_rv_set")
    assert radio.value == "Faces sent from a gallery"
    assert f"Face 1 of {len(ids)} · id {ids[0]}" in texts(at)


def test_a_damaged_database_is_a_message(quality_env, monkeypatch, db):
    db.write_bytes(b"not a database " * 100)
    at = _review_page(quality_env, monkeypatch, name=None)
    assert "is not an SQLite database" in texts(at) and "left the file as it is" in texts(at)
    ov = page(at, "overview")
    _ok(ov)
    assert "No label review:" in texts(ov)
    assert db.read_bytes() == b"not a database " * 100


def test_review_the_faces_in_an_embedding_box(tiny_env, monkeypatch, db):
    """A box on the embedding map sends its faces (in the gallery's order: errors first) to the review."""
    from ferviz.analysis.embedding import cached_embedding, in_box

    at = app_on(tiny_env, monkeypatch)
    at.session_state["emb_method"] = "pca"
    at = page(at.run(), "embedding")
    _ok(at)
    split = load_all(tiny_env["data"])["PrivateTest"]
    df = cached_embedding(None, load_card(Path(tiny_env["models"]) / "tiny_a.json"), split, "pca")
    box = {"xref": "x", "yref": "y", "x": [float(df["x"].min()) - 1, float(df["x"].median())],
           "y": [float(df["y"].min()) - 1, float(df["y"].max()) + 1]}
    inside = set(df[in_box(df["x"], df["y"], box)]["id"].astype(str))
    points = [{"curve_number": k, "point_index": 0} for k in range(7)]
    at.session_state["emb_chart"] = {"selection": {"points": points, "point_indices": [], "box": [box], "lasso": []}}
    at.run()
    at.button(key="emb_review").click().run()
    open_page(at, "review").run()  # AppTest does not follow the app's own page switch
    _ok(at)
    sent = at.session_state["review_ids"]
    assert set(sent) == inside and at.radio(key="w_rv_set").value == review_ui.GALLERY
    assert f"Face 1 of {len(inside)} · id {sent[0]}" in texts(at)
    assert "(the faces in the box)" in at.radio(key="w_rv_set").options[-1]
