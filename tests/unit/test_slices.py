"""Face attributes, failure slices, the error tree and error clusters on synthetic data."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact
from statsmodels.stats.multitest import multipletests

from ferviz.analysis.attributes import (ATTRIBUTES, face_attributes, help_text, landmark_attributes,
                                        pixel_attributes, vote_entropy)
from ferviz.analysis.error_clusters import error_clusters
from ferviz.analysis.error_tree import error_tree
from ferviz.analysis.slices import compare_slices, find_slices, one_attribute_candidates
from ferviz.data.landmarks import TEMPLATE
from ferviz.data.splits import FERSplit
from ferviz.errors import AnalysisError, NotFoundError


def _faces(n=8, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :48]
    base = 120 + 60 * np.sin(xx / 4.0) * np.cos(yy / 5.0)
    return np.clip(base[None] + rng.normal(0, 10, (n, 48, 48)), 0, 255).astype(np.uint8)


def _rotated(points, degrees, centre=(0.5, 0.5)):
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    c = np.array(centre)
    return (np.asarray(points) - c) @ rot.T + c


# ------------------------------------------------------------------ attribute formulas

def test_roll_of_a_face_rotated_by_20_degrees():
    pts = np.stack([TEMPLATE, _rotated(TEMPLATE, 20), _rotated(TEMPLATE, -20)])
    a = landmark_attributes(pts, np.ones(3, bool), 48, 48)
    level = a["roll"][0]
    assert abs(level) < 2  # the template is nearly level
    assert a["roll"][1] - level == pytest.approx(20, abs=3)
    assert a["roll"][2] - level == pytest.approx(-20, abs=3)
    # rotation moves neither the eye distance nor the nose along the eye line
    assert a["scale"][1] == pytest.approx(a["scale"][0], rel=1e-6)
    assert a["yaw"][1] == pytest.approx(a["yaw"][0], abs=1e-6)


def test_yaw_scale_and_centre_offset_formulas():
    pts = np.array([[[0.3, 0.4], [0.7, 0.4], [0.6, 0.6], [0.35, 0.8], [0.65, 0.8]]])
    a = landmark_attributes(pts, np.array([True]), 48, 48)
    # the nose is 0.1 of the frame right of the eyes' midpoint, the eyes 0.4 apart: yaw 0.25
    assert a["yaw"][0] == pytest.approx(0.25)
    assert a["scale"][0] == pytest.approx(0.4 * 48)
    shifted = TEMPLATE + np.array([3 / 48, 4 / 48], np.float32)
    b = landmark_attributes(np.stack([TEMPLATE, shifted]), np.array([True, False]), 48, 48)
    assert b["centre_offset"][0] == pytest.approx(0, abs=1e-4)
    assert b["centre_offset"][1] == pytest.approx(5.0, abs=1e-3)  # a 3-4-5 triangle, in pixels
    assert list(b["template"]) == [0, 1]


def test_pixel_attributes_brightness_contrast_sharpness():
    faces = _faces(4)
    darker = (faces * 0.5).astype(np.uint8)
    blurred = np.stack([cv2.GaussianBlur(f, (5, 5), 1.5) for f in faces])
    a, d, b = pixel_attributes(faces), pixel_attributes(darker), pixel_attributes(blurred)
    assert (d["brightness"] < a["brightness"] - 40).all()
    assert d["contrast"].to_numpy() == pytest.approx(a["contrast"].to_numpy() * 0.5, rel=0.02)
    assert (b["sharpness"] < 0.5 * a["sharpness"]).all()
    assert a["brightness"][0] == pytest.approx(faces[0].mean())
    # sharpness is the variance of OpenCV's Laplacian (ksize 1, reflect-101 edges)
    lap = cv2.Laplacian(faces[0].astype(np.float64), cv2.CV_64F, ksize=1)
    assert a["sharpness"][0] == pytest.approx(lap.var())


def test_vote_entropy():
    v = np.array([[10, 0, 0], [5, 5, 0], [0, 0, 0], [4, 3, 3]])
    e = vote_entropy(v)
    assert e[0] == 0 and e[1] == pytest.approx(1.0) and e[2] == 0
    assert e[3] == pytest.approx(-(0.4 * np.log2(0.4) + 2 * 0.3 * np.log2(0.3)))


def test_face_attributes_adds_the_data_facts():
    faces = _faces(5)
    split = FERSplit(faces, np.zeros(5, np.int64), np.array([f"i{k}" for k in range(5)]), "PrivateTest", "x", "h")
    base = pd.concat([pixel_attributes(faces), landmark_attributes(np.repeat(TEMPLATE[None], 5, 0),
                                                                   np.ones(5, bool), 48, 48)], axis=1)
    copies = pd.DataFrame(index=pd.Index(["i1", "i3"], name="id"))

    class Issues:
        flagged = np.array([0, 0, 1, 0, 0], bool)
    df = face_attributes(split, base=base, copies=copies, issues=Issues())
    assert list(df["id"]) == list(split.ids)
    assert list(df["training_copy"]) == [0, 1, 0, 1, 0]
    assert list(df["label_issue"]) == [0, 0, 1, 0, 0]
    assert "vote_entropy" not in df  # no FER+ votes: left out, not NaN
    assert np.isfinite(df.drop(columns="id").to_numpy(np.float64)).all()
    with pytest.raises(AnalysisError):
        face_attributes(split.subset(np.arange(3)), base=base)


def test_every_attribute_has_a_formula_and_unit():
    for a in ATTRIBUTES:
        assert a.formula and a.unit and a.label
        assert a.kind in ("number", "flag")
    assert "variance of the Laplacian" in help_text(["sharpness", "nope"])


# ------------------------------------------------------------------ slices

def _synthetic(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    attrs = pd.DataFrame({
        "id": [f"f{k}" for k in range(n)],
        "brightness": rng.uniform(0, 255, n), "contrast": rng.uniform(20, 100, n),
        "sharpness": rng.gamma(2, 3000, n), "roll": rng.normal(0, 8, n), "yaw": rng.uniform(-0.6, 0.6, n),
        "scale": rng.normal(18, 2, n), "centre_offset": rng.gamma(2, 1.3, n),
        "template": (rng.random(n) < 0.1).astype(np.int8), "training_copy": (rng.random(n) < 0.15).astype(np.int8)})
    return attrs, rng


def test_the_top_slice_is_the_dark_one_when_the_model_errs_only_on_dark_faces():
    attrs, rng = _synthetic()
    dark = attrs["brightness"].to_numpy() < 60
    correct = ~dark | (rng.random(len(attrs)) < 0.3)  # right on bright faces, mostly wrong on dark ones
    s = find_slices(attrs, correct)
    top = s.table.iloc[0]
    assert top["slice"].startswith("brightness:") and "&" not in top["slice"]
    members = s.mask(top["slice"])
    assert dark[members].mean() > 0.9 and members.sum() >= 0.9 * dark.sum()
    assert top["p_adjusted"] < 1e-6 and top["difference"] < -0.5
    assert top["sentence"].startswith(("Dim faces (brightness < 60; n = ", "Darker faces (brightness < "))
    assert "for the rest" in top["sentence"]
    # accuracy and interval match the members
    assert top["accuracy"] == pytest.approx(correct[members].mean())
    assert top["ci_low"] <= top["accuracy"] <= top["ci_high"]
    # the worst list names different groups of faces: no two share more than half the smaller one
    worst = s.worst(5)
    for i in range(len(worst)):
        for j in range(i):
            a, b = s.mask(worst["slice"].iat[i]), s.mask(worst["slice"].iat[j])
            assert (a & b).sum() <= 0.5 * min(a.sum(), b.sum())
    assert worst["slice"].iat[0] == top["slice"] and (worst["p_adjusted"] < 0.05).all()
    # no other one-attribute slice is significantly worse
    ones = s.table[(s.table["attributes"] == 1) & ~s.table["slice"].str.startswith("brightness")]
    assert not ((ones["p_adjusted"] < 0.05) & (ones["difference"] < 0)).any()


def test_no_slice_under_the_minimum_size_and_p_values_are_corrected():
    attrs, rng = _synthetic(800, seed=1)
    correct = rng.random(len(attrs)) < 0.7
    correct[attrs["yaw"].abs().to_numpy() > 0.45] = False
    for min_size in (30, 100):
        s = find_slices(attrs, correct, min_size=min_size)
        assert (s.table["n"] >= min_size).all()
        assert (len(attrs) - s.table["n"] >= min_size).all()
        assert all(s.mask(k).sum() == n for k, n in zip(s.table["slice"], s.table["n"]))
    t = s.table
    assert (t["p_adjusted"] >= t["p_value"] - 1e-12).all()
    assert s.tested == len(t)
    assert t["p_adjusted"].to_numpy() == pytest.approx(multipletests(t["p_value"], method="fdr_bh")[1])
    row = t.iloc[3]
    m = s.mask(row["slice"])
    k, n, K = int(correct[m].sum()), int(m.sum()), int(correct.sum())
    assert row["p_value"] == pytest.approx(fisher_exact([[k, n - k], [K - k, len(m) - n - (K - k)]])[1])
    # a combination is kept only when worse than both of its parts
    acc = dict(zip(t["slice"], t["accuracy"]))
    for key in t.loc[t["attributes"] == 2, "slice"]:
        a, b = key.split(" & ")
        assert acc[key] < min(acc.get(a, 1.0), acc.get(b, 1.0))
    members = s.members_frame()
    assert list(members.columns) == ["slice", "id"] and len(members) == int(t["n"].sum())
    with pytest.raises(NotFoundError):
        s.mask("no such slice")


def test_landmark_slices_leave_template_faces_out_and_label_issues_never_define_a_slice():
    attrs, rng = _synthetic(600, seed=2)
    attrs["label_issue"] = (rng.random(len(attrs)) < 0.2).astype(np.int8)
    cands = one_attribute_candidates(attrs)
    tmpl = attrs["template"].to_numpy() == 1
    for c in cands:
        if c.attribute in ("roll", "yaw", "scale", "centre_offset"):
            assert not (c.mask & tmpl).any()
    assert not any(c.attribute == "label_issue" for c in cands)
    with pytest.raises(AnalysisError):
        find_slices(attrs, np.ones(5, bool))


# ------------------------------------------------------------------ error tree

def test_error_tree_recovers_a_planted_rule():
    attrs, rng = _synthetic(4000, seed=3)
    attrs["template"] = 0
    rule = (attrs["brightness"].to_numpy() < 80) & (attrs["yaw"].abs().to_numpy() > 0.3)
    correct = ~rule
    tree = error_tree(attrs, correct, max_depth=2)
    worst = tree.leaves().iloc[0]
    assert worst["error_rate"] > 0.95
    assert tree.mask(int(worst["node"])).sum() == pytest.approx(rule.sum(), rel=0.05)
    assert "brightness <" in worst["path"] and "|yaw proxy| ≥" in worst["path"]
    thr_b = float(worst["path"].split("brightness < ")[1].split(" ")[0])
    thr_y = float(worst["path"].split("|yaw proxy| ≥ ")[1].split(" ")[0])
    assert thr_b == pytest.approx(80, abs=3) and thr_y == pytest.approx(0.3, abs=0.02)
    root = tree.nodes.iloc[0]
    assert root["n"] == len(attrs) and root["errors"] == rule.sum()
    # children partition their parent
    for node in tree.nodes[~tree.nodes["leaf"]]["node"]:
        kids = tree.nodes[tree.nodes["parent"] == node]["node"].tolist()
        assert (tree.mask(kids[0]) ^ tree.mask(kids[1])).sum() == tree.mask(node).sum()
    with pytest.raises(NotFoundError):
        tree.mask(999)


def test_error_tree_treats_template_geometry_as_missing():
    attrs, rng = _synthetic(3000, seed=6)
    tmpl = attrs["template"].to_numpy() == 1
    attrs.loc[tmpl, "roll"] = 0.0  # the template's level eyes, which are not the face's
    wrong = (attrs["roll"].abs().to_numpy() > 12) | tmpl
    tree = error_tree(attrs, ~wrong, max_depth=1)
    worst = tree.leaves().iloc[0]
    assert worst["rule"] == "(|head roll| ≥ 12° or landmarks not found)" or worst["rule"].startswith("landmarks not found")
    assert worst["error_rate"] > 0.95


# ------------------------------------------------------------------ error clusters

def test_error_clusters_are_found_and_described():
    attrs, rng = _synthetic(900, seed=4)
    n = len(attrs)
    correct = np.ones(n, bool)
    centres = rng.normal(0, 1, (3, 16)) * 5
    feats = rng.normal(0, 1, (n, 16)) * 0.3
    groups = np.full(n, -1)
    idx = rng.permutation(n)
    for g in range(3):
        members = idx[g * 100:(g + 1) * 100]
        groups[members] = g
        correct[members] = False
        feats[members] += centres[g]
    attrs.loc[groups == 0, "brightness"] = rng.uniform(0, 40, 100)  # cluster 0 is dark
    labels = rng.integers(0, 7, n)
    preds = np.where(correct, labels, 4)
    preds[groups == 0] = 2
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    ec = error_clusters(feats, correct, attrs, labels, preds, classes, seed=0)
    assert len(ec.table) == 3 and (ec.table["n"] == 100).all()
    assert (ec.labels[correct] == -1).all()
    dark = ec.table.iloc[int(np.bincount(ec.labels[groups == 0] + 1).argmax() - 1)]
    assert "darker (brightness −" in dark["description"]
    assert "100% predicted fear" in dark["description"]
    assert set(ec.labels[groups == 0]) == {dark["cluster"]}


def test_compare_slices_says_what_a_second_model_fixes():
    attrs, rng = _synthetic(2000, seed=5)
    dark = attrs["brightness"].to_numpy() < 60
    a = ~dark | (rng.random(len(attrs)) < 0.2)
    b = a.copy()
    b[dark] = rng.random(dark.sum()) < 0.9
    s = find_slices(attrs, a)
    cmp = compare_slices(s, a, b)
    top = cmp.iloc[-1]
    assert top["verdict"] == "fixes" and top["slice"].startswith("brightness:")
    assert top["fixed"] > 0 and top["accuracy_b"] > top["accuracy_a"]
    assert not (cmp["verdict"] == "breaks").any()
