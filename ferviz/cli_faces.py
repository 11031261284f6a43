"""`python -m ferviz predict`: find the faces in photos and classify each one."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli import command
from .labels import EMOTIONS


def _args(p):
    p.add_argument("--model", required=True, help="card path, model file or registry name")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photo files (JPEG, PNG, WebP, BMP, GIF, TIFF)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one entry per face")
    p.add_argument("--whole-image", action="store_true",
                   help="classify the centre square of each image instead of detected faces")
    p.add_argument("--box", metavar="X,Y,W,H", help="use this face box (pixels) instead of detecting")


def _parse_box(text: str | None):
    if text is None:
        return None
    parts = text.replace(" ", "").split(",")
    try:
        box = tuple(int(v) for v in parts)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise ValueError(f"--box must be four integers X,Y,W,H, got {text!r}")
    return box


def _read(path: str) -> bytes:
    from .images import MAX_BYTES, PhotoError

    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise PhotoError(f"file too large: {p.stat().st_size / 2**20:.1f} MiB (limit {MAX_BYTES / 2**20:.0f} MiB)")
        return p.read_bytes()
    except OSError as e:
        raise PhotoError(f"cannot read ({e.strerror or type(e).__name__})") from None


@command("predict", "detect faces in photos, crop them FER2013-style and classify them")(_args)
def _run(a) -> int:
    from .faces import FaceError, PhotoError, analyse_photo, predict_faces
    from .models import find_card, load_model

    box = _parse_box(a.box)
    card = find_card(a.model)
    model = None
    results, bad, any_face = [], 0, False
    for path in a.images:
        try:
            photo = analyse_photo(_read(path), box=box, whole_image=a.whole_image)
        except (PhotoError, FaceError) as e:
            print(f"ferviz predict: error: {path}: {e}", file=sys.stderr)
            bad += 1
            continue
        if not photo.faces:
            print(f"no face found in {path} (use --whole-image to classify the whole image)",
                  file=sys.stderr if a.json else sys.stdout)
            continue
        any_face = True
        model = model if model is not None else load_model(card)
        probs = predict_faces(model, card, photo.crops)
        for i, (face, square, p) in enumerate(zip(photo.faces, photo.boxes, probs), start=1):
            order = p.argsort()[::-1][:3]
            results.append({
                "file": path, "face": i, "box": list(face.box), "crop_box": list(square),
                "confidence": round(face.confidence, 4), "source": face.source,
                "top3": [[EMOTIONS[k], round(float(p[k]), 4)] for k in order],
                "probs": {e: round(float(v), 4) for e, v in zip(EMOTIONS, p)},
            })
            if not a.json:
                x, y, w, h = face.box
                top = ", ".join(f"{e} {v:.2f}" for e, v in results[-1]["top3"])
                conf = f"confidence {face.confidence:.3f}" if face.source == "mtcnn" else face.source
                print(f"{path} face {i}/{len(photo.faces)} box x={x} y={y} w={w} h={h} ({conf}): {top}")
    if a.json:
        print(json.dumps(results, indent=2))
    if bad:
        return 2
    return 0 if any_face else 1
