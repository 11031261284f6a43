"""Failure slices on the real PrivateTest: ``python -m ferviz slices`` for the shipped baseline and
for a 64x64 RGB legacy model; every table agrees with ``evaluate``'s predictions; the roll of real
faces rotated by 20° moves by 20°."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from ferviz.analysis.attributes import image_attributes
from ferviz.analysis.evaluation import evaluate
from ferviz.cli import main
from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.data.landmarks import detect_landmarks
from ferviz.models import load_card

pytestmark = [pytest.mark.data, pytest.mark.slow]
BASELINE = ROOT / "models" / "baseline_cnn.json"


def _run(card_path, fer_path, out, *extra):
    assert main(["slices", "--model", str(card_path), "--data", str(fer_path), "--split", "PrivateTest",
                 "--format", "png", "pdf", "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def baseline_out(fer_path, tmp_path_factory):
    return _run(BASELINE, fer_path, tmp_path_factory.mktemp("slices-baseline"))


@pytest.fixture(scope="module")
def other_out(other_card, fer_path, tmp_path_factory):
    return _run(other_card, fer_path, tmp_path_factory.mktemp("slices-rgb64"), "--clusters", "4")


def _check(out, card, split):
    attrs = pd.read_csv(out / "attributes.csv", dtype={"id": str})
    assert len(attrs) == len(split) == 3589
    assert (attrs["id"].to_numpy() == split.ids.astype(str)).all()
    for col in ("brightness", "contrast", "sharpness", "roll", "yaw", "scale", "centre_offset", "template",
                "training_copy", "label_issue"):
        assert col in attrs.columns
    assert np.isfinite(attrs.drop(columns="id").to_numpy(np.float64)).all()
    ev = evaluate(card, split)
    correct = pd.Series(ev.preds == ev.labels, index=split.ids.astype(str))
    slices = pd.read_csv(out / "slices.csv")
    assert {"slice", "description", "n", "accuracy", "ci_low", "ci_high", "p_adjusted"} <= set(slices.columns)
    assert len(slices) > 20 and (slices["n"] >= 30).all()
    members = pd.read_csv(out / "slice_members.csv", dtype={"id": str})
    assert list(members.columns) == ["slice", "id"]
    by_slice = members.groupby("slice")["id"].apply(list)
    for _, row in slices.iterrows():
        ids = by_slice[row["slice"]]
        assert len(ids) == row["n"]
        assert row["accuracy"] == pytest.approx(correct[ids].mean(), abs=1e-6)
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    tree = pd.read_csv(out / "tree.csv")
    tm = pd.read_csv(out / "tree_members.csv", dtype={"id": str})
    assert tree.iloc[0]["n"] == len(split) and tree.iloc[0]["errors"] == int((~correct).sum())
    for _, row in tree.iterrows():
        ids = tm.loc[tm["node"] == row["node"], "id"]
        assert len(ids) == row["n"] and int((~correct[ids]).sum()) == row["errors"]
    for fig in ("slices.png", "slices.pdf", "tree.png", "tree.pdf"):
        assert (out / fig).stat().st_size > 5000
    return ev, correct, slices


def test_slices_of_the_shipped_baseline_match_its_predictions(baseline_out, private_test):
    ev, correct, slices = _check(baseline_out, load_card(BASELINE), private_test)
    clusters = pd.read_csv(baseline_out / "clusters.csv")
    cm = pd.read_csv(baseline_out / "cluster_members.csv", dtype={"id": str})
    assert 3 <= len(clusters) <= 8 and clusters["n"].sum() == int((~correct).sum())
    assert set(cm["id"]) == set(correct.index[~correct.to_numpy()])  # the clusters hold exactly the errors
    assert all("predicted" in d for d in clusters["description"])
    attrs = pd.read_csv(baseline_out / "attributes.csv", dtype={"id": str})
    assert attrs["template"].mean() == pytest.approx(0.10, abs=0.05)  # ONet misses about one face in ten
    assert attrs["training_copy"].sum() > 250  # PrivateTest holds a few hundred Training copies


def test_slices_of_a_64px_rgb_legacy_model(other_out, other_card, private_test):
    _check(other_out, load_card(other_card), private_test)
    assert len(pd.read_csv(other_out / "clusters.csv")) == 4


def test_roll_of_real_faces_rotated_by_20_degrees(private_test):
    base = image_attributes(private_test.images, private_test.data_hash)
    chosen = np.flatnonzero((base["template"].to_numpy() == 0) & (base["roll"].abs().to_numpy() < 5))[:200]
    faces = private_test.images[chosen]
    m = cv2.getRotationMatrix2D((23.5, 23.5), -20, 1.0)  # 20° clockwise in the image: the right eye drops
    rotated = np.stack([cv2.warpAffine(f, m, (48, 48), borderMode=cv2.BORDER_REPLICATE) for f in faces])
    lm = detect_landmarks(rotated)
    after = image_attributes(rotated, landmarks=lm)
    ok = lm.detected
    assert ok.mean() > 0.7
    delta = after["roll"].to_numpy()[ok] - base["roll"].to_numpy()[chosen][ok]
    assert np.median(delta) == pytest.approx(20, abs=3)
    darker = image_attributes((faces * 0.6).astype(np.uint8), landmarks=detect_landmarks(faces))
    assert (darker["brightness"].to_numpy() < base["brightness"].to_numpy()[chosen]).all()


def test_slices_refuses_a_bad_option(capsys):
    assert main(["slices", "--model", str(BASELINE), "--min-size", "0", "--out", "x"]) == 2
    assert "--min-size" in capsys.readouterr().err
