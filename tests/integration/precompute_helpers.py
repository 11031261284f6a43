"""Shared by the precompute integration tests: the model they use and a cache seeded with only the
decoded data and that model's predictions."""
from __future__ import annotations

import shutil
from pathlib import Path

from ferviz import config

ROOT = Path(__file__).resolve().parents[2]
CARD = ROOT / "models" / "baseline_cnn.json"


def seeded_cache(fer_path, folder: Path) -> Path:
    """A fresh cache holding only the session cache's decoded data and this model's predictions."""
    from ferviz.analysis.evaluation import evaluate, prediction_cache_path
    from ferviz.data.splits import load_fer2013
    from ferviz.models import find_card

    card, split = find_card(str(CARD)), load_fer2013(fer_path, "PrivateTest")
    evaluate(card, split)
    src = config.cache_dir()
    for sub in ("data",):
        shutil.copytree(src / sub, folder / sub, dirs_exist_ok=True)
    pred = prediction_cache_path(card, split)
    (folder / pred.parent.name).mkdir(parents=True, exist_ok=True)
    shutil.copy(pred, folder / pred.relative_to(src))
    return folder
