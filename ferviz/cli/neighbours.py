"""``python -m ferviz neighbours``: the k nearest Training faces of chosen faces in the model's
penultimate space (cosine distance), as ``neighbours.csv``:
``id,rank,neighbour_id,neighbour_label,distance,neighbour_pred`` (the model's shown prediction on
the Training face), one row per face and rank, and one sentence per face on its neighbourhood.

The index over Training is the Training split's penultimate features, cached per model identity,
data and views (the first run computes them: minutes for 28,709 faces in 10 test-time views on a
CPU). A Training face does not find itself; its copies under other ids are found at distance 0.
"""
from __future__ import annotations

from pathlib import Path

from . import args as A

MAX_K = 100  # literal copy of ferviz.analysis.neighbours.MAX_K (no pandas import to parse)


def add_arguments(p) -> None:
    A.add_model_data(p)
    p.add_argument("--ids", nargs="+", required=True, metavar="ID", help="ids of faces of the split")
    p.add_argument("--k", type=A.int_range(1, MAX_K), default=8, help=f"neighbours per face, 1-{MAX_K} (default 8)")
    A.add_views(p, "tta: features averaged over the card's test-time views, as the shown prediction (default); "
                   "single: the face alone (index and queries alike)")
    A.add_out(p, "folder for neighbours.csv")


def run(a) -> int:
    import time

    from ..analysis.evaluation import evaluate
    from ..analysis.neighbours import neighbourhood_sentence, positions, split_neighbours, training_index
    from ..labels import NAMES
    from ..models import find_card, load_model
    from .common import load_splits, progress

    card = find_card(a.model)
    splits = load_splits(a)
    split = splits[splits.resolve(a.split)]
    training = splits[splits.resolve("Training")]
    ids = list(dict.fromkeys(a.ids))
    positions(split, ids)  # unknown ids stop here, before any model work
    model = load_model(card)
    t = time.perf_counter()
    with progress(f"index {training.title} for {card.key}") as update:
        index = training_index(model, card, training, views=a.views, progress=update)
    built = time.perf_counter() - t
    preds = evaluate(card, training, model=model).preds
    t = time.perf_counter()
    df = split_neighbours(model, card, index, split, ids, k=a.k, preds=preds)
    queried = time.perf_counter() - t
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "neighbours.csv", index=False, float_format="%.6g")
    labels = dict(zip(split.ids.astype(str), split.labels))
    for image_id, rows in df.groupby("id", sort=False):
        print(f"{image_id} ({NAMES[labels[image_id]]}): {neighbourhood_sentence(rows, NAMES[labels[image_id]])}")
    print(f"{card.name}: {a.k} nearest of {len(index):,} {training.title} faces for {len(ids)} {split.title} "
          f"face(s), views: {a.views}; index in {built:.1f} s, queries in {queried:.2f} s -> {out / 'neighbours.csv'}")
    return 0
