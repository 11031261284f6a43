"""Run-time helpers shared by the commands: a progress bar and the usual card/split/model loading."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

Update = Callable[..., None]


def _no_progress(frac: float, text: str = "") -> None:
    pass


@contextmanager
def progress(desc: str = "", enabled: bool = True) -> Iterator[Update]:
    """``with progress("evaluating") as update: work(progress=update)``: a tqdm bar on stderr
    driven by ``update(fraction, text="")``, closed however the block ends; with `enabled`
    False, a do-nothing ``update`` and no bar."""
    if not enabled:
        yield _no_progress
        return
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, file=sys.stderr, leave=False,
               bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}")

    def update(frac: float, text: str = "") -> None:
        bar.n = round(100 * frac)
        bar.set_postfix_str(text, refresh=False)
        bar.refresh()
    try:
        yield update
    finally:
        bar.close()


def evaluated(card, split, desc: str | None = None, **kw):
    """``ferviz.analysis.evaluation.evaluate(card, split, **kw)`` behind a progress bar."""
    from ..analysis.evaluation import evaluate

    with progress(desc or f"{card.key} on {split.title}") as update:
        return evaluate(card, split, progress=update, **kw)


def labels_of(a) -> str:
    """The label set a command was asked for (--labels; fer2013 where a command has none)."""
    return getattr(a, "labels", None) or "fer2013"


def load_split(a, split: str | None = None):
    """The split `split` (default --split) of --data, with --labels' labels."""
    from ..data.splits import load_fer2013

    return load_fer2013(a.data, split or a.split, labels=labels_of(a))


def load_splits(a):
    """Every split of --data, with --labels' labels (:func:`ferviz.data.splits.load_all`)."""
    from ..data.splits import load_all

    return load_all(a.data, labels=labels_of(a))


def card_split_model(a):
    """(card, split, model) for --model, --data, --labels and --split."""
    from ..models import find_card, load_model

    card = find_card(a.model)
    return card, load_split(a), load_model(card)


def model_class(card, c: int, what: str) -> int:
    """`c` (a class index) when `card`'s model can output it; else LabelError naming the model's
    classes (e.g. a contempt target for a seven-class model)."""
    from ..errors import LabelError
    from ..labels import NAMES

    if int(c) not in card.class_ids:
        raise LabelError(f"{what}: {card.name} cannot output {NAMES[int(c)]}; its classes are "
                         f"{', '.join(card.model_classes)}")
    return int(c)
