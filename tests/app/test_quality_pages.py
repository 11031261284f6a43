"""Is it the model, the label or the data? What the pages show, checked against the core's own
results: badges on tiles, the label-issue sort and filter, accuracy without Training copies,
ECE and temperature scaling, FER+ votes (aligned, or the sentence saying why not)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ferviz.analysis.agreement import ferplus_metrics
from ferviz.analysis.calibration import calibrate_evaluations, ece
from ferviz.analysis.evaluation import evaluate
from ferviz.analysis.label_issues import evaluation_issues
from ferviz.data import ferplus as fp
from ferviz.data.duplicates import (
    find_duplicates,
    leakage_metrics,
    split_summary,
    training_duplicates,
)
from ferviz.data.splits import align_votes, load_all
from ferviz.labels import EMOTIONS
from ferviz.models import load_card
from tests.app.helpers import app_on, array_values, page, texts, tiles

LABEL_ISSUE, MODEL_ERROR = "likely label issue", "likely model error"


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


class Core:
    """The core's results for one dataset and split (what the pages must show)."""

    def __init__(self, env, split="PrivateTest", model="tiny_a"):
        self.splits = load_all(env["data"])
        self.split = self.splits[split]
        self.card = load_card(Path(env["models"]) / f"{model}.json")
        self.ev = evaluate(self.card, self.split)
        self.issues = evaluation_issues(self.ev)
        self.pairs = find_duplicates(self.splits)
        self.copies = training_duplicates(self.pairs, split)
        try:
            self.aligned = align_votes(self.split)
        except fp.DataError:
            self.aligned = None

    def pos(self, image_id):
        return self.split.index_of(image_id)

    def verdict(self, image_id):
        return LABEL_ISSUE if self.issues.flagged[self.pos(image_id)] else MODEL_ERROR

    def badges(self, image_id):
        """The badges a tile of this (misclassified) image must carry, in order."""
        k = self.pos(image_id)
        out = [self.verdict(image_id)]
        if image_id in self.copies.index:
            out.append(self.copies.loc[image_id, "badge"])
        if self.aligned is not None:
            out += self.aligned.badges(image_id, int(self.ev.labels[k]), int(self.ev.preds[k]))
        return out

    def ranked_errors(self, true=None, pred=None):
        """Misclassified ids in the core's label-issue ranking (lowest self-confidence first)."""
        f = self.issues.frame()
        f = f[f["true"] != f["pred"]]
        if true is not None:
            f = f[(f["true"] == true) & (f["pred"] == pred)]
        return f["id"].tolist()


def _metrics(at):
    return {m.label: m.value for m in at.metric}


def _errors_page(env, monkeypatch, true=None, pred=None, split=None):
    at = app_on(env, monkeypatch)
    if split:
        at.session_state["sel_split"] = split
    at.session_state["sel_true"], at.session_state["sel_pred"] = true, pred
    at = page(at.run(), "errors")
    _ok(at)
    return at


# ------------------------------------------------------------------ errors gallery

def test_every_tile_carries_the_cores_badges(quality_env, monkeypatch):
    core = Core(quality_env)
    at = _errors_page(quality_env, monkeypatch)
    shown = tiles(at)
    assert [t["id"] for t in shown] == core.ev.errors()["id"].tolist()  # most confident first, as before
    assert len(shown) == 21
    for t in shown:
        assert t["badges"] == core.badges(t["id"]), t
    by_id = {t["id"]: t["badges"] for t in shown}
    # the planted copies: a fear face also in Training as happy, a near copy of a sad face
    assert "also in Training as happy" in by_id["26"] and "near copy in Training as sad" in by_id["47"]
    assert sum(MODEL_ERROR in b for b in by_id.values()) == 2  # the two unsure faces 73, 74
    assert by_id["73"][0] == by_id["74"][0] == MODEL_ERROR
    t = texts(at)
    assert "2 of these 21 images have a copy in Training" in t
    # FER+ cannot align to this cut-down CSV: the page says why instead of guessing
    assert "No FER+ badges: ferviz's FER+ votes (fer2013new.csv): line 2 (row 0) is Training but it is a " \
           "PrivateTest image in fer2013.csv" in t


def test_label_issue_sort_is_the_cores_ranking(quality_env, monkeypatch):
    core = Core(quality_env)
    at = _errors_page(quality_env, monkeypatch)
    at.radio(key="err_sort").set_value("label-issue score").run()
    _ok(at)
    shown = tiles(at)
    assert [t["id"] for t in shown] == core.ranked_errors()
    scores = [float(re.search(r"label-issue score ([\d.]+):", t["caption"]).group(1)) for t in shown]
    assert scores == sorted(scores)  # lowest probability of the given label first
    for t, s in zip(shown, scores):
        assert s == pytest.approx(core.issues.score[core.pos(t["id"])], abs=5e-4)
    # one cell: its header counts its likely label issues, and its tiles keep the core's order
    at.selectbox(key="err_true").set_value("happy").run()
    at.selectbox(key="err_pred").set_value("sad").run()
    _ok(at)
    ids = core.ranked_errors("happy", "sad")
    n_issues = sum(core.verdict(i) == LABEL_ISSUE for i in ids)
    assert (len(ids), n_issues) == (3, 2)
    assert "true **happy** → predicted **sad**: **3** images · **2** likely label issues, **1** likely model " \
           "error · Tiny A · PrivateTest" in texts(at)
    assert [t["id"] for t in tiles(at)] == ids


def test_label_issue_text_says_which_label_is_suspect(quality_env, monkeypatch):
    """The score is the model's probability of the given label; a flagged error says its label looks
    wrong in favour of the prediction, an unflagged one that its label is not in doubt."""
    core = Core(quality_env)
    at = _errors_page(quality_env, monkeypatch)
    assert "Label-issue score: the model's probability of the image's given label" in texts(at)
    shown = tiles(at)
    seen = set()
    for t in shown:
        k = core.pos(t["id"])
        true, pred = EMOTIONS[core.ev.labels[k]], EMOTIONS[core.ev.preds[k]]
        score = core.issues.score[k]
        assert score == pytest.approx(core.ev.probs[k, core.ev.labels[k]])  # p(given label), as said
        if core.issues.flagged[k]:
            want = f"label-issue score {score:.3f}: the label **{true}** looks wrong (model favours **{pred}**)"
        else:
            want = f"label-issue score {score:.3f}: the label **{true}** is not in doubt"
        assert want in t["caption"], t
        assert f"true **{true}** → **{pred}**" in t["caption"]  # all errors: each tile names its cell
        seen.add(core.verdict(t["id"]))
    assert seen == {LABEL_ISSUE, MODEL_ERROR}  # both sentences were checked


def test_one_cell_names_its_cell_once(quality_env, monkeypatch):
    core = Core(quality_env)
    at = _errors_page(quality_env, monkeypatch, true="happy", pred="sad")
    shown = tiles(at)
    assert [t["id"] for t in shown] == core.ev.errors(3, 4)["id"].tolist() and len(shown) == 3
    t = texts(at)
    assert t.count("true **happy** → predicted **sad**") == 1  # the heading says it ...
    assert "→ **sad**" not in "".join(x["caption"] for x in shown)  # ... and no tile repeats it
    assert all(x["caption"].startswith(":red[✗] sad ") for x in shown)  # the mark and the top-3
    # the direction of the cell's label issues is said once; each tile says which way its own points
    assert t.count("In this cell, a label that looks wrong is **happy**, in favour of the model's **sad**") == 1
    for x in shown:
        k = core.pos(x["id"])
        said = "looks wrong" if core.issues.flagged[k] else "is not in doubt"
        assert f"label-issue score {core.issues.score[k]:.3f}: the label {said}" in x["caption"], x
        assert "**happy**" not in x["caption"]
    assert sum("the label looks wrong" in x["caption"] for x in shown) == 2


def test_sort_and_filter_go_into_the_link_and_come_back(quality_env, monkeypatch):
    core = Core(quality_env)
    at = _errors_page(quality_env, monkeypatch)
    assert "sort" not in at.query_params and "show" not in at.query_params  # the defaults stay out
    at.radio(key="err_sort").set_value("label-issue score").run()
    at.radio(key="err_filter").set_value("likely model error").run()
    _ok(at)
    assert at.query_params["sort"] == "label-issue" and at.query_params["show"] == "model-errors"
    link = {k: at.query_params[k] for k in at.query_params}
    want = [i for i in core.ranked_errors() if core.verdict(i) == MODEL_ERROR]
    assert [t["id"] for t in tiles(at)] == want

    fresh = app_on(quality_env, monkeypatch)  # a new session opening that link
    fresh.query_params.update(link)
    fresh = page(fresh.run(), "errors")
    _ok(fresh)
    assert fresh.radio(key="err_sort").value == "label-issue score"
    assert fresh.radio(key="err_filter").value == "likely model error"
    assert [t["id"] for t in tiles(fresh)] == want
    assert fresh.query_params["sort"] == "label-issue" and fresh.query_params["show"] == "model-errors"


def test_bad_sort_or_filter_in_a_link_falls_back_alone(quality_env, monkeypatch):
    core = Core(quality_env)
    at = app_on(quality_env, monkeypatch)
    at.query_params.update({"sort": "by-magic", "show": "model-errors", "true": "happy", "pred": "sad"})
    at = page(at.run(), "errors")
    _ok(at)
    assert at.radio(key="err_sort").value == "confidence"  # the bad sort: the default ...
    assert at.radio(key="err_filter").value == "likely model error"  # ... the rest as linked
    assert "sort" not in at.query_params and at.query_params["show"] == "model-errors"
    ids = [i for i in core.ev.errors(3, 4)["id"] if core.verdict(i) == MODEL_ERROR]
    assert [t["id"] for t in tiles(at)] == ids and "true **happy** → predicted **sad**" in texts(at)
    at = app_on(quality_env, monkeypatch)
    at.query_params.update({"sort": "loss", "show": "everything"})
    at = page(at.run(), "errors")
    _ok(at)
    assert at.radio(key="err_sort").value == "loss" and at.radio(key="err_filter").value == "all errors"
    assert [t["id"] for t in tiles(at)] == core.ev.errors(sort="loss")["id"].tolist()


def test_filter_shows_the_cores_counts_and_images(quality_env, monkeypatch):
    core = Core(quality_env)
    c = core.issues.counts()
    at = _errors_page(quality_env, monkeypatch)
    assert at.radio(key="err_filter").options == [f"all errors ({c['errors']})",
                                                  f"likely label issue ({c['flagged_errors']})",
                                                  f"likely model error ({c['model_errors']})"]
    assert (c["errors"], c["flagged_errors"], c["model_errors"]) == (21, 19, 2)
    assert "all errors: **21** images · **19** likely label issues, **2** likely model errors" in texts(at)
    at.radio(key="err_filter").set_value("likely model error").run()
    _ok(at)
    shown = tiles(at)
    errors = core.ev.errors()["id"].tolist()
    want = [i for i in errors if core.verdict(i) == MODEL_ERROR]
    assert [t["id"] for t in shown] == want and all(t["badges"][0] == MODEL_ERROR for t in shown)
    assert "Showing the 2 likely model errors of these 21 images." in texts(at)
    at.radio(key="err_filter").set_value("likely label issue")
    at.radio(key="err_sort").set_value("label-issue score")
    at.selectbox(key="err_per_page").set_value(12).run()
    _ok(at)
    ranked = [i for i in core.ranked_errors() if core.verdict(i) == LABEL_ISSUE]
    assert [t["id"] for t in tiles(at)] == ranked[:12]  # the first page of 2
    assert "Showing the 19 likely label issues of these 21 images." in texts(at)
    at.number_input(key="gallery_page").set_value(2).run()
    assert [t["id"] for t in tiles(at)] == ranked[12:]


def test_sort_and_filter_survive_a_visit_to_the_inspector(quality_env, monkeypatch):
    at = _errors_page(quality_env, monkeypatch)
    at.radio(key="err_sort").set_value("label-issue score").run()
    at.radio(key="err_filter").set_value("likely model error").run()
    first = tiles(at)[0]["id"]
    next(b for b in at.button if b.label == "Inspect").click()
    at.run()
    _ok(at)
    assert f"**{first}** · 1 of 2 in the gallery" in texts(at)  # previous/next walk the filtered order
    at = page(at, "errors")
    _ok(at)
    assert at.radio(key="err_sort").value == "label-issue score"
    assert at.radio(key="err_filter").value == "likely model error"
    assert [t["id"] for t in tiles(at)][0] == first


# ------------------------------------------------------------------ overview

def test_overview_shows_the_cores_leakage_ece_and_label_issues(quality_env, monkeypatch):
    core = Core(quality_env)
    leak = leakage_metrics(core.ev, core.pairs)
    at = app_on(quality_env, monkeypatch).run()
    _ok(at)
    m = _metrics(at)
    assert m["Accuracy without Training copies"] == f"{leak['accuracy_excluding_training_duplicates']:.2%}"
    assert m["Macro-F1 without Training copies"] == f"{leak['macro_f1_excluding_training_duplicates']:.3f}"
    assert m["Accuracy without near copies"] == \
        f"{leak['accuracy_excluding_training_near_duplicates']:.2%}"
    assert m["Macro-F1 without near copies"] == \
        f"{leak['macro_f1_excluding_training_near_duplicates']:.3f}"
    # by hand: 63 faces, 42 of them right; without ids 0 (right) and 26 (wrong): 41 of 61
    assert m["Accuracy"] == "66.67%" and m["Accuracy without Training copies"] == "67.21%"
    t = texts(at)
    assert "Left out: **2** of 63 PrivateTest images with an exact copy in Training; **3** with an exact or " \
           "near copy" in t
    assert (leak["n_training_duplicates"], leak["n_training_near_duplicates"]) == (2, 3)
    assert m["ECE"] == f"{ece(core.ev.probs, core.ev.labels):.2%}"
    c = core.issues.counts()
    assert m["Likely label issues"] == str(c["flagged_errors"]) and m["Likely model errors"] == str(c["model_errors"])
    # the most confused pairs count their likely label issues
    assert "**happy → sad**: 3 images (33% of happy) · 2 likely label issues" in t
    pairs = re.findall(r"\*\*(\w+) → (\w+)\*\*: (\d+) images? \(\d+% of \w+\) · (\d+) likely label issues?", t)
    assert len(pairs) == 8  # every confused pair of the 21 errors
    for true, pred, n, k in pairs:
        ids = core.ranked_errors(true, pred)
        assert (int(n), int(k)) == (len(ids), sum(core.verdict(i) == LABEL_ISSUE for i in ids))
    assert m["Accuracy vs FER+ majority"] == "—"
    assert "No FER+ comparison: ferviz's FER+ votes (fer2013new.csv): line 2 (row 0) is Training" in t


def test_zip_form_says_why_ferplus_does_not_align(zip_env, monkeypatch):
    why = f"archive.zip: {fp.REFUSAL}"
    at = app_on(zip_env, monkeypatch).run()
    _ok(at)
    assert f"No FER+ comparison: {why}." in texts(at)
    assert _metrics(at)["Accuracy vs FER+ majority"] == "—"
    at = page(at, "data")
    _ok(at)
    assert f"{why}." in [i.value for i in at.info]
    # plainly: what FER+ needs, why this download will not do, where to get fer2013.csv and where it goes
    assert "FER+ votes need the original fer2013.csv, whose rows they follow; the Kaggle image-folder download " \
           "(archive.zip with train/ and test/ folders of JPEGs) has no row order. Get fer2013.csv from the " \
           'FER2013 challenge on Kaggle ("Challenges in Representation Learning: Facial Expression Recognition ' \
           'Challenge") and put it in data/, or set FERVIZ_DATA to its path' in why
    assert "[\"Challenges in Representation Learning: Facial Expression Recognition Challenge\"](" \
           f"{fp.KAGGLE_URL})" in texts(at)  # the Dataset page links the challenge
    at = page(at, "errors")
    short = "they need the original fer2013.csv (the Dataset page says where to get it)"
    assert f"No FER+ badges: {short}." in texts(at) and why not in texts(at)  # the whole story is on the Overview
    assert all(not any(b.startswith("FER+") for b in t["badges"]) for t in tiles(at))
    at = page(at, "inspector")
    _ok(at)
    assert f"No FER+ votes: {short}." in texts(at)


# ------------------------------------------------------------------ FER+ aligned

def _plotly(at, title: str) -> dict:
    """The figure (JSON) of the plotly chart titled `title`."""
    for el in at.get("plotly_chart"):
        fig = json.loads(el.proto.spec)
        if fig.get("layout", {}).get("title", {}).get("text") == title:
            return fig
    raise AssertionError(f"no chart titled {title!r}")


def test_ferplus_folder_votes_badges_and_accuracy(ferplus_env, monkeypatch):
    core = Core(ferplus_env)
    assert core.aligned is not None and core.splits.kind == "ferplus"
    at = app_on(ferplus_env, monkeypatch).run()
    _ok(at)
    fm = ferplus_metrics(core.ev, core.aligned)
    assert _metrics(at)["Accuracy vs FER+ majority"] == f"{fm['accuracy_vs_ferplus']:.2%}" == "54.55%"
    assert "the labels here are FER+'s majority" in texts(at)

    at = page(at, "errors")
    _ok(at)
    shown = tiles(at)
    assert len(shown) == 5
    for t in shown:
        assert t["badges"] == core.badges(t["id"]), t
        assert t["badges"][-1] == "FER+ agrees with the label"  # the label is FER+'s majority here
    copied = str(ferplus_env["chosen"]["PrivateTest"][1][0])  # FER2013Train's first face has its pixels
    # ... and FER2013Train's first face is a clear happy one (FER+ majority happy)
    assert next(t for t in shown if t["id"] == copied)["badges"] == [
        core.verdict(copied), "also in Training as happy", "FER+ agrees with the label"]

    # the ambiguous face (top vote <= 5): correct, so no verdict; FER+ agrees and is unsure
    ambiguous = str(core.split.ids[np.flatnonzero(core.aligned.ambiguous)[0]])
    at.session_state["sel_id"] = ambiguous
    at = page(at, "inspector")
    _ok(at)
    badge_md = [m.value for m in at.markdown if "-badge[" in m.value]
    assert badge_md == [":green-badge[FER+ agrees with the model] :blue-badge[FER+ agrees with the label] "
                        ":gray-badge[ambiguous (top ≤ 5/10)]"]
    votes = core.aligned.votes[core.aligned.index_of(ambiguous)]
    names = [("not a face" if c == "NF" else c) for c in fp.VOTE_CLASSES]
    want = " · ".join(f"{names[j]} {votes[j]}" for j in np.argsort(-votes, kind="stable") if votes[j])
    assert f"FER+ votes: {want}" in texts(at) and votes.max() <= 5
    fig = _plotly(at, "FER+ votes (10 people)")
    assert array_values(fig["data"][0]["y"]) == names and array_values(fig["data"][0]["x"]) == votes.tolist()

    at = page(at, "data")
    _ok(at)
    for name, split in core.splits.items():
        a = align_votes(split)
        unanimous = float((a.votes.max(axis=1) == a.votes.sum(axis=1)).mean())
        assert (f"**{name}**: aligned for {len(split)} images · **{unanimous:.1%}** unanimous · "
                f"**{a.ambiguous.mean():.1%}** ambiguous (top ≤ 5/10) · **{int(a.not_a_face.sum())}** not a face"
                in texts(at))
    assert "**PrivateTest**: aligned for 11 images · **9.1%** unanimous · **9.1%** ambiguous" in texts(at)


def test_ferplus_on_the_csv_form_agrees_with_the_model_and_flags_non_faces(ferplus_csv_env, monkeypatch):
    core = Core(ferplus_csv_env, split="Training")
    at = _errors_page(ferplus_csv_env, monkeypatch, split="Training")
    shown = tiles(at)
    assert [t["id"] for t in shown] == core.ev.errors()["id"].tolist()
    for t in shown:
        assert t["badges"] == core.badges(t["id"]), t
    by_id = {t["id"]: t["badges"] for t in shown}
    assert "FER+ agrees with the model" in by_id["0"] and "ambiguous (top ≤ 5/10)" in by_id["0"]
    assert by_id["17"][-1] == by_id["23"][-1] == "not a face"
    at = page(at, "overview")
    _ok(at)
    fm = ferplus_metrics(core.ev, core.aligned)
    assert _metrics(at)["Accuracy vs FER+ majority"] == f"{fm['accuracy_vs_ferplus']:.2%}" == "100.00%"
    assert f"on **{fm['errors_ferplus_agrees_with_model']}** errors FER+ sides with the model" in texts(at)
    assert "Training itself: no accuracy without Training copies." in texts(at)
    at = page(at, "calibration")  # no PublicTest to fit a temperature on: said, not crashed
    _ok(at)
    assert any("has no PublicTest images (found: Training)" in e.value for e in at.error)


# ------------------------------------------------------------------ inspector, dataset, calibration

def test_inspector_shows_the_tile_badges(quality_env, monkeypatch):
    core = Core(quality_env)
    at = app_on(quality_env, monkeypatch)
    at.session_state["sel_id"] = "26"
    at = page(at.run(), "inspector")
    _ok(at)
    assert core.badges("26") == [LABEL_ISSUE, "also in Training as happy"]
    assert ":orange-badge[likely label issue] :violet-badge[also in Training as happy]" in \
        [m.value for m in at.markdown]
    assert "No FER+ votes: ferviz's FER+ votes (fer2013new.csv): line 2 (row 0)" in texts(at)


def test_dataset_page_counts_copies_per_split(quality_env, monkeypatch):
    core = Core(quality_env)
    at = app_on(quality_env, monkeypatch)
    at = page(at.run(), "data")
    _ok(at)
    t = texts(at)
    for r in split_summary(core.pairs, core.splits).itertuples():
        assert (f"**{r.split}**: **{r.exact}** of {r.images} images are exact copies of a Training image "
                f"(**{r.exact_other_label}** under another label); **{r.near}** more are near copies "
                f"(**{r.near_other_label}** under another label).") in t
    assert "**PrivateTest**: **2** of 63 images are exact copies of a Training image (**1** under another " \
           "label); **1** more are near copies (**0** under another label)." in t
    assert any(b.label == f"All {len(core.pairs)} duplicate pairs (CSV)" for b in at.get("download_button"))


def test_calibration_page_equals_temperature_scaling(quality_env, monkeypatch):
    splits = load_all(quality_env["data"])
    card = load_card(Path(quality_env["models"]) / "tiny_a.json")
    pub, priv = evaluate(card, splits["PublicTest"]), evaluate(card, splits["PrivateTest"])
    res = calibrate_evaluations(pub, priv, per_class=True)
    at = page(app_on(quality_env, monkeypatch).run(), "calibration")
    _ok(at)
    m = _metrics(at)
    assert m["Temperature T"] == f"{res.temperature:.3f}"
    assert m["ECE on PrivateTest"] == f"{ece(priv.probs, priv.labels):.2%}" == f"{res.ece_before:.2%}"
    assert m["ECE after scaling"] == f"{res.ece_after:.2%}"
    assert m["Log-loss before → after"] == f"{res.nll_before:.3f} → {res.nll_after:.3f}"
    # T fitted on PublicTest's 7 faces, all right, sharpens: PrivateTest's errors grow confident and the ECE rises
    assert res.ece_after > res.ece_before
    assert f"makes the ECE **worse**: **{res.ece_before:.2%}** → **{res.ece_after:.2%}**" in texts(at)
    warning = " ".join(w.value for w in at.warning)
    assert f"Temperature scaling made ECE worse here ({res.ece_before:.1%} → {res.ece_after:.1%} on PrivateTest)" \
        in warning and "T was fitted on another split, PublicTest" in warning
    assert "fitted on **PublicTest** (7 images)" in texts(at) and "accuracy stays 66.67%" in texts(at)
    bins = at.dataframe[0].value
    assert bins["images before"].tolist() == res.reliability[("PrivateTest", "before")].count.tolist()
    assert bins["images after"].sum() == 63

    at.radio(key="cal_view").set_value("per class (one-vs-rest)").run()
    _ok(at)
    table = at.dataframe[0].value
    assert table["class"].tolist() == list(EMOTIONS)
    np.testing.assert_allclose(table["ECE before"], [r.ece for r in res.per_class[("PrivateTest", "before")]])
    np.testing.assert_allclose(table["ECE after"], [r.ece for r in res.per_class[("PrivateTest", "after")]])
    at.radio(key="cal_split").set_value("PublicTest").run()
    _ok(at)
    np.testing.assert_allclose(at.dataframe[0].value["ECE before"],
                               [r.ece for r in res.per_class[("PublicTest", "before")]])
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Reliability diagram", "Reliability bins (CSV)", "Summary (JSON)"]
