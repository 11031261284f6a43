"""export-model on a shipped model and the real PrivateTest: the TensorFlow Lite and ONNX files give
the Keras model's probabilities within 1e-4, and their cards say so."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ferviz.cli import main
from ferviz.models import find_card, load_card, load_model, preprocess
from ferviz.config import PROJECT_ROOT as ROOT

pytestmark = [pytest.mark.data, pytest.mark.slow]


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_shipped_model_exports_with_parity(fmt, fer_path, private_test, tmp_path, capsys, run_exported):
    src = find_card(str(ROOT / "models" / "vgg_small_ft.json"))
    out = tmp_path / "exports"
    rc = main(["export-model", "--model", str(src.path), "--format", fmt, "--out", str(out),
               "--data", str(fer_path)])
    assert rc == 0, capsys.readouterr().err
    assert "on 256 PrivateTest faces" in capsys.readouterr().out
    path, card_path = out / f"vgg_small_ft.{fmt}", out / f"vgg_small_ft.{fmt}.json"
    assert path.stat().st_size > 6e6  # the 1.77 M float32 weights are in the file

    card = load_card(card_path)
    assert card.model_path == path.resolve() and card.input == src.input and card.classes == src.classes
    rec = json.loads(card_path.read_text())["exported_from"]
    assert rec["sha256"] == src.model_hash() and rec["parity"]["faces"] == 256
    assert rec["parity"]["data_sha256"] == private_test.source_hash
    assert 0 <= rec["parity"]["max_abs_diff"] <= 1e-4

    # independently: the file on disk against Keras on the same 256 real faces, single view
    x = preprocess(private_test.images[:256], src.input)
    ref = load_model(src).predict(x, batch_size=128, verbose=0)
    got = run_exported(fmt, path, x)
    diff = float(np.abs(got - ref).max())
    assert diff <= 1e-4
    assert diff == pytest.approx(rec["parity"]["max_abs_diff"], abs=5e-6)
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.99 and len(set(ref.argmax(1))) >= 5
