"""The embedding map's core: penultimate features from hand-weighted tiny models, test-time view
averaging, PCA/UMAP projections, the disk cache, bad input, the scatter figure and the CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferviz.analysis import embedding as emb
from ferviz.data.splits import FERSplit
from ferviz.labels import EMOTIONS
from ferviz.models import InputSpec, ModelCard, ModelError

ORDER = ["neutral", "happy", "sad", "angry", "surprise", "fear", "disgust"]


def _pool_model(size=(8, 8), channels: int = 1, head: str = "softmax"):
    """features = [mean of the left half, mean of the right half, mean of the whole image] of
    channel 0, via fixed 1x1 conv + pooling; then Dense(7). head: "softmax" (Dense(softmax)),
    "layer" (Dense + Softmax layer) or "nested" (the features and Dense inside an inner model)."""
    import keras

    h, w = size
    inp = keras.Input((h, w, channels))
    inner_in = keras.Input((h, w, channels)) if head == "nested" else inp
    x = keras.layers.Conv2D(1, 1, use_bias=False, name="pick")(inner_in)
    left = keras.layers.Cropping2D(((0, 0), (0, w // 2)))(x)
    right = keras.layers.Cropping2D(((0, 0), (w // 2, 0)))(x)
    f = keras.layers.Concatenate(name="feats")([keras.layers.GlobalAveragePooling2D()(left),
                                                keras.layers.GlobalAveragePooling2D()(right),
                                                keras.layers.GlobalAveragePooling2D()(x)])
    dense = keras.layers.Dense(7, activation="softmax" if head == "softmax" else None, name="cls")
    if head == "softmax":
        model = keras.Model(inp, dense(f))
    elif head == "layer":
        model = keras.Model(inp, keras.layers.Softmax(name="sm")(dense(f)))
    else:
        inner = keras.Model(inner_in, dense(f), name="inner")
        model = keras.Model(inp, keras.layers.Activation("softmax")(inner(inp)))
    pick = np.zeros((1, 1, channels, 1), np.float32)
    pick[0, 0, 0, 0] = 1.0
    layer = model.get_layer("inner") if head == "nested" else model
    layer.get_layer("pick").set_weights([pick])
    rng = np.random.default_rng(0)
    layer.get_layer("cls").set_weights([rng.normal(size=(3, 7)).astype(np.float32), np.zeros(7, np.float32)])
    return model


def _expected(images, spec: InputSpec, flip: bool = False):
    """The pool model's features by hand: the scaled image's half and whole means."""
    x = np.asarray(images, np.float64)
    if flip:
        x = x[:, :, ::-1]
    lo, hi = spec.scale
    x = x * (hi - lo) / 255.0 + lo
    w = x.shape[2]
    return np.stack([x[:, :, : w // 2].mean(axis=(1, 2)), x[:, :, w // 2:].mean(axis=(1, 2)),
                     x.mean(axis=(1, 2))], axis=1)


def _faces(n=9, size=8, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size), dtype=np.uint8)


def _card(tta=None, **inp):
    return ModelCard(name="pool", file="pool.keras", input=InputSpec(**{"height": 8, "width": 8, **inp}), tta=tta)


@pytest.mark.parametrize("head", ["softmax", "layer", "nested"])
def test_features_equal_the_weights_known_features(head):
    model = _pool_model(head=head)
    card = _card(scale=(-1.0, 1.0))
    faces = _faces()
    assert emb.classification_layer(model).name == "cls"
    got = emb.penultimate_features(model, card, faces, batch_size=4)
    assert got.shape == (9, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, _expected(faces, card.input), atol=1e-5)


def test_features_follow_the_cards_size_and_channels():
    model = _pool_model(size=(16, 16), channels=3)
    card = _card(height=16, width=16, channels=3)
    faces = np.full((3, 48, 48), 51, np.uint8)  # constant faces: any resize keeps the value
    np.testing.assert_allclose(emb.penultimate_features(model, card, faces), 0.2, atol=1e-5)


def test_tta_views_are_averaged_single_is_the_face_alone():
    model = _pool_model()
    faces = _faces(5)
    card = _card(tta="mirror")
    face, mirror = _expected(faces, card.input), _expected(faces, card.input, flip=True)
    tta = emb.penultimate_features(model, card, faces)
    single = emb.penultimate_features(model, card, faces, views="single")
    np.testing.assert_allclose(tta, (face + mirror) / 2, atol=1e-5)
    np.testing.assert_allclose(single, face, atol=1e-5)
    assert np.abs(tta[:, 0] - single[:, 0]).max() > 1e-3  # the mirror swaps the halves
    # no tta on the card: both the same
    np.testing.assert_allclose(emb.penultimate_features(model, _card(), faces),
                               emb.penultimate_features(model, _card(), faces, views="single"))
    # 10 views: the mean of the 10 views' features (each view's features by hand)
    from ferviz.analysis.evaluation import tta_views

    card10 = _card(tta="mirror+shift")
    views = tta_views(faces[..., None].astype(np.float64), "mirror+shift")
    want = np.mean([_expected(v[..., 0], card10.input) for v in views], axis=0)
    np.testing.assert_allclose(emb.penultimate_features(model, card10, faces), want, atol=1e-5)


def test_probs_of_the_same_pass_equal_predict_probs():
    from ferviz.analysis.evaluation import predict_probs

    model = _pool_model()
    card = ModelCard(name="pool", file="pool.keras", input=InputSpec(height=8, width=8), tta="mirror",
                     classes=tuple(ORDER))
    faces = _faces(7)
    feats, probs = emb.penultimate_features(model, card, faces, with_probs=True, batch_size=3)
    np.testing.assert_allclose(probs, predict_probs(model, card, faces), atol=1e-6)
    np.testing.assert_allclose(feats, emb.penultimate_features(model, card, faces), atol=1e-6)


def test_broken_weights_give_a_clear_error():
    model = _pool_model()
    w = model.get_layer("pick").get_weights()[0]
    model.get_layer("pick").set_weights([w * np.inf])
    with pytest.raises(ModelError, match="NaN or infinite"):
        emb.penultimate_features(model, _card(), _faces(3))


def _clusters(n=60, d=10, seed=0):
    rng = np.random.default_rng(seed)
    lab = np.arange(n) % 2
    f = rng.normal(size=(n, d)) + lab[:, None] * 6.0
    return f.astype(np.float32), lab


def test_pca_separates_two_clusters():
    f, lab = _clusters()
    xy = emb.embed(f, "pca")
    assert xy.shape == (60, 2) and xy.dtype == np.float32
    a, b = xy[lab == 0, 0], xy[lab == 1, 0]
    assert a.max() < b.min() or b.max() < a.min()  # PC 1 alone splits them


def test_features_are_standardised_first():
    """A feature with a huge scale but no structure must not dominate the PCA."""
    f, lab = _clusters()
    noisy = np.hstack([f, np.random.default_rng(3).normal(size=(60, 1)) * 1e4]).astype(np.float32)
    noisy = np.hstack([noisy, np.full((60, 1), 5.0, np.float32)])  # a constant (dead) unit is harmless
    xy = emb.embed(noisy, "pca")
    a, b = xy[lab == 0, 0], xy[lab == 1, 0]
    assert a.max() < b.min() or b.max() < a.min()
    z = emb.standardise(noisy)
    np.testing.assert_allclose(z[:, :-1].std(axis=0), 1.0, atol=1e-6)
    assert (z[:, -1] == 0).all()


@pytest.mark.parametrize("method", ["pca", pytest.param("umap", marks=pytest.mark.slow)])  # umap: import + JIT
def test_deterministic_for_a_seed(method):
    f, lab = _clusters(80)
    a, b = emb.embed(f, method, seed=3), emb.embed(f, method, seed=3)
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()
    if method == "umap":
        assert not np.array_equal(a, emb.embed(f, method, seed=4))
        # the clusters stay apart: every point's nearest other point is in its own cluster
        d = ((a[:, None] - a[None]) ** 2).sum(-1) + np.eye(len(a)) * 1e9
        assert (lab[d.argmin(axis=1)] == lab).all()


@pytest.mark.slow
def test_umap_small_inputs_and_parameters():
    f, lab = _clusters(40)
    for n in (3, 4, 16):
        xy = emb.embed(f[:n], "umap", seed=0)
        assert xy.shape == (n, 2) and np.isfinite(xy).all()
    # parameters reach UMAP; another metric takes UMAP's own distance path
    for params in ({"n_neighbors": 5, "min_dist": 0.5}, {"metric": "manhattan"}):
        xy = emb.embed(f, "umap", seed=0, **params)
        d = ((xy[:, None] - xy[None]) ** 2).sum(-1) + np.eye(len(xy)) * 1e9
        assert xy.shape == (40, 2) and (lab[d.argmin(axis=1)] == lab).all()


@pytest.mark.parametrize("bad, match", [
    (dict(method="tsne"), "unknown embedding method 'tsne'"),
    (dict(method="umap", n=2), "UMAP needs at least 3 faces, got 2"),
    (dict(method="pca", n=1), "PCA needs at least 2 faces, got 1"),
    (dict(method="umap", nan=True), "non-finite"),
    (dict(method="pca", inf=True), "non-finite"),
    (dict(method="umap", seed=-1), "seed must be"),
    (dict(method="pca", params={"bogus": 1}), "unknown PCA parameter"),
    pytest.param(dict(method="umap", params={"bogus": 1}), "unknown UMAP parameter", marks=pytest.mark.slow),
    (dict(method="pca", shape=(5,)), "2-D array"),
    (dict(method="pca", params={"random_state": 1}), "cannot be set"),
])
def test_bad_input_is_a_clear_value_error(bad, match):
    f, _ = _clusters(10)
    f = f[:bad.get("n", 10)].copy()
    if bad.get("nan"):
        f[2, 1] = np.nan
    if bad.get("inf"):
        f[0, 0] = np.inf
    if "shape" in bad:
        f = np.zeros(bad["shape"])
    with pytest.raises(ValueError, match=match):
        emb.embed(f, bad["method"], seed=bad.get("seed", 0), **bad.get("params", {}))


# ------------------------------------------------------------------ cache

@pytest.fixture()
def pool_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path / "cache"))
    model = _pool_model()
    folder = tmp_path / "m"
    folder.mkdir()
    model.save(folder / "pool.keras")
    card = ModelCard(name="Pool", file="pool.keras", input=InputSpec(height=8, width=8), tta="mirror",
                     classes=tuple(ORDER)).save(folder / "pool.json")
    faces = _faces(40, size=48, seed=5)
    labels = np.arange(40) % 7
    split = FERSplit(faces, labels, np.array([f"PrivateTest_{i}" for i in range(40)]), "PrivateTest",
                     "synthetic", "h0")
    return model, card, split


def test_cached_embedding_table_and_second_call_from_cache(pool_setup, monkeypatch):
    from ferviz.analysis.evaluation import evaluate

    model, card, split = pool_setup
    df = emb.cached_embedding(model, card, split, "pca", 0)
    assert list(df.columns) == list(emb.COLUMNS) and len(df) == 40
    assert not df.attrs["from_cache"]
    ev = evaluate(card, split, model=model, use_cache=False)
    assert (df["id"] == split.ids).all()
    assert (df["true"] == np.array(EMOTIONS)[split.labels]).all()
    assert (df["pred"] == np.array(EMOTIONS)[ev.preds]).all()
    np.testing.assert_allclose(df["confidence"], ev.probs.max(axis=1), atol=1e-6)
    assert (df["correct"] == (ev.preds == split.labels)).all()

    def boom(*a, **k):
        raise AssertionError("features were computed again")
    monkeypatch.setattr(emb, "penultimate_features", boom)
    monkeypatch.setattr(emb, "load_model", boom)
    monkeypatch.setattr("ferviz.analysis.evaluation.load_model", boom)
    again = emb.cached_embedding(None, card, split, "pca", 0)  # no model: nothing is loaded
    assert again.attrs["from_cache"]
    pd.testing.assert_frame_equal(again, df, check_like=False)
    # a new seed (or method) projects the cached features again: no feature computation
    other = emb.cached_embedding(None, card, split, "pca", 1, params={"whiten": True})
    assert not other.attrs["from_cache"] and np.isfinite(other[["x", "y"]].to_numpy()).all()
    assert not np.allclose(other["x"], df["x"])
    # another views setting needs new features
    with pytest.raises(AssertionError, match="computed again"):
        emb.cached_embedding(None, card, split, "pca", 0, views="single")


def test_cache_keys_separate_what_changes_the_result(pool_setup):
    _, card, split = pool_setup
    base = emb.embedding_cache_path(card, split, "umap", 0)
    others = [emb.embedding_cache_path(card, split, "umap", 1), emb.embedding_cache_path(card, split, "pca", 0),
              emb.embedding_cache_path(card, split, "umap", 0, views="single"),
              emb.embedding_cache_path(card, split, "umap", 0, params={"n_neighbors": 5}),
              emb.embedding_cache_path(card, split.subset(range(30)), "umap", 0),
              emb.embedding_cache_path(ModelCard(**{**card.__dict__, "tta": None}), split, "umap", 0)]
    assert len({base, *others}) == 7
    assert emb.embedding_cache_path(card, split, "umap", 0, params={}) == base


def test_a_cold_embedding_fills_the_prediction_cache_consistently(pool_setup):
    from ferviz.analysis.evaluation import evaluate, prediction_cache_path

    model, card, split = pool_setup
    assert not prediction_cache_path(card, split).exists()
    emb.cached_embedding(model, card, split, "pca", 0)
    assert prediction_cache_path(card, split).exists()  # one pass gave features and predictions
    cached = evaluate(card, split)
    fresh = evaluate(card, split, model=model, use_cache=False)
    np.testing.assert_allclose(cached.probs, fresh.probs, atol=1e-6)


# ------------------------------------------------------------------ figure and CLI

def _table(n=50):
    rng = np.random.default_rng(0)
    true = np.array(EMOTIONS)[np.arange(n) % 7]
    pred = np.array(EMOTIONS)[rng.integers(0, 7, n)]
    return pd.DataFrame({"id": [f"i{k}" for k in range(n)], "x": rng.normal(size=n), "y": rng.normal(size=n),
                         "true": true, "pred": pred, "confidence": rng.random(n), "correct": true == pred})


@pytest.mark.parametrize("color_by", ["true", "pred", "correct", "confidence"])
def test_embedding_figure(color_by):
    from matplotlib.collections import PathCollection

    from ferviz.export.embedding import embedding_figure
    from ferviz.export.render import figure_bytes

    df = _table()
    fig = embedding_figure(df, color_by, model_name="M", split="PrivateTest", method="umap")
    ax = fig.axes[0]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == 1 and len(points[0].get_offsets()) == len(df)
    assert not ax.images  # points only, no faces
    np.testing.assert_allclose(points[0].get_offsets(), df[["x", "y"]].to_numpy())
    if color_by in ("true", "pred"):
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert [s.split(" (")[0] for s in labels] == list(EMOTIONS)
        counts = df[color_by].value_counts()
        assert labels[3] == f"happy ({counts.get('happy', 0)})"
    svg = figure_bytes(fig, "svg").decode()
    assert "Embedding map" in svg and "PrivateTest" in svg
    assert figure_bytes(fig, "png")[:4] == b"\x89PNG"


def test_embedding_figure_bad_input():
    from ferviz.export.embedding import embedding_figure
    from ferviz.export.render import ExportError

    df = _table()
    with pytest.raises(ExportError, match="color_by"):
        embedding_figure(df, "loss")
    with pytest.raises(ExportError, match="lacks column"):
        embedding_figure(df.drop(columns="x"))
    bad = df.copy()
    bad.loc[0, "x"] = np.nan
    with pytest.raises(ExportError, match="finite"):
        embedding_figure(bad)
    bad = df.copy()
    bad.loc[0, "true"] = "bored"
    with pytest.raises(ExportError, match="unknown class name.*'bored'.*contempt"):
        embedding_figure(bad)


def test_cli_choices_match_the_core():
    from ferviz.cli import args, embed
    from ferviz.export.embedding import COLOR_BY
    from ferviz.export.render import FORMATS

    assert embed.PROJECTIONS == emb.METHODS and args.VIEWS == emb.VIEWS
    assert embed.COLOR_BY == COLOR_BY and args.FIGURE_FORMATS == FORMATS


def test_cli_embed_writes_csv_and_figures(pool_setup, monkeypatch, tmp_path, capsys):
    from ferviz.cli import main

    _, card, split = pool_setup
    monkeypatch.setattr("ferviz.data.splits.load_fer2013", lambda path=None, s="PrivateTest", **k: split)
    out = tmp_path / "out"
    rc = main(["embed", "--model", str(card.path), "--split", "PrivateTest", "--method", "pca",
               "--format", "png", "svg", "--out", str(out)])
    assert rc == 0
    df = pd.read_csv(out / "embedding.csv")
    assert list(df.columns[:5]) == ["id", "x", "y", "true", "pred"] and len(df) == 40
    assert (df["id"] == split.ids).all() and np.isfinite(df[["x", "y"]].to_numpy()).all()
    assert (out / "embedding.png").stat().st_size > 0 and (out / "embedding.svg").exists()
    assert main(["embed", "--model", str(card.path), "--method", "pca", "--out", str(out)]) == 0
    assert "from the cache" in capsys.readouterr().out
    assert main(["embed", "--model", str(card.path), "--seed", "-3", "--out", str(out)]) == 2
    assert "seed must be" in capsys.readouterr().err
