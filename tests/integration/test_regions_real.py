"""Facial regions on the real FER2013: landmarks on every PrivateTest face, the shipped template
reproduced from Training, and ``python -m ferviz regions`` for fear → sad and its references."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ferviz.cli import main
from ferviz.analysis.evaluation import evaluate
from ferviz.labels import EMOTIONS
from ferviz.data.landmarks import TEMPLATE, cached_landmarks, template_from
from ferviz.models import load_card
from ferviz.attribution.regions import REGIONS
from ferviz.config import PROJECT_ROOT as ROOT

pytestmark = [pytest.mark.data, pytest.mark.slow]
MODEL = ROOT / "models" / "vgg_small_ft.json"


def test_landmarks_are_found_on_most_private_test_faces(private_test):
    lm = cached_landmarks(private_test.images, private_test.data_hash)
    assert len(lm) == 3589
    assert 0.85 < lm.detection_rate < 1.0  # measured: 89.7%; the rest use the template
    assert np.allclose(lm.points[~lm.detected], TEMPLATE[None])
    # the detected faces' median is the template's (made from Training) within half a pixel
    assert np.abs(template_from(lm) - TEMPLATE).max() < 0.5 / 48


def test_the_shipped_template_is_the_training_median(fer_splits, capsys, fer_path):
    assert main(["landmarks", "--data", str(fer_path), "--split", "Training"]) == 0
    out = capsys.readouterr().out
    assert "Training: ONet found 25,879 of 28,709 faces (90.1%)" in out
    worst = float(out.split("largest difference from the shipped template: ")[1].split()[0])
    assert worst <= 1e-4  # TEMPLATE is the median rounded to 4 decimals


def test_regions_for_fear_sad_and_its_references(fer_path, private_test, tmp_path, capsys):
    out = tmp_path / "regions"
    assert main(["regions", "--model", str(MODEL), "--data", str(fer_path), "--split", "PrivateTest",
                 "--cell", "fear:sad", "--method", "gradcam", "--format", "png", "pdf", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "regions.csv")
    assert list(table["group"]) == ["cell fear→sad", "correct fear", "correct sad"]
    assert list(table.columns[6:12]) == list(REGIONS)
    np.testing.assert_allclose(table[list(REGIONS)].sum(axis=1), 1.0, atol=1e-5)
    assert ((table[[f"{r}_lo" for r in REGIONS]].to_numpy() <= table[list(REGIONS)].to_numpy() + 1e-9).all()
            and (table[list(REGIONS)].to_numpy() <= table[[f"{r}_hi" for r in REGIONS]].to_numpy() + 1e-9).all())
    ev = evaluate(load_card(MODEL), private_test)
    in_cell = int(((private_test.labels == 2) & (ev.preds == 4)).sum())
    assert table.loc[0, "n"] + table.loc[0, "n_blank"] == min(100, in_cell)
    assert (table.loc[1:, "n"] + table.loc[1:, "n_blank"] == 100).all()
    faces = pd.read_csv(out / "regions_faces.csv")
    pos = np.array([private_test.index_of(i) for i in faces["id"].astype(str)])
    groups = {"cell fear→sad": (2, 4), "correct fear": (2, 2), "correct sad": (4, 4)}
    for g, (t, p) in groups.items():
        k = pos[faces["group"] == g]
        assert (private_test.labels[k] == t).all() and (ev.preds[k] == p).all()
    tests = pd.read_csv(out / "regions_tests.csv")
    assert len(tests) == 2 * len(REGIONS) and tests["p_holm"].between(0, 1).all()
    assert (tests["p_holm"] >= tests["p"] - 1e-12).all()
    assert "differs:" in printed and "landmarks: ONet found 3,218 of 3,589 PrivateTest faces" in printed
    assert (out / "regions.png").stat().st_size > 10_000
    assert (out / "regions.pdf").read_bytes()[:5] == b"%PDF-"
    assert (out / "regions_face.png").exists()


def test_regions_for_a_model_of_another_size_and_format(fer_path, tmp_path):
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x)).save(tmp_path / "rgb64.h5")
    (tmp_path / "rgb64.json").write_text(json.dumps({
        "name": "RGB 64", "file": "rgb64.h5", "gradcam_layer": "last_conv",
        "classes": list(reversed(EMOTIONS)), "input": {"height": 64, "width": 64, "channels": 3, "scale": [-1, 1]}}))
    # an untrained model predicts few classes: take its most common confusion
    card = load_card(tmp_path / "rgb64.json")
    from ferviz.data.splits import load_fer2013

    split = load_fer2013(fer_path, "PrivateTest")
    ev = evaluate(card, split)
    cm = ev.confusion()
    np.fill_diagonal(cm, 0)
    t, p = np.unravel_index(np.argmax(cm), cm.shape)
    out = tmp_path / "out"
    assert main(["regions", "--model", str(tmp_path / "rgb64.json"), "--data", str(fer_path), "--cell",
                 f"{EMOTIONS[t]}:{EMOTIONS[p]}", "--max-faces", "12", "--out", str(out)]) == 0
    table = pd.read_csv(out / "regions.csv")
    assert table.loc[0, "group"] == f"cell {EMOTIONS[t]}→{EMOTIONS[p]}"
    valid = table[table["n"] > 0]
    np.testing.assert_allclose(valid[list(REGIONS)].sum(axis=1), 1.0, atol=1e-5)
