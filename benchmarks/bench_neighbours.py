"""Nearest Training faces: the index over Training cold against cached, and one neighbour query
against an idle rerun of the inspector, in one run.

cold: ``training_index`` on an empty cache (the penultimate features of every Training face in
the card's views; the same pass caches Training's predictions), once: it takes minutes on a CPU.
cached: the same call answered from disk with no model (features read, rows scaled to unit
length), median of repeats. query: one PrivateTest face not seen before: its features in the
card's views, the exact search over Training and the table with labels and predictions (what
the inspector computes for a new face), median over different faces. idle rerun: AppTest's
rerun of the inspector showing the section, nothing changed (everything cached), median.

Prints JSON with seconds and the ratios cached/cold and query/idle rerun.
"""
from __future__ import annotations

import os
import shutil
import statistics
import time

from _common import ROOT, emit, fresh_cache, median_time, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--views", default="tta", choices=["tta", "single"])
    p.add_argument("--k", type=int, default=8)
    args = p.parse_args()
    cache_root = fresh_cache()
    from ferviz.analysis import neighbours as nb
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_all
    from ferviz.models import load_card, load_model

    card = load_card(args.model)
    splits = load_all(args.data)
    training, test = splits["Training"], splits["PrivateTest"]
    model = load_model(card)
    nb.query_features(model, card, test.images[:4], args.views)  # tracing, kept out of the timings
    result = {"benchmark": "neighbours", "model": card.key, "tta": card.tta, "views": args.views,
              "training_faces": len(training), "k": args.k}

    t = time.perf_counter()
    index = nb.training_index(model, card, training, views=args.views)
    index.unit  # noqa: B018  (scaled rows: part of building the index)
    result["index_cold_s"] = time.perf_counter() - t
    result["features_dim"] = int(index.features.shape[1])

    def cached():
        assert nb.training_index(None, card, training, views=args.views).unit.shape == index.unit.shape
    result["index_cached_s"] = median_time(cached, max(5, args.repeats))
    preds = evaluate(card, training).preds  # cached by the cold pass (tta) or computed here (single)

    faces = iter(range(100, 100 + 10 * max(5, args.repeats)))
    times = []
    for _ in range(max(5, args.repeats)):
        i = next(faces)
        t = time.perf_counter()
        df = nb.neighbours(index, nb.query_features(model, card, test.images[i], args.views), [test.ids[i]], k=args.k,
                           preds=preds)
        nb.neighbourhood_sentence(df)
        times.append(time.perf_counter() - t)
    result["query_s"] = statistics.median(times)
    result["index_cached_vs_cold"] = result["index_cached_s"] / result["index_cold_s"]
    if args.views == "tta":  # the app's views: its index is the one just built
        result.update(_idle_rerun(card, args))
        result["query_vs_idle_rerun"] = result["query_s"] / result["idle_rerun_s"]
    result.update({
        "note": "cold = Training's penultimate features on an empty cache (once); cached = from disk, no model "
                "(median); query = a new face's features + exact search + table (median); idle rerun = the "
                "inspector with the section shown, nothing changed (AppTest, median)",
    })
    emit(result)
    shutil.rmtree(cache_root, ignore_errors=True)


def _idle_rerun(card, args) -> dict:
    """Median time of an idle AppTest rerun of the inspector with the neighbours shown (index cached)."""
    if args.data:
        os.environ["FERVIZ_DATA"] = args.data
    os.environ["FERVIZ_MODELS"] = str(os.path.dirname(os.path.abspath(args.model)))
    from streamlit.testing.v1 import AppTest
    from streamlit.util import calc_hash

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.session_state["sel_model"] = card.key
    at.session_state["insp_methods"] = ["gradcam"]  # the attribution maps are not what is measured
    at.session_state["insp_nb_k"] = args.k
    at.run()
    at._page_hash = calc_hash("inspector")
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    shown = [b for b in at.button if b.key and "_nb_inspect_" in b.key]
    assert len(shown) == args.k, "the section shows no neighbours"
    times = []
    for _ in range(max(5, args.repeats)):
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
    return {"inspector_first_visit_s": first, "idle_rerun_s": statistics.median(times)}


if __name__ == "__main__":
    main()
