"""What a report is made from: the model cards, the split (and the dataset's other splits), each
model's evaluation and the options; models, duplicate pairs and FER+ votes load once, when a
section first asks for them."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Mapping

import numpy as np

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Options:
    """How much of the expensive sections to compute (all seeded, so the report is reproducible)."""

    trust_n: int = 16  # random faces for the trust table (0: leave it out)
    pair_sheets: int = 3  # most-confused pairs that get a face sheet
    sheet_faces: int = 10  # faces per sheet (most confident mistakes first)
    region_cells: int = 2  # top confusion cells with region charts (0: leave them out)
    region_faces: int = 30  # at most this many faces per region group
    region_method: str = "gradcam"
    slices: bool = True
    stress_severity: int = 3  # one severity of every perturbation (0: leave the stress test out)
    stress_faces: int = 500  # a fixed random sample of the split for the stress test (0: every face)
    seed: int = 0
    dpi: float = 110.0


@dataclass
class Inputs:
    """Cards, split, the dataset's splits and evaluations of one report (1 or 2 models)."""

    cards: list
    split: object  # FERSplit
    splits: Mapping | None  # every split of the dataset (None: only `split` is known)
    evaluations: list
    data_path: str
    options: Options = field(default_factory=Options)
    command: str = ""
    _models: dict = field(default_factory=dict, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cards)

    @property
    def pair(self) -> bool:
        return len(self.cards) == 2

    def use_model(self, i: int, model) -> None:
        """Use an already loaded model for card `i` (e.g. the app's)."""
        self._models[i] = model

    def model(self, i: int):
        """The loaded Keras model of card `i` (loaded once)."""
        if i not in self._models:
            from ..models import load_model

            self._models[i] = load_model(self.cards[i])
        return self._models[i]

    @cached_property
    def duplicate_pairs(self):
        """Exact and near duplicate pairs of the dataset (:func:`ferviz.data.duplicates.find_duplicates`),
        or the sentence saying why there are none to compare with."""
        from ..data.duplicates import find_duplicates

        if self.split.split == "Training":
            return f"this report is on the Training split itself ({self.split.title})"
        if not self.splits or "Training" not in self.splits:
            return "the dataset has no Training split to compare the test faces with"
        return find_duplicates(self.splits)

    @cached_property
    def aligned_votes(self):
        """FER+ votes aligned with the split, or the sentence saying why they cannot be."""
        from ..data.splits import align_votes
        from ..errors import DataError

        try:
            return align_votes(self.split)
        except DataError as e:
            return str(e).replace(str(self.split.source), _file_name(self.split.source))

    def correct(self, i: int) -> np.ndarray:
        ev = self.evaluations[i]
        return ev.preds == ev.labels


def _file_name(path: str) -> str:
    from pathlib import Path

    return Path(str(path)).name


def labels_text(split) -> str:
    """Which labels the report reads, in words: FER2013's own, FER+'s majority, or the dataset's."""
    if getattr(split, "label_set", "fer2013") == "ferplus":
        return "labels: FER+ majority vote (eight classes with contempt; tied, unknown and not-a-face faces left out)"
    return "labels: FER2013's own" if not split.name else "labels: the dataset's class folders"
