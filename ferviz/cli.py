"""Command line: python -m ferviz {train,evaluate,explain,predict,export} ...

Each subcommand lives in a small function here; errors print one line and exit 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str):
    """Register a subcommand: decorate its runner; `setup` adds its arguments."""
    def wrap(setup):
        def reg(run):
            COMMANDS[name] = (setup, run, help)
            return run
        return reg
    return wrap


def progress_bar(total: int | None = None, desc: str = ""):
    """A tqdm bar on stderr and a callback(fraction, text) that drives it."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, file=sys.stderr, leave=False,
               bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}")

    def update(frac: float, text: str = "") -> None:
        bar.n = round(100 * frac)
        bar.set_postfix_str(text, refresh=False)
        bar.refresh()
    return bar, update


def model_data_args(p) -> None:
    """--model, --data and --split, shared by the subcommands that read a model on a split."""
    p.add_argument("--model", required=True, help="card path, model file or registry name")
    p.add_argument("--data", help="FER2013 path (default: FERVIZ_DATA or data/)")
    p.add_argument("--split", default="PrivateTest")


def parse_cell(text: str, option: str = "--cell", allow_any: bool = False) -> tuple[int | None, int | None]:
    """'fear:sad', 'Fear:SAD' or '2:4' -> (true, pred) FER indices; with `allow_any` a side may
    be 'any' (None); ValueError naming `option` otherwise."""
    from .labels import emotion_index

    parts = [s.strip() for s in str(text).split(":")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{option} must look like TRUE:PRED (e.g. fear:sad or 2:4"
                         f"{', fear:any' if allow_any else ''}), got {text!r}")
    try:
        return tuple(None if allow_any and s.lower() == "any" else emotion_index(s) for s in parts)
    except ValueError as e:
        raise ValueError(f"{option} {text!r}: {e}") from None


# ------------------------------------------------------------------ train

def _train_args(p):
    from .architectures import ARCHITECTURES

    p.add_argument("--arch", required=True, help=f"one of {', '.join(ARCHITECTURES)}")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--no-augment", action="store_true", help="disable mirroring/rotation/zoom/shift")
    p.add_argument("--class-weights", action="store_true", help="balanced class weights")
    p.add_argument("--tta", nargs="?", const="mirror", choices=["mirror", "mirror+shift", "auto"],
                   help="test-time augmentation recorded in the card: mirror (the default with a "
                        "bare --tta), mirror+shift (10 views), or auto (the best on PublicTest)")
    p.add_argument("--patience", type=int, default=12, help="early-stopping patience (epochs)")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--dropout", type=float, default=1.0,
                   help="scale on the architecture's dropout rates (e.g. 0.5 to fine-tune)")
    p.add_argument("--schedule", choices=["plateau", "cosine"], default="plateau",
                   help="learning rate: halve on a PublicTest plateau, or cosine decay to 0")
    p.add_argument("--init", metavar="MODEL.keras",
                   help="start from this trained model's weights (same architecture)")
    p.add_argument("--teachers", metavar="A.keras,B.keras",
                   help="distil: targets mix the labels with these models' mean prediction")
    p.add_argument("--soft", type=float, default=0.5, help="weight of the teachers in the targets")
    p.add_argument("--name", help="output file stem (default: the architecture)")
    p.add_argument("--title", help="the model's display name in its card (default from --name)")
    p.add_argument("--data", help="FER2013 path (default: FERVIZ_DATA or data/)")
    p.add_argument("--out", default="models")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--finish", action="store_true",
                   help="stop an interrupted run here: write its best checkpoint as the model")


@command("train", "train an architecture on FER2013 (resumable)")(_train_args)
def _train(a) -> int:
    from .train import Recipe, command_line, train

    recipe = Recipe(arch=a.arch, epochs=a.epochs, batch_size=a.batch_size, optimizer=a.optimizer,
                    learning_rate=a.lr, augment=not a.no_augment, class_weights=a.class_weights,
                    tta=True if a.tta == "mirror" else (a.tta or False),  # a bare --tta: True, as before
                    patience=a.patience, seed=a.seed, label_smoothing=a.label_smoothing,
                    dropout=a.dropout, schedule=a.schedule, init=a.init, teachers=a.teachers,
                    soft=a.soft)
    card = train(recipe, a.out, name=a.name, title=a.title, data=a.data, overwrite=a.overwrite,
                 verbose=1 if sys.stderr.isatty() else 2, command=command_line(a._argv), finish=a.finish)
    m = card.metrics
    print(f"{card.name}: PublicTest {m['PublicTest']['accuracy']:.4f}, "
          f"PrivateTest {m['PrivateTest']['accuracy']:.4f} -> {card.path}")
    return 0


# ------------------------------------------------------------------ evaluate

def _evaluate_args(p):
    model_data_args(p)
    p.add_argument("--out", help="folder for metrics.json and predictions.csv")
    p.add_argument("--no-cache", action="store_true", help="recompute predictions")
    p.add_argument("--update-card", action="store_true",
                   help="re-measure PublicTest and PrivateTest and write them into the model card "
                        "(e.g. after setting its tta)")


@command("evaluate", "accuracy, per-class metrics and confusion matrix on a split")(_evaluate_args)
def _evaluate(a) -> int:
    from .data import load_fer2013
    from .evaluation import evaluate
    from .models import find_card

    card = find_card(a.model)
    if a.update_card:
        from dataclasses import replace

        from .data import load_all
        from .evaluation import card_metrics

        metrics = {**card.metrics, **card_metrics(card, load_all(a.data))}
        replace(card, metrics=metrics).save(card.path)
        print(f"{card.name}: PublicTest {metrics['PublicTest']['accuracy']:.4f}, PrivateTest "
              f"{metrics['PrivateTest']['accuracy']:.4f} written to {card.path}")
        return 0
    split = load_fer2013(a.data, a.split)
    bar, update = progress_bar(desc=f"{card.key} on {split.split}")
    try:
        ev = evaluate(card, split, use_cache=not a.no_cache, progress=update)
    finally:
        bar.close()
    s = ev.summary()
    from .calibration import ece

    s["ece"] = ece(ev.probs, ev.labels)  # top label, 15 bins (ferviz.calibration)
    print(f"{card.name} on {split.split} ({ev.n} images): accuracy {ev.accuracy:.4f}, macro-F1 {ev.macro_f1:.4f}, "
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
            from .data import load_all
            from .duplicates import describe_leakage, find_duplicates, leakage_metrics

            s.update(leakage_metrics(ev, find_duplicates(load_all(a.data))))
            print(describe_leakage(s))
        (out / "metrics.json").write_text(json.dumps(s, indent=2))
        ev.predictions_frame().to_csv(out / "predictions.csv", index=False, float_format="%.6f")
        print(f"wrote {out / 'metrics.json'} and {out / 'predictions.csv'}")
    return 0


# ------------------------------------------------------------------ models

def _models_args(p):
    p.add_argument("--dir", action="append", default=[], help="an extra folder of models (repeatable)")


@command("models", "list the models in models/ (and FERVIZ_MODELS) with their measured accuracy")(_models_args)
def _models(a) -> int:
    from .models import list_cards

    cards, problems = list_cards(*a.dir)
    print("| model | file | params | PrivateTest acc. | macro-F1 | PublicTest acc. | trained on | time |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for c in cards:
        m, t = c.metrics, c.training
        pt, pu = m.get("PrivateTest", {}), m.get("PublicTest", {})
        acc = lambda d, k="accuracy": f"{d[k]:.2%}" if k in d else "—"  # noqa: E731
        minutes = f"{t['wall_time_s'] / 60:.0f} min" if "wall_time_s" in t else "—"
        if "wall_time_s" in t.get("init", {}):  # fine-tuned: the starting model's time + this run's
            minutes = f"{t['init']['wall_time_s'] / 60:.0f} + {minutes}"
        params = f"{t['params'] / 1e6:.2f} M" if "params" in t else "—"
        f1 = f"{pt['macro_f1']:.3f}" if "macro_f1" in pt else "—"
        print(f"| {c.name} | `{c.file}` | {params} | {acc(pt)} | {f1} | {acc(pu)} | "
              f"{t.get('hardware', '—')} | {minutes} |")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ entry point

def _load_plugins() -> None:
    """Subcommands defined in other modules register themselves on import."""
    import importlib

    for mod in ("ferviz.cli_attribution", "ferviz.cli_faces", "ferviz.cli_export", "ferviz.cli_data_quality", "ferviz.cli_quality",
                "ferviz.cli_trust", "ferviz.cli_embed", "ferviz.cli_export_model", "ferviz.cli_features",
                "ferviz.cli_regions"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def main(argv: list[str] | None = None) -> int:
    _load_plugins()
    parser = argparse.ArgumentParser(prog="ferviz", description="FER2013 error analysis and attribution")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name, (setup, run, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        setup(p)
        p.set_defaults(_run=run)
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)
    from .data import DataError
    from .models import ModelError

    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (DataError, ModelError, ValueError, KeyError, OSError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"ferviz {args.cmd}: error: {msg}", file=sys.stderr)
        return 2
