"""Duplicates on the real FER2013: exact copies are pixel-identical, the CLI and evaluate report them."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ferviz.cli import main
from ferviz.data.duplicates import COLUMNS, find_duplicates, training_duplicates
from ferviz.config import PROJECT_ROOT as ROOT

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def pairs(fer_splits):
    return find_duplicates(fer_splits)


def _pixels(splits, split_names, ids):
    out = np.empty((len(ids), 48, 48), np.uint8)
    for s in set(split_names):
        m = np.asarray(split_names) == s
        pos = pd.Index(splits[s].ids).get_indexer(np.asarray(ids)[m])
        assert (pos >= 0).all()
        out[m] = splits[s].images[pos]
    return out


def test_exact_pairs_are_pixel_identical(pairs, fer_splits):
    exact = pairs[pairs["kind"] == "exact"]
    leak = exact[(exact["split"] == "PrivateTest") & (exact["duplicate_split"] == "Training")]
    assert len(leak) > 0
    a = _pixels(fer_splits, exact["split"], exact["id"])
    b = _pixels(fer_splits, exact["duplicate_split"], exact["duplicate_id"])
    assert (a == b).all()
    near = pairs[pairs["kind"] == "near"]
    a = _pixels(fer_splits, near["split"], near["id"])
    b = _pixels(fer_splits, near["duplicate_split"], near["duplicate_id"])
    assert (a != b).any(axis=(1, 2)).all()  # near pairs exclude exact ones


def test_duplicates_cli_writes_csv(fer_path, pairs, tmp_path, capsys):
    assert main(["duplicates", "--data", str(fer_path), "--out", str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "duplicates.csv", dtype=str, keep_default_na=False)
    assert tuple(df.columns) == COLUMNS and len(df) == len(pairs)
    out = capsys.readouterr().out
    n = training_duplicates(pairs, "PrivateTest")
    assert f"PrivateTest: {int((n['kind'] == 'exact').sum())} of 3589 images are exact copies" in out


@pytest.mark.slow
def test_evaluate_reports_accuracy_without_training_copies(fer_path, pairs, tmp_path):
    card = ROOT / "models" / "vgg_small_ft.json"
    assert main(["evaluate", "--model", str(card), "--data", str(fer_path), "--split", "PrivateTest",
                 "--out", str(tmp_path)]) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    td = training_duplicates(pairs, "PrivateTest")
    exact_ids = set(td.index[td["kind"] == "exact"])
    assert m["n_training_duplicates"] == len(exact_ids) > 0
    assert m["n_training_near_duplicates"] == len(td) > len(exact_ids)
    pred = pd.read_csv(tmp_path / "predictions.csv", dtype={"id": str})
    right = pred["true"] == pred["pred"]
    without_exact = right[~pred["id"].isin(exact_ids)].mean()
    without_any = right[~pred["id"].isin(set(td.index))].mean()
    assert m["accuracy_excluding_training_duplicates"] == pytest.approx(without_exact)
    assert m["accuracy_excluding_training_near_duplicates"] == pytest.approx(without_any)
    assert 0 < m["macro_f1_excluding_training_duplicates"] < 1
    assert 0 < m["macro_f1_excluding_training_near_duplicates"] < 1
