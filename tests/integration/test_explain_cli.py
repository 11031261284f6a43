"""`python -m ferviz explain` on the real FER2013 PrivateTest split."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferviz.cli import main
from ferviz.labels import EMOTIONS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def card_path(fer_path) -> Path:
    """The shipped baseline CNN."""
    shipped = ROOT / "models" / "baseline_cnn.json"
    assert shipped.exists(), "models/baseline_cnn.json is missing"
    return shipped


@pytest.fixture(scope="module")
def private(fer_path):
    from ferviz.data.splits import load_fer2013

    return load_fer2013(fer_path, "PrivateTest")


def _run(card_path, fer_path, out, *args) -> int:
    return main(["explain", "--model", str(card_path), "--data", str(fer_path), "--split", "PrivateTest",
                 "--out", str(out), *args])


def test_explain_ids(card_path, fer_path, private, tmp_path):
    ids = [str(i) for i in private.ids[[0, 5, 9]]]
    assert _run(card_path, fer_path, tmp_path, "--ids", *ids, "--method", "gradcam") == 0
    z = np.load(tmp_path / "maps.npz")
    assert z["maps"].shape == (3, 48, 48) and z["maps"].min() >= 0 and z["maps"].max() <= 1
    assert all(m.max() == pytest.approx(1.0) and m.std() > 0.01 for m in z["maps"])  # real maps, not blanks
    assert list(z["ids"]) == ids and np.array_equal(z["targets"], z["preds"])
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) == 3
    for image_id, t in zip(ids, z["targets"]):
        safe = "".join(c if c.isalnum() or c in ".-" else "-" for c in image_id).strip("-")
        hits = [p for p in pngs if f"_PrivateTest_{safe}_gradcam_{EMOTIONS[t]}.png" in p.name]
        assert len(hits) == 1, (image_id, [p.name for p in pngs])
        with Image.open(hits[0]) as im:
            assert im.size == (192, 192) and im.mode == "RGB"


def test_explain_cell(card_path, fer_path, private, tmp_path):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.models import load_card

    pair = evaluate(load_card(card_path), private).confused_pairs(1).iloc[0]
    cell = f"{pair['true']}:{int(pair['pred_idx'])}"  # a name and an index
    assert _run(card_path, fer_path, tmp_path, "--cell", cell, "--method", "xrai", "--target", "true",
                "--limit", "2") == 0
    z = np.load(tmp_path / "maps.npz")
    assert len(z["ids"]) == 2 and np.isfinite(z["maps"]).all()
    assert all(m.max() == pytest.approx(1.0) and m.std() > 0.01 for m in z["maps"])
    assert (z["labels"] == pair["true_idx"]).all() and (z["preds"] == pair["pred_idx"]).all()
    assert (z["targets"] == pair["true_idx"]).all()
    assert len(list(tmp_path.glob(f"*_xrai_{pair['true']}.png"))) == 2


@pytest.mark.parametrize("args, message", [
    (["--cell", "joy:sad"], "unknown emotion 'joy'"),
    (["--ids", "no-such-image"], "no image with id"),
    (["--errors", "--method", "gradcam", "--target", "bliss"], "bad target 'bliss'"),
    (["--cell", "sad:contempt"], "--cell sad:contempt: Baseline CNN cannot output contempt; its classes are angry"),
    (["--errors", "--target", "contemptuous"], "--target: Baseline CNN cannot output contempt"),
    (["--cell", "contempt:sad"], "no images in cell contempt:sad of PrivateTest"),  # FER2013 has no contempt
])
def test_explain_bad_input(card_path, fer_path, tmp_path, capsys, args, message):
    assert _run(card_path, fer_path, tmp_path, *args, "--limit", "1") == 2
    assert message in capsys.readouterr().err
