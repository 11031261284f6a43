"""Feature maps per block on a hand-weighted model whose activations and gradients are known:
block rule, values, both rankings, the Grad-CAM layer's top channel, the figure and the command."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from ferviz.analysis import feature_maps as F
from ferviz.models import card_from_dict

C1_KERNEL = np.array([1.0, 2.0, -1.0], np.float32)  # r1 = relu(x), relu(2x), relu(1 - x)
C1_BIAS = np.array([0.0, 0.0, 1.0], np.float32)
HEAD = np.zeros((2, 7), np.float32)
HEAD[0, 0] = 1.0  # angry <- r2 channel 0
HEAD[1, 3] = 1.0  # happy <- r2 channel 1
HEAD[0, 3] = -0.25  # ... and a little against r2 channel 0


def hand_model(size: int = 8, channels: int = 1):
    """conv 1x1 (3) -> ReLU -> 2x2 max pool -> conv 1x1 (2: r1 ch0, r1 ch1) -> ReLU -> GAP -> softmax."""
    import keras

    inp = keras.Input((size, size, channels), name="image")
    x = keras.layers.Conv2D(3, 1, name="c1")(inp)
    x = keras.layers.ReLU(name="r1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Conv2D(2, 1, name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)  # identity: mean 0, variance 1
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(7, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    k1 = np.tile(C1_KERNEL / channels, (channels, 1))[None, None]
    model.get_layer("c1").set_weights([k1.astype(np.float32), C1_BIAS])
    k2 = np.zeros((1, 1, 3, 2), np.float32)
    k2[0, 0, 0, 0] = k2[0, 0, 1, 1] = 1.0
    model.get_layer("c2").set_weights([k2, np.zeros(2, np.float32)])
    model.get_layer("bn2").set_weights([np.ones(2), np.zeros(2), np.zeros(2), np.ones(2) - 1e-3])
    model.get_layer("probs").set_weights([HEAD, np.zeros(7, np.float32)])
    return model


def hand_card(**kw):
    return card_from_dict({"name": "hand", "file": "hand.keras",
                           "input": {"height": 8, "width": 8, "channels": 1, "scale": [0, 1]}, **kw})


def faces(n: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(20, 120, (n, 8, 8)).astype(np.uint8)  # x in (0.08, 0.47): every unit positive


def expected(face: np.ndarray):
    """r1 (8, 8, 3) and r2 (4, 4, 2) by numpy."""
    x = face.astype(np.float32)[..., None] / 255.0
    r1 = np.maximum(x * C1_KERNEL + C1_BIAS, 0)
    pooled = r1.reshape(4, 2, 4, 2, 3).max(axis=(1, 3))
    r2 = pooled[..., :2] / np.sqrt(1.0)  # BatchNormalization with variance 1 - eps + eps
    return r1, r2


@pytest.fixture(scope="module")
def model():
    return hand_model()


def test_blocks_are_the_rectified_output_of_each_resolution(model):
    assert F.block_layers(model) == ["r1", "r2"]


def test_blocks_group_by_resolution_and_take_the_last_conv():
    import keras

    inp = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a1")(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", name="a2")(x)
    x = keras.layers.Activation("relu", name="a2_relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="b1")(x)  # 8x8
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="b2")(x)
    x = keras.layers.MaxPooling2D(2)(x)  # 4x4: no conv here, no block
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(7, activation="softmax")(x)
    assert F.block_layers(keras.Model(inp, out)) == ["a2_relu", "b2"]


def test_activations_are_what_the_weights_imply(model):
    f = faces()
    fm = F.feature_maps(model, hand_card(), f, 3)
    assert fm.layers == ("r1", "r2") and fm.gradcam_layer == "r2"
    for i in range(len(f)):
        r1, r2 = expected(f[i])
        np.testing.assert_allclose(fm.acts[0][i], r1, atol=1e-5)
        np.testing.assert_allclose(fm.acts[1][i], r2, atol=1e-3)
        np.testing.assert_allclose(fm.cam_acts[i], r2, atol=1e-3)


def test_mean_ranking_orders_channels_by_mean_activation(model):
    f = faces(1)
    r1, _ = expected(f[0])
    means = r1.mean(axis=(0, 1))
    assert means[2] > means[1] > means[0]  # 1 - x > 2x > x for x < 1/3 on average
    sel = F.select(F.feature_maps(model, hand_card(), f, 3), 0, "mean", 2)
    b = sel.blocks[0]
    assert b.layer == "r1" and b.channels == 3 and list(b.indices) == [2, 1]
    np.testing.assert_allclose(b.scores, means[[2, 1]], rtol=1e-5)
    np.testing.assert_allclose(b.maps, np.moveaxis(r1[..., [2, 1]], -1, 0), atol=1e-5)


def test_gradient_x_activation_ranks_the_channel_that_feeds_the_class(model):
    f = faces(1)
    r1, r2 = expected(f[0])
    fm_happy = F.feature_maps(model, hand_card(), f, "happy")
    fm_angry = F.feature_maps(model, hand_card(), f, 0)
    happy, angry = F.select(fm_happy, 0, "gradxact", 3), F.select(fm_angry, 0, "gradxact", 3)
    # r1 channel 2 feeds no class, so it scores 0 and ranks last, though its mean activation is highest
    assert list(happy.blocks[0].indices) == [1, 2, 0] and list(angry.blocks[0].indices) == [0, 1, 2]
    # at r2, d logit / d r2_k(p) = W[k, c] / 16: the score (summed over the 4x4 map) is W[k, c] * mean(r2_k)
    want = HEAD[:, 3] * r2.mean(axis=(0, 1))
    assert list(happy.blocks[1].indices) == [1, 0]
    np.testing.assert_allclose(happy.blocks[1].scores, want[[1, 0]], rtol=1e-3)
    # at r1, the max pool routes the gradient to each window's maximum of channel 1
    np.testing.assert_allclose(happy.blocks[0].scores[0], r2[..., 1].sum() / 16, rtol=1e-3)
    assert happy.blocks[0].scores[1] == 0.0
    assert list(F.select(fm_happy, 0, "mean", 3).blocks[0].indices) == [2, 1, 0]


def test_top_channel_at_the_gradcam_layer(model):
    f = faces(2)
    fm = F.feature_maps(model, hand_card(), f, np.array([3, 0]))
    for i, (cls, channel) in enumerate([(3, 1), (0, 0)]):
        _, r2 = expected(f[i])
        sel = F.select(fm, i)
        c = sel.gradcam
        assert (c.layer, c.index, sel.target) == ("r2", channel, cls)
        assert c.weight == pytest.approx(HEAD[channel, cls] / 16, rel=1e-4)
        assert c.contribution == pytest.approx(HEAD[channel, cls] * r2[..., channel].mean() / 16, rel=1e-3)
        assert c.share == pytest.approx(1.0)  # the other channel adds nothing or counts against the class
        np.testing.assert_allclose(c.map, r2[..., channel], atol=1e-3)
    shares = fm.cam_shares()
    assert shares[0, 0] == 0.0  # happy: r2 channel 0 counts against it


def test_gradcam_layer_from_the_card_and_shares_add_up(model):
    f = faces(1)
    fm = F.feature_maps(model, hand_card(gradcam_layer="r1"), f, 3)
    assert fm.gradcam_layer == "r1"
    r1, _ = expected(f[0])
    np.testing.assert_allclose(fm.cam_acts[0], r1, atol=1e-5)
    sel = F.select(fm, 0)
    assert sel.gradcam.index == 1 and sel.gradcam.share == pytest.approx(1.0)
    assert fm.cam_shares()[0].sum() == pytest.approx(1.0)


def test_same_maps_as_gradcam_uses(model):
    from ferviz.attribution.gradients import one_hot, score_model
    from ferviz.models import preprocess

    f = faces(2)
    fm = F.feature_maps(model, hand_card(), f, 3)
    scores = score_model(model, "r2")
    assert scores.width == 7  # one selection weight per model output
    acts, grads = scores.feature_gradients(preprocess(f, hand_card().input), one_hot(np.array([3, 3]), scores.width))
    np.testing.assert_allclose(fm.cam_acts, acts.numpy(), atol=1e-6)
    np.testing.assert_allclose(fm.cam_grads, grads.numpy(), atol=1e-6)


def test_other_input_size_channels_and_scale():
    import keras

    m = hand_model(16, 3)
    card = card_from_dict({"name": "rgb", "file": "x.keras",
                           "input": {"height": 16, "width": 16, "channels": 3, "scale": [0, 1]}})
    face = np.full((1, 48, 48), 51, np.uint8)  # resized to 16x16, replicated to 3 channels
    fm = F.feature_maps(m, card, face, 3)
    assert fm.acts[0].shape == (1, 16, 16, 3) and fm.acts[1].shape == (1, 8, 8, 2)
    np.testing.assert_allclose(fm.acts[0][0, 0, 0], [0.2, 0.4, 0.8], atol=1e-5)
    assert isinstance(m, keras.Model)


def test_legacy_h5_residual_model_scaled_to_minus_one_one(tmp_path):
    """Xception-style (1x1 stride-2 shortcut, separable conv, Add), saved as legacy .h5, input in [-1, 1]."""
    import keras

    from ferviz.attribution import get_explainer
    from ferviz.attribution.gradients import score_model
    from ferviz.models import load_card, load_model, preprocess

    keras.utils.set_random_seed(3)
    inp = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inp)
    short = keras.layers.Conv2D(8, 1, strides=2, name="short")(x)
    y = keras.layers.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    y = keras.layers.BatchNormalization(name="sep_bn")(y)
    y = keras.layers.Activation("relu", name="sep_relu")(y)
    y = keras.layers.MaxPooling2D(3, strides=2, padding="same")(y)
    x = keras.layers.Add(name="add")([y, short])
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="top")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(7, activation="softmax", name="probs")(x)
    keras.Model(inp, out).save(tmp_path / "res.h5")
    (tmp_path / "res.json").write_text(json.dumps({"name": "Residual", "file": "res.h5",
                                                   "input": {"height": 16, "width": 16, "scale": [-1, 1]}}))
    card = load_card(tmp_path / "res.json")
    m = load_model(card)
    assert F.block_layers(m) == ["sep_relu", "top"]
    f = faces(2, seed=5)
    fm = F.feature_maps(m, card, f, np.array([2, 5]))
    assert fm.gradcam_layer == get_explainer(m, card, "gradcam").layer == "top"
    assert fm.acts[0].shape == (2, 16, 16, 8) and fm.acts[1].shape == (2, 8, 8, 8)
    # GAP + Dense head: the gradient x activation scores of the last block add up to logit - bias
    logits = score_model(m).logits(preprocess(f, card.input)).numpy()
    bias = m.get_layer("probs").get_weights()[1]
    total = fm.scores(1, "gradxact").sum(axis=1)
    np.testing.assert_allclose(total, logits[[0, 1], [2, 5]] - bias[[2, 5]], rtol=1e-4, atol=1e-6)


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="rank must be one of mean, gradxact"):
        F.select(F.feature_maps(model, hand_card(), faces(1), 3), 0, "max")
    with pytest.raises(ValueError, match="top-k must be an integer in 1-32"):
        F.face_features(model, hand_card(), faces(1), 3, top=0)
    sel = F.select(F.feature_maps(model, hand_card(), faces(1), 3), 0, "mean", 32)
    assert [len(b.indices) for b in sel.blocks] == [3, 2]  # at most the block's channels


def _tile_pixels(fig, png: bytes) -> list[np.ndarray]:
    """The rendered pixels of each channel tile."""
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    height = img.shape[0]
    out = []
    for patch in (p for ax in fig.axes for p in ax.patches if p.get_gid() == "channel"):  # each tile's frame
        bb = patch.get_window_extent()
        y0, y1 = height - int(bb.y1) + 2, height - int(bb.y0) - 2
        out.append(img[y0:y1, int(bb.x0) + 2:int(bb.x1) - 2])
    return out


def test_figure_draws_each_channel(model):
    from ferviz.export import figure_bytes
    from ferviz.export.feature_maps import feature_maps_figure

    f = faces(1, seed=4)
    sel = F.select(F.feature_maps(model, hand_card(), f, 3), 0, "mean", 3)
    fig = feature_maps_figure(f[0], sel, model_name="hand", image_id="upload-1", split="upload")
    png = figure_bytes(fig, "png")
    tiles = _tile_pixels(fig, png)
    assert len(tiles) == 3 + 2
    for t in tiles:
        assert t.size and t.std() > 0  # drawn, not empty
    for a in range(len(tiles)):
        for b in range(a + 1, len(tiles)):
            if tiles[a].shape == tiles[b].shape:
                assert not np.array_equal(tiles[a], tiles[b])
    texts = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
    joined = "\n".join(texts)
    assert "#2 · " in joined and "r2 channel #1" in joined and "100.0% of the Grad-CAM evidence" in joined
    assert "single view (no test-time augmentation)" in joined
    big = feature_maps_figure(np.full((200, 160), 90, np.uint8), sel)  # an uploaded face of another size
    assert figure_bytes(big, "png")[:4] == b"\x89PNG"


# ------------------------------------------------------------------ the command

@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    hand_model().save(root / "hand.keras")
    (root / "hand.json").write_text(json.dumps({"name": "Hand", "file": "hand.keras",
                                                "input": {"height": 8, "width": 8, "channels": 1, "scale": [0, 1]}}))
    rows = []
    for k, face in enumerate(faces(6, seed=9)):
        big = np.kron(face, np.ones((6, 6), np.uint8))  # 48x48, resized back to 8x8 by the card
        rows.append(f"{k % 7},{' '.join(map(str, big.ravel()))},{'PrivateTest' if k < 4 else 'Training'}")
    (root / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return root


def test_features_command_writes_png_and_npz(cli_env, tmp_path, capsys):
    from ferviz.cli import main
    from ferviz.data.splits import load_fer2013
    from ferviz.models import find_card, load_model

    out = tmp_path / "out"
    argv = ["features", "--model", str(cli_env / "hand.json"), "--data", str(cli_env / "fer2013.csv"),
            "--split", "PrivateTest", "--ids", "1", "3", "--target", "true", "--rank", "gradxact", "--top", "2",
            "--out", str(out)]
    assert main(argv) == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["hand_PrivateTest_1_features_gradxact_target-disgust.png",
                    "hand_PrivateTest_3_features_gradxact_target-happy.png"]
    assert all(Image.open(out / p).size[0] > 300 for p in pngs)
    z = np.load(out / "features.npz")
    split = load_fer2013(cli_env / "fer2013.csv", "PrivateTest")
    pos = [split.index_of("1"), split.index_of("3")]
    card = find_card(str(cli_env / "hand.json"))
    want = F.face_features(load_model(card), card, split.images[pos], split.labels[pos], "gradxact", 2)
    assert list(z["ids"]) == ["1", "3"] and list(z["targets"]) == [1, 3] and list(z["layers"]) == ["r1", "r2"]
    assert str(z["rank"]) == "gradxact" and str(z["gradcam_layer"]) == "r2"
    for b in range(2):
        np.testing.assert_allclose(z[f"block{b}_maps"], np.stack([w.blocks[b].maps for w in want]), atol=1e-6)
        np.testing.assert_array_equal(z[f"block{b}_indices"], np.stack([w.blocks[b].indices for w in want]))
        np.testing.assert_allclose(z[f"block{b}_scores"], np.stack([w.blocks[b].scores for w in want]), rtol=1e-5)
    assert z["block0_maps"].shape == (2, 2, 8, 8) and z["block1_maps"].shape == (2, 2, 4, 4)
    np.testing.assert_array_equal(z["gradcam_index"], [w.gradcam.index for w in want])
    np.testing.assert_allclose(z["gradcam_map"], np.stack([w.gradcam.map for w in want]), atol=1e-6)
    assert list(z["gradcam_index"]) == [0, 1] and list(z["gradcam_share"]) == [0.0, 1.0]  # no weight feeds disgust
    assert "3: happy, Grad-CAM layer r2 top channel #1 (100.0% of the Grad-CAM evidence)" in capsys.readouterr().out


def test_command_ranks_are_the_core_ranks():
    from ferviz.cli.features import MAX_TOP, RANKS

    assert RANKS == tuple(F.RANKS) and MAX_TOP == F.MAX_TOP


@pytest.mark.parametrize("extra, message", [
    (["--ids", "nope"], "no image with id 'nope' in PrivateTest"),
    (["--ids", "1", "--top", "0"], "--top must be in 1-32, got 0"),
    (["--ids", "1", "--top", "33"], "--top must be in 1-32, got 33"),
    (["--ids", "1", "--target", "bored"], "bad target 'bored'"),
])
def test_features_command_errors(cli_env, tmp_path, capsys, extra, message):
    from ferviz.cli import main

    argv = ["features", "--model", str(cli_env / "hand.json"), "--data", str(cli_env / "fer2013.csv"),
            "--out", str(tmp_path / "o"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ferviz features: error: ") and message in err[0]
