"""A model unlike the shipped ones (64x64 RGB, scaled to [-1, 1], classes in another order, no
gradcam_layer in its card) works in evaluate, explain and export on the real PrivateTest."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from ferviz.cli import main
from ferviz.data.splits import load_fer2013

ORDER = ["neutral", "happy", "sad", "angry", "surprise", "fear", "disgust"]


def test_evaluate_explain_export(other_card, fer_path, tmp_path):
    split = load_fer2013(fer_path, "PrivateTest")
    ids = [str(i) for i in split.ids[[1, 2]]]
    common = ["--model", str(other_card), "--data", str(fer_path), "--split", "PrivateTest"]
    assert main(["evaluate", *common, "--out", str(tmp_path / "eval")]) == 0
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert m["n"] == 3589 and sum(map(sum, m["confusion_matrix"])) == 3589
    for method in ("gradcam", "gradcampp", "xrai"):
        out = tmp_path / method
        assert main(["explain", *common, "--ids", *ids, "--method", method, "--out", str(out)]) == 0
        z = np.load(out / "maps.npz")
        assert z["maps"].shape == (2, 48, 48) and np.isfinite(z["maps"]).all() and z["maps"].max() == 1.0
        pngs = list(out.glob("*.png"))
        assert len(pngs) == 2 and all(Image.open(p).size[0] > 48 for p in pngs)
    assert main(["export", *common, "--ids", ids[0], "--method", "gradcam", "--format", "png",
                 "--out", str(tmp_path / "fig")]) == 0
    assert len(list((tmp_path / "fig").glob("*.png"))) == 1


def test_predictions_follow_the_cards_scale_size_and_class_order(other_card, fer_path, tmp_path):
    """The evaluate CLI's probabilities equal a hand-made forward pass remapped by the card's classes."""
    import keras
    import pandas as pd
    import tensorflow as tf

    from ferviz.labels import EMOTIONS

    split = load_fer2013(fer_path, "PrivateTest")
    assert main(["evaluate", "--model", str(other_card), "--data", str(fer_path), "--split", "PrivateTest",
                 "--out", str(tmp_path), "--no-cache"]) == 0
    got = pd.read_csv(tmp_path / "predictions.csv").set_index("id").loc[list(map(str, split.ids[:16]))]
    model = keras.models.load_model(other_card.parent / "rgb64.h5", compile=False)
    x = tf.image.resize(split.images[:16, ..., None].astype(np.float32), (64, 64), antialias=True).numpy()
    x = np.repeat(x * (2 / 255.0) - 1, 3, axis=-1)
    raw = model.predict(x, verbose=0)
    want = raw[:, [ORDER.index(e) for e in EMOTIONS]]  # FER order from the card's order
    np.testing.assert_allclose(got[[f"p_{e}" for e in EMOTIONS]].to_numpy(), want, atol=2e-3)
