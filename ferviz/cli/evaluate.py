"""``python -m ferviz evaluate``: accuracy, per-class metrics and the most confused pairs of a model
on a split; with --out, ``metrics.json`` (with ECE and the accuracy without leaked duplicates) and
``predictions.csv``; with --update-card, PublicTest and PrivateTest re-measured into the card."""
from __future__ import annotations

import json
from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_model_data(p)
    A.add_out(p, "folder for metrics.json and predictions.csv", required=False)
    p.add_argument("--no-cache", action="store_true", help="recompute predictions")
    p.add_argument("--update-card", action="store_true",
                   help="re-measure PublicTest and PrivateTest and write them into the model card "
                        "(e.g. after setting its tta)")


def run(a) -> int:
    from ..data.splits import load_fer2013
    from ..models import find_card
    from .common import evaluated

    card = find_card(a.model)
    if a.update_card:
        from dataclasses import replace

        from ..analysis.evaluation import card_metrics
        from ..data.splits import load_all

        metrics = {**card.metrics, **card_metrics(card, load_all(a.data))}
        replace(card, metrics=metrics).save(card.path)
        print(f"{card.name}: PublicTest {metrics['PublicTest']['accuracy']:.4f}, PrivateTest "
              f"{metrics['PrivateTest']['accuracy']:.4f} written to {card.path}")
        return 0
    split = load_fer2013(a.data, a.split)
    ev = evaluated(card, split, use_cache=not a.no_cache)
    s = ev.summary()
    from ..analysis.calibration import ece

    s["ece"] = ece(ev.probs, ev.labels)  # top label, 15 bins (ferviz.analysis.calibration)
    print(f"{card.name} on {split.title} ({ev.n} images): accuracy {ev.accuracy:.4f}, macro-F1 {ev.macro_f1:.4f}, "
          f"ECE {s['ece']:.4f}")
    pc = ev.per_class()
    print(pc.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    pairs = ev.confused_pairs(5)
    print("most confused: " + "; ".join(f"{r.true}->{r.pred} {r['count']} ({r.share:.0%})"
                                        for _, r in pairs.iterrows()))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        s["model_card"] = str(card.path)
        s["model_sha256"] = card.model_hash()
        if split.split != "Training":  # accuracy without the test images copied from Training
            from ..data.duplicates import (
                describe_leakage,
                find_duplicates,
                leakage_metrics,
            )
            from ..data.splits import load_all

            s.update(leakage_metrics(ev, find_duplicates(load_all(a.data))))
            print(describe_leakage(s))
        (out / "metrics.json").write_text(json.dumps(s, indent=2))
        ev.predictions_frame().to_csv(out / "predictions.csv", index=False, float_format="%.6f")
        print(f"wrote {out / 'metrics.json'} and {out / 'predictions.csv'}")
    return 0
