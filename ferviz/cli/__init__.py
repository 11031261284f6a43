"""Command line: ``python -m ferviz COMMAND ...`` (or the ``ferviz`` script).

One module per command, named after it, in this package:

=============== ======================= ==========================================================
command         module                  what it does
=============== ======================= ==========================================================
train           ferviz.cli.train        train an architecture on FER2013 (resumable)
evaluate        ferviz.cli.evaluate     accuracy, per-class metrics, confusion matrix on a split
models          ferviz.cli.models       list the models with their measured accuracy
explain         ferviz.cli.explain      attribution overlays and maps for chosen images
predict         ferviz.cli.predict      detect faces in photos and classify them
export          ferviz.cli.export       annotated figures, cell sheets, confusion matrix, CSVs
duplicates      ferviz.cli.duplicates   exact and near duplicate images across the splits
label-issues    ferviz.cli.label_issues likely label issues by confident learning
calibration     ferviz.cli.calibration  ECE, reliability diagram, temperature scaling
trust           ferviz.cli.trust        which attribution method to trust
layers          ferviz.cli.layers       Grad-CAM's faithfulness at each candidate layer
embed           ferviz.cli.embed        embedding map of a split (UMAP/PCA)
export-model    ferviz.cli.export_model the model as TensorFlow Lite or ONNX, parity-checked
features        ferviz.cli.features     feature maps per block for chosen images
regions         ferviz.cli.regions      attribution per facial region for a confusion cell
landmarks       ferviz.cli.landmarks    five facial landmarks per face of a split
slices          ferviz.cli.slices       failure slices, error tree and error clusters of a model
stress          ferviz.cli.stress       accuracy under perturbations (occlusions, blur, light, ...) and flips
neighbours      ferviz.cli.neighbours   the nearest Training faces of chosen faces (model space)
reviews         ferviz.cli.reviews      the label review's decisions: import a CSV, export CSV and votes
report          ferviz.cli.report       one HTML/PDF error-analysis report of a model (or two side by side)
precompute      ferviz.cli.precompute   fill the app's cache ahead of time (process pool or Ray)
=============== ======================= ==========================================================

Each command module has ``add_arguments(parser)`` and ``run(args) -> int``. :data:`COMMANDS` is
the one table of them; a module is imported only when its command runs (or its ``--help`` is
asked for), so ``ferviz --help`` and parsing import no TensorFlow, pandas or matplotlib. Shared
argument types (validated at parse time: a bad value exits 2 with one line before anything
loads) are in :mod:`ferviz.cli.args`, the progress bar in :mod:`ferviz.cli.common`. Errors while
running print one line, ``ferviz COMMAND: error: ...``, and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType
from typing import Iterable

from .args import Parser, parse_cell  # noqa: F401  (parse_cell: public, used by benchmarks)

__all__ = ["COMMANDS", "SUPPORT_MODULES", "build_parser", "command_module", "main", "parse_cell"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: command -> (module in this package, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train an architecture on FER2013 (resumable)"),
    "evaluate": ("evaluate", "accuracy, per-class metrics and confusion matrix on a split"),
    "models": ("models", "list the models in models/ (and FERVIZ_MODELS) with their measured accuracy"),
    "explain": ("explain", "attribution overlays (Grad-CAM, Grad-CAM++, XRAI, IG) for chosen images"),
    "predict": ("predict", "detect faces in photos, crop them FER2013-style and classify them"),
    "export": ("export", "export annotated figures, cell sheets, the confusion matrix or CSV tables"),
    "duplicates": ("duplicates", "exact and near duplicate images within and across the splits"),
    "label-issues": ("label_issues", "likely label issues by confident learning (cleanlab's default rule)"),
    "calibration": ("calibration", "ECE, reliability diagram and temperature scaling (fit on PublicTest)"),
    "trust": ("trust", "which attribution method to trust: faithfulness, sanity check, blank maps, cost"),
    "layers": ("layers", "Grad-CAM's deletion/insertion AUC at each candidate layer, to choose gradcam_layer"),
    "embed": ("embed", "embedding map: each face of a split placed by its penultimate-layer features (UMAP/PCA)"),
    "export-model": ("export_model", "export a model to TensorFlow Lite or ONNX, checked against the Keras "
                                     "model on real faces"),
    "features": ("features", "feature maps per block: the strongest channels and the Grad-CAM layer's top channel"),
    "regions": ("regions", "share of attribution per facial region for a confusion cell vs its references"),
    "landmarks": ("landmarks", "five facial landmarks per face of a split (MTCNN's ONet) and the detection rate"),
    "slices": ("slices", "why a model fails: failure slices by face attributes, an error tree and error clusters"),
    "stress": ("stress", "stress test: accuracy under occlusions of each facial region, noise, blur, light, "
                         "JPEG, resolution, rotation, shift, zoom and mirror, at severities 1-5, and the flips"),
    "neighbours": ("neighbours", "the k nearest Training faces of chosen faces in the model's penultimate space "
                                 "(cosine), with their labels, the model's predictions and distances"),
    "reviews": ("reviews", "the label review's decisions: import a CSV into the database, export CSV and "
                           "a FER+-style vote table"),
    "report": ("report", "one file to hand in: an error-analysis report of a model (or two side by side) as "
                         "self-contained HTML and PDF"),
    "precompute": ("precompute", "fill the cache the app reads ahead of time (predictions, maps, embeddings, "
                                 "landmarks) on a local process pool or a Ray cluster; resumable"),
}
#: modules of this package that are not commands
SUPPORT_MODULES = ("args", "common")


def command_module(name: str) -> ModuleType:
    """The module of command `name` (an ImportError inside it propagates: that is a bug)."""
    return importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")


def build_parser(commands: Iterable[str] = ()) -> argparse.ArgumentParser:
    """The parser; the options of `commands` only (every command is listed, its module imported
    only when named here)."""
    wanted = set(commands)
    parser = Parser(prog="ferviz", description="FER2013 error analysis and attribution")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=Parser)
    for name, (_, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        if name in wanted:
            mod = command_module(name)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def _command_of(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser([c] if (c := _command_of(argv)) in COMMANDS else [])
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    args._argv = argv
    from ..errors import FervizError

    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FervizError, OSError) as e:  # every error ferviz raises for the user, and files it cannot read
        print(f"ferviz {args.cmd}: error: {e}", file=sys.stderr)
        return 2
