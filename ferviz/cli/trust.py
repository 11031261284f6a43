"""``python -m ferviz trust``: which attribution method to trust. Faithfulness (deletion, insertion and
ROAD against a random order and a blurred random map, with bootstrap intervals), the
model-randomisation checks (the cascade, eMPRT, sMPRT), robustness to small perturbations, the share
of blank maps and the cost per face, as ``trust.csv``, ``cascade.csv`` (one correlation per method and
stage) and figures."""
from __future__ import annotations

from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_face_sample(p, 64)
    p.add_argument("--methods", type=A.method_list, default=list(A.METHODS),
                   help=f"comma list of attribution methods (default {','.join(A.METHODS)})")
    A.add_formats(p, "figure")
    p.add_argument("--no-cache", action="store_true", help="recompute even if this table is cached")
    A.add_out(p, "folder for trust.csv, cascade.csv and the figures")


def run(a) -> int:
    from ..attribution.trust import cached_trust_tables
    from ..export.render import figure_bytes
    from ..export.trust import cascade_figure, trust_figure
    from .common import card_split_model, progress

    card, split, model = card_split_model(a)
    with progress(f"trust {card.key}") as update:
        df, steps_df = cached_trust_tables(model, card, split, a.methods, n=a.n, seed=a.seed, views=a.views,
                                           steps=a.steps, use_cache=not a.no_cache, progress=update)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "trust.csv", out / "cascade.csv"]
    df.to_csv(written[0], index=False, float_format="%.4f")
    steps_df.to_csv(written[1], index=False, float_format="%.4f")
    figs = {"trust": trust_figure(df, model_name=card.name, split=split.split),
            "cascade": cascade_figure(steps_df, model_name=card.name, split=split.split)}
    for name, fig in figs.items():
        for fmt in dict.fromkeys(a.formats):
            written.append(out / f"{name}.{fmt}")
            written[-1].write_bytes(figure_bytes(fig, fmt))
    cols = [c for c in ("method", "deletion_auc", "blur_deletion_auc", "insertion_auc", "road", "blur_road",
                        "mprt_spearman", "mprt_spearman_abs", "emprt", "smprt_spearman", "robust_spearman",
                        "max_sensitivity", "blank_share", "seconds_per_face") if c in df.columns]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("wrote " + " and ".join(map(str, written)))
    return 0
