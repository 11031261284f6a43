"""Cold evaluation on PrivateTest vs a bare model.predict on the same preloaded array; warm vs cold."""
from __future__ import annotations

import shutil

from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    args = parser(__doc__).parse_args()
    cache_root = fresh_cache()
    from ferviz.data import load_fer2013
    from ferviz.evaluation import evaluate, prediction_cache_path
    from ferviz.models import load_card, load_model, preprocess

    card = load_card(args.model)
    split = load_fer2013(args.data, "PrivateTest")
    model = load_model(card)
    x = preprocess(split.images, card.input)
    model.predict(x[:512], batch_size=512, verbose=0)  # warm up both paths once
    evaluate(card, split.subset(range(512)), model=model, use_cache=False)

    bare = median_time(lambda: model.predict(x, batch_size=512, verbose=0), args.repeats)
    path = prediction_cache_path(card, split)
    cold = median_time(lambda: evaluate(card, split, model=model),
                       args.repeats, setup=lambda: path.unlink(missing_ok=True))
    warm = median_time(lambda: evaluate(card, split, model=model), args.repeats)
    emit({
        "benchmark": "evaluate", "model": card.key, "images": len(split), "tta": card.tta,
        "bare_predict_s": bare, "cold_evaluate_s": cold, "warm_evaluate_s": warm,
        "cold_vs_bare_predict": cold / bare, "target_cold_vs_bare": 1.2,
        "warm_vs_cold": warm / cold, "target_warm_vs_cold": 0.05,
        "note": "bare = model.predict(batch 512) on the preprocessed array; cold = ferviz.evaluate "
                "with an empty prediction cache (preprocess + predict + atomic cache write); "
                "a mirror-TTA card does two passes, so its bare baseline is one pass",
    })
    shutil.rmtree(cache_root, ignore_errors=True)


if __name__ == "__main__":
    main()
