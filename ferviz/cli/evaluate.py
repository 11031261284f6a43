"""``python -m ferviz evaluate``: accuracy, per-class metrics, the confusion matrix (rows the
dataset's classes, columns the model's) and the most confused pairs of a model on a split; faces
whose true class the model cannot output are counted apart and said so. With --json the metrics
as JSON on stdout; with --out, ``metrics.json`` (with ECE and the accuracy without leaked
duplicates) and ``predictions.csv``; with --update-card, PublicTest and PrivateTest re-measured
into the card."""
from __future__ import annotations

import json
from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_model_data(p)
    A.add_out(p, "folder for metrics.json and predictions.csv", required=False)
    p.add_argument("--json", action="store_true",
                   help="print the metrics as JSON (metrics.json's, without the Training-copy numbers) instead "
                        "of text")
    p.add_argument("--no-cache", action="store_true", help="recompute predictions")
    p.add_argument("--update-card", action="store_true",
                   help="re-measure PublicTest and PrivateTest and write them into the model card "
                        "(e.g. after setting its tta)")


def metrics(ev, split) -> dict:
    """The JSON metrics of an evaluation: :meth:`Evaluation.summary` with the label set, ECE (on
    the scored faces), the faces counted apart (``n_outside``, always) and their note."""
    from ..analysis.calibration import ece

    s = ev.summary()
    s["labels"] = split.label_set
    s["true_classes"] = [str(c) for c in ev.matrix().index]
    s["n_scored"], s["n_outside"] = ev.n_scored, ev.n_outside
    if ev.n_outside:
        s["outside_note"] = ev.outside_note()
    m = ev.scored
    s["ece"] = ece(ev.probs[m], ev.labels[m]) if m.any() else float("nan")  # top label, 15 bins
    return s


def matrix_text(ev) -> str:
    """The confusion matrix as text: rows the dataset's classes (true), columns the model's."""
    cm = ev.matrix()
    return "confusion matrix (rows true, columns predicted):\n" + cm.to_string()


def run(a) -> int:
    from ..errors import DataError
    from ..models import find_card
    from .common import evaluated, labels_of, load_split, load_splits

    card = find_card(a.model)
    if a.update_card:
        from dataclasses import replace

        from ..analysis.evaluation import card_metrics

        if labels_of(a) != "fer2013":
            raise DataError("--update-card records the accuracy on FER2013's own labels; leave out --labels "
                            f"{a.labels}")
        metrics_ = {**card.metrics, **card_metrics(card, load_splits(a))}
        replace(card, metrics=metrics_).save(card.path)
        print(f"{card.name}: PublicTest {metrics_['PublicTest']['accuracy']:.4f}, PrivateTest "
              f"{metrics_['PrivateTest']['accuracy']:.4f} written to {card.path}")
        return 0
    split = load_split(a)
    ev = evaluated(card, split, use_cache=not a.no_cache)
    s = metrics(ev, split)
    if a.json:
        print(json.dumps(s, indent=2))
    else:
        which = "" if split.label_set == "fer2013" else f", {split.label_set} labels"
        print(f"{card.name} on {split.title} ({ev.n} images{which}): accuracy {ev.accuracy:.4f}, "
              f"macro-F1 {ev.macro_f1:.4f}, ECE {s['ece']:.4f}")
        if ev.n_outside:
            print(ev.outside_note())
        pc = ev.per_class()
        print(pc.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(matrix_text(ev))
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

            s.update(leakage_metrics(ev, find_duplicates(load_splits(a))))
            if not a.json:
                print(describe_leakage(s))
        (out / "metrics.json").write_text(json.dumps(s, indent=2))
        ev.predictions_frame().to_csv(out / "predictions.csv", index=False, float_format="%.6f")
        if not a.json:
            print(f"wrote {out / 'metrics.json'} and {out / 'predictions.csv'}")
    return 0
