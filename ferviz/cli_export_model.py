"""``python -m ferviz export-model``: the card's Keras model as a TensorFlow Lite or ONNX file for
on-device use, written only when its probabilities on real PrivateTest faces equal the Keras
model's within 1e-4; a card (``<key>.<format>.json``) goes beside it.

    python -m ferviz export-model --model vgg_small_ft --format tflite --out exports/
"""
from __future__ import annotations

from .cli import command

FORMATS = ("tflite", "onnx")  # literal copy of ferviz.model_export.FORMATS (the parser imports no TensorFlow)


def _args(p):
    p.add_argument("--model", required=True, help="card path, model file or registry name")
    p.add_argument("--format", required=True, nargs="+", choices=FORMATS, metavar="{tflite,onnx}",
                   help="tflite (TensorFlow Lite) and/or onnx")
    p.add_argument("--out", required=True, help="folder for the exported file and its card (created if missing)")
    p.add_argument("--data", help="FER2013 path for the parity check (default: FERVIZ_DATA or data/)")
    p.add_argument("--n", type=int, default=256, help="PrivateTest faces in the parity check (default 256)")


@command("export-model", "export a model to TensorFlow Lite or ONNX, checked against the Keras model on "
                         "real faces")(_args)
def _export_model(a) -> int:
    from .model_export import TOLERANCE, check_out_dir, export_model, parity_faces
    from .models import find_card, load_model
    from .train import command_line

    card = find_card(a.model)
    check_out_dir(a.out)
    faces, info = parity_faces(a.data, a.n)
    model = load_model(card)
    for fmt in dict.fromkeys(a.format):
        r = export_model(card, fmt, a.out, faces, model=model, faces_info=info, command=command_line(a._argv))
        print(f"{card.name} -> {fmt}: max abs difference {r.max_abs_diff:.2e} on {r.faces} {info['split']} "
              f"faces (limit {TOLERANCE:g}), converted in {r.convert_s:.1f} s, {r.size_bytes / 1e6:.2f} MB")
        print(f"wrote {r.path} and {r.card_path}")
    return 0
