"""Benchmark: the live webcam analysis (`ferviz.faces.live.LiveAnalyser`) on a synthetic 640x480 video (prints JSON).

    python benchmarks/bench_live.py [--model models/vgg_small_ft.json] [--frames 300] [--faces 1]

The video is made at run time: the astronaut's head (scikit-image's sample photo; with
--data, FER2013 test faces instead, upscaled, never written anywhere) moving across a grey
640x480 frame, one or more faces a frame. Each frame goes through the whole analysis as in the
app (Haar detection every --detect-every frames, crops, one model call for all faces and the
card's test-time views, Grad-CAM on the main face, drawing); the WebRTC transport and video
encoding are not included. Reports frames per second over the timed frames (after --warmup
frames), the mean and median per-stage times in milliseconds, and as the baseline the
still-photo pipeline on one of the same frames (MTCNN, crops, `predict_faces`, Grad-CAM over the
card's views: what a snapshot runs), with the ratio of the two per-frame times.
"""
from __future__ import annotations

import statistics
import time

from _common import ROOT, emit, median_time, parser


def _faces(data: str | None, n: int):
    """n face images (H, W, 3) uint8: the astronaut's head, or FER2013 PrivateTest faces (--data)."""
    import numpy as np
    from PIL import Image

    if data:
        from ferviz.data.splits import load_fer2013

        split = load_fer2013(data, "PrivateTest")
        return [np.repeat(np.asarray(Image.fromarray(split.images[i]).resize((150, 150), Image.Resampling.BICUBIC))
                          [..., None], 3, axis=-1) for i in range(n)]
    from skimage import data as sk

    head = np.asarray(Image.fromarray(sk.astronaut()[0:250, 100:300]).resize((160, 200), Image.Resampling.BICUBIC))
    return [head] * n


def _video(heads, frames: int):
    """Frames with the heads drifting left and right (different positions every frame)."""
    import numpy as np

    out = []
    for t in range(frames):
        frame = np.full((480, 640, 3), 120, np.uint8)
        for k, head in enumerate(heads):
            h, w = head.shape[:2]
            slot = 640 // len(heads)
            x = int(k * slot + (slot - w) / 2 + 0.3 * (slot - w) / 2 * np.sin(t / 15))
            y = int((480 - h) / 2 + 20 * np.cos(t / 20))
            frame[y:y + h, max(0, x):max(0, x) + w] = head[:, :min(w, 640 - max(0, x))]
        out.append(frame)
    return out


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(model=str(ROOT / "models" / "vgg_small_ft.json"), data=None)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--faces", type=int, default=1)
    p.add_argument("--detect-every", type=int, default=2)
    p.add_argument("--no-gradcam", action="store_true")
    p.add_argument("--no-tta", action="store_true", help="predict the faces alone, not the card's test-time views")
    a = p.parse_args(argv)

    import os

    from ferviz.faces.live import LiveAnalyser
    from ferviz.models import find_card, load_model

    card = find_card(a.model)
    model = load_model(card)
    video = _video(_faces(a.data, a.faces), a.warmup + a.frames)
    runs = []
    for _ in range(a.repeats):
        la = LiveAnalyser(model, card, detect_every=a.detect_every, gradcam=not a.no_gradcam, tta=not a.no_tta)
        la.warm_up()
        for f in video[:a.warmup]:
            la.process(f)
        stages, found = [], 0
        t0 = time.perf_counter()
        for f in video[a.warmup:]:
            _, r = la.process(f)
            stages.append(r.timings)
            found += sum(x.probs is not None for x in r.faces)
        wall = time.perf_counter() - t0
        runs.append({"fps": a.frames / wall, "stages": stages, "faces_per_frame": found / a.frames})
    from ferviz import attribution
    from ferviz.faces import detection as faces

    def photo():
        ph = faces.analyse_photo(video[0])
        crops = ph.crops if len(ph) else faces.whole_image_crop(video[0])[0][None]  # the page's fallback
        probs = faces.predict_faces(model, card, crops)
        attribution.explain(model, card, crops[:1], probs[:1].argmax(1), "gradcam")
        return len(ph)

    photo_faces = photo()  # warm-up: builds MTCNN, traces the model and Grad-CAM
    photo_s = median_time(photo, a.repeats)
    best = max(runs, key=lambda r: r["fps"])
    keys = ["detect", "crop", "predict", "gradcam", "draw", "total"]
    emit({
        "benchmark": "live",
        "video": f"{a.frames} synthetic 640x480 frames, {a.faces} moving face(s) "
                 f"({'FER2013 PrivateTest faces, upscaled' if a.data else 'skimage astronaut'})",
        "model": card.name, "tta_views_predicted": (not a.no_tta and card.tta) or "none", "gradcam": not a.no_gradcam,
        "detect_every": a.detect_every, "repeats": a.repeats,
        "fps_per_repeat": [round(r["fps"], 1) for r in runs],
        "fps_median": round(statistics.median(r["fps"] for r in runs), 1),
        "faces_classified_per_frame": round(best["faces_per_frame"], 2),
        "stage_ms_mean": {k: round(1000 * statistics.fmean(s[k] for s in best["stages"]), 2) for k in keys},
        "stage_ms_median": {k: round(1000 * statistics.median(s[k] for s in best["stages"]), 2) for k in keys},
        "stage_ms_from": "the fastest repeat",
        "photo_pipeline_s": round(photo_s, 3),
        "photo_pipeline_faces": photo_faces,
        "ratio_photo_vs_live_frame": round(photo_s * statistics.median(r["fps"] for r in runs), 1),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
