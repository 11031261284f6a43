"""Cached loaders: models and datasets as resources, evaluations keyed by model and data hashes,
and the data-quality results built on them (duplicates, label issues, FER+ votes, calibration).

Everything here is `st.cache_resource` (one shared object per key, never copied): callers
treat the returned frames and arrays as read-only.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from .. import config
from ..analysis.evaluation import Evaluation, evaluate
from ..data.splits import DataError, FERSplit, data_ref, load_all, parse_ref
from ..models import ModelCard, list_cards, load_card, load_model

#: the label sets the app reads a dataset with, and how it names them
LABEL_SETS = {"fer2013": "FER2013", "ferplus": "FER+ majority"}


@st.cache_resource(show_spinner="Loading model ...", max_entries=8)
def _model(card_path: str, card_key: str):
    return load_model(load_card(card_path))


def model_for(card: ModelCard):
    """The Keras model of a card, loaded once per process (keyed by the file's hash and the card)."""
    return _model(str(card.path), card.compute_key())


# the app names a dataset read with a label set by its `data_ref` (ferviz.data.splits) wherever it
# takes a `data_path`, so every cache built on the data is keyed by the labels too


@st.cache_resource(show_spinner="Reading the dataset ...", max_entries=4)
def _splits(path: str, stamp: tuple) -> dict[str, FERSplit]:
    return load_all(path, labels=stamp[2] if len(stamp) > 2 else "fer2013")


def _source(ref: str | None) -> tuple[str, tuple]:
    """The resolved dataset path and its (size, mtime, label set) stamp: the key of everything
    built on it."""
    from ..data.splits import resolve_data_path

    path, labels = parse_ref(ref)
    p = resolve_data_path(path)
    st_ = p.stat()
    return str(p), (st_.st_size, st_.st_mtime_ns, labels)


def dataset(path: str | None, labels: str | None = None) -> dict[str, FERSplit]:
    """All splits of the dataset at `path` (None: FERVIZ_DATA or data/; or a `data_ref`), read
    with `labels` ("fer2013": its own, "ferplus": FER+'s majority vote, `load_all`; default the
    reference's). DataError when they cannot be read, e.g. FER+ labels for the Kaggle image
    folders."""
    return _splits(*_source(path if labels is None else data_ref(parse_ref(path)[0], labels)))


def _duration(seconds: float) -> str:
    """'40 s', '2 min': a rough duration for a progress text."""
    return f"{max(5, round(seconds / 5.0) * 5)} s" if seconds < 90 else f"{max(2, round(seconds / 60))} min"


class _Progress:
    """A progress bar that says what is being computed, what it costs the first time and, once
    under way, about how long is left (measured from the progress so far: the machine's speed and
    load included). With `total`, the progress reads "k of total"; else the core's own words."""

    def __init__(self, head: str, note: str, total: int | None = None, last: tuple[float, str] | None = None):
        self.head, self.total, self.last, self.t0 = head, total, last, time.monotonic()
        self.bar = st.progress(0.0, text=f"{head} ({note})")

    def __call__(self, fraction: float, text: str) -> None:
        f = min(1.0, max(0.0, float(fraction)))
        spent = time.monotonic() - self.t0
        left = f" · about {_duration(spent * (1 - f) / f)} left" if f >= 0.05 and spent > 3 else ""
        if self.last and self.last[0] <= f < 1:  # a last step that reports no progress of its own
            left = f" · {self.last[1]}"
        done = f"{round(f * self.total):,} of {self.total:,}" if self.total else text
        self.bar.progress(f, text=f"{self.head}: {done}{left} (first time only; cached afterwards)")

    def empty(self) -> None:
        self.bar.empty()


def _views(card: ModelCard) -> int:
    from ..models.tta import views

    return len(views(card.tta, card.input.height, card.input.width))


def first_time_note() -> str:
    """What a first visit costs: up to about 3 min per model and split on 2 busy CPU cores, then cached."""
    cores = os.cpu_count() or 1
    return ((f"the first time takes up to about 3 min on {cores} CPU core{'s' if cores > 1 else ''}; cached afterwards"
             if cores <= 4 else "the first time only; cached afterwards")
            + "; `python -m ferviz precompute` computes it ahead of time")


@st.cache_resource(show_spinner=False, max_entries=64)
def _evaluation(card_path: str, card_key: str, data_path: str, split: str, data_hash: str) -> Evaluation:
    card = load_card(card_path)
    data = _current_split(data_path, split)
    cached = _has_cached_predictions(card, data)
    if cached:
        return evaluate(card, data)
    k = _views(card)
    bar = _Progress(f"Predicting {len(data):,} {split} faces with {card.name}"
                    + (f" in {k} test-time views" if k > 1 else ""), first_time_note(), total=len(data))
    try:
        return evaluate(card, data, model=model_for(card), progress=bar)
    finally:
        bar.empty()


def _has_cached_predictions(card: ModelCard, data: FERSplit) -> bool:
    from ..analysis.evaluation import prediction_cache_path

    return prediction_cache_path(card, data).exists()


def _current_split(data_path: str, split: str) -> FERSplit:
    return dataset(data_path or None)[split]


def evaluation(card: ModelCard, data: FERSplit, data_path: str | None) -> Evaluation:
    """Predictions and metrics of a model on a split: disk cache, then this process's memory."""
    return _evaluation(str(card.path), card.compute_key(), data_path or "", data.split, data.data_hash)


def cards(extra: tuple[str, ...] = ()) -> tuple[list[ModelCard], list[str]]:
    """Model cards in models/, FERVIZ_MODELS and extra folders (re-listed every 30 s, and at once
    when FERVIZ_MODELS changes)."""
    return _cards(tuple(extra), config.models_setting())


@st.cache_data(ttl=30, show_spinner=False)
def _cards(extra: tuple[str, ...], env_models: str) -> tuple[list[ModelCard], list[str]]:
    return list_cards(*extra)


def card_by_key(key: str, extra: tuple[str, ...] = ()) -> ModelCard | None:
    for c in cards(extra)[0]:
        if c.key == key:
            return c
    return None


# ------------------------------------------------------------------ data quality

def _key(card: ModelCard, data: FERSplit, data_path: str | None) -> tuple:
    return str(card.path), card.compute_key(), data_path or "", data.split, data.data_hash


@st.cache_resource(show_spinner="Looking for copies of images across the splits: perceptual hashes of every "
                                "image (first time only, about 10 s) ...", max_entries=4)
def _pairs(path: str, stamp: tuple) -> pd.DataFrame:
    from ..data.duplicates import find_duplicates

    return find_duplicates(_splits(path, stamp))


def duplicate_pairs(data_path: str | None) -> pd.DataFrame:
    """Exact and near duplicate pairs among all images of the dataset (`duplicates.find_duplicates`)."""
    return _pairs(*_source(data_path))


@st.cache_resource(show_spinner=False, max_entries=16)
def _training_copies(path: str, stamp: tuple, split: str) -> pd.DataFrame:
    from ..data.duplicates import training_duplicates

    return training_duplicates(_pairs(path, stamp), split)


def training_copies(data_path: str | None, split: str) -> pd.DataFrame:
    """The images of `split` with a copy in Training, indexed by id (`duplicates.training_duplicates`)."""
    return _training_copies(*_source(data_path), split)


@st.cache_resource(show_spinner=False, max_entries=4)
def _copy_summary(path: str, stamp: tuple) -> pd.DataFrame:
    from ..data.duplicates import split_summary

    return split_summary(_pairs(path, stamp), _splits(path, stamp))


def copy_summary(data_path: str | None) -> pd.DataFrame:
    """Per test split: images, exact and near copies of a Training image (`duplicates.split_summary`)."""
    return _copy_summary(*_source(data_path))


@st.cache_resource(show_spinner=False, max_entries=64)
def _leakage(card_path: str, card_key: str, data_path: str, split: str, data_hash: str) -> dict:
    from ..data.duplicates import leakage_metrics

    ev = _evaluation(card_path, card_key, data_path, split, data_hash)
    return leakage_metrics(ev, duplicate_pairs(data_path or None))


def leakage(card: ModelCard, data: FERSplit, data_path: str | None) -> dict:
    """Accuracy and macro-F1 without the images that have a copy in Training (`leakage_metrics`)."""
    evaluation(card, data, data_path)  # computed here first, with its progress bar
    return _leakage(*_key(card, data, data_path))


@st.cache_resource(show_spinner=False, max_entries=64)
def _issues(card_path: str, card_key: str, data_path: str, split: str, data_hash: str):
    from ..analysis.label_issues import evaluation_issues

    return evaluation_issues(_evaluation(card_path, card_key, data_path, split, data_hash))


def issues(card: ModelCard, data: FERSplit, data_path: str | None):
    """Label issues by confident learning on a model's probabilities (`label_issues.LabelIssues`).
    ValueError when the split has fewer than two classes."""
    evaluation(card, data, data_path)
    return _issues(*_key(card, data, data_path))


@st.cache_resource(show_spinner=False, max_entries=64)
def _issue_cells(card_path: str, card_key: str, data_path: str, split: str, data_hash: str) -> np.ndarray:
    li = _issues(card_path, card_key, data_path, split, data_hash)
    k = _evaluation(card_path, card_key, data_path, split, data_hash).probs.shape[1]
    cells = np.zeros((k, k), np.int64)
    np.add.at(cells, (li.labels[li.flagged], li.preds[li.flagged]), 1)
    return cells


def issue_cells(card: ModelCard, data: FERSplit, data_path: str | None) -> np.ndarray:
    """Likely label issues per confusion cell (K x K over the evaluation's class columns, rows
    true, columns predicted; `Evaluation.rows` x `Evaluation.columns` is the shown rectangle)."""
    issues(card, data, data_path)
    return _issue_cells(*_key(card, data, data_path))


def _readable(message: str, path: str) -> str:
    """A core message with full paths shortened to file names (the user knows where the data is)."""
    from ..data.ferplus import SHIPPED

    return message.replace(str(SHIPPED), "ferviz's FER+ votes (fer2013new.csv)").replace(path, Path(path).name)


@st.cache_resource(show_spinner=False, max_entries=16)
def _ferplus(path: str, stamp: tuple, split: str):
    from ..data.splits import align_votes

    try:
        return align_votes(_splits(path, stamp)[split]), None
    except DataError as e:
        return None, _readable(str(e), path)


def ferplus(data_path: str | None, split: str):
    """(AlignedVotes, None) when FER+'s votes align to `split`, else (None, why not)."""
    return _ferplus(*_source(data_path), split)


@st.cache_resource(show_spinner=False, max_entries=64)
def _ferplus_stats(card_path: str, card_key: str, data_path: str, split: str, data_hash: str) -> dict | None:
    from ..analysis.agreement import ferplus_metrics

    aligned, _ = ferplus(data_path or None, split)
    if aligned is None:
        return None
    return ferplus_metrics(_evaluation(card_path, card_key, data_path, split, data_hash), aligned)


def ferplus_stats(card: ModelCard, data: FERSplit, data_path: str | None) -> dict | None:
    """A model against the FER+ majority (`ferplus.ferplus_metrics`), None when FER+ does not align."""
    evaluation(card, data, data_path)
    return _ferplus_stats(*_key(card, data, data_path))


@st.cache_resource(show_spinner=False, max_entries=16)
def _ferplus_status(path: str, stamp: tuple) -> list[dict]:
    out = []
    for name, split in _splits(path, stamp).items():
        aligned, why = _ferplus(path, stamp, name)
        row = {"split": name, "images": len(split), "aligned": aligned is not None, "why": why}
        if aligned is not None and len(aligned):
            votes = aligned.votes
            row.update(unanimous=float((votes.max(axis=1) == votes.sum(axis=1)).mean()),
                       ambiguous=float(aligned.ambiguous.mean()), not_a_face=int(aligned.not_a_face.sum()))
        out.append(row)
    return out


def ferplus_status(data_path: str | None) -> list[dict]:
    """Per split: whether FER+ aligns (else why not) and its unanimous/ambiguous shares and
    not-a-face count."""
    return _ferplus_status(*_source(data_path))


@st.cache_resource(show_spinner=False, max_entries=64)
def _ece(card_path: str, card_key: str, data_path: str, split: str, data_hash: str) -> float:
    from ..analysis.calibration import evaluation_ece

    return evaluation_ece(_evaluation(card_path, card_key, data_path, split, data_hash))


def ece(card: ModelCard, data: FERSplit, data_path: str | None) -> float:
    """Expected calibration error of the top label (15 bins, `calibration.ece`)."""
    evaluation(card, data, data_path)
    return _ece(*_key(card, data, data_path))


@st.cache_resource(show_spinner="Fitting the temperature on PublicTest (a few seconds) ...", max_entries=16)
def _calibration(card_path: str, card_key: str, data_path: str, fit_hash: str, test_hash: str):
    from ..analysis.calibration import calibrate_evaluations

    fit = _evaluation(card_path, card_key, data_path, "PublicTest", fit_hash)
    test = _evaluation(card_path, card_key, data_path, "PrivateTest", test_hash)
    return calibrate_evaluations(fit, test, per_class=True)


def calibration(card: ModelCard, data_path: str | None):
    """Temperature scaling fitted on PublicTest, measured on PrivateTest, per class too
    (`calibration.calibrate_evaluations`). DataError when a split is missing."""
    splits = dataset(data_path)
    fit, test = splits["PublicTest"], splits["PrivateTest"]
    evaluation(card, fit, data_path)
    evaluation(card, test, data_path)
    return _calibration(str(card.path), card.compute_key(), data_path or "", fit.data_hash, test.data_hash)


def cache_root() -> Path:
    from ..config import cache_dir

    return cache_dir()


@st.cache_resource(show_spinner="Finding facial landmarks ...", max_entries=8)
def _landmarks(data_path: str, split: str, data_hash: str):
    from ..data.landmarks import cached_landmarks

    data = _current_split(data_path, split)
    return cached_landmarks(data.images, data.data_hash)


def landmarks(data: FERSplit, data_path: str | None):
    """Five landmarks per face of the split (`landmarks.Landmarks`), disk-cached by the data hash."""
    return _landmarks(data_path or "", data.split, data.data_hash)


@st.cache_resource(show_spinner=False, max_entries=16)
def _embedding(card_path: str, card_key: str, data_path: str, split: str, data_hash: str, method: str,
               seed: int) -> pd.DataFrame:
    from ..analysis.embedding import cached_embedding, embedding_cache_path

    card = load_card(card_path)
    data = _current_split(data_path, split)
    if embedding_cache_path(card, data, method, seed).is_file():
        return cached_embedding(None, card, data, method, seed)
    k = _views(card)
    how = "UMAP takes up to about a minute more" if method == "umap" else "PCA takes a few seconds more"
    bar = _Progress(f"Embedding map of {len(data):,} {split} faces: {card.name}'s features"
                    + (f" in {k} test-time views" if k > 1 else "") + f", then {method.upper()}",
                    f"{first_time_note()}; {how}", last=(0.8, how))
    try:
        return cached_embedding(None, card, data, method, seed, progress=bar)
    finally:
        bar.empty()


def embedding(card: ModelCard, data: FERSplit, data_path: str | None, method: str = "umap",
              seed: int = 0) -> pd.DataFrame:
    """The embedding map's table (`embedding.cached_embedding`): disk cache, then memory. Computed
    before the evaluation: a cold one's model pass fills the prediction cache too (one pass, not two)."""
    df = _embedding(*_key(card, data, data_path), method, seed)
    evaluation(card, data, data_path)
    return df


# ------------------------------------------------------------------ failure slices

@st.cache_resource(show_spinner=False, max_entries=8)
def _image_attributes(data_path: str, split: str, data_hash: str) -> pd.DataFrame:
    from ..analysis.attributes import attributes_cache_path, image_attributes

    data = _current_split(data_path, split)
    if attributes_cache_path(data.data_hash).is_file():
        return image_attributes(data.images, data.data_hash)
    bar = _Progress(f"Measuring {len(data):,} {split} faces: brightness, contrast, sharpness and the landmarks' "
                    "roll, yaw, scale and centre", "a few seconds per thousand faces the first time")
    try:
        lm = _landmarks(data_path, split, data_hash)
        bar(0.8, "")
        return image_attributes(data.images, data.data_hash, landmarks=lm)
    finally:
        bar.empty()


@st.cache_resource(show_spinner=False, max_entries=16)
def _face_attributes(card_path: str, card_key: str, data_path: str, split: str, data_hash: str) -> pd.DataFrame:
    from ..analysis.attributes import face_attributes

    data = _current_split(data_path, split)
    facts = {}
    try:
        facts["issues"] = _issues(card_path, card_key, data_path, split, data_hash)
    except ValueError:
        pass
    if split != "Training" and "Training" in dataset(data_path or None):
        facts["copies"] = training_copies(data_path or None, split)
    facts["aligned"] = ferplus(data_path or None, split)[0]
    return face_attributes(data, base=_image_attributes(data_path, split, data_hash), **facts)


def face_attributes(card: ModelCard, data: FERSplit, data_path: str | None) -> pd.DataFrame:
    """Every face's attributes with this model's data facts (`attributes.face_attributes`)."""
    evaluation(card, data, data_path)
    return _face_attributes(*_key(card, data, data_path))


@st.cache_resource(show_spinner="Searching the slices and growing the error tree ...", max_entries=16)
def _failures(card_path: str, card_key: str, data_path: str, split: str, data_hash: str):
    from ..analysis.error_tree import error_tree
    from ..analysis.slices import find_slices

    attrs = _face_attributes(card_path, card_key, data_path, split, data_hash)
    ev = _evaluation(card_path, card_key, data_path, split, data_hash)
    # a face whose true class the model cannot output is neither a failure nor a success: left out
    return (find_slices(attrs, ev.correct, scored=ev.scored), error_tree(attrs, ev.correct, scored=ev.scored))


def failures(card: ModelCard, data: FERSplit, data_path: str | None):
    """(SliceSearch, ErrorTree) of a model on a split (`slices.find_slices`, `error_tree.error_tree`)."""
    face_attributes(card, data, data_path)
    return _failures(*_key(card, data, data_path))


def features_cached(card: ModelCard, data: FERSplit) -> bool:
    """Whether the model's penultimate features of the split are on disk (clusters are then quick)."""
    from ..analysis.embedding import features_cache_path

    return features_cache_path(card, data).is_file()


@st.cache_resource(show_spinner=False, max_entries=16)
def _clusters(card_path: str, card_key: str, data_path: str, split: str, data_hash: str):
    from ..analysis.embedding import cached_features
    from ..analysis.error_clusters import error_clusters

    card = load_card(card_path)
    data = _current_split(data_path, split)
    ev = _evaluation(card_path, card_key, data_path, split, data_hash)
    attrs = _face_attributes(card_path, card_key, data_path, split, data_hash)
    if features_cached(card, data):
        feats = cached_features(None, card, data)
    else:
        k = _views(card)
        bar = _Progress(f"{card.name}'s penultimate features of {len(data):,} {split} faces"
                        + (f" in {k} test-time views" if k > 1 else ""), first_time_note())
        try:
            feats = cached_features(model_for(card), card, data, progress=bar)
        finally:
            bar.empty()
    return error_clusters(feats, ev.correct, attrs, ev.labels, ev.preds, ev.classes,
                          confidence=ev.probs.max(axis=1), scored=ev.scored)


def clusters(card: ModelCard, data: FERSplit, data_path: str | None):
    """The errors clustered in the model's penultimate space and described (`error_clusters`)."""
    face_attributes(card, data, data_path)
    return _clusters(*_key(card, data, data_path))
