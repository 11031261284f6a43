"""`python -m ferviz features` on the real PrivateTest with the shipped VGG-small: its four blocks, the
npz as the core computes it, and the Grad-CAM layer's channels adding up to ferviz's own Grad-CAM."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferviz.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.data, pytest.mark.slow]


def test_features_on_vgg_small(fer_path, tmp_path, capsys):
    from ferviz.analysis import feature_maps as F
    from ferviz.attribution import explain
    from ferviz.attribution.base import finish
    from ferviz.data.splits import load_fer2013
    from ferviz.models import find_card, load_model

    card = find_card(str(ROOT / "models" / "vgg_small_ft.json"))
    split = load_fer2013(fer_path, "PrivateTest")
    ids = [str(i) for i in split.ids[[3, 10]]]
    assert main(["features", "--model", str(card.path), "--data", str(fer_path), "--ids", *ids,
                 "--rank", "gradxact", "--top", "4", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("vgg_small_ft_PrivateTest_*_features_gradxact_target-*.png"))) == 2
    z = np.load(tmp_path / "features.npz")
    assert list(z["layers"]) == ["block1_relu2", "block2_relu2", "block3_relu2", "block4_relu2"]
    assert [z[f"block{b}_maps"].shape for b in range(4)] == [(2, 4, 48, 48), (2, 4, 24, 24), (2, 4, 12, 12),
                                                            (2, 4, 6, 6)]
    assert str(z["gradcam_layer"]) == card.gradcam_layer == "block4_relu2"
    model = load_model(card)
    pos = [split.index_of(i) for i in ids]
    fm = F.feature_maps(model, card, split.images[pos], z["targets"])
    for b in range(4):
        sel = [F.select(fm, i, "gradxact", 4).blocks[b] for i in range(2)]
        np.testing.assert_array_equal(z[f"block{b}_indices"], [s.indices for s in sel])
        np.testing.assert_allclose(z[f"block{b}_maps"], [s.maps for s in sel], atol=1e-6)
        assert (np.diff(z[f"block{b}_scores"], axis=1) <= 0).all()  # best first
    # the channels' Grad-CAM terms make ferviz's Grad-CAM (single view)
    cam = np.maximum((fm.cam_acts * fm.cam_weights()[:, None, None, :]).sum(axis=-1), 0)
    want = explain(model, card, split.images[pos], z["targets"], "gradcam", views="single")
    np.testing.assert_allclose(finish(cam, (48, 48)), want, atol=1e-4)
    assert ((z["gradcam_share"] > 0) & (z["gradcam_share"] <= 1)).all()
    assert "top channel #" in capsys.readouterr().out
