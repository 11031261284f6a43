"""Cached loaders: models and datasets as resources, evaluations keyed by model and data hashes."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ..data import FERSplit, load_all
from ..evaluation import Evaluation, evaluate
from ..models import ModelCard, list_cards, load_card, load_model


@st.cache_resource(show_spinner="Loading model ...", max_entries=8)
def _model(card_path: str, card_key: str):
    return load_model(load_card(card_path))


def model_for(card: ModelCard):
    """The Keras model of a card, loaded once per process (keyed by the file's hash and the card)."""
    return _model(str(card.path), card.compute_key())


@st.cache_resource(show_spinner="Reading FER2013 ...", max_entries=4)
def _splits(path: str, stamp: tuple) -> dict[str, FERSplit]:
    return load_all(path)


def dataset(path: str | None) -> dict[str, FERSplit]:
    """All splits of the dataset at `path` (None: FERVIZ_DATA or data/)."""
    from ..data import resolve_data_path

    p = resolve_data_path(path)
    st_ = p.stat()
    return _splits(str(p), (st_.st_size, st_.st_mtime_ns))


@st.cache_resource(show_spinner=False, max_entries=64)
def _evaluation(card_path: str, card_key: str, data_path: str, split: str, data_hash: str) -> Evaluation:
    card = load_card(card_path)
    data = _current_split(data_path, split)
    cached = _has_cached_predictions(card, data)
    if cached:
        return evaluate(card, data)
    bar = st.progress(0.0, text=f"First evaluation of {card.name} on {split} ...")
    try:
        return evaluate(card, data, model=model_for(card),
                        progress=lambda f, t: bar.progress(min(1.0, f), text=f"{card.name}: {t}"))
    finally:
        bar.empty()


def _has_cached_predictions(card: ModelCard, data: FERSplit) -> bool:
    from ..evaluation import prediction_cache_path

    return prediction_cache_path(card, data).exists()


def _current_split(data_path: str, split: str) -> FERSplit:
    return dataset(data_path or None)[split]


def evaluation(card: ModelCard, data: FERSplit, data_path: str | None) -> Evaluation:
    """Predictions and metrics of a model on a split: disk cache, then this process's memory."""
    return _evaluation(str(card.path), card.compute_key(), data_path or "", data.split, data.data_hash)


@st.cache_data(ttl=30, show_spinner=False)
def cards(extra: tuple[str, ...] = ()) -> tuple[list[ModelCard], list[str]]:
    """Model cards in models/, FERVIZ_MODELS and extra folders (re-listed every 30 s)."""
    return list_cards(*extra)


def card_by_key(key: str, extra: tuple[str, ...] = ()) -> ModelCard | None:
    for c in cards(extra)[0]:
        if c.key == key:
            return c
    return None


def cache_root() -> Path:
    from ..config import cache_dir

    return cache_dir()
