"""The embedding map on the real PrivateTest: ``python -m ferviz embed`` for the shipped baseline
(10-view TTA) and for a model unlike it (64x64 RGB, scaled to [-1, 1], another class order,
legacy .h5), in a cold cache so the one pass that gives features and predictions is what runs."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest

from ferviz.analysis import embedding as emb
from ferviz.cli import main
from ferviz.analysis.evaluation import evaluate
from ferviz.labels import EMOTIONS
from ferviz.models import load_card
from ferviz.config import PROJECT_ROOT as ROOT

pytestmark = [pytest.mark.data, pytest.mark.slow]  # ~1 min: 10-view features of 3,589 faces + UMAP
ORDER = ["neutral", "happy", "sad", "angry", "surprise", "fear", "disgust"]
BASELINE = ROOT / "models" / "baseline_cnn.json"


@pytest.fixture(scope="module")
def cold_cache(tmp_path_factory):
    """An empty cache of this module's own: the runs below compute, not reuse other tests' work."""
    old = os.environ.get("FERVIZ_CACHE")
    os.environ["FERVIZ_CACHE"] = str(tmp_path_factory.mktemp("embedding-cache"))
    yield
    if old is None:
        os.environ.pop("FERVIZ_CACHE", None)
    else:
        os.environ["FERVIZ_CACHE"] = old


@pytest.fixture(scope="module")
def baseline_out(cold_cache, fer_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("embed-baseline")
    t = time.perf_counter()
    assert main(["embed", "--model", str(BASELINE), "--data", str(fer_path), "--split", "PrivateTest",
                 "--format", "png", "pdf", "--out", str(out)]) == 0
    return out, time.perf_counter() - t


def _check_table(df: pd.DataFrame, split) -> None:
    assert list(df.columns[:5]) == ["id", "x", "y", "true", "pred"]
    assert len(df) == len(split) == 3589
    assert np.isfinite(df[["x", "y"]].to_numpy(float)).all()
    assert (df["id"].astype(str).to_numpy() == split.ids.astype(str)).all()
    assert (df["true"].to_numpy() == np.array(EMOTIONS)[split.labels]).all()
    assert df[["x", "y"]].drop_duplicates().shape[0] > 3000  # a spread-out layout, not a collapse


def _check_against_fresh_predictions(df: pd.DataFrame, card, split, n: int = 300) -> None:
    """The first n rows' pred/confidence equal a prediction computed afresh (no cache)."""
    ev = evaluate(card, split.subset(range(n)), use_cache=False)
    np.testing.assert_allclose(df["confidence"].to_numpy()[:n], ev.probs.max(axis=1), atol=1e-4)
    top2 = np.sort(ev.probs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4  # a near-tie may round either way
    assert clear.mean() > 0.95
    assert (df["pred"].to_numpy()[:n][clear] == np.array(EMOTIONS)[ev.preds][clear]).all()


def test_embed_writes_the_split_for_the_shipped_baseline(baseline_out, private_test):
    out, seconds = baseline_out
    df = pd.read_csv(out / "embedding.csv")
    _check_table(df, private_test)
    card = load_card(BASELINE)
    ev = evaluate(card, private_test)  # the shown prediction, as the dashboard reads it
    assert (df["pred"].to_numpy() == np.array(EMOTIONS)[ev.preds]).all()
    assert (df["correct"].to_numpy() == (ev.preds == private_test.labels)).all()
    # the card's accuracy was measured by `evaluate` without any cache: the table agrees
    assert df["correct"].mean() == pytest.approx(card.metrics["PrivateTest"]["accuracy"], abs=1e-6)
    _check_against_fresh_predictions(df, card, private_test)
    assert (out / "embedding.png").stat().st_size > 10_000
    assert (out / "embedding.pdf").read_bytes()[:5] == b"%PDF-"
    print(json.dumps({"cold_embed_cli_s": round(seconds, 1)}))


def test_second_run_comes_from_the_cache(baseline_out, fer_path, tmp_path, monkeypatch, capsys):
    out, _ = baseline_out

    def boom(*a, **k):
        raise AssertionError("computed again")
    for name in ("penultimate_features", "embed", "load_model"):
        monkeypatch.setattr(emb, name, boom)
    t = time.perf_counter()
    assert main(["embed", "--model", str(BASELINE), "--data", str(fer_path), "--split", "PrivateTest",
                 "--out", str(tmp_path)]) == 0
    assert time.perf_counter() - t < 30
    assert "from the cache" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "embedding.csv"), pd.read_csv(out / "embedding.csv"))


def test_a_model_of_another_size_scaling_and_class_order(cold_cache, other_card, fer_path, private_test, tmp_path):
    import keras
    import tensorflow as tf

    out = tmp_path / "emb"
    assert main(["embed", "--model", str(other_card), "--data", str(fer_path), "--split", "PrivateTest",
                 "--method", "umap", "--seed", "3", "--out", str(out)]) == 0
    df = pd.read_csv(out / "embedding.csv")
    _check_table(df, private_test)
    card = load_card(other_card)
    _check_against_fresh_predictions(df, card, private_test)
    # the features are the 16 pooled channels, computed on the card's 64x64 RGB [-1, 1] input
    feats = emb.cached_features(None, card, private_test)
    assert feats.shape == (3589, 16) and np.isfinite(feats).all()
    model = keras.models.load_model(other_card.parent / "rgb64.h5", compile=False)
    x = tf.image.resize(private_test.images[:16, ..., None].astype(np.float32), (64, 64), antialias=True).numpy()
    x = np.repeat(x * (2 / 255.0) - 1, 3, axis=-1)
    want = keras.Model(model.inputs[0], model.layers[-2].output).predict(x, verbose=0)
    np.testing.assert_allclose(feats[:16], want, atol=1e-4)
    # PCA of the same cached features (no model needed)
    pca = emb.cached_embedding(None, card, private_test, "pca", 0)
    assert pca.attrs["method"] == "pca" and np.isfinite(pca[["x", "y"]].to_numpy()).all()
