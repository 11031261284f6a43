"""``python -m ferviz regions``: the share of attribution per facial region (brows, eyes, nose,
mouth, rest of the face, background) for a confusion cell and its reference groups, with tests
of which regions differ; ``regions.csv``, ``regions_tests.csv``, ``regions_faces.csv``, a chart
and ``regions_face.png``."""
from __future__ import annotations

from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_model_data(p)
    p.add_argument("--cell", required=True, type=A.cell, metavar="TRUE:PRED",
                   help="a confusion cell, e.g. fear:sad or 2:4")
    A.add_method(p)
    A.add_views(p, "tta: maps over the card's test-time views, as the prediction (default); single: one pass")
    p.add_argument("--max-faces", type=A.int_range(2, 1_000_000), default=100,
                   help="at most this many faces per group, drawn at random with --seed (default 100)")
    A.add_seed(p)
    A.add_formats(p, "chart")
    A.add_out(p)


def run(a) -> int:
    import numpy as np
    from PIL import Image

    from ..attribution import cached_explain
    from ..attribution.regions import cell_report, region_map
    from ..data.landmarks import cached_landmarks
    from ..export.regions import (
        region_overlay,
        regions_csv,
        regions_figure,
        regions_title,
    )
    from ..export.render import figure_bytes
    from ..labels import NAMES
    from ..models import find_card, load_model
    from .common import evaluated, load_split, model_class, progress

    t, p = a.cell
    card = find_card(a.model)
    model_class(card, p, f"--cell {NAMES[t]}:{NAMES[p]}")
    split = load_split(a)
    model = load_model(card)
    ev = evaluated(card, split, "predicting", model=model)
    lm = cached_landmarks(split.images, split.data_hash)
    with progress(f"{a.method} maps") as update:
        def maps_for(pos: np.ndarray, targets: np.ndarray) -> np.ndarray:
            return cached_explain(model, card, split.images[pos], split.ids[pos], split.data_hash, targets,
                                  a.method, views=a.views, progress=update, chunk=16)

        rep = cell_report(split.labels, ev.preds, lm.points, lm.detected, t, p, maps_for, method=a.method,
                          views=a.views, max_faces=a.max_faces, seed=a.seed, model_classes=card.class_ids)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "regions.csv").write_bytes(regions_csv(rep.table))
    rep.tests.to_csv(out / "regions_tests.csv", index=False, float_format="%.6g")
    faces = rep.faces.copy()
    faces.insert(2, "id", split.ids[faces["pos"].to_numpy()])
    faces.drop(columns="pos").to_csv(out / "regions_faces.csv", index=False, float_format="%.6f")
    fig = regions_figure(rep.table, rep.tests, title=regions_title(card.name, split.split, a.method, t, p))
    written = ["regions.csv", "regions_tests.csv", "regions_faces.csv"]
    for fmt in dict.fromkeys(a.formats):
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
