"""Nearest Training faces and prototypes on synthetic embeddings: the search equals the exact
top-k by brute force (and scikit-learn's), the table and sentence say what the neighbours are,
the index is cached by the model's identity, and k-medoids is deterministic and finds clusters."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferviz.analysis import neighbours as nb
from ferviz.analysis import prototypes as pr
from ferviz.data.splits import FERSplit
from ferviz.errors import AnalysisError, NotFoundError
from ferviz.labels import EMOTIONS


def _brute(index: np.ndarray, query: np.ndarray, k: int, skip=None):
    """Exact cosine top-k: full distance rows, a stable sort (ties by position)."""
    iu = index / np.where(np.linalg.norm(index, axis=1, keepdims=True) > 0,
                          np.linalg.norm(index, axis=1, keepdims=True), 1)
    out_p, out_d = [], []
    for r, q in enumerate(query):
        qn = np.linalg.norm(q)
        d = 1.0 - iu @ (q / (qn if qn > 0 else 1))
        d = np.clip(d, 0, 2)
        if skip is not None and skip[r] is not None:
            d[skip[r]] = np.inf
        order = np.argsort(d, kind="stable")[:k]
        out_p.append(order)
        out_d.append(d[order])
    return np.array(out_p), np.array(out_d)


@pytest.mark.parametrize("k", [1, 8, 50])
def test_nearest_equals_the_exact_top_k(k):
    rng = np.random.default_rng(0)
    index = rng.normal(size=(3000, 32)).astype(np.float32)
    query = np.vstack([rng.normal(size=(40, 32)), index[[5, 17, 2999]]]).astype(np.float32)
    pos, dist = nb.nearest(nb.unit_rows(index), query, k, batch=16)  # several query batches
    bp, bd = _brute(index.astype(np.float64), query.astype(np.float64), k)
    assert (pos == bp).all()
    np.testing.assert_allclose(dist, bd, atol=1e-12)
    assert (np.diff(dist, axis=1) >= 0).all()
    assert list(pos[-3:, 0]) == [5, 17, 2999] and (dist[-3:, 0] < 1e-12).all()


def test_nearest_agrees_with_scikit_learn():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(1)
    index, query = rng.normal(size=(500, 8)), rng.normal(size=(20, 8))
    pos, dist = nb.nearest(nb.unit_rows(index), query, 8)
    d, p = NearestNeighbors(n_neighbors=8, metric="cosine", algorithm="brute").fit(index).kneighbors(query)
    assert (pos == p).all()
    np.testing.assert_allclose(dist, d, atol=1e-9)


def test_ties_go_to_the_lower_position_and_zero_rows_are_at_distance_one():
    index = np.array([[1, 0], [2, 0], [0, 0], [0, 1], [3, 0], [0, 0]], np.float32)  # rows 0, 1, 4 one direction
    pos, dist = nb.nearest(nb.unit_rows(index), np.array([[5.0, 0.0]]), 4)
    assert pos.tolist() == [[0, 1, 4, 2]]  # the three at 0 by position, then the first at 1 (zero row 2 ties row 3)
    np.testing.assert_allclose(dist, [[0, 0, 0, 1]], atol=1e-12)
    bp, _ = _brute(index, np.array([[5.0, 0.0]]), 4)
    assert (pos == bp).all()


def test_excluding_a_query_itself():
    rng = np.random.default_rng(2)
    index = rng.normal(size=(100, 6))
    pos, dist = nb.nearest(nb.unit_rows(index), index[[3, 7]], 5, exclude=[3, None])
    bp, bd = _brute(index, index[[3, 7]], 5, skip=[3, None])
    assert (pos == bp).all() and 3 not in pos[0] and pos[1, 0] == 7
    np.testing.assert_allclose(dist, bd, atol=1e-12)


def test_k_is_checked_and_cut_to_the_index():
    index = np.eye(3)
    assert nb.nearest(index, index[:1], 8)[0].shape == (1, 3)
    for bad in (0, -1, 1.5, True, nb.MAX_K + 1):
        with pytest.raises(AnalysisError, match="k must be"):
            nb.nearest(index, index[:1], bad)
    with pytest.raises(AnalysisError, match="dimensions"):
        nb.nearest(index, np.ones((1, 4)), 1)
    with pytest.raises(AnalysisError, match="NaN"):
        nb.unit_rows(np.array([[np.nan, 1.0]]))


# ------------------------------------------------------------------ the table and its sentence

def _index(n: int = 40, seed: int = 3):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, 12)).astype(np.float32)
    labels = rng.integers(0, 7, n)
    return nb.TrainingIndex(feats, np.array([f"T{i}" for i in range(n)]), labels, "tta", "toy", "hash"), rng


def test_table_columns_ranks_labels_and_predictions():
    index, rng = _index()
    preds = (index.labels + 1) % 7
    q = np.vstack([rng.normal(size=(2, 12)), index.features[4]])
    df = nb.neighbours(index, q, ["a", "b", "c"], k=5, preds=preds)
    assert tuple(df.columns) == nb.COLUMNS
    assert list(df.columns[:5]) == ["id", "rank", "neighbour_id", "neighbour_label", "distance"]
    assert len(df) == 15 and df["rank"].tolist() == [1, 2, 3, 4, 5] * 3
    bp, bd = _brute(index.features.astype(np.float64), q, 5)
    assert df["neighbour_id"].tolist() == [f"T{p}" for p in bp.ravel()]
    assert df["neighbour_label"].tolist() == [EMOTIONS[index.labels[p]] for p in bp.ravel()]
    assert df["neighbour_pred"].tolist() == [EMOTIONS[preds[p]] for p in bp.ravel()]
    np.testing.assert_allclose(df["distance"], bd.ravel(), atol=1e-9)
    c = df[df["id"] == "c"]
    assert c["neighbour_id"].iloc[0] == "T4" and c["distance"].iloc[0] < nb.COPY_DISTANCE
    own = nb.neighbours(index, index.features[[4]], ["T4"], k=3, exclude=["T4"])
    assert "T4" not in own["neighbour_id"].tolist() and own["neighbour_pred"].isna().all()


def _rows(labels, preds=None, dist=None):
    n = len(labels)
    return pd.DataFrame({"id": "q", "rank": range(1, n + 1), "neighbour_id": [f"T{i}" for i in range(n)],
                         "neighbour_label": labels, "distance": dist if dist is not None else np.linspace(.1, .5, n),
                         "neighbour_pred": preds if preds is not None else [pd.NA] * n})


def test_the_sentence_says_the_neighbourhood():
    s = nb.neighbourhood_sentence(_rows(["sad"] * 7 + ["fear"]))
    assert s == "7 of the 8 nearest Training faces are labelled sad."
    assert nb.neighbourhood_sentence(_rows(["sad"] * 8)) == "All 8 nearest Training faces are labelled sad."
    s = nb.neighbourhood_sentence(_rows(["sad"] * 5 + ["fear"] * 3, preds=["sad"] * 6 + ["fear"] * 2), label="fear")
    assert s == ("5 of the 8 nearest Training faces are labelled sad; 3 share this face's label (fear); "
                 "the model predicts sad for 6 of them.")
    dist = np.array([0.0] + [0.2] * 7)
    s = nb.neighbourhood_sentence(_rows(["happy"] + ["sad"] * 7, dist=dist), label="happy")
    assert s.endswith("1 shares this face's label (happy); 1 is a copy of this face (distance 0).")
    # a tie goes to the label of the nearer face
    assert nb.neighbourhood_sentence(_rows(["fear", "sad", "sad", "fear"])).startswith("2 of the 4 nearest "
                                                                                       "Training faces are labelled fear")
    assert "different labels" in nb.neighbourhood_sentence(_rows(["fear", "sad", "happy"]))


def test_split_queries_name_unknown_ids():
    index, _ = _index()
    split = FERSplit(np.zeros((3, 48, 48), np.uint8), np.zeros(3, int), np.array(["x1", "x2", "x3"]), "PrivateTest",
                     "src", "h")
    with pytest.raises(NotFoundError, match=r"no face with id 'nope', 'gone' in PrivateTest \(3 faces; its ids "
                                            r"look like x1, x2, x3\)"):
        nb.split_neighbours(None, None, index, split, ["x1", "nope", "gone"])


# ------------------------------------------------------------------ the cached index of a model

def test_the_index_is_cached_by_model_identity(tmp_path, monkeypatch):
    from tests.unit.tiny_models import brightness_model

    from ferviz.models import load_card

    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path / "cache"))
    levels = np.array([20, 55, 90, 125, 160, 195, 230])
    model = brightness_model(levels / 255.0)
    conv = model.get_layer("conv")
    conv.set_weights([conv.get_weights()[0], np.array([0.0, 1.0], np.float32)])  # features (mean, 1): a direction
    model.save(tmp_path / "b.keras")
    import json

    (tmp_path / "b.json").write_text(json.dumps({"name": "B", "file": "b.keras", "tta": "mirror",
                                                 "input": {"height": 48, "width": 48, "channels": 1,
                                                           "scale": [0, 1]}}))
    card = load_card(tmp_path / "b.json")
    rng = np.random.default_rng(0)
    images = np.clip(levels[np.arange(21) % 7, None, None] + np.arange(21)[:, None, None] // 7 * 9
                     + rng.integers(-3, 4, (21, 48, 48)), 0, 255).astype(np.uint8)
    train = FERSplit(images, np.arange(21) % 7, np.array([f"t{i}" for i in range(21)]), "Training", "s", "h1")
    assert not nb.is_cached(card, train)
    index = nb.training_index(model, card, train)
    assert nb.is_cached(card, train) and index.features.shape[0] == 21
    again = nb.training_index(None, card, train)  # from disk: no model needed
    np.testing.assert_array_equal(again.features, index.features)
    q = nb.query_features(model, card, images[5])  # one face out of any split, the same views
    pos, dist = again.nearest(q, 3)
    assert pos[0, 0] == 5 and dist[0, 0] < nb.COPY_DISTANCE
    test = FERSplit(images[[5, 6]], np.array([5, 6]), np.array(["p5", "p6"]), "PrivateTest", "s", "h1")
    df = nb.split_neighbours(model, card, again, test, ["p5", "p6"], k=2)
    assert df.groupby("id")["neighbour_id"].first().to_dict() == {"p5": "t5", "p6": "t6"}
    own = nb.split_neighbours(model, card, again, train, ["t5"], k=2)
    assert "t5" not in own["neighbour_id"].tolist()  # a Training face does not find itself
    (tmp_path / "b.json").write_text(json.dumps({"name": "B renamed", "file": "b.keras", "tta": "mirror",
                                                 "description": "edited", "input": {"height": 48, "width": 48,
                                                                                    "channels": 1, "scale": [0, 1]}}))
    assert nb.is_cached(load_card(tmp_path / "b.json"), train)  # a new name and description: the same model
    (tmp_path / "d.json").write_text(json.dumps({"name": "B", "file": "b.keras", "tta": None,
                                                 "input": {"height": 48, "width": 48, "channels": 1,
                                                           "scale": [0, 1]}}))
    assert not nb.is_cached(load_card(tmp_path / "d.json"), train)  # other views: another index
    other = FERSplit(images[::-1].copy(), train.labels[::-1].copy(), train.ids[::-1].copy(), "Training", "s", "h1")
    assert not nb.is_cached(card, other)  # other data: another index


# ------------------------------------------------------------------ prototypes

def _clusters(seed: int = 0):
    """Class 0: a big cluster around e0 (60), a small one around e1 (20), 3 outliers towards e2;
    class 3: one cluster around e3 (30) and 1 outlier towards e4."""
    rng = np.random.default_rng(seed)
    e = np.eye(8)
    parts = [(e[0] + 0.05 * rng.normal(size=(60, 8)), 0), (e[1] + 0.05 * rng.normal(size=(20, 8)), 0),
             (e[2] + 0.3 * e[0] + 0.05 * rng.normal(size=(3, 8)), 0), (e[3] + 0.05 * rng.normal(size=(30, 8)), 3),
             (e[4] + 0.2 * e[3] + 0.05 * rng.normal(size=(1, 8)), 3)]
    feats = np.vstack([p for p, _ in parts])
    labels = np.concatenate([np.full(len(p), c) for p, c in parts])
    perm = rng.permutation(len(feats))
    return feats[perm], labels[perm], perm


def test_prototypes_find_the_clusters_and_criticisms_the_outliers():
    feats, labels, perm = _clusters()
    df = pr.prototypes(feats, labels, n_prototypes=2, n_criticisms=3)
    assert tuple(df.columns) == pr.COLUMNS and set(df["label"]) == {"angry", "happy"}
    # perm[pos] is the row of `_clusters`' parts that position pos holds
    angry_p = df[(df.label == "angry") & (df.kind == "prototype")]
    src = perm[angry_p["pos"].to_numpy()]
    assert (src[0] < 60) and (60 <= src[1] < 80)  # the big cluster first, then the small one
    np.testing.assert_allclose(angry_p["share"].to_numpy(), [61 / 83, 22 / 83], atol=3 / 83)
    angry_c = df[(df.label == "angry") & (df.kind == "criticism")]
    assert set(perm[angry_c["pos"]]) == {80, 81, 82}  # the three outliers are the least typical
    assert (np.diff(angry_c["distance"].to_numpy()) <= 0).all()
    happy_p = df[(df.label == "happy") & (df.kind == "prototype")]
    assert len(happy_p) == 1 and happy_p["share"].iloc[0] == 1.0  # the outlier's own medoid is dropped
    happy_c = df[(df.label == "happy") & (df.kind == "criticism")]
    assert perm[happy_c["pos"].iloc[0]] == 113 and happy_c["distance"].iloc[0] > happy_c["distance"].iloc[1]
    assert (labels[df["pos"]] == np.array([EMOTIONS.index(x) for x in df["label"]])).all()
    assert not set(df[df.kind == "prototype"].pos) & set(df[df.kind == "criticism"].pos)


def test_prototypes_are_deterministic_for_a_seed():
    feats, labels, _ = _clusters(1)
    a = pr.prototypes(feats, labels, n_prototypes=3, max_faces=40, seed=7)
    b = pr.prototypes(feats.copy(), labels.copy(), n_prototypes=3, max_faces=40, seed=7)
    pd.testing.assert_frame_equal(a, b)
    full = pr.prototypes(feats, labels, n_prototypes=3)
    assert full.equals(pr.prototypes(feats, labels, n_prototypes=3, seed=99))  # no sampling: the seed is unused


def test_kmedoids_on_a_line():
    x = np.array([0.0, 1, 2, 10, 11, 12, 13])
    med, assign = pr.kmedoids(np.abs(x[:, None] - x[None, :]), 2)
    assert sorted(x[med].tolist()) in ([1.0, 11.0], [1.0, 12.0])
    assert assign[:3].tolist() == [assign[0]] * 3 and len(set(assign[3:])) == 1 and assign[0] != assign[3]
    med1, _ = pr.kmedoids(np.abs(x[:, None] - x[None, :]), 10)  # k cut to n
    assert sorted(med1.tolist()) == list(range(7))


def test_prototype_arguments_are_checked():
    feats, labels, _ = _clusters()
    with pytest.raises(AnalysisError, match="prototypes"):
        pr.prototypes(feats, labels, n_prototypes=0)
    with pytest.raises(AnalysisError, match="must match"):
        pr.prototypes(feats, labels[:-1])
    with pytest.raises(AnalysisError, match="seed"):
        pr.prototypes(feats, labels, seed=-1)


def test_the_commands_copy_of_max_k_agrees():
    from ferviz.cli import neighbours as cmd

    assert cmd.MAX_K == nb.MAX_K
