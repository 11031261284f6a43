"""Argument types and option helpers shared by the commands.

Every type is an argparse ``type=`` callable: it returns the parsed value or raises
:class:`argparse.ArgumentTypeError` with a message starting "must ..." (the parser prints it as
``ferviz CMD: error: --OPTION must ...`` and exits 2), so a bad value stops the command at parse
time, before any data, model or heavy library is loaded. Nothing here imports TensorFlow,
pandas or matplotlib: the choices below are literal copies of the core's (tests check they agree).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable

from ..errors import LabelError

# literal copies of the core's names (tests/unit/test_cli_args.py checks they agree)
METHODS: tuple[str, ...] = ("gradcam", "gradcampp", "xrai", "ig", "smoothgrad")  # ferviz.attribution.METHODS
VIEWS: tuple[str, ...] = ("tta", "single")  # ferviz.attribution.VIEW_MODES
FIGURE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")  # ferviz.export.FORMATS
CMAPS: tuple[str, ...] = ("viridis", "cividis", "magma", "inferno", "plasma", "turbo", "jet")  # ferviz.figures.overlay
DEFAULT_CMAP = "viridis"
DPI_RANGE = (10.0, 2400.0)  # ferviz.export.render.check_dpi
INCHES_RANGE = (0.5, 100.0)  # ferviz.export._common.check_size
PX_RANGE = (16, 2048)  # side of an explain overlay PNG
LABEL_SETS: tuple[str, ...] = ("fer2013", "ferplus")  # ferviz.data.splits.LABEL_SETS

Type = Callable[[str], object]


def _fail(message: str):
    raise argparse.ArgumentTypeError(message)


# ------------------------------------------------------------------ numbers

def _int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        _fail(f"must be a whole number, got {text!r}")


def _float(text: str) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        _fail(f"must be a number, got {text!r}")
    if not math.isfinite(v):
        _fail(f"must be a finite number, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """An integer >= 1."""
    v = _int(text)
    if v < 1:
        _fail(f"must be a positive integer, got {v}")
    return v


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    v = _int(text)
    if v < 0:
        _fail(f"must be a non-negative integer, got {v}")
    return v


def int_range(lo: int, hi: int) -> Type:
    """An integer in [lo, hi]."""
    def parse(text: str) -> int:
        v = _int(text)
        if not lo <= v <= hi:
            _fail(f"must be in {lo}-{hi}, got {v}")
        return v
    parse.__name__ = f"int_range({lo}, {hi})"
    return parse


def finite_float(text: str) -> float:
    """Any finite number (no nan or inf)."""
    return _float(text)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    v = _float(text)
    if v <= 0:
        _fail(f"must be a positive number, got {text!r}")
    return v


def float_range(lo: float, hi: float, what: str = "", hi_open: bool = False) -> Type:
    """A finite number in [lo, hi] (or [lo, hi) with `hi_open`); `what` names it in the message."""
    def parse(text: str) -> float:
        v = _float(text)
        if not (lo <= v < hi if hi_open else lo <= v <= hi):
            _fail(f"must be {what + ' ' if what else ''}in [{lo:g}, {hi:g}{')' if hi_open else ']'}, got {text!r}")
        return v
    parse.__name__ = f"float_range({lo:g}, {hi:g})"
    return parse


opacity = float_range(0.0, 1.0, "an opacity")
opacity.__name__ = "opacity"
dpi = float_range(*DPI_RANGE, "a dpi")
dpi.__name__ = "dpi"
inches = float_range(*INCHES_RANGE, "a size in inches")
inches.__name__ = "inches"
px = int_range(*PX_RANGE)
px.__name__ = "px"


# ------------------------------------------------------------------ files, names, cells

def existing_file(text: str) -> str:
    """A path to a file that exists (returned as given)."""
    if not str(text).strip():
        _fail("must be a file, got ''")
    p = Path(text).expanduser()
    if not p.exists():
        _fail(f"must be an existing file, got {text!r} (no such file)")
    if not p.is_file():
        _fail(f"must be a file, got {text!r} (not a file)")
    return str(text)


def non_empty(text: str) -> str:
    if not str(text).strip():
        _fail("must not be empty")
    return str(text).strip()


FOLDER_SPLITS = ("train", "val", "test")  # a folder dataset's own names (ferviz.data.splits.FOLDER_NAMES)


def split(text: str) -> str:
    """Training, PublicTest or PrivateTest (any case; 'private', 'public', 'train' too), or a folder
    dataset's own name (train, val, test), which the dataset resolves when it is read."""
    from ..labels import SPLITS, normalise_split

    if str(text).strip().lower() in FOLDER_SPLITS[1:]:
        return str(text).strip().lower()
    try:
        return normalise_split(text)
    except ValueError:
        _fail(f"must be one of {', '.join(SPLITS)} (or {', '.join(FOLDER_SPLITS)} for a dataset in "
              f"train/val/test folders), got {text!r}")


def method(text: str) -> str:
    """An attribution method key."""
    key = str(text).strip().lower()
    if key not in METHODS:
        _fail(f"unknown attribution method {text!r}; choose one of {', '.join(METHODS)}")
    return key


def method_list(text: str) -> list[str]:
    """A comma list of attribution methods (at least one)."""
    names = [m for m in (s.strip() for s in str(text).split(",")) if m]
    if not names:
        _fail(f"must name at least one attribution method, got {text!r}")
    return list(dict.fromkeys(method(m) for m in names))


def model_list(text: str) -> list[str]:
    """One or more model references, comma-separated."""
    refs = [r.strip() for r in str(text).split(",")]
    if not refs or not all(refs):
        _fail(f"must name models (a comma list), got {text!r}")
    return refs


def target(text: str) -> str:
    """pred, true, or a class name/index (returned as the class's name; whether the model can
    output it is checked when the model is known)."""
    from ..labels import NAMES, class_index

    key = str(text).strip().lower()
    if key in ("pred", "predicted"):
        return "pred"
    if key in ("true", "label"):
        return "true"
    try:
        return NAMES[class_index(key)]
    except ValueError as e:
        _fail(f"must be pred, true or a class name/index: bad target {text!r} ({e})")


def _cell(text: str, allow_any: bool) -> tuple[int | None, int | None]:
    """(true, pred) class indices (:data:`ferviz.labels.NAMES`) of 'fear:sad', '2:4' or
    'contempt:sad'; ValueError with a "must ..." message. Whether the dataset has the true class
    and the model can output the predicted one is checked when they are loaded."""
    from ..labels import class_index

    parts = [s.strip() for s in str(text).split(":")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"must look like TRUE:PRED (e.g. fear:sad or 2:4{', fear:any' if allow_any else ''}), "
                         f"got {text!r}")
    try:
        return tuple(None if allow_any and s.lower() == "any" else class_index(s) for s in parts)
    except ValueError as e:
        raise ValueError(f"must name two classes, got {text!r}: {e}") from None


def parse_cell(text: str, option: str = "--cell", allow_any: bool = False) -> tuple[int | None, int | None]:
    """'fear:sad', 'Fear:SAD' or '2:4' -> (true, pred) class indices; with `allow_any` a side may
    be 'any' (None); LabelError (a ValueError) naming `option` otherwise."""
    try:
        return _cell(text, allow_any)
    except ValueError as e:
        raise LabelError(f"{option} {e}") from None


def cell(text: str) -> tuple[int, int]:
    """A confusion cell TRUE:PRED -> (true, pred) indices."""
    try:
        return _cell(text, False)
    except ValueError as e:
        _fail(str(e))


def cell_or_any(text: str) -> tuple[int | None, int | None]:
    """A cell, row (fear:any) or column (any:sad) -> (true or None, pred or None)."""
    try:
        return _cell(text, True)
    except ValueError as e:
        _fail(str(e))


def box(text: str) -> tuple[int, int, int, int]:
    """X,Y,W,H in pixels, W and H positive."""
    parts = str(text).replace(" ", "").split(",")
    try:
        b = tuple(int(v) for v in parts)
    except ValueError:
        b = ()
    if len(b) != 4:
        _fail(f"must be four integers X,Y,W,H, got {text!r}")
    if b[2] < 1 or b[3] < 1:
        _fail(f"must have a positive width and height, got {text!r}")
    return b


def label_set(text: str) -> str:
    """fer2013 or ferplus (any case; 'fer+', 'FER-Plus' too): the labels a command reads
    (:func:`ferviz.data.splits.check_label_set` normalises the same way)."""
    key = str(text or "").strip().lower().replace("+", "plus").replace("-", "")
    if key not in LABEL_SETS:
        _fail(f"must be fer2013 (the dataset's own labels) or ferplus (FER+'s majority vote, eight classes "
              f"with contempt; needs fer2013.csv), got {text!r}")
    return key


# ------------------------------------------------------------------ the parser

class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``ferviz CMD: error: --OPTION must ...``, exit 2."""

    def error(self, message: str):
        head, sep, rest = message.partition(": ")
        if sep and head.startswith("argument ") and rest.startswith("must "):
            message = f"{head[len('argument '):]} {rest}"
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Deprecated(argparse.Action):
    """A hidden old spelling: stores like `new` (through its own type) and warns once on stderr."""

    def __init__(self, option_strings, dest, new: str = "", **kw):
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(p, old: str, new: str, dest: str, **kw) -> None:
    """Accept `old` as a hidden, deprecated spelling of `new` (same dest, same meaning as before)."""
    p.add_argument(old, dest=dest, action=_Deprecated, new=new, help=argparse.SUPPRESS, **kw)


# ------------------------------------------------------------------ shared options

def add_model(p, several: bool = False) -> None:
    """--model: a card path, model file or registry name (with `several`: repeatable, comma lists,
    kept as a flat list without repeats)."""
    if several:
        p.add_argument("--model", action="extend", type=model_list, required=True, metavar="MODEL",
                       help="card path, model file or registry name; several (repeated or a comma list) "
                            "are averaged")
    else:
        p.add_argument("--model", required=True, type=non_empty,
                       help="card path, model file or registry name")


def add_data(p, what: str = "FER2013 path", labels: bool = True) -> None:
    """--data and (with `labels`) --labels: whose labels the faces are read with."""
    p.add_argument("--data", help=f"{what} (default: FERVIZ_DATA or data/)")
    if labels:
        add_labels(p)


def add_labels(p) -> None:
    p.add_argument("--labels", type=label_set, default="fer2013", metavar="{fer2013,ferplus}",
                   help="the labels to read: fer2013 (the dataset's own, default) or ferplus (FER+'s majority "
                        "vote: eight classes with contempt, faces with a tied, unknown or not-a-face majority "
                        "left out; needs fer2013.csv or the FER+ folders, not the Kaggle image folders)")


def add_split(p, default: str = "PrivateTest") -> None:
    p.add_argument("--split", type=split, default=default,
                   help=f"Training, PublicTest or PrivateTest (default {default}); train, val or test "
                        "for a dataset in train/val/test folders")


def add_model_data(p) -> None:
    """--model, --data and --split, for the commands that read a model on a split."""
    add_model(p)
    add_data(p)
    add_split(p)


def add_method(p, default: str | None = "gradcam", several: bool = False, choices: tuple[str, ...] = METHODS,
               help: str = "") -> None:
    """--method: one attribution method (or, with `several`, one or more)."""
    def parse(text: str) -> str:
        m = method(text)
        if m not in choices:
            _fail(f"must be one of {', '.join(choices)}, got {text!r}")
        return m
    parse.__name__ = "method"
    text = help or ("attribution method(s)" if several else "attribution method")
    if several:
        p.add_argument("--method", nargs="+", type=parse, default=default if default is not None else [],
                       metavar="METHOD", help=f"{text}: {', '.join(choices)}")
    else:
        p.add_argument("--method", type=parse, default=default, metavar="METHOD",
                       help=f"{text}: {', '.join(choices)} (default {default})")


def add_views(p, help: str = "tta: the card's test-time views, as the shown prediction (default); "
                             "single: one forward pass") -> None:
    p.add_argument("--views", choices=VIEWS, default="tta", help=help)


def add_formats(p, what: str = "figure", choices: tuple[str, ...] = FIGURE_FORMATS, default=("png",),
                required: bool = False) -> None:
    """--format F [F ...] into `formats` (a list without repeats, in the order given)."""
    kw = {"required": True} if required else {"default": list(default)}
    p.add_argument("--format", nargs="+", choices=choices, dest="formats", metavar="{" + ",".join(choices) + "}",
                   help=f"{what} format(s)" + ("" if required else f" (default {' '.join(default)})"), **kw)


def add_dpi(p) -> None:
    p.add_argument("--dpi", type=dpi, default=150.0,
                   help=f"PNG resolution, {DPI_RANGE[0]:g}-{DPI_RANGE[1]:g} (default 150)")


def add_seed(p, default: int = 0, help: str = "random seed") -> None:
    p.add_argument("--seed", type=non_negative_int, default=default, help=f"{help} (default {default})")


def add_face_sample(p, n: int) -> None:
    """--n, --seed, --views and --steps of the faithfulness commands (trust, layers)."""
    add_model_data(p)
    p.add_argument("--n", type=positive_int, default=n, help=f"random faces of the split (default {n})")
    add_seed(p, 0, "which faces, bootstrap and randomised weights")
    add_views(p)
    p.add_argument("--steps", type=positive_int, default=16, help="deletion/insertion steps (default 16)")


def add_out(p, help: str = "output folder (created if missing)", required: bool = True, default=None) -> None:
    p.add_argument("--out", required=required and default is None, default=default, help=help)
