"""``python -m ferviz trust`` (which attribution method to trust: faithfulness with intervals, the
model-randomisation sanity check, blank maps, cost) and ``python -m ferviz layers`` (Grad-CAM's
faithfulness at each candidate layer)."""
from __future__ import annotations

from pathlib import Path

from .cli import command, model_data_args, progress_bar


def _positive(text: str) -> int:
    import argparse

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _common(p, n: int) -> None:
    model_data_args(p)
    p.add_argument("--n", type=_positive, default=n, help=f"random faces of the split (default {n})")
    p.add_argument("--seed", type=int, default=0, help="which faces, bootstrap and randomised weights")
    p.add_argument("--views", choices=["tta", "single"], default="tta",
                   help="tta: the card's test-time views, as the shown prediction (default); single: one pass")
    p.add_argument("--steps", type=_positive, default=16, help="deletion/insertion steps (default 16)")


def _trust_args(p):
    from .attribution import METHODS

    _common(p, 64)
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma list (default {','.join(METHODS)})")
    p.add_argument("--format", default="png", choices=["png", "svg", "pdf"], help="figure format")
    p.add_argument("--no-cache", action="store_true", help="recompute even if this table is cached")
    p.add_argument("--out", required=True, help="folder for trust.csv and the figure")


def _setup(a):
    from .data import load_fer2013
    from .models import find_card, load_model

    card = find_card(a.model)
    return card, load_fer2013(a.data, a.split), load_model(card)


@command("trust", "which attribution method to trust: faithfulness, sanity check, blank maps, cost")(_trust_args)
def _trust(a) -> int:
    from .attribution import check_method
    from .attribution.trust import cached_trust_table
    from .export.render import figure_bytes
    from .export.trust import trust_figure

    methods = [check_method(m.strip()) for m in a.methods.split(",") if m.strip()]
    if not methods:
        raise ValueError("--methods names no method")
    card, split, model = _setup(a)
    bar, update = progress_bar(desc=f"trust {card.key}")
    try:
        df = cached_trust_table(model, card, split, methods, n=a.n, seed=a.seed, views=a.views, steps=a.steps,
                                use_cache=not a.no_cache, progress=update)
    finally:
        bar.close()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "trust.csv", index=False, float_format="%.4f")
    fig = trust_figure(df, model_name=card.name, split=split.split)
    (out / f"trust.{a.format}").write_bytes(figure_bytes(fig, a.format))
    cols = ["method", "deletion_auc", "random_deletion_auc", "insertion_auc", "random_insertion_auc",
            "mprt_spearman", "blank_share", "seconds_per_face"]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out / 'trust.csv'} and {out / ('trust.' + a.format)}")
    return 0


def _layers_args(p):
    _common(p, 32)
    p.add_argument("--method", default="gradcam", choices=["gradcam", "gradcampp"])
    p.add_argument("--limit", type=_positive, default=10, help="the last LIMIT spatial layers (default 10)")
    p.add_argument("--out", help="folder for layers.csv")


@command("layers", "Grad-CAM's deletion/insertion AUC at each candidate layer, to choose gradcam_layer")(_layers_args)
def _layers(a) -> int:
    from .attribution.trust import candidate_layers, layer_table, sample_positions
    from .evaluation import evaluate

    card, split, model = _setup(a)
    pos = sample_positions(len(split), a.n, a.seed)
    targets = evaluate(card, split, model=model).probs[pos].argmax(axis=1)
    bar, update = progress_bar(desc=f"layers {card.key}")
    try:
        df = layer_table(model, card, split.images[pos], targets, candidate_layers(model, a.limit),
                         method=a.method, views=a.views, seed=a.seed, steps=a.steps, progress=update)
    finally:
        bar.close()
    cols = ["layer", "kind", "default", "deletion_auc", "random_deletion_auc", "insertion_auc",
            "random_insertion_auc", "blank_share"]
    print(f"{card.name}: {a.method} on {len(pos)} {split.split} faces (views: {a.views})")
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "layers.csv", index=False, float_format="%.4f")
        print(f"wrote {out / 'layers.csv'}")
    return 0
