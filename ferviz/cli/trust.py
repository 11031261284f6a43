"""``python -m ferviz trust``: which attribution method to trust. Faithfulness (deletion and
insertion AUC against random maps, with bootstrap intervals), the model-randomisation sanity
check, the share of blank maps and the cost per face, as ``trust.csv`` and a figure."""
from __future__ import annotations

from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_face_sample(p, 64)
    p.add_argument("--methods", type=A.method_list, default=list(A.METHODS),
                   help=f"comma list of attribution methods (default {','.join(A.METHODS)})")
    A.add_formats(p, "figure")
    p.add_argument("--no-cache", action="store_true", help="recompute even if this table is cached")
    A.add_out(p, "folder for trust.csv and the figure")


def run(a) -> int:
    from ..attribution.trust import cached_trust_table
    from ..export.render import figure_bytes
    from ..export.trust import trust_figure
    from .common import card_split_model, progress

    card, split, model = card_split_model(a)
    with progress(f"trust {card.key}") as update:
        df = cached_trust_table(model, card, split, a.methods, n=a.n, seed=a.seed, views=a.views, steps=a.steps,
                                use_cache=not a.no_cache, progress=update)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "trust.csv"]
    df.to_csv(written[0], index=False, float_format="%.4f")
    fig = trust_figure(df, model_name=card.name, split=split.split)
    for fmt in dict.fromkeys(a.formats):
        written.append(out / f"trust.{fmt}")
        written[-1].write_bytes(figure_bytes(fig, fmt))
    cols = ["method", "deletion_auc", "random_deletion_auc", "insertion_auc", "random_insertion_auc",
            "mprt_spearman", "blank_share", "seconds_per_face"]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("wrote " + " and ".join(map(str, written)))
    return 0
