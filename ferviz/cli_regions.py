"""``python -m ferviz regions`` (attribution per facial region for a confusion cell and its
references) and ``python -m ferviz landmarks`` (the five landmarks of every face of a split)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cli import command, model_data_args, parse_cell, progress_bar

FORMATS = ("png", "svg", "pdf")  # literal copy of ferviz.export.FORMATS (keeps the parser light)


def _regions_args(p):
    from .attribution import METHODS

    model_data_args(p)
    p.add_argument("--cell", required=True, metavar="TRUE:PRED", help="a confusion cell, e.g. fear:sad or 2:4")
    p.add_argument("--method", default="gradcam", choices=list(METHODS))
    p.add_argument("--views", choices=["tta", "single"], default="tta",
                   help="tta: maps over the card's test-time views, as the prediction (default); single: one pass")
    p.add_argument("--max-faces", type=int, default=100,
                   help="at most this many faces per group, drawn at random with --seed (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", nargs="+", default=["png"], choices=FORMATS, metavar="{png,svg,pdf}",
                   help="chart format(s) (default png)")
    p.add_argument("--out", required=True, help="output folder")


@command("regions", "share of attribution per facial region for a confusion cell vs its references")(_regions_args)
def _regions(a) -> int:
    from PIL import Image

    from .attribution import cached_explain, check_method
    from .data import load_fer2013
    from .evaluation import evaluate
    from .export.regions import region_overlay, regions_csv, regions_figure, regions_title
    from .export.render import figure_bytes
    from .landmarks import cached_landmarks
    from .models import find_card, load_model
    from .regions import cell_report, region_map

    check_method(a.method)
    if a.max_faces < 2:
        raise ValueError(f"--max-faces must be at least 2, got {a.max_faces}")
    t, p = parse_cell(a.cell)
    card = find_card(a.model)
    split = load_fer2013(a.data, a.split)
    model = load_model(card)
    bar, update = progress_bar(desc="predicting")
    try:
        ev = evaluate(card, split, model=model, progress=update)
    finally:
        bar.close()
    lm = cached_landmarks(split.images, split.data_hash)
    bar, update = progress_bar(desc=f"{a.method} maps")

    def maps_for(pos: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return cached_explain(model, card, split.images[pos], split.ids[pos], split.data_hash, targets, a.method,
                              views=a.views, progress=update, chunk=16)

    try:
        rep = cell_report(split.labels, ev.preds, lm.points, lm.detected, t, p, maps_for, method=a.method,
                          views=a.views, max_faces=a.max_faces, seed=a.seed)
    finally:
        bar.close()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "regions.csv").write_bytes(regions_csv(rep.table))
    rep.tests.to_csv(out / "regions_tests.csv", index=False, float_format="%.6g")
    faces = rep.faces.copy()
    faces.insert(2, "id", split.ids[faces["pos"].to_numpy()])
    faces.drop(columns="pos").to_csv(out / "regions_faces.csv", index=False, float_format="%.6f")
    fig = regions_figure(rep.table, rep.tests, title=regions_title(card.name, split.split, a.method, t, p))
    written = ["regions.csv", "regions_tests.csv", "regions_faces.csv"]
    for fmt in dict.fromkeys(a.format):
        (out / f"regions.{fmt}").write_bytes(figure_bytes(fig, fmt))
        written.append(f"regions.{fmt}")
    first = int(rep.groups[0].pos[0])
    labels = region_map(lm.points[first], split.images.shape[1:3])
    Image.fromarray(region_overlay(split.images[first], labels, size=(288, 288))).save(out / "regions_face.png")
    written.append("regions_face.png")
    for _, row in rep.table.iterrows():
        shares = ", ".join(f"{r} {row[r]:.1%}" for r in ("brows", "eyes", "nose", "mouth", "face", "background"))
        print(f"{row['group']}: n={int(row['n'])} ({int(row['n_blank'])} blank, {int(row['n_template'])} "
              f"template landmarks): {shares}")
    diffs = rep.differing()
    print("differs: " + ("; ".join(diffs) if diffs else "no region differs significantly (Holm, p < 0.05)"))
    print(f"landmarks: ONet found {int(lm.detected.sum()):,} of {len(lm):,} {split.split} faces "
          f"({lm.detection_rate:.1%}); the template stands in for the rest")
    print("wrote " + ", ".join(str(out / w) for w in written))
    return 0


def _landmarks_args(p):
    p.add_argument("--data", help="FER2013 path (default: FERVIZ_DATA or data/)")
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--out", help="folder for landmarks.csv (optional)")


@command("landmarks", "five facial landmarks per face of a split (MTCNN's ONet) and the detection rate")(_landmarks_args)
def _landmarks(a) -> int:
    import pandas as pd

    from .data import load_fer2013
    from .landmarks import POINTS, TEMPLATE, cached_landmarks, template_from

    split = load_fer2013(a.data, a.split)
    lm = cached_landmarks(split.images, split.data_hash)
    print(f"{split.split}: ONet found {int(lm.detected.sum()):,} of {len(lm):,} faces ({lm.detection_rate:.1%}); "
          "the template stands in for the rest")
    if lm.detected.any():
        med = template_from(lm)
        print("median landmarks of the detected faces (x, y fractions): "
              + ", ".join(f"{n} ({x:.4f}, {y:.4f})" for n, (x, y) in zip(POINTS, med)))
        print(f"largest difference from the shipped template: {np.abs(med - TEMPLATE).max():.4f}")
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        cols = {"id": split.ids, "detected": lm.detected, "score": lm.score}
        for k, n in enumerate(POINTS):
            cols[f"{n}_x"], cols[f"{n}_y"] = lm.points[:, k, 0], lm.points[:, k, 1]
        pd.DataFrame(cols).to_csv(out / "landmarks.csv", index=False, float_format="%.5f")
        print(f"wrote {out / 'landmarks.csv'}")
    return 0
