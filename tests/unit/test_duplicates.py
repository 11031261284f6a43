"""Exact and near duplicates on tiny synthetic faces, and metrics without Training copies."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferviz.data import duplicates as dup
from ferviz.data.splits import FERSplit
from ferviz.analysis.evaluation import Evaluation
from ferviz.labels import EMOTIONS


def _face(seed: int) -> np.ndarray:
    """A smooth random 48x48 'face' (a 6x6 random field, upsampled)."""
    small = np.random.default_rng(seed).integers(30, 226, (6, 6)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((48, 48), Image.Resampling.BICUBIC))


def _split(name: str, images, labels, ids) -> FERSplit:
    return FERSplit(np.stack(images).astype(np.uint8), np.array(labels, np.int64), np.array(ids),
                    name, "synthetic", "synthetic-hash")


@pytest.fixture(scope="module")
def faces():
    a, b, c, d, e, f = (_face(s) for s in range(6))
    brighter = np.clip(b.astype(int) + 12, 0, 255).astype(np.uint8)
    noise = np.random.default_rng(9).normal(0, 2, e.shape).round()
    noisy = np.clip(e.astype(int) + noise, 0, 255).astype(np.uint8)
    splits = {
        "Training": _split("Training", [a, b, c, c, e], [4, 3, 0, 2, 6], ["t0", "t1", "t2", "t3", "t4"]),
        "PublicTest": _split("PublicTest", [brighter, f], [3, 1], ["u0", "u1"]),
        "PrivateTest": _split("PrivateTest", [a.copy(), d, e.copy(), noisy], [3, 5, 6, 6],
                              ["p0", "p1", "p2", "p3"]),
    }
    return splits


@pytest.fixture(scope="module")
def pairs(faces):
    return dup.find_duplicates(faces, use_cache=False)


def _pair(df, x, y):
    m = ((df["id"] == x) & (df["duplicate_id"] == y)) | ((df["id"] == y) & (df["duplicate_id"] == x))
    return df[m]


def test_columns_and_one_row_per_pair(pairs):
    assert tuple(pairs.columns) == dup.COLUMNS
    assert not pairs.duplicated(["id", "duplicate_id"]).any()
    assert set(pairs["kind"]) <= {"exact", "near"}


def test_exact_copy_across_splits_with_labels(pairs):
    r = _pair(pairs, "p0", "t0")
    assert len(r) == 1
    r = r.iloc[0]
    assert (r["id"], r["split"], r["label"]) == ("p0", "PrivateTest", "happy")  # the test image first
    assert (r["duplicate_id"], r["duplicate_split"], r["duplicate_label"]) == ("t0", "Training", "sad")
    assert r["kind"] == "exact"


def test_brightness_shifted_and_noised_copies_are_near(pairs):
    assert _pair(pairs, "u0", "t1")["kind"].tolist() == ["near"]
    assert _pair(pairs, "p3", "t4")["kind"].tolist() == ["near"]
    assert _pair(pairs, "p2", "t4")["kind"].tolist() == ["exact"]


def test_within_split_pairs(pairs):
    r = _pair(pairs, "t2", "t3")
    assert r["kind"].tolist() == ["exact"] and r["split"].tolist() == ["Training"]
    assert r["duplicate_split"].tolist() == ["Training"]
    assert _pair(pairs, "p2", "p3")["kind"].tolist() == ["near"]  # noisy copy within PrivateTest


def test_unrelated_faces_not_found_and_near_excludes_exact(pairs):
    ids = set(pairs["id"]) | set(pairs["duplicate_id"])
    assert "p1" not in ids and "u1" not in ids
    assert len(_pair(pairs, "p0", "t0")) == 1  # not listed again as near
    assert len(pairs) == 6  # p0-t0, p2-t4, t2-t3 exact; u0-t1, p3-t4, p2-p3 near


def test_hamming_pairs_multi_index_equals_brute_force():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 40, dtype=np.uint64)
    flips = np.array([np.uint64(1) << np.uint64(b) for b in range(64)], np.uint64)
    h = [base]
    for k in range(1, 6):  # clusters of hashes a few bits from each base
        bits = rng.integers(0, 64, (40, k))
        h.append(base ^ np.bitwise_xor.reduce(flips[bits], axis=1))
    h = np.concatenate(h)
    for t in (0, 3, 7, 12):
        i, j, d = dup.hamming_pairs(h, t)
        bi, bj = dup._brute_candidates(h, t)
        assert sorted(zip(i.tolist(), j.tolist())) == sorted(zip(bi.tolist(), bj.tolist()))
        assert (d <= t).all() and (i < j).all()
        assert np.array_equal(d, np.bitwise_count(h[i] ^ h[j]))


def test_result_is_cached_on_disk(faces, monkeypatch):
    first = dup.find_duplicates(faces)
    monkeypatch.setattr(dup, "_compute", lambda *a, **k: pytest.fail("recomputed despite the cache"))
    again = dup.find_duplicates(faces)
    pd.testing.assert_frame_equal(first, again)


def test_training_duplicates_badges(pairs):
    td = dup.training_duplicates(pairs, "PrivateTest")
    assert sorted(td.index) == ["p0", "p2", "p3"]
    assert td.loc["p0", "kind"] == "exact" and td.loc["p0", "exact_labels"] == "sad"
    assert td.loc["p0", "other_label"] and td.loc["p0", "badge"] == "also in Training as sad"
    assert td.loc["p3", "kind"] == "near" and td.loc["p3", "badge"] == "near copy in Training as neutral"
    assert not td.loc["p3", "other_label"]
    pub = dup.training_duplicates(pairs, "PublicTest")
    assert pub.index.tolist() == ["u0"] and pub.loc["u0", "near_ids"] == "t1"


def _pairs(rows):
    return pd.DataFrame(rows, columns=list(dup.COLUMNS))


def test_leakage_metrics_by_hand():
    # p0 has an exact copy in Training, p1 a near one, p2 a copy in PublicTest only (not leakage)
    pairs = _pairs([("p0", "PrivateTest", "angry", "t0", "Training", "angry", "exact"),
                    ("p1", "PrivateTest", "disgust", "t1", "Training", "fear", "near"),
                    ("p2", "PrivateTest", "fear", "u0", "PublicTest", "fear", "exact")])
    labels = np.array([0, 1, 2, 3, 4, 5])
    preds = np.array([0, 1, 0, 3, 0, 5])
    ev = Evaluation("m", "PrivateTest", np.eye(7, dtype=np.float32)[preds], labels,
                    np.array([f"p{i}" for i in range(6)]))
    m = dup.leakage_metrics(ev, pairs)
    assert m["n_training_duplicates"] == 1 and m["n_training_near_duplicates"] == 2
    # without p0: labels 1..5, preds 1,0,3,0,5 -> 3 of 5 right; per-class F1 over the classes
    # present (0..5): 0, 1, 0, 1, 0, 1 -> 0.5
    assert m["accuracy_excluding_training_duplicates"] == pytest.approx(3 / 5)
    assert m["macro_f1_excluding_training_duplicates"] == pytest.approx(0.5)
    # without p0 and p1: labels 2..5, preds 0,3,0,5 -> 2 of 4; classes 0,2,3,4,5: F1 0,0,1,0,1
    assert m["accuracy_excluding_training_near_duplicates"] == pytest.approx(2 / 4)
    assert m["macro_f1_excluding_training_near_duplicates"] == pytest.approx(0.4)
    assert dup.describe_leakage(m).startswith("excluding the 1 images with an exact copy in Training: "
                                              "accuracy 0.6000, macro-F1 0.5000; excluding the 2 ")


def test_leakage_metrics_skip_training_and_no_pairs():
    probs, labels, ids = np.eye(7, dtype=np.float32)[[0, 1]], np.array([0, 2]), np.array(["a", "b"])
    assert dup.leakage_metrics(Evaluation("m", "Training", probs, labels, ids), _pairs([])) == {}
    ev = Evaluation("m", "PublicTest", probs, labels, ids)
    m = dup.leakage_metrics(ev, _pairs([]))
    assert m["n_training_duplicates"] == 0 and m["accuracy_excluding_training_duplicates"] == 0.5
    assert dup.training_duplicates(_pairs([]), "PublicTest").empty


def test_labels_are_emotion_names(pairs):
    assert set(pairs["label"]) | set(pairs["duplicate_label"]) <= set(EMOTIONS)
