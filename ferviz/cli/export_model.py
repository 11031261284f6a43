"""``python -m ferviz export-model``: the card's Keras model as a TensorFlow Lite or ONNX file for
on-device use, written only when its probabilities on real PrivateTest faces equal the Keras
model's within 1e-4; a card (``<key>.<format>.json``) goes beside it.

    python -m ferviz export-model --model vgg_small_ft --format tflite --out exports/
"""
from __future__ import annotations

from . import args as A

FORMATS = ("tflite", "onnx")  # literal copy of ferviz.models.on_device.FORMATS (the parser imports no TensorFlow)


def add_arguments(p) -> None:
    A.add_model(p)
    p.add_argument("--format", required=True, nargs="+", choices=FORMATS, dest="formats", metavar="{tflite,onnx}",
                   help="model file format(s): tflite (TensorFlow Lite) and/or onnx")
    A.add_out(p, "folder for the exported file and its card (created if missing)")
    A.add_data(p, "FER2013 path for the parity check", labels=False)  # faces only
    p.add_argument("--n", type=A.positive_int, default=256,
                   help="PrivateTest faces in the parity check (default 256)")


def run(a) -> int:
    from ..models import find_card, load_model
    from ..models.on_device import TOLERANCE, check_out_dir, export_model, parity_faces
    from ..models.training import command_line

    card = find_card(a.model)
    check_out_dir(a.out)
    faces, info = parity_faces(a.data, a.n)
    model = load_model(card)
    for fmt in dict.fromkeys(a.formats):
        r = export_model(card, fmt, a.out, faces, model=model, faces_info=info, command=command_line(a._argv))
        print(f"{card.name} -> {fmt}: max abs difference {r.max_abs_diff:.2e} on {r.faces} {info['split']} "
              f"faces (limit {TOLERANCE:g}), converted in {r.convert_s:.1f} s, {r.size_bytes / 1e6:.2f} MB")
        print(f"wrote {r.path} and {r.card_path}")
    return 0
