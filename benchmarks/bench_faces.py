"""Benchmark: one uploaded photo end to end vs prediction alone on the same crop (prints JSON).

    python benchmarks/bench_faces.py [--model baseline_cnn] [--repeats 7]

Pipeline = decode the PNG bytes + MTCNN detection + FER2013 crop + prediction + Grad-CAM
(for the predicted class); baseline = `predict_faces` on the already-made 48x48 crop. Both are
warmed up first (detector built, model traced); times are medians over the repeats. Without
--model it uses models/baseline_cnn.json when present, else an untrained baseline_cnn
(timing does not depend on the weights).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _model(name: str | None, tmp: Path):
    from ferviz.models import ModelError, card_from_dict, find_card, load_model

    if name:
        card = find_card(name)
    else:
        try:
            card = find_card("baseline_cnn")
        except ModelError:
            from ferviz.models.architectures import baseline_cnn

            baseline_cnn().save(tmp / "baseline_cnn.keras")
            card = card_from_dict({"name": "baseline_cnn (untrained)", "file": "baseline_cnn.keras",
                                   "gradcam_layer": "relu4"}).save(tmp / "baseline_cnn.json")
    return card, load_model(card)


def _timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="card path or registry name (default: baseline_cnn)")
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args(argv)

    from PIL import Image
    from skimage import data

    from ferviz.faces import detection as faces
    from ferviz.faces.images import load_photo

    try:
        from ferviz.attribution import explain
    except ImportError as e:  # written by another module's owner; report without it
        explain, why = None, f"ferviz.attribution.explain unavailable ({e})"
    else:
        why = None

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, "PNG")
    photo_bytes = buf.getvalue()

    with tempfile.TemporaryDirectory() as tmp:
        card, model = _model(a.model, Path(tmp))
        _, t_detector = _timed(faces.get_detector)

        def pipeline():
            t = {}
            rgb, t["decode"] = _timed(load_photo, photo_bytes)
            found, t["detect"] = _timed(faces.detect_faces, rgb)
            (crops, _), t["crop"] = _timed(faces.crop_faces, rgb, found)
            probs, t["predict"] = _timed(faces.predict_faces, model, card, crops)
            if explain is not None:
                _, t["gradcam"] = _timed(explain, model, card, crops, probs.argmax(1), method="gradcam")
            t["total"] = sum(t.values())
            return crops, t

        crops, _ = pipeline()  # warm-up: traces the model, Grad-CAM and MTCNN's stages
        assert len(crops) == 1, f"expected one face on the astronaut, found {len(crops)}"
        faces.predict_faces(model, card, crops)
        runs = [pipeline()[1] for _ in range(a.repeats)]
        base = [_timed(faces.predict_faces, model, card, crops)[1] for _ in range(a.repeats)]

    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    base_med = statistics.median(base)
    out = {
        "benchmark": "faces",
        "photo": "skimage astronaut 512x512 PNG (1 face)",
        "model": card.name,
        "detector": faces.get_detector().name,
        "repeats": a.repeats,
        "gradcam": explain is not None,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "predict_alone_s": round(base_med, 4),
        "ratio_pipeline_vs_predict": round(med["total"] / base_med, 1),
        "detector_build_s": round(t_detector, 2),
        "cpu_count": os.cpu_count(),
    }
    if why:
        out["note"] = why
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
