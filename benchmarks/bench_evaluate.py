"""Cold evaluation on PrivateTest vs a bare model.predict on the same preloaded array; warm vs cold."""
from __future__ import annotations

import shutil
from dataclasses import replace

from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    args = parser(__doc__).parse_args()
    cache_root = fresh_cache()
    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import evaluate, prediction_cache_path, tta_views
    from ferviz.models import load_card, load_model, preprocess

    shipped = load_card(args.model)
    split = load_fer2013(args.data, "PrivateTest")
    model = load_model(shipped)
    x = preprocess(split.images, shipped.input)
    result = {"benchmark": "evaluate", "model": shipped.key, "images": len(split)}
    # like with like: a TTA card predicts each view, so its bare baseline does too
    for card in (replace(shipped, tta=t) for t in (None, "mirror", "mirror+shift")):
        passes = [v.copy() for v in tta_views(x, card.tta)]
        model.predict(x[:512], batch_size=512, verbose=0)  # warm up both paths once
        evaluate(card, split.subset(range(512)), model=model, use_cache=False)
        bare = median_time(lambda: [model.predict(p, batch_size=512, verbose=0) for p in passes], args.repeats)
        path = prediction_cache_path(card, split)
        cold = median_time(lambda: evaluate(card, split, model=model),
                           args.repeats, setup=lambda: path.unlink(missing_ok=True))
        warm = median_time(lambda: evaluate(card, split, model=model), args.repeats)
        tag = card.tta or "no_tta"
        result.update({f"{tag}_bare_predict_s": bare, f"{tag}_cold_evaluate_s": cold,
                       f"{tag}_warm_evaluate_s": warm, f"{tag}_cold_vs_bare_predict": cold / bare,
                       f"{tag}_warm_vs_cold": warm / cold})
    result.update({
        "target_cold_vs_bare": 1.2, "target_warm_vs_cold": 0.05,
        "note": "bare = model.predict(batch 512) on the preprocessed array (and on each TTA view); "
                "cold = ferviz.evaluate with an empty prediction cache (preprocess + predict + atomic "
                "cache write); warm = the same call answered from the disk cache",
    })
    emit(result)
    shutil.rmtree(cache_root, ignore_errors=True)


if __name__ == "__main__":
    main()
