"""On-device export: conversion time, file size and inference time per face of the Keras model
against its TensorFlow Lite file (tf.lite.Interpreter) and ONNX file (onnxruntime, CPU), in one run.

Each runtime is loaded once and warmed up; then the median over --repeats of (a) a batch of 256
PrivateTest faces and (b) one face at a time (the on-device case), both single view, preprocessed
by the card. Keras runs ferviz's traced forward function. Also the max abs difference of each
file's probabilities from Keras on those faces.

Prints JSON with seconds per face and the ratios tflite/keras and onnx/keras (below 1: faster).
"""
from __future__ import annotations

import time
import warnings

import numpy as np
from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=256, help="faces in the batch (default 256)")
    p.add_argument("--single", type=int, default=32, help="faces timed one at a time (default 32)")
    args = p.parse_args()
    fresh_cache()
    import onnxruntime as ort
    import tensorflow as tf

    from ferviz.models import on_device as mx
    from ferviz.analysis.evaluation import _forward
    from ferviz.models import load_card, load_model, preprocess

    card = load_card(args.model)
    faces, _ = mx.parity_faces(args.data, args.n)
    x = preprocess(faces, card.input)
    model = load_model(card)
    result = {"benchmark": "model_export", "model": card.key, "faces": len(x), "repeats": args.repeats}

    t = time.perf_counter()
    files = {"tflite": mx.to_tflite(model)}
    result["convert_tflite_s"] = time.perf_counter() - t
    t = time.perf_counter()
    shape = (card.input.height, card.input.width, card.input.channels)
    files["onnx"] = mx.to_onnx(model, shape)
    result["convert_onnx_s"] = time.perf_counter() - t
    for fmt, content in files.items():
        result[f"{fmt}_mb"] = len(content) / 1e6
    result["keras_mb"] = card.model_path.stat().st_size / 1e6

    fwd = _forward(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interp = tf.lite.Interpreter(model_content=files["tflite"])
    inp, outp = interp.get_input_details()[0], interp.get_output_details()[0]
    sess = ort.InferenceSession(files["onnx"], providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    size = [None]

    def tflite(b):
        if size[0] != b.shape:  # resizing reallocates: done once per batch shape, as on a device
            interp.resize_tensor_input(inp["index"], list(b.shape))
            interp.allocate_tensors()
            size[0] = b.shape
        interp.set_tensor(inp["index"], b)
        interp.invoke()
        return interp.get_tensor(outp["index"])

    runners = {"keras": lambda b: fwd(tf.constant(b)).numpy(), "tflite": tflite,
               "onnx": lambda b: sess.run(None, {name: b})[0]}
    ref = runners["keras"](x)
    for key, run in runners.items():
        run(x), run(x[:1])  # warm up (tracing, allocation)
        result[f"{key}_batch_s_per_face"] = median_time(lambda: run(x), args.repeats) / len(x)
        one = x[:args.single]
        result[f"{key}_single_s_per_face"] = median_time(
            lambda: [run(one[i:i + 1]) for i in range(len(one))], args.repeats) / len(one)
        if key != "keras":
            result[f"{key}_max_abs_diff"] = float(np.abs(run(x) - ref).max())
    for key in ("tflite", "onnx"):
        for mode in ("batch", "single"):
            result[f"{key}_vs_keras_{mode}"] = result[f"{key}_{mode}_s_per_face"] / result[f"keras_{mode}_s_per_face"]
    emit(result)


if __name__ == "__main__":
    main()
