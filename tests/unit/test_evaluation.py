"""Metrics and error tables from known probabilities."""
from __future__ import annotations

import numpy as np
import pytest

from ferviz.analysis.evaluation import Evaluation
from ferviz.labels import EMOTIONS


def _ev():
    # 10 images: labels and predictions chosen by hand
    labels = np.array([0, 0, 0, 2, 2, 2, 2, 3, 4, 6])
    preds = np.array([0, 0, 1, 4, 4, 2, 4, 3, 6, 6])
    conf = np.array([.9, .6, .7, .8, .5, .9, .95, .99, .4, .8])
    probs = np.full((10, 7), 0.0, np.float32)
    for i, (p, c) in enumerate(zip(preds, conf)):
        probs[i] = (1 - c) / 6
        probs[i, p] = c
    return Evaluation("m", "PrivateTest", probs, labels, np.array([f"id{i}" for i in range(10)]))


def test_accuracy_confusion_and_per_class():
    ev = _ev()
    assert ev.accuracy == pytest.approx(0.5)
    cm = ev.confusion()
    assert cm[2, 4] == 3 and cm[0, 1] == 1 and cm.sum() == 10
    norm = ev.confusion(normalize=True)
    assert norm[2, 4] == pytest.approx(0.75)
    pc = ev.per_class().set_index("class")
    assert pc.loc["fear", "recall"] == pytest.approx(0.25)
    assert pc.loc["sad", "precision"] == 0.0 and pc.loc["fear", "support"] == 4
    s = ev.summary()
    assert s["confusion_matrix"][2][4] == 3 and s["n"] == 10 and set(s["per_class"]) == set(EMOTIONS)


def test_confused_pairs_order_and_share():
    pairs = _ev().confused_pairs()
    top = pairs.iloc[0]
    assert (top["true"], top["pred"], top["count"]) == ("fear", "sad", 3)
    assert top["share"] == pytest.approx(0.75)
    assert len(pairs) == 3


def test_errors_cell_sorted_by_confidence_and_loss():
    ev = _ev()
    cell = ev.errors(2, 4)
    assert list(cell["id"]) == ["id6", "id3", "id4"]  # confidence .95, .8, .5
    assert (cell["true"] == "fear").all() and (cell["pred"] == "sad").all()
    assert cell.loc[0, "top1"] == "sad" and cell.loc[0, "top1_p"] == pytest.approx(0.95)
    by_loss = ev.errors(sort="loss")
    assert by_loss["loss"].is_monotonic_decreasing and len(by_loss) == 5
    assert ev.errors(0, 0)["correct"].all() and len(ev.errors(0, 0)) == 2  # a diagonal cell
    with pytest.raises(ValueError, match="sort must be"):
        ev.errors(sort="random")


def test_predictions_frame_roundtrip():
    df = _ev().predictions_frame()
    assert list(df.columns[:3]) == ["id", "true", "pred"] and len(df) == 10
    np.testing.assert_allclose(df[[f"p_{e}" for e in EMOTIONS]].sum(1), 1.0, atol=1e-6)


def test_macro_f1_leaves_out_classes_absent_from_labels_and_predictions():
    from ferviz.analysis.evaluation import Evaluation

    labels = np.array([0, 0, 3, 3])
    probs = np.eye(7, dtype=np.float32)[[0, 3, 3, 3]]
    ev = Evaluation("m", "PrivateTest", probs, labels, np.array(["a", "b", "c", "d"]))
    # angry: P 1, R 0.5 -> F1 2/3; happy: P 2/3, R 1 -> F1 0.8; the five absent classes do not count
    assert ev.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
