"""``python -m ferviz landmarks``: the five landmarks (eyes, nose, mouth corners) of every face of a
split from MTCNN's ONet, the detection rate and the median landmarks; ``landmarks.csv`` with --out."""
from __future__ import annotations

from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_data(p)
    A.add_split(p)
    A.add_out(p, "folder for landmarks.csv (optional)", required=False)


def run(a) -> int:
    import numpy as np
    import pandas as pd

    from ..data.landmarks import POINTS, TEMPLATE, cached_landmarks, template_from
    from .common import load_split

    split = load_split(a)
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
