"""Perturbations and the stress test on synthetic faces and hand-built models."""
from __future__ import annotations

import numpy as np
import pytest

from ferviz.analysis.perturbations import PERTURBATIONS, describe, perturb
from ferviz.analysis.stress import flip_sentence, plan, stress_test
from ferviz.attribution.regions import REGIONS, region_map
from ferviz.data.landmarks import TEMPLATE
from ferviz.data.splits import FERSplit
from ferviz.errors import AnalysisError
from ferviz.labels import EMOTIONS
from ferviz.models import load_card
from tests.unit.tiny_models import brightness_model

HAPPY, NEUTRAL = EMOTIONS.index("happy"), EMOTIONS.index("neutral")
MOUTH = region_map(TEMPLATE, (48, 48)) == REGIONS.index("mouth")


def _card(folder, stem, model):
    import json

    model.save(folder / f"{stem}.keras")
    (folder / f"{stem}.json").write_text(json.dumps({
        "name": stem, "file": f"{stem}.keras", "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
    return load_card(folder / f"{stem}.json")


def _faces(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, (n, 48, 48)).astype(np.uint8)


@pytest.mark.parametrize("name", list(PERTURBATIONS))
def test_severity_zero_is_the_identity_and_others_change_the_faces(name):
    x = _faces()
    same = perturb(x, name, 0)
    assert same.dtype == np.uint8 and (same == x).all() and same is not x
    for s in PERTURBATIONS[name].severities:
        y = perturb(x, name, s, seed=3)
        assert y.shape == x.shape and y.dtype == np.uint8
        assert (y != x).any(), (name, s)
        assert (perturb(x, name, s, seed=3) == y).all()  # deterministic for a seed
    assert (x == _faces()).all()  # the input is never changed


def test_bad_perturbations_are_refused():
    with pytest.raises(AnalysisError, match="unknown perturbation"):
        perturb(_faces(), "smudge", 1)
    with pytest.raises(AnalysisError, match="severities 0-1"):
        perturb(_faces(), "mirror", 2)
    with pytest.raises(AnalysisError, match="severities run from 0 to 5"):
        plan(["blur"], [7])
    with pytest.raises(AnalysisError, match="severities 0-5"):
        perturb(_faces(), "blur", 7)
    assert plan(["blur", "mirror"]) == [("blur", s) for s in range(1, 6)] + [("mirror", 1)]


def test_parameters_do_what_they_say():
    x = np.full((1, 48, 48), 200, np.uint8)
    assert perturb(x, "brightness", 5).max() == 40  # x 0.2
    y = np.zeros((1, 48, 48), np.uint8)
    y[0, :, 24:] = 200
    assert np.ptp(perturb(y, "contrast", 5)) == pytest.approx(20, abs=1)  # x 0.1 around the mean
    assert (perturb(y, "mirror", 1)[0, :, :24] == 200).all()
    occluded = perturb(_faces(1), "occlude_mouth", 1)
    assert (occluded[0][MOUTH] == occluded[0][MOUTH][0]).all()  # one grey: the face's mean
    assert (occluded[0][~MOUTH] == _faces(1)[0][~MOUTH]).all()
    grown = perturb(_faces(1), "occlude_mouth", 5)
    assert (grown[0] != _faces(1)[0]).sum() > (occluded[0] != _faces(1)[0]).sum()
    assert "occluding the mouth (severity 3: the region grown by 2 px)" == describe("occlude_mouth", 3)
    assert describe("blur", 2) == "blurring (severity 2: 1 px (sigma))" and describe("mirror", 1) == "mirroring the face"


def _mouth_model():
    """Happy when the mouth region (the template's) is bright, neutral otherwise."""
    import keras

    inp = keras.Input((48, 48, 1))
    x = keras.layers.Flatten()(inp)
    out = keras.layers.Dense(7, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    w = np.zeros((48 * 48, 7), np.float32)
    w[MOUTH.ravel(), HAPPY] = 20.0 / MOUTH.sum()
    b = np.full(7, -20.0, np.float32)
    b[HAPPY], b[NEUTRAL] = -10.0, 0.0
    model.get_layer("probs").set_weights([w, b])
    return model


def _mouth_split(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(80, 120, (n, 48, 48)).astype(np.uint8)
    labels = np.where(np.arange(n) % 2 == 0, HAPPY, NEUTRAL)
    x[labels == HAPPY] = np.where(MOUTH, 235, x[labels == HAPPY])
    x[labels == NEUTRAL] = np.where(MOUTH, 30, x[labels == NEUTRAL])
    return FERSplit(x, labels, np.array([f"f{i}" for i in range(n)]), "PrivateTest", "synthetic", "h")


def test_a_model_that_reads_only_the_mouth_fails_under_mouth_occlusion_only(tmp_path):
    split = _mouth_split()
    card = _card(tmp_path, "mouth", _mouth_model())
    res = stress_test(card, split, ["occlude_mouth", "occlude_eyes", "occlude_brows"])
    t = res.table().set_index(["perturbation", "severity", "class"])
    assert t.loc[("occlude_mouth", 0, "all"), "accuracy"] == 1.0
    for s in range(1, 6):
        assert t.loc[("occlude_mouth", s, "all"), "accuracy"] == 0.5  # every happy face turns neutral
        assert t.loc[("occlude_mouth", s, "happy"), "accuracy"] == 0.0
        assert t.loc[("occlude_eyes", s, "all"), "accuracy"] == 1.0
        assert t.loc[("occlude_brows", s, "all"), "accuracy"] == 1.0
    lo, hi = t.loc[("occlude_mouth", 3, "all"), ["ci_low", "ci_high"]]
    assert lo < 0.5 < hi
    flips = res.flips()
    top = flips.iloc[0]
    assert (top["perturbation"], top["from"], top["to"], top["count"], top["share"]) == \
        ("occlude_mouth", "happy", "neutral", 20, 1.0)
    assert not (flips["perturbation"] == "occlude_eyes").any()
    mask = res.flip_mask("occlude_mouth", 1, HAPPY, NEUTRAL)
    assert mask.sum() == 20 and (split.labels[mask] == HAPPY).all()
    assert flip_sentence("occlude_mouth", 1, "happy", "neutral", 20).startswith(
        "Occluding the mouth (severity 1: the region itself) turns 20 happy faces into neutral")


def test_brightness_severities_are_monotone_for_a_model_that_reads_brightness(tmp_path):
    levels = 60 + 30 * np.arange(7)  # class c's faces have brightness levels[c]
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(7), 10)
    x = np.clip(levels[labels][:, None, None] + rng.integers(-3, 4, (70, 48, 48)), 0, 255).astype(np.uint8)
    split = FERSplit(x, labels, np.array([f"b{i}" for i in range(70)]), "PrivateTest", "synthetic", "h")
    card = _card(tmp_path, "bright", brightness_model(levels / 255.0))
    res = stress_test(card, split, ["brightness"])
    again = stress_test(card, split, ["brightness"])  # from the cache: the same numbers
    assert (again.probs_at("brightness", 3) == res.probs_at("brightness", 3)).all()
    t = res.table()
    acc = t[(t["class"] == "all")].sort_values("severity")["accuracy"].to_numpy()
    p_true = t[(t["class"] == "all")].sort_values("severity")["mean_p_true"].to_numpy()
    assert acc[0] == 1.0 and acc[-1] < 0.2
    assert (np.diff(acc) <= 1e-9).all() and (np.diff(p_true) <= 1e-6).all()
    # dimmer light reads as darker classes: the mean predicted class only goes down
    mean_pred = [res.probs_at("brightness", s).argmax(axis=1).mean() for s in range(6)]
    assert (np.diff(mean_pred) <= 0).all()


def test_the_commands_literal_copy_of_the_perturbations_agrees():
    from ferviz.cli import stress

    assert stress.PERTURBATIONS == tuple(PERTURBATIONS)
