"""The model registry: cards found in models/, FERVIZ_MODELS and given folders."""
from __future__ import annotations

import os
from pathlib import Path

from .. import config
from .cards import ModelCard, ModelError, load_card


def list_cards(*folders: str | os.PathLike) -> tuple[list[ModelCard], list[str]]:
    """Cards in models/, FERVIZ_MODELS and the given folders; also the problems found."""
    dirs = [config.MODELS_DIR, *config.extra_model_dirs(), *map(Path, folders)]
    cards, problems, seen = [], [], set()
    for d in dirs:
        if not Path(d).is_dir():
            if Path(d) != config.MODELS_DIR:
                problems.append(f"{d}: not a folder")
            continue
        for f in sorted(Path(d).glob("*.json")):
            if f.name.endswith((".history.json", ".metrics.json")) or f.resolve() in seen:
                continue
            seen.add(f.resolve())
            try:
                card = load_card(f)
            except ModelError as e:
                problems.append(str(e))
                continue
            first = next((c for c in cards if c.key == card.key), None)
            if first is not None:  # keys name models in links, caches and file names: one each
                problems.append(f"{f}: not listed, {first.path} has the same name {card.key!r}; "
                                "rename one of the two")
                continue
            cards.append(card)
    return cards, problems


def find_card(name_or_path: str, *folders: str | os.PathLike) -> ModelCard:
    """A card by path (card JSON or model file) or by name/stem in the registry."""
    p = Path(name_or_path)
    if p.suffix == ".json" and p.exists():
        return load_card(p)
    if p.suffix in (".keras", ".h5") and p.exists():
        card_path = p.with_suffix(".json")
        if not card_path.exists():
            raise ModelError(f"{p}: no model card {card_path.name} beside it")
        return load_card(card_path)
    cards, _ = list_cards(*folders)
    for c in cards:
        if name_or_path in (c.key, c.name):
            return c
    names = ", ".join(c.key for c in cards) or "none"
    raise ModelError(f"no model {name_or_path!r} (available: {names})")
