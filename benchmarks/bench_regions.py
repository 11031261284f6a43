"""Region shares of a confusion cell against computing that cell's maps, in one run.

baseline: Grad-CAM maps (the card's test-time views) of `--faces` faces of the cell, computed afresh
(`explain`, no cache). regions: what ``regions`` adds on top, for the same faces: their region maps
from the landmarks, the shares, the bootstrap intervals and the tests (``cell_report`` with the
maps handed in from memory). Landmarks of the whole split (ONet on every face, cached on disk
afterwards) are timed once, cold and cached.

Prints JSON with seconds and the ratios regions/maps and landmarks(cold)/maps.
"""
from __future__ import annotations

import time

import numpy as np
from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--cell", help="TRUE:PRED (default: the model's most frequent confusion)")
    p.add_argument("--faces", type=int, default=100)
    p.add_argument("--method", default="gradcam")
    args = p.parse_args()
    fresh_cache()
    from ferviz.data import landmarks as L
    from ferviz.attribution import regions as R
    from ferviz.attribution import explain
    from ferviz.cli import parse_cell
    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import evaluate
    from ferviz.labels import EMOTIONS
    from ferviz.models import load_card, load_model

    card = load_card(args.model)
    split = load_fer2013(args.data, args.split)
    model = load_model(card)
    ev = evaluate(card, split, model=model)
    if args.cell:
        t, pr = parse_cell(args.cell)
    else:
        cm = ev.confusion()
        np.fill_diagonal(cm, 0)
        t, pr = (int(v) for v in np.unravel_index(np.argmax(cm), cm.shape))
    pos = np.flatnonzero((split.labels == t) & (ev.preds == pr))[:args.faces]
    targets = np.full(len(pos), pr)
    explain(model, card, split.images[pos[:2]], targets[:2], args.method)  # tracing, outside the timing

    def maps():
        return explain(model, card, split.images[pos], targets, args.method)

    m = maps()
    result = {"benchmark": "regions", "model": card.key, "cell": f"{EMOTIONS[t]}:{EMOTIONS[pr]}", "faces": len(pos),
              "method": args.method, "tta": card.tta}
    result["maps_s"] = median_time(maps, args.repeats)
    t0 = time.perf_counter()
    lm = L.detect_landmarks(split.images)  # includes building ONet
    result["landmarks_split_cold_s"] = time.perf_counter() - t0
    L.cached_landmarks(split.images, split.data_hash)
    result["landmarks_split_cached_s"] = median_time(lambda: L.cached_landmarks(split.images, split.data_hash),
                                                     args.repeats)
    # the cell alone, with the maps already computed: what regions costs beyond the maps
    only_cell = {"max_faces": None}
    sub_true, sub_pred = split.labels[pos], ev.preds[pos]

    def regions():
        return R.cell_report(sub_true, sub_pred, lm.points[pos], lm.detected[pos], t, pr,
                             lambda q, _: m[q], **only_cell)

    result["regions_s"] = median_time(regions, args.repeats)
    result["ratio_regions_over_maps"] = result["regions_s"] / result["maps_s"]
    result["ratio_landmarks_cold_over_maps"] = result["landmarks_split_cold_s"] / result["maps_s"]
    result["detection_rate"] = lm.detection_rate
    emit(result)


if __name__ == "__main__":
    main()
