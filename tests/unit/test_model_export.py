"""export-model on tiny Keras models built here: TensorFlow Lite / ONNX round trips whose outputs
match Keras, the card beside the file, refusal on failing parity, unconvertible ops and bad input."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from ferviz.models import on_device as model_export
from ferviz.cli import export_model as cli_export_model
from ferviz.cli import main
from ferviz.models import ModelError, load_card, load_model, preprocess


def _tiny_model(size=(48, 48), channels=1, seed=0, extra=None, outputs=7):
    """Conv, batch norm, pooling, dropout and a softmax head (`outputs` classes) with random (seeded)
    weights."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((*size, channels))
    x = extra()(inp) if extra else inp
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    out = keras.layers.Dense(outputs, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    w, b = model.get_layer("probs").get_weights()
    model.get_layer("probs").set_weights([w * 50, b])  # confident, face-dependent predictions
    bn = model.layers[3 if extra else 2]
    bn.set_weights([w + np.random.default_rng(seed).uniform(0.1, 0.5, w.shape).astype(np.float32)
                    for w in bn.get_weights()])  # non-trivial moving statistics
    return model


def _save(folder, stem, model, ext=".keras", **input_spec):
    model.save(folder / f"{stem}{ext}")
    card = {"name": f"Tiny {stem}", "file": f"{stem}{ext}", "gradcam_layer": "last_conv", "tta": "mirror",
            "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1], **input_spec},
            "metrics": {"PrivateTest": {"accuracy": 0.5}}}
    (folder / f"{stem}.json").write_text(json.dumps(card))
    return folder / f"{stem}.json"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny_models")
    _save(d, "gray48", _tiny_model())
    _save(d, "rgb64", _tiny_model((64, 64), 3, seed=1), ext=".h5", height=64, width=64, channels=3,
          scale=[-1, 1])  # legacy Keras 2 file, another size, channels and scale
    return d


@pytest.fixture(scope="module")
def fake_fer(tmp_path_factory):
    """A FER2013-style CSV of random (synthetic) faces: 40 PrivateTest rows and 2 others."""
    faces = _faces(np.random.default_rng(5), 42)
    rows = ["emotion,pixels,Usage"]
    for i, usage in enumerate(["Training", "PublicTest"] + ["PrivateTest"] * 40):
        rows.append(f"{i % 7},{' '.join(map(str, faces[i].ravel()))},{usage}")
    p = tmp_path_factory.mktemp("fer") / "fer2013.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def _faces(rng, n):
    """Synthetic faces of varied brightness, gradient and noise (the tiny models' outputs vary with them)."""
    level = rng.integers(0, 256, (n, 1, 1))
    ramp = np.linspace(-1, 1, 48)[None, None, :] * rng.integers(-120, 120, (n, 1, 1))
    return np.clip(level + ramp + rng.normal(0, 30, (n, 48, 48)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("stem", ["gray48", "rgb64"])
@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_cli_round_trip_matches_keras_and_writes_a_card(models_dir, fake_fer, tmp_path, capsys, fmt, stem,
                                                         run_exported):
    out = tmp_path / "out"
    rc = main(["export-model", "--model", str(models_dir / f"{stem}.json"), "--format", fmt,
               "--out", str(out), "--data", str(fake_fer), "--n", "32"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "max abs difference" in printed and f"{stem}.{fmt}.json" in printed
    path, card_path = out / f"{stem}.{fmt}", out / f"{stem}.{fmt}.json"
    assert sorted(p.name for p in out.iterdir()) == sorted([path.name, card_path.name])

    src = load_card(models_dir / f"{stem}.json")
    d = json.loads(card_path.read_text())
    assert d["file"] == path.name and d["format"] == fmt
    assert d["input"] == src.to_json()["input"] and d["classes"] == list(src.classes) and d["tta"] == "mirror"
    rec = d["exported_from"]
    assert rec["file"] == src.file and rec["sha256"] == hashlib.sha256(src.model_path.read_bytes()).hexdigest()
    par = rec["parity"]
    assert par["passed"] is True and par["faces"] == 32 and par["split"] == "PrivateTest"
    assert 0 <= par["max_abs_diff"] <= 1e-4 and par["tolerance"] == 1e-4
    assert "--format " + fmt in rec["command"]

    # the card loads; the dashboard's Keras loader refuses the file with a clear message
    card = load_card(card_path)
    assert card.model_path == path.resolve() and card.input == src.input
    with pytest.raises(ModelError, match=r"expected a \.keras or \.h5 file"):
        load_model(card)

    # the file on disk, run independently, gives the Keras model's probabilities on other faces
    faces = _faces(np.random.default_rng(9), 20)
    x = preprocess(faces, src.input)
    ref = load_model(src).predict(x, verbose=0)
    got = run_exported(fmt, path, x)
    assert got.shape == (20, 7)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    assert ref.std(axis=0).max() > 0.05  # the faces give different predictions: a real comparison


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
@pytest.mark.parametrize("delta, ok", [(5e-5, True), (3e-4, False), (np.nan, False)])
def test_parity_threshold(models_dir, fake_fer, tmp_path, capsys, monkeypatch, fmt, delta, ok):
    """A runner whose outputs are off by delta: within 1e-4 passes, beyond it nothing is written."""
    name = f"run_{fmt}"
    real = getattr(model_export, name)

    def perturbed(content, x):
        y = real(content, x).copy()
        y[len(y) // 2, 3] += delta
        return y
    monkeypatch.setattr(model_export, name, perturbed)
    out = tmp_path / "out"
    rc = main(["export-model", "--model", str(models_dir / "gray48.json"), "--format", fmt,
               "--out", str(out), "--data", str(fake_fer), "--n", "40"])
    err = capsys.readouterr().err
    if ok:
        assert rc == 0, err
        rec = json.loads((out / f"gray48.{fmt}.json").read_text())["exported_from"]
        assert rec["parity"]["max_abs_diff"] == pytest.approx(5e-5, abs=2e-6)
        return
    assert rc == 2
    assert "parity check failed on 40 faces" in err and "nothing written" in err
    assert ("non-finite" in err) if np.isnan(delta) else ("max abs difference 0.0003" in err)
    assert len(err.strip().splitlines()) == 1
    assert list(out.iterdir()) == []


def _layer(fn):
    import keras

    class Op(keras.layers.Layer):
        def call(self, x):
            return fn(x)
    return Op


@pytest.mark.parametrize("fmt, op, message", [
    ("tflite", "erfinv", "cannot convert to TensorFlow Lite: TensorFlow Lite's built-in ops do not include tf.Erfinv"),
    ("onnx", "lgamma", "cannot convert to ONNX: tf2onnx .* has no ONNX equivalent for TensorFlow op\\(s\\) Lgamma"),
])
def test_unconvertible_model_is_refused(models_dir, tmp_path, fmt, op, message):
    import tensorflow as tf

    fn = {"erfinv": lambda x: tf.math.erfinv(x * 0.5), "lgamma": lambda x: tf.math.lgamma(x + 1.0)}[op]
    model = _tiny_model(extra=_layer(fn))
    card = load_card(models_dir / "gray48.json")
    faces = np.zeros((4, 48, 48), np.uint8)
    out = tmp_path / "out"
    with pytest.raises(ModelError, match=message) as e:
        model_export.export_model(card, fmt, out, faces, model=model)
    assert "\n" not in str(e.value)
    assert list(out.iterdir()) == []


def test_bad_format_and_out_dir(models_dir, fake_fer, tmp_path, capsys):
    with pytest.raises(ModelError, match="unknown export format 'pb' \\(choose from tflite, onnx\\)"):
        model_export.check_format("pb")
    assert cli_export_model.FORMATS == model_export.FORMATS
    assert main(["export-model", "--model", str(models_dir / "gray48.json"), "--format", "pb",
                 "--out", str(tmp_path)]) == 2  # a usage error, at parse time
    assert "invalid choice: 'pb'" in capsys.readouterr().err

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for out, why in [(a_file, "exists and is not a folder"), (a_file / "sub", "cannot write there")]:
        rc = main(["export-model", "--model", str(models_dir / "gray48.json"), "--format", "onnx",
                   "--out", str(out), "--data", str(fake_fer)])
        err = capsys.readouterr().err
        assert rc == 2 and f"ferviz export-model: error: --out {out}: {why}" in err, err

    rc = main(["export-model", "--model", str(tmp_path / "nope.json"), "--format", "onnx", "--out", str(tmp_path)])
    assert rc == 2 and "error: no model " in capsys.readouterr().err
    rc = main(["export-model", "--model", str(models_dir / "gray48.json"), "--format", "onnx",
               "--out", str(tmp_path / "o"), "--data", str(fake_fer), "--n", "0"])
    assert rc == 2 and "--n must be a positive integer, got 0" in capsys.readouterr().err  # at parse time


def test_parity_needs_data(models_dir, tmp_path, capsys, monkeypatch):
    from ferviz import config

    monkeypatch.delenv("FERVIZ_DATA", raising=False)
    monkeypatch.setattr(config, "DEFAULT_DATA_CANDIDATES", ())
    out = tmp_path / "out"
    rc = main(["export-model", "--model", str(models_dir / "gray48.json"), "--format", "tflite", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "the parity check needs FER2013's PrivateTest faces (--data or FERVIZ_DATA)" in err
    assert list(out.iterdir()) == []
    rc = main(["export-model", "--model", str(models_dir / "gray48.json"), "--format", "tflite",
               "--out", str(out), "--data", str(tmp_path / "missing.csv")])
    assert rc == 2 and "missing.csv: no such file or folder" in capsys.readouterr().err


def test_logits_head_is_compared_as_probabilities(models_dir, tmp_path):
    """A linear (logits) head: parity is measured on the softmax probabilities ferviz shows."""
    import keras

    base = _tiny_model()
    logits = keras.layers.Dense(7, name="logits")
    model = keras.Model(base.input, logits(base.layers[-2].output))
    logits.set_weights([w * 20 for w in base.get_layer("probs").get_weights()])
    card = load_card(models_dir / "gray48.json")
    faces = _faces(np.random.default_rng(3), 16)
    r = model_export.export_model(card, "onnx", tmp_path, faces, model=model)
    assert r.max_abs_diff <= 1e-4 and r.faces == 16 and r.path.stat().st_size == r.size_bytes
    raw = model.predict(preprocess(faces, card.input), verbose=0)
    assert np.abs(raw).max() > 1  # really logits, not probabilities


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_an_eight_class_model_exports_with_its_classes(tmp_path, fmt, run_exported):
    """Eight outputs in AffectNet's order (contempt last): parity over all eight, and the exported
    card keeps the class order."""
    from tests.class_sets import AFFECTNET_ORDER

    src_dir = tmp_path / "src"
    src_dir.mkdir()
    path = _save(src_dir, "eight", _tiny_model(seed=3, outputs=8))
    d = json.loads(path.read_text())
    d["classes"] = list(AFFECTNET_ORDER)
    path.write_text(json.dumps(d))
    card = load_card(path)
    faces = _faces(np.random.default_rng(4), 24)
    r = model_export.export_model(card, fmt, tmp_path / "out", faces)
    assert r.max_abs_diff <= 1e-4 and r.faces == 24
    out_card = load_card(r.card_path)
    assert out_card.classes == card.classes and out_card.classes[-1] == "contempt"
    assert out_card.class_ids == tuple(range(8))
    x = preprocess(faces, card.input)
    got, ref = run_exported(fmt, r.path, x), load_model(card).predict(x, verbose=0)
    assert got.shape == (24, 8)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)
    assert ref[:, 7].std() > 0.01  # the contempt output varies: compared for real
