"""Failure slices: the face attributes of all 35,887 faces cold against cached, and the slice
search (one- and two-attribute slices, error tree) against one evaluation of the split, in one run.

attributes cold: ``image_attributes`` of every split with empty caches (ONet landmarks on every
face, pixel statistics). attributes cached: the same calls answered from disk. evaluate: a
model's predictions on the split with an empty prediction cache (the card's test-time views).
search: ``find_slices`` + ``error_tree`` on the cached attributes and predictions.

Prints JSON with seconds and the ratios cached/cold and search/evaluate.
"""
from __future__ import annotations

import time

from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="PrivateTest")
    args = p.parse_args()
    fresh_cache()
    from ferviz.analysis.attributes import face_attributes, image_attributes
    from ferviz.analysis.error_tree import error_tree
    from ferviz.analysis.evaluation import evaluate
    from ferviz.analysis.failures import data_facts
    from ferviz.analysis.slices import find_slices
    from ferviz.data.landmarks import detect_landmarks
    from ferviz.data.splits import load_all
    from ferviz.models import load_card, load_model

    splits = load_all(args.data)
    card = load_card(args.model)
    split = splits[args.split]
    detect_landmarks(split.images[:64])  # one-time cost kept out: building ONet and tracing it
    result = {"benchmark": "slices", "model": card.key, "split": split.split, "images": len(split),
              "all_images": sum(len(s) for s in splits.values())}

    t = time.perf_counter()
    for s in splits.values():
        image_attributes(s.images, s.data_hash)
    result["attributes_all_cold_s"] = time.perf_counter() - t
    result["attributes_all_cached_s"] = median_time(
        lambda: [image_attributes(s.images, s.data_hash) for s in splits.values()], args.repeats)
    result["ratio_attributes_cached_over_cold"] = result["attributes_all_cached_s"] / result["attributes_all_cold_s"]

    model = load_model(card)
    evaluate(card, split.subset(range(64)), model=model, use_cache=False)  # tracing kept out
    t = time.perf_counter()
    ev = evaluate(card, split, model=model, use_cache=False)
    result["evaluate_s"] = time.perf_counter() - t
    facts, _ = data_facts(split, splits, ev)  # duplicates: a one-time cost of its own, kept out
    attrs = face_attributes(split, base=image_attributes(split.images, split.data_hash), **facts)
    correct = ev.preds == ev.labels

    def search():
        s = find_slices(attrs, correct)
        error_tree(attrs, correct)
        result["slices_tested"] = s.tested
    result["search_s"] = median_time(search, args.repeats)
    result["ratio_search_over_evaluate"] = result["search_s"] / result["evaluate_s"]
    emit(result)


if __name__ == "__main__":
    main()
