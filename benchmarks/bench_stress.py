"""The stress test: the split under every perturbation (66 perturbed copies) against one
evaluation of the split, cold, in one run; and the same stress test again from the cache.

evaluate: the model's predictions on the split (its test-time views), empty prediction cache.
stress: ``stress_test`` over every perturbation and severity with empty caches (perturbing the
faces, then one evaluation per copy; the landmarks for the occlusions found beforehand).
cached: the same call answered from disk (no faces perturbed, no model).

The ratio stress/evaluate should stay close to the number of perturbed copies (66). `--faces N`
takes the first N faces of the split, to keep a run short on a small CPU.

Prints JSON with seconds and the ratios.
"""
from __future__ import annotations

import time

from _common import emit, fresh_cache, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--faces", type=int, default=600)
    args = p.parse_args()
    fresh_cache()
    from ferviz.analysis import stress as core
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.landmarks import cached_landmarks
    from ferviz.data.splits import load_fer2013
    from ferviz.models import load_card, load_model

    card = load_card(args.model)
    split = load_fer2013(args.data, args.split)
    split = split.subset(range(min(args.faces, len(split))))
    model = load_model(card)
    evaluate(card, split.subset(range(32)), model=model, use_cache=False)  # tracing kept out
    points = cached_landmarks(split.images, split.data_hash).points
    result = {"benchmark": "stress", "model": card.key, "split": split.split, "images": len(split),
              "copies": len(core.plan())}
    t = time.perf_counter()
    evaluate(card, split, model=model, use_cache=False)
    result["evaluate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    core.stress_test(card, split, model=model, points=points)
    result["stress_cold_s"] = time.perf_counter() - t
    t = time.perf_counter()
    core.stress_test(card, split)
    result["stress_cached_s"] = time.perf_counter() - t
    result["ratio_stress_over_evaluate"] = result["stress_cold_s"] / result["evaluate_s"]
    result["ratio_cached_over_cold"] = result["stress_cached_s"] / result["stress_cold_s"]
    emit(result)


if __name__ == "__main__":
    main()
