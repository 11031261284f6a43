"""On-device export of a card's Keras model to TensorFlow Lite or ONNX, with a parity check.

The exported file is written only when its probabilities on real faces (preprocessed by the
card's input spec, one view, no test-time augmentation) equal the Keras model's within
``TOLERANCE`` (max abs difference), run through ``tf.lite.Interpreter`` or ``onnxruntime``.
A card goes beside it: a copy of the source card whose ``file`` names the new file, with
``format`` and ``exported_from`` (source sha256, converter, parity result).
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import cache
from ..errors import ModelError
from . import ModelCard

FORMATS = ("tflite", "onnx")
LABELS = {"tflite": "TensorFlow Lite", "onnx": "ONNX"}
TOLERANCE = 1e-4
ONNX_OPSET = 17
PARITY_SPLIT = "PrivateTest"
_BATCH = 64


@dataclass(frozen=True)
class Exported:
    """What one export wrote and measured."""

    format: str
    path: Path
    card_path: Path
    max_abs_diff: float
    faces: int
    convert_s: float
    size_bytes: int


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ModelError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    return fmt


def exported_paths(card: ModelCard, fmt: str, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """(model file, card) for a format: ``<key>.<fmt>`` and ``<key>.<fmt>.json`` in out_dir."""
    name = f"{card.key}.{check_format(fmt)}"
    return Path(out_dir) / name, Path(out_dir) / f"{name}.json"


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create out_dir if missing and make sure files can be written there (ModelError if not)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise ModelError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    return out


def parity_faces(data: str | os.PathLike | None, n: int = 256) -> tuple[np.ndarray, dict[str, Any]]:
    """The first n PrivateTest faces (uint8) and a record of where they came from."""
    from ..data.splits import DataError, load_fer2013

    if n < 1:
        raise ModelError(f"--n must be at least 1, got {n}")
    try:
        split = load_fer2013(data, PARITY_SPLIT)
    except DataError as e:
        raise DataError(f"the parity check needs FER2013's {PARITY_SPLIT} faces (--data or FERVIZ_DATA): {e}") \
            from None
    n = min(n, len(split))
    return split.images[:n], {"split": split.split, "faces": n, "data_sha256": split.source_hash}


# ------------------------------------------------------------------ converters

def _first_line(e: BaseException, limit: int = 300) -> str:
    s = str(e).strip()
    return (s.splitlines()[0][:limit] if s else type(e).__name__)


def to_tflite(model) -> bytes:
    """The model as a TensorFlow Lite flatbuffer (built-in ops only)."""
    import tensorflow as tf

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras 3 prints the SavedModel it goes through
            return tf.lite.TFLiteConverter.from_keras_model(model).convert()
    except Exception as e:  # ConverterError and friends
        ops = sorted({d.operator.name for d in getattr(e, "errors", []) if d.operator.name})
        if not ops:
            ops = sorted(set(re.findall(r"'(tf\.\w+)' op is neither", str(e))))
        why = f"TensorFlow Lite's built-in ops do not include {', '.join(ops)}" if ops else _first_line(e)
        raise ModelError(f"cannot convert to TensorFlow Lite: {why}") from None


def to_onnx(model, input_shape: tuple[int, ...]) -> bytes:
    """The model as an ONNX file (tf2onnx, opset ``ONNX_OPSET``), batch size left free."""
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = [tf.TensorSpec((None, *input_shape), tf.float32, name="input")]
    log = logging.getLogger("tf2onnx")
    level = log.level
    log.setLevel(logging.CRITICAL)  # unsupported ops are reported below, in one line
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET)
    except Exception as e:
        raise ModelError(f"cannot convert to ONNX: tf2onnx {tf2onnx.__version__}: {_first_line(e)}") from None
    finally:
        log.setLevel(level)
    bad = sorted({nd.op_type for nd in proto.graph.node
                  if nd.domain in ("", "ai.onnx") and not onnx.defs.has(nd.op_type)})
    if bad:
        raise ModelError(f"cannot convert to ONNX: tf2onnx {tf2onnx.__version__} has no ONNX "
                         f"equivalent for TensorFlow op(s) {', '.join(bad)}")
    return proto.SerializeToString()


def converter_name(fmt: str) -> str:
    if fmt == "tflite":
        return "tf.lite.TFLiteConverter.from_keras_model"
    import tf2onnx

    return f"tf2onnx {tf2onnx.__version__} from_keras (opset {ONNX_OPSET})"


# ------------------------------------------------------------------ runners

def run_tflite(content: bytes, x: np.ndarray) -> np.ndarray:
    """Outputs of a TensorFlow Lite model on a float32 batch (through tf.lite.Interpreter)."""
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        it = tf.lite.Interpreter(model_content=content)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.resize_tensor_input(inp["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(inp["index"], np.ascontiguousarray(x, np.float32))
    it.invoke()
    return np.array(it.get_tensor(out["index"]))


def run_onnx(content: bytes, x: np.ndarray) -> np.ndarray:
    """Outputs of an ONNX model on a float32 batch (through onnxruntime on the CPU)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(content, opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ModelError(f"onnxruntime {ort.__version__} cannot load the converted model: {_first_line(e)}") \
            from None
    return sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x, np.float32)})[0]


def runtime_name(fmt: str) -> str:
    if fmt == "tflite":
        import tensorflow as tf

        return f"tf.lite.Interpreter (TensorFlow {tf.__version__})"
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__} (CPUExecutionProvider)"


def _runner(fmt: str):
    return {"tflite": run_tflite, "onnx": run_onnx}[fmt]  # looked up per call (tests replace them)


# ------------------------------------------------------------------ export

def parity(model, content: bytes, fmt: str, card: ModelCard, faces: np.ndarray) -> float:
    """Largest |p_keras - p_exported| over the faces' class probabilities (single view)."""
    import tensorflow as tf

    from ..analysis.evaluation import _forward, as_probabilities
    from . import output_head, preprocess

    head, fwd, run = output_head(model), _forward(model), _runner(fmt)
    worst = 0.0
    for start in range(0, len(faces), _BATCH):
        x = preprocess(faces[start:start + _BATCH], card.input)
        ref = as_probabilities(fwd(tf.constant(x)).numpy(), head)
        if not np.isfinite(ref).all():
            raise ModelError(f"{card.name}: the Keras model outputs NaN or infinite values; nothing exported")
        got = np.asarray(run(content, x))
        if got.shape != ref.shape:
            raise ModelError(f"the {LABELS[fmt]} model outputs shape {got.shape}, the Keras model {ref.shape}")
        got = as_probabilities(got, head)
        if not np.isfinite(got).all():
            return float("inf")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def export_model(card: ModelCard, fmt: str, out_dir: str | os.PathLike, faces: np.ndarray, *,
                 model=None, faces_info: dict[str, Any] | None = None, command: str | None = None,
                 tolerance: float = TOLERANCE) -> Exported:
    """Convert the card's model, check parity on `faces` (uint8, N×H×W) and write file + card.

    Nothing is written when conversion fails or the largest difference exceeds `tolerance`
    (ModelError, one line)."""
    import keras
    import tensorflow as tf

    from . import load_model

    check_format(fmt)
    out = check_out_dir(out_dir)
    if len(faces) == 0:
        raise ModelError("the parity check needs at least one face")
    model = load_model(card) if model is None else model
    t = time.perf_counter()
    shape = (card.input.height, card.input.width, card.input.channels)
    content = to_tflite(model) if fmt == "tflite" else to_onnx(model, shape)
    convert_s = time.perf_counter() - t
    diff = parity(model, content, fmt, card, faces)
    if not diff <= tolerance:
        shown = "non-finite outputs" if not np.isfinite(diff) else f"max abs difference {diff:.3g}"
        raise ModelError(f"{LABELS[fmt]} parity check failed on {len(faces)} faces: {shown} > {tolerance:g} "
                         "from the Keras model's probabilities; nothing written")
    path, card_path = exported_paths(card, fmt, out)
    src = card.model_path
    record = {
        "file": src.name, "card": card.path.name if card.path else None, "sha256": card.model_hash(),
        "keras": keras.__version__, "tensorflow": tf.__version__, "converter": converter_name(fmt),
        "convert_s": round(convert_s, 3),
        "parity": {**(faces_info or {"faces": len(faces)}), "views": "single (no test-time augmentation)",
                   "preprocessing": "the card's input spec", "runtime": runtime_name(fmt),
                   "max_abs_diff": diff, "tolerance": tolerance, "passed": True},
    }
    if command:
        record["command"] = command
    d = card.to_json()
    d.update(name=f"{card.name} ({LABELS[fmt]})", file=path.name, format=fmt, exported_from=record)
    cache.atomic_write_bytes(path, content)
    try:
        cache.atomic_write_bytes(card_path, (json.dumps(d, indent=2) + "\n").encode())
    except OSError:
        path.unlink(missing_ok=True)
        raise
    return Exported(fmt, path, card_path, diff, len(faces), convert_s, len(content))
