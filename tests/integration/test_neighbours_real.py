"""Nearest Training faces on the real FER2013: every PrivateTest face that is an exact copy of a
Training image finds a Training face with identical pixels first, at distance 0 (the shipped
baseline, single view to keep the Training pass short); ``python -m ferviz neighbours`` writes
its CSV (a 64x64 RGB model unlike the shipped ones, no test-time views) and refuses unknown ids."""
from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from ferviz.analysis import neighbours as nb
from ferviz.analysis.evaluation import evaluate
from ferviz.cli import main
from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.labels import EMOTIONS
from ferviz.models import load_card, load_model

pytestmark = [pytest.mark.data, pytest.mark.slow]  # ~1 min: penultimate features of 28,709 Training faces
BASELINE = ROOT / "models" / "baseline_cnn.json"


def _exact_copies(training, test) -> tuple[np.ndarray, dict[bytes, np.ndarray]]:
    """Positions in `test` of faces whose pixels equal a Training face's, and Training positions by pixels."""
    by_bytes: dict[bytes, list[int]] = {}
    for p, face in enumerate(training.images):
        by_bytes.setdefault(face.tobytes(), []).append(p)
    hits = np.array([p for p, face in enumerate(test.images) if face.tobytes() in by_bytes], int)
    return hits, {k: np.array(v) for k, v in by_bytes.items()}


def test_each_exact_training_copy_is_found_first_at_distance_zero(fer_splits):
    training, test = fer_splits["Training"], fer_splits["PrivateTest"]
    copies, _ = _exact_copies(training, test)
    assert len(copies) > 20, len(copies)  # FER2013's test splits hold copies of Training images
    card = load_card(BASELINE)
    model = load_model(card)
    t = time.perf_counter()
    index = nb.training_index(model, card, training, views="single")
    built = time.perf_counter() - t
    query = nb.query_features(model, card, test.images[copies], "single")  # computed apart from the index
    t = time.perf_counter()
    pos, dist = index.nearest(query, 8)
    searched = time.perf_counter() - t
    same = (training.images[pos[:, 0]] == test.images[copies]).all(axis=(1, 2))
    assert same.all(), test.ids[copies[~same]][:5]
    assert (dist[:, 0] < 1e-6).all(), dist[:, 0].max()
    assert (dist[:, 1:] >= dist[:, :1]).all()
    print(json.dumps({"exact_copies": int(len(copies)), "index_s": round(built, 1), "search_s": round(searched, 3),
                      "max_copy_distance": float(dist[:, 0].max())}))


def test_the_command_writes_neighbours_csv(fer_path, fer_splits, other_card, tmp_path, capsys):
    training, test = fer_splits["Training"], fer_splits["PrivateTest"]
    copies, by_bytes = _exact_copies(training, test)
    ids = [str(test.ids[copies[0]]), str(test.ids[0] if copies[0] != 0 else test.ids[1])]
    assert main(["neighbours", "--model", str(other_card), "--data", str(fer_path), "--split", "PrivateTest",
                 "--ids", *ids, "--k", "5", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "nearest Training faces" in out and "is a copy of this face (distance 0)" in out
    df = pd.read_csv(tmp_path / "neighbours.csv", dtype={"id": str, "neighbour_id": str})
    assert list(df.columns[:5]) == ["id", "rank", "neighbour_id", "neighbour_label", "distance"]
    assert "neighbour_pred" in df.columns
    assert df["id"].tolist() == [ids[0]] * 5 + [ids[1]] * 5 and df["rank"].tolist() == [1, 2, 3, 4, 5] * 2
    where = {str(i): p for p, i in enumerate(training.ids)}
    npos = np.array([where[i] for i in df["neighbour_id"]])
    assert (df["neighbour_label"].to_numpy() == np.array(EMOTIONS)[training.labels[npos]]).all()
    preds = evaluate(load_card(other_card), training).preds  # cached by the command's one pass
    assert (df["neighbour_pred"].to_numpy() == np.array(EMOTIONS)[preds[npos]]).all()
    first = df[df["id"] == ids[0]].iloc[0]
    assert first["distance"] < 1e-6 and where[first["neighbour_id"]] in by_bytes[test.images[copies[0]].tobytes()]
    assert (np.diff(df["distance"].to_numpy().reshape(2, 5), axis=1) >= 0).all()


def test_the_command_refuses_unknown_ids(fer_path, tmp_path, capsys):
    assert main(["neighbours", "--model", str(BASELINE), "--data", str(fer_path), "--split", "PrivateTest",
                 "--ids", "nope.jpg", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ferviz neighbours: error: no face with id 'nope.jpg' in PrivateTest (3,589 faces; its ids look like" in err
    assert not (tmp_path / "neighbours.csv").exists()
