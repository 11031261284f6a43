"""Benchmark: exporting a 100-image confusion-cell sheet with overlays vs the overlays alone.

    python benchmarks/bench_export.py [--n 100] [--data PATH] [--model CARD] [--figure PATH]

Faces: FER2013 PrivateTest (FERVIZ_DATA, --data or the default location); with --model, the
model's most-confused cell and its Grad-CAM maps (precomputed, not timed); otherwise the
first N fear faces with random probabilities and smooth synthetic maps. Without FER2013,
synthetic faces. Timed (best of --repeat): ferviz.figures.overlay.overlay for every face (the
baseline), building the sheet Figure, and rendering it to PNG/SVG/PDF. Prints JSON; writes
the PNG sheet to --figure (default in /tmp: it shows FER2013 faces, do not commit it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _smooth_maps(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:48, :48]
    maps = np.zeros((n, 48, 48), np.float32)
    for i in range(n):
        for _ in range(3):
            cy, cx, s = rng.uniform(8, 40), rng.uniform(8, 40), rng.uniform(20, 120)
            maps[i] += rng.uniform(0.3, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / s)
        maps[i] /= maps[i].max()
    return maps


def load_cell(n: int, data_path: str | None, model: str | None):
    """faces, probs (n, 7), ids, true, pred, maps, model name, source description."""
    from ferviz.data.splits import DataError, load_fer2013

    rng = np.random.default_rng(0)
    try:
        data = load_fer2013(data_path, "PrivateTest")
    except DataError:
        faces = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        return (faces, rng.dirichlet(np.ones(7), n).astype(np.float32), [f"synthetic_{i}" for i in range(n)],
                2, 4, _smooth_maps(n), "synthetic", "synthetic faces (FER2013 not found)")
    if model:
        from ferviz.attribution import cached_explain
        from ferviz.analysis.evaluation import evaluate
        from ferviz.models import find_card, load_model

        card = find_card(model)
        ev = evaluate(card, data)
        pair = ev.confused_pairs(1).iloc[0]
        t, p = int(pair["true_idx"]), int(pair["pred_idx"])
        pos = ev.errors(t, p)["pos"].to_numpy()[:n]
        maps = cached_explain(load_model(card), card, data.images[pos], data.ids[pos], data.data_hash,
                              ev.preds[pos], "gradcam")
        return (data.images[pos], ev.probs[pos], list(data.ids[pos]), t, p, maps, card.name,
                f"FER2013 PrivateTest, {card.key} cell {t}->{p} ({int(pair['count'])} images), Grad-CAM maps")
    pos = np.flatnonzero(data.labels == 2)[:n]
    return (data.images[pos], rng.dirichlet(np.ones(7), len(pos)).astype(np.float32), list(data.ids[pos]),
            2, 4, _smooth_maps(len(pos)), "no model", "FER2013 PrivateTest fear faces, synthetic probs and maps")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--data")
    ap.add_argument("--model")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dpi", type=float, default=150)
    ap.add_argument("--figure", default="/tmp/ferviz_cell_sheet.png")
    a = ap.parse_args(argv)

    import matplotlib

    from ferviz.export import cell_sheet, figure_bytes, pixel_size
    from ferviz.figures.overlay import overlay

    faces, probs, ids, t, p, maps, model_name, source = load_cell(a.n, a.data, a.model)
    n = len(faces)
    overlay(faces[0], maps[0])  # warm the colormap LUT
    t_overlay, _ = _best(lambda: [overlay(f, m) for f, m in zip(faces, maps)], a.repeat)

    def build():
        return cell_sheet(faces, probs, ids, true=t, pred=p, model_name=model_name, split="PrivateTest",
                          overlays=maps, method="Grad-CAM", dpi=a.dpi)
    t_build, fig = _best(build, a.repeat)
    render, size = {}, {}
    for fmt in ("png", "svg", "pdf"):
        render[fmt], blob = _best(lambda fmt=fmt: figure_bytes(fig, fmt), a.repeat)
        size[fmt] = len(blob)
        if fmt == "png":
            Path(a.figure).parent.mkdir(parents=True, exist_ok=True)
            Path(a.figure).write_bytes(blob)
    png_total = t_build + render["png"]
    ms = 1000.0
    print(json.dumps({
        "benchmark": "export_cell_sheet",
        "n_images": n,
        "source": source,
        "overlay_only_ms_per_image": round(ms * t_overlay / n, 3),
        "sheet_build_ms": round(ms * t_build, 1),
        "render_ms": {k: round(ms * v, 1) for k, v in render.items()},
        "export_png_ms_per_image": round(ms * png_total / n, 3),
        "export_svg_ms_per_image": round(ms * (t_build + render["svg"]) / n, 3),
        "export_pdf_ms_per_image": round(ms * (t_build + render["pdf"]) / n, 3),
        "ratio_export_png_vs_overlay_only": round(png_total / t_overlay, 1),
        "png_px": list(pixel_size(fig, a.dpi)),
        "bytes": size,
        "dpi": a.dpi,
        "repeat": a.repeat,
        "figure": str(a.figure),
        "matplotlib": matplotlib.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
