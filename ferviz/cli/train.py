"""``python -m ferviz train``: train an architecture on FER2013 (resumable); writes the model and its card."""
from __future__ import annotations

import sys

from . import args as A


def add_arguments(p) -> None:
    from ..models.architectures import (  # light: keras is imported when a model is built
        ARCHITECTURES,
        DROPOUT_SCALES,
    )

    p.add_argument("--arch", required=True, help=f"one of {', '.join(ARCHITECTURES)}")
    p.add_argument("--epochs", type=A.positive_int, default=60, help="at most this many epochs (default 60)")
    p.add_argument("--batch-size", type=A.positive_int, default=128, help="default 128")
    p.add_argument("--lr", type=A.positive_float, default=1e-3, help="learning rate (default 0.001)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--no-augment", action="store_true", help="disable mirroring/rotation/zoom/shift")
    p.add_argument("--class-weights", action="store_true", help="balanced class weights")
    p.add_argument("--tta", nargs="?", const="mirror", choices=["mirror", "mirror+shift", "auto"],
                   help="test-time augmentation recorded in the card: mirror (the default with a "
                        "bare --tta), mirror+shift (10 views), or auto (the best on PublicTest)")
    p.add_argument("--patience", type=A.non_negative_int, default=12, help="early-stopping patience (epochs)")
    p.add_argument("--label-smoothing", type=A.float_range(0.0, 1.0, hi_open=True), default=0.0,
                   help="in [0, 1) (default 0)")
    A.add_seed(p, 1234)
    lo, hi = DROPOUT_SCALES
    p.add_argument("--dropout", type=A.float_range(lo, hi, "a dropout scale"), default=1.0,
                   help=f"scale on the architecture's dropout rates, {lo:g}-{hi:g} (e.g. 0.5 to fine-tune)")
    p.add_argument("--schedule", choices=["plateau", "cosine"], default="plateau",
                   help="learning rate: halve on a PublicTest plateau, or cosine decay to 0")
    p.add_argument("--init", metavar="MODEL.keras", type=A.existing_file,
                   help="start from this trained model's weights (same architecture)")
    p.add_argument("--teachers", metavar="A.keras,B.keras",
                   help="distil: targets mix the labels with these models' mean prediction")
    p.add_argument("--soft", type=A.float_range(0.0, 1.0, "a weight"), default=0.5,
                   help="weight of the teachers in the targets, 0-1 (default 0.5)")
    p.add_argument("--name", help="output file stem (default: the architecture)")
    p.add_argument("--title", help="the model's display name in its card (default from --name)")
    A.add_data(p)  # --labels ferplus: an eight-class model of FER+'s majority (ferviz.models.training)
    A.add_out(p, "folder for the model and its card (default models)", default="models")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--finish", action="store_true",
                   help="stop an interrupted run here: write its best checkpoint as the model")


def run(a) -> int:
    from ..models.training import Recipe, command_line, train

    recipe = Recipe(arch=a.arch, epochs=a.epochs, batch_size=a.batch_size, optimizer=a.optimizer,
                    learning_rate=a.lr, augment=not a.no_augment, class_weights=a.class_weights,
                    tta=True if a.tta == "mirror" else (a.tta or False),  # a bare --tta: True, as before
                    patience=a.patience, seed=a.seed, label_smoothing=a.label_smoothing,
                    dropout=a.dropout, schedule=a.schedule, init=a.init, teachers=a.teachers,
                    soft=a.soft)
    card = train(recipe, a.out, name=a.name, title=a.title, data=a.data, labels=a.labels, overwrite=a.overwrite,
                 verbose=1 if sys.stderr.isatty() else 2, command=command_line(a._argv), finish=a.finish)
    m = card.metrics
    print(f"{card.name}: PublicTest {m['PublicTest']['accuracy']:.4f}, "
          f"PrivateTest {m['PrivateTest']['accuracy']:.4f} -> {card.path}")
    return 0
