"""The embedding map of a split, cold against cached, in one run.

cold: ``cached_embedding`` with empty feature and embedding caches (the split's predictions are
already cached, as in the dashboard after its overview): penultimate features over the card's
test-time views + UMAP. Its phases are timed from the progress callback. cached: the same call
answered from disk with no model given (no model load, no TensorFlow work). Also, once each:
a cold run with nothing cached at all (one pass gives features and predictions) beside a bare
``evaluate`` with an empty prediction cache, PCA of the cached features, and the one-time costs
(tracing the feature function on a few faces, importing umap and compiling its numba code).

Prints JSON with seconds and the ratios cached/cold and (nothing cached)/(evaluate alone).
"""
from __future__ import annotations

import shutil
import time

from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--method", default="umap", choices=["umap", "pca"])
    args = p.parse_args()
    cache_root = fresh_cache()
    from ferviz.analysis import embedding as emb
    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import evaluate, prediction_cache_path
    from ferviz.models import load_card, load_model

    card = load_card(args.model)
    split = load_fer2013(args.data, args.split)
    model = load_model(card)
    result = {"benchmark": "embedding", "model": card.key, "split": split.split, "images": len(split),
              "tta": card.tta, "method": args.method}

    # one-time costs, kept out of the cold timing: tracing, the umap import and numba JIT
    t = time.perf_counter()
    emb.penultimate_features(model, card, split.images[:64], with_probs=True)
    result["trace_features_s"] = time.perf_counter() - t
    if args.method == "umap":
        t = time.perf_counter()
        emb.embed(emb.penultimate_features(model, card, split.images[:64], views="single"), "umap")
        result["umap_import_and_jit_s"] = time.perf_counter() - t

    # a cold start from nothing: one pass for features and predictions, against evaluate alone
    t = time.perf_counter()
    evaluate(card, split, model=model, use_cache=False)
    result["evaluate_cold_s"] = time.perf_counter() - t
    prediction_cache_path(card, split).unlink()
    t = time.perf_counter()
    emb.cached_embedding(model, card, split, args.method, 0)
    result["cold_nothing_cached_s"] = time.perf_counter() - t
    assert prediction_cache_path(card, split).is_file()  # predictions now cached, as for the rest

    def clear():
        emb.features_cache_path(card, split).unlink(missing_ok=True)
        emb.embedding_cache_path(card, split, args.method, 0).unlink(missing_ok=True)

    phases: dict[str, list[float]] = {}

    def cold():
        marks = {"start": time.perf_counter()}

        def progress(frac: float, text: str) -> None:
            if text.startswith(args.method.upper()) and "features" not in marks:
                marks["features"] = time.perf_counter()
        df = emb.cached_embedding(model, card, split, args.method, 0, progress=progress)
        end = time.perf_counter()
        assert not df.attrs["from_cache"]
        phases.setdefault("features_s", []).append(marks["features"] - marks["start"])
        phases.setdefault(f"{args.method}_s", []).append(end - marks["features"])

    cold_s = median_time(cold, args.repeats, setup=clear)
    cached_s = median_time(lambda: emb.cached_embedding(None, card, split, args.method, 0), max(5, args.repeats))
    feats = emb.cached_features(None, card, split)
    t = time.perf_counter()
    emb.embed(feats, "pca", 0)
    pca_s = time.perf_counter() - t
    result.update({
        "features_dim": int(feats.shape[1]),
        "cold_s": cold_s,
        **{k: sorted(v)[len(v) // 2] for k, v in phases.items()},
        "cached_s": cached_s,
        "pca_of_cached_features_s": pca_s,
        "cached_vs_cold": cached_s / cold_s,
        "cold_nothing_cached_vs_evaluate_cold": result["cold_nothing_cached_s"] / result["evaluate_cold_s"],
        "note": "cold = features over the card's test-time views + projection, predictions already "
                "cached; cached = the same call from the disk cache with no model (median of repeats); "
                "cold_nothing_cached also computes and caches the predictions in the same pass",
    })
    emit(result)
    shutil.rmtree(cache_root, ignore_errors=True)


if __name__ == "__main__":
    main()
