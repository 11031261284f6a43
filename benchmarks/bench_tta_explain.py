"""The cost of explaining what is shown: each method's time per face over the card's test-time
views (10 for mirror+shift) against a single view, on the same PrivateTest faces in one run.

Prints JSON: per method, seconds per face with TTA and single, and their ratio (the views are
batched together, so the ratio is at most the number of views and usually below it).
"""
from __future__ import annotations

import numpy as np
from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--faces", type=int, default=16, help="PrivateTest faces per timing")
    args = p.parse_args()
    fresh_cache()
    from ferviz.attribution import METHODS, explain
    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import predict_probs
    from ferviz.models import load_card, load_model
    from ferviz.models.tta import views

    card = load_card(args.model)
    split = load_fer2013(args.data, "PrivateTest")
    model = load_model(card)
    faces = split.images[:args.faces]
    targets = predict_probs(model, card, faces).argmax(axis=1)
    out: dict = {"benchmark": "tta_explain", "model": card.key, "tta": card.tta, "faces": len(faces),
                 "views": len(views(card.tta, 48, 48)), "methods": {}}
    for method in METHODS:
        for v in ("single", "tta"):  # trace once
            explain(model, card, faces[:2], targets[:2], method, views=v)
        single = median_time(lambda: explain(model, card, faces, targets, method, views="single"), args.repeats)
        tta = median_time(lambda: explain(model, card, faces, targets, method, views="tta"), args.repeats)
        out["methods"][method] = {"single_s_per_face": single / len(faces), "tta_s_per_face": tta / len(faces),
                                  "ratio": tta / single}
    out["mean_ratio"] = float(np.mean([m["ratio"] for m in out["methods"].values()]))
    emit(out)


if __name__ == "__main__":
    main()
