"""CSV exports round-trip through pandas to the Evaluation's own tables."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from ferviz.analysis.evaluation import Evaluation
from ferviz.export import ERROR_COLUMNS, ExportError, errors_csv, per_class_csv, predictions_csv, read_errors_csv
from ferviz.labels import EMOTIONS


def _ev(n=60, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(7, 0.6), n).astype(np.float32)
    labels = rng.integers(0, 7, n)
    # ids that a careless reader would mangle: numbers with leading zeros, commas, quotes, "NA"
    ids = np.array([f"{i:05d}" for i in range(n - 4)] + ["a,b", 'q"uote', "NA", "fear/PrivateTest_1"])
    return Evaluation("Tiny CNN", "PrivateTest", probs, labels, ids)


@pytest.mark.parametrize("cell", [(None, None), (2, 4), ("fear", "sad"), (3, 3), (None, 6), (0, None)])
@pytest.mark.parametrize("sort", ["confidence", "loss"])
def test_errors_csv_round_trips_to_evaluation_errors(cell, sort):
    ev = _ev()
    true, pred = cell
    data = errors_csv(ev, true, pred, sort=sort)
    back = read_errors_csv(data)
    t = None if true is None else EMOTIONS.index(true) if isinstance(true, str) else true
    p = None if pred is None else EMOTIONS.index(pred) if isinstance(pred, str) else pred
    want = ev.errors(t, p, sort=sort)
    cols = list(ERROR_COLUMNS) + (["correct"] if t is not None and t == p else [])
    assert list(back.columns) == cols
    pd.testing.assert_frame_equal(back, want[cols].reset_index(drop=True), check_dtype=False, check_exact=True)
    for c in ("confidence", "loss", "top1_p"):  # bit-exact float32
        assert back[c].dtype == np.float32
        np.testing.assert_array_equal(back[c].to_numpy(), want[c].to_numpy())


def test_errors_csv_reads_back_with_plain_pandas():
    ev = _ev()
    df = pd.read_csv(io.BytesIO(errors_csv(ev)), dtype={"id": str}, keep_default_na=False)
    want = ev.errors()
    assert list(df["id"]) == list(want["id"])
    np.testing.assert_allclose(df["confidence"], want["confidence"], rtol=1e-7)
    assert "pos" not in df.columns and "correct" not in df.columns


def test_errors_csv_limit_and_bad_input():
    ev = _ev()
    assert len(read_errors_csv(errors_csv(ev, limit=3))) == 3
    with pytest.raises(ExportError, match="limit"):
        errors_csv(ev, limit=0)
    with pytest.raises(ExportError, match="unknown emotion"):
        errors_csv(ev, "bored", None)
    with pytest.raises(ValueError, match="sort must be"):
        errors_csv(ev, sort="random")


def test_per_class_csv():
    ev = _ev()
    df = pd.read_csv(io.BytesIO(per_class_csv(ev)))
    pd.testing.assert_frame_equal(df, ev.per_class(), check_dtype=False)
    assert list(df["class"]) == list(EMOTIONS)


def test_predictions_csv():
    ev = _ev()
    df = pd.read_csv(io.BytesIO(predictions_csv(ev)), dtype={"id": str}, keep_default_na=False)
    assert list(df.columns) == ["id", "true", "pred"] + [f"p_{e}" for e in EMOTIONS]
    assert list(df["id"]) == list(ev.ids)
    np.testing.assert_array_equal(df[[f"p_{e}" for e in EMOTIONS]].to_numpy(np.float32), ev.probs)


def test_view_titles_name_what_the_gallery_holds():
    from ferviz.analysis.error_views import view_title

    assert view_title(2, 4) == "true **fear** → predicted **sad**"
    assert view_title(2, None) == "true **fear**, any wrong prediction"
    assert view_title(None, 4) == "predicted **sad**, wrongly"
    assert view_title(None, None) == "all errors"
    assert view_title(3, 3).startswith("correct **happy**")
