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

    with progress(desc or f"{card.key} on {split.split}") as update:
        return evaluate(card, split, progress=update, **kw)


def card_split_model(a):
    """(card, split, model) for --model, --data and --split."""
    from ..data.splits import load_fer2013
    from ..models import find_card, load_model

    card = find_card(a.model)
    return card, load_fer2013(a.data, a.split), load_model(card)
