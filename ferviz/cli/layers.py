"""``python -m ferviz layers``: Grad-CAM's (or Grad-CAM++'s) deletion/insertion AUC at each of the
last spatial layers, to choose a card's ``gradcam_layer``; ``layers.csv`` with --out."""
from __future__ import annotations

from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_face_sample(p, 32)
    A.add_method(p, choices=("gradcam", "gradcampp"))
    p.add_argument("--last", type=A.positive_int, default=10, dest="last",
                   help="try the last N spatial layers (default 10; formerly --limit, still accepted but "
                        "deprecated)")
    A.deprecated_alias(p, "--limit", "--last", dest="last", type=A.positive_int)
    A.add_out(p, "folder for layers.csv", required=False)


def run(a) -> int:
    from ..analysis.evaluation import evaluate
    from ..attribution.trust import candidate_layers, layer_table, sample_positions
    from .common import card_split_model, progress

    card, split, model = card_split_model(a)
    pos = sample_positions(len(split), a.n, a.seed)
    targets = evaluate(card, split, model=model).probs[pos].argmax(axis=1)
    with progress(f"layers {card.key}") as update:
        df = layer_table(model, card, split.images[pos], targets, candidate_layers(model, a.last),
                         method=a.method, views=a.views, seed=a.seed, steps=a.steps, progress=update)
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
