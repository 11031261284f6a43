"""``python -m ferviz predict``: find the faces in photos and classify each one (``--json`` for a
list, ``--out`` for the app's "Your face" figure per face); exit 1 when no face was found, 2 when
a file could not be read."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_model(p)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photo files (JPEG, PNG, WebP, BMP, GIF, TIFF)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one entry per face")
    p.add_argument("--whole-image", action="store_true",
                   help="classify the centre square of each image instead of detected faces")
    p.add_argument("--box", type=A.box, metavar="X,Y,W,H", help="use this face box (pixels) instead of detecting")
    A.add_out(p, "also write an annotated figure per face into this folder (the crop, top probabilities and "
                 "the --method overlays, as the app's Your face page exports)", required=False)
    A.add_method(p, default=["gradcam", "xrai"], several=True,
                 help="overlays of the --out figures (default gradcam xrai), for the predicted class")
    A.add_formats(p, "--out figure")


def _read(path: str) -> bytes:
    from ..faces.images import MAX_BYTES, PhotoError

    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise PhotoError(f"file too large: {p.stat().st_size / 2**20:.1f} MiB (limit {MAX_BYTES / 2**20:.0f} MiB)")
        return p.read_bytes()
    except OSError as e:
        raise PhotoError(f"cannot read ({e.strerror or type(e).__name__})") from None


def run(a) -> int:
    import numpy as np

    from ..faces.detection import FaceError, PhotoError, analyse_photo, predict_faces
    from ..labels import NAMES
    from ..models import find_card, load_model

    box = a.box
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
        classes = list(card.class_ids)  # the model's classes (probability columns are class indices)
        for i, (face, square, p) in enumerate(zip(photo.faces, photo.boxes, probs), start=1):
            order = [classes[j] for j in np.argsort(-p[classes], kind="stable")[:3]]
            results.append({
                "file": path, "face": i, "box": list(face.box), "crop_box": list(square),
                "confidence": round(face.confidence, 4), "source": face.source,
                "top3": [[NAMES[k], round(float(p[k]), 4)] for k in order],
                "probs": {NAMES[k]: round(float(p[k]), 4) for k in classes},
            })
            if a.out:
                for out_path in _write_figures(a, model, card, photo.crops[i - 1], p, f"{Path(path).stem}-face{i}"):
                    results[-1].setdefault("figures", []).append(out_path)
                    if not a.json:
                        print(out_path)
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


def _write_figures(a, model, card, crop, probs, image_id: str) -> list[str]:
    """The annotated figure of one face (overlays for the predicted class), in each --format."""
    import numpy as np

    from .. import attribution, export
    from ..cache import atomic_write_bytes
    from ..labels import NAMES

    classes = list(card.class_ids)
    pred = classes[int(np.argmax(probs[classes]))]
    overlays = {f"{attribution.METHODS[m]} ({NAMES[pred]})":
                attribution.explain(model, card, crop[None], np.array([pred]), m)[0] for m in a.method}
    fig = export.annotated_figure(crop, probs, overlays=overlays, true=None, model_name=card.name,
                                  image_id=image_id, split="upload", classes=classes)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in a.formats:
        path = out / export.export_filename("image", card.key, "upload", image_id=image_id,
                                            method=a.method, fmt=fmt)
        atomic_write_bytes(path, export.figure_bytes(fig, fmt))
        written.append(str(path))
    return written
