"""``python -m ferviz slices``: why a model fails, found automatically. Writes ``attributes.csv``
(every face's attributes), ``slices.csv`` (ranked failure slices with 95% intervals and corrected
p-values), ``slice_members.csv``, ``tree.csv`` and ``tree_members.csv`` (the error tree),
``clusters.csv`` and ``cluster_members.csv`` (error clusters), and the figures ``slices.<format>``
and ``tree.<format>``; it prints the five worst slices as sentences."""
from __future__ import annotations

import json
from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_model_data(p)
    p.add_argument("--min-size", type=A.positive_int, default=30,
                   help="smallest slice (and rest) tested, in faces (default 30)")
    p.add_argument("--depth", type=A.int_range(1, 6), default=3, help="depth of the error tree (default 3)")
    p.add_argument("--clusters", type=A.non_negative_int, default=None, metavar="K",
                   help="number of error clusters (default: the silhouette-best of 3-8; 0: no clusters, "
                        "which skips the model's features)")
    A.add_seed(p, 0, "random seed of the tree and the clustering")
    A.add_formats(p, "figure")
    A.add_dpi(p)
    p.add_argument("--no-cache", action="store_true", help="recompute attributes, predictions and features")
    A.add_out(p, "folder for the CSV tables and figures")


def run(a) -> int:
    from ..analysis.failures import analyse_failures
    from ..export.render import figure_bytes
    from ..export.slices import slices_figure, tree_figure
    from ..models import find_card
    from .common import load_splits, progress

    card = find_card(a.model)
    splits = load_splits(a)
    split = splits[splits.resolve(a.split)]
    with progress(f"slices {card.key}") as update:
        fa = analyse_failures(card, split, splits=splits, clusters=a.clusters != 0, k=a.clusters or None,
                              min_size=a.min_size, max_depth=a.depth, seed=a.seed, use_cache=not a.no_cache,
                              progress=update)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def csv(df, name):
        df.to_csv(out / name, index=False, float_format="%.6g")
        written.append(out / name)

    csv(fa.attributes, "attributes.csv")
    csv(fa.slices.table, "slices.csv")
    csv(fa.slices.members_frame(), "slice_members.csv")
    csv(fa.tree.nodes, "tree.csv")
    import numpy as np
    import pandas as pd

    m = fa.tree.members
    rows, cols = np.nonzero(m.T)
    csv(pd.DataFrame({"node": rows, "id": fa.tree.ids[cols]}), "tree_members.csv")
    if fa.clusters is not None:
        csv(fa.clusters.table, "clusters.csv")
        err = fa.clusters.labels >= 0
        csv(pd.DataFrame({"cluster": fa.clusters.labels[err], "id": fa.clusters.ids[err]})
            .sort_values(["cluster"], kind="stable"), "cluster_members.csv")
    title = dict(model_name=card.name, split=split.title, dpi=a.dpi)
    figs = {}
    if len(fa.slices.table):
        figs["slices"] = slices_figure(fa.slices.table, fa.slices.overall, **title)
    figs["tree"] = tree_figure(fa.tree.nodes, **title)
    for stem, fig in figs.items():
        for fmt in dict.fromkeys(a.formats):
            (out / f"{stem}.{fmt}").write_bytes(figure_bytes(fig, fmt))
            written.append(out / f"{stem}.{fmt}")
    worst = fa.slices.worst(5, significant=False)
    n_sig = int(((fa.slices.table["p_adjusted"] < 0.05) & (fa.slices.table["difference"] < 0)).sum())
    print(f"{card.name} on {split.title}: {len(split):,} faces, accuracy {fa.slices.overall:.4f}; "
          f"{fa.slices.tested:,} slices tested, {n_sig} significantly worse than the rest; the five worst "
          "different groups:")
    for s in worst["sentence"]:
        print("  " + s)
    for note in fa.notes:
        print("note: " + note)
    print("wrote " + ", ".join(map(str, written)))
    print(json.dumps({"faces": len(split), "accuracy": round(fa.slices.overall, 6), "tested": fa.slices.tested,
                      "significant": int(((fa.slices.table["p_adjusted"] < 0.05)
                                          & (fa.slices.table["difference"] < 0)).sum())}))
    return 0
