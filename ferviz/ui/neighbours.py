"""The nearest Training faces of a face (inspector, Your face) and the prototypes of each class:
cached computations (one index per model identity, data and views; one prototype table per model,
split and count) and the small gallery of neighbours."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import streamlit as st

from ..analysis import neighbours as nb
from ..analysis import prototypes as pr
from ..data.splits import DataError, FERSplit
from ..figures.overlay import face_rgb
from ..labels import NAMES
from ..models import ModelCard, load_card
from . import resources, state
from .context import Context, show_error
from .gallery import RIGHT, TILE_CSS, WRONG
from .resources import _Progress, _views

VIEWS = "tta"  # the index and the queries: the card's test-time views, as the shown prediction
TILE_PX = 112
K_CHOICES = (4, 8, 16)


#: seconds per face and view of the slowest shipped model (VGG-small) on 2 busy CPU cores (measured:
#: 8.7 s for 500 faces in 10 views); the baseline CNN takes about a third of it
_SECONDS_PER_VIEW = 0.0018


def _minutes(n: int, views: int) -> str:
    """A rough first-time cost of the penultimate features of n faces on this machine's CPU."""
    cores = os.cpu_count() or 1
    if cores > 4:
        return "the first time only; cached afterwards"
    minutes = max(1, round(n * views * _SECONDS_PER_VIEW / 60))
    return f"the first time takes up to about {minutes} min on {cores} CPU core{'s' if cores > 1 else ''}; cached afterwards"


@st.cache_resource(show_spinner="Reading the Training index ...", max_entries=4)
def _index(card_path: str, card_key: str, data_path: str, split: str, data_hash: str, views: str) -> nb.TrainingIndex:
    card = load_card(card_path)
    training = resources.dataset(data_path or None)[split]
    if nb.is_cached(card, training, views):
        return nb.training_index(None, card, training, views=views)
    k = _views(card) if views == "tta" else 1
    bar = _Progress(f"Indexing {len(training):,} Training faces with {card.name}"
                    + (f" in {k} test-time views" if k > 1 else ""), _minutes(len(training), k), total=len(training))
    try:
        return nb.training_index(resources.model_for(card), card, training, views=views, progress=bar)
    finally:
        bar.empty()


def training_index(card: ModelCard, training: FERSplit, data_path: str | None) -> nb.TrainingIndex:
    """The index over Training (`neighbours.training_index`): disk cache, then this process's memory."""
    return _index(str(card.path), card.compute_key(), data_path or "", training.split, training.data_hash, VIEWS)


@st.cache_data(max_entries=256, show_spinner=False)
def _query(card_path: str, card_key: str, face_bytes: bytes, shape: tuple, views: str) -> np.ndarray:
    card = load_card(card_path)
    face = np.frombuffer(face_bytes, np.uint8).reshape(shape)
    return nb.query_features(resources.model_for(card), card, face, views)


def query(card: ModelCard, face: np.ndarray) -> np.ndarray:
    """Penultimate features (1, D) of one face, the index's way (cached per model and pixels)."""
    f = np.ascontiguousarray(face, np.uint8)
    return _query(str(card.path), card.compute_key(), f.tobytes(), f.shape, VIEWS)


@st.cache_data(max_entries=256, show_spinner=False)
def _table(card_path: str, card_key: str, data_path: str, split: str, data_hash: str, face_bytes: bytes, shape: tuple,
           image_id: str | None, own: bool, k: int) -> pd.DataFrame:
    card = load_card(card_path)
    training = resources.dataset(data_path or None)[split]
    index = training_index(card, training, data_path)
    preds = resources.evaluation(card, training, data_path).preds
    face = np.frombuffer(face_bytes, np.uint8).reshape(shape)
    return nb.neighbours(index, query(card, face), [image_id or "upload"], k=k, preds=preds,
                         exclude=[image_id] if own else None)


def neighbour_table(card: ModelCard, training: FERSplit, data_path: str | None, face: np.ndarray,
                    image_id: str | None, own: bool, k: int) -> pd.DataFrame:
    """The k nearest Training faces of one face (`neighbours.neighbours`; `own`: the face is the
    Training face `image_id`, which must not find itself), cached per model, data, pixels and k."""
    training_index(card, training, data_path)  # first, outside the cached table: their progress bars show once
    resources.evaluation(card, training, data_path)
    f = np.ascontiguousarray(face, np.uint8)
    return _table(str(card.path), card.compute_key(), data_path or "", training.split, training.data_hash,
                  f.tobytes(), f.shape, image_id, bool(own), int(k))


def _training(ctx: Context) -> FERSplit | None:
    if ctx.splits is None:
        st.info("The nearest Training faces need FER2013 (see **Dataset**).")
        return None
    try:
        return ctx.splits["Training"]
    except DataError as e:
        st.info(f"No Training faces to compare with: {e}")
        return None


def section(ctx: Context, face: np.ndarray, *, key: str, image_id: str | None = None,
            label: int | None = None) -> None:
    """The "Nearest Training faces" section for one face of the split shown (`image_id`, `label`)
    or an uploaded crop (no id): the sentence and a gallery of the k nearest, each with its label,
    the model's prediction, its distance and a button that opens it. Built on a click the first
    time (the Training pass takes minutes on a CPU), at once when the index is cached."""
    st.subheader("Nearest Training faces", divider="gray")
    card = ctx.card
    training = _training(ctx)
    if card is None or training is None:
        return
    st.caption(f"The Training faces {card.name} sees most alike: cosine distance between the features just before "
               "its classification layer (averaged over the card's test-time views, like the prediction shown). "
               "A copy of this face in Training is at distance 0.")
    c1, _ = st.columns([2, 5])
    k = c1.select_slider("Neighbours", K_CHOICES, value=nb.DEFAULT_K, key=f"{key}_nb_k")
    if not nb.is_cached(card, training, VIEWS):
        views = _views(card)
        notice = st.empty()  # gone once the index is being built
        with notice.container():
            st.caption(f"This needs {card.name}'s features of all {len(training):,} Training faces"
                       + (f" in {views} views" if views > 1 else "") + f": {_minutes(len(training), views)}.")
            clicked = st.button("Find the nearest Training faces", key=f"{key}_nb_build",
                                icon=":material/travel_explore:")
        if not clicked:
            return
        notice.empty()
    try:
        own = image_id is not None and ctx.split is not None and ctx.split.data_hash == training.data_hash
        df = neighbour_table(card, training, ctx.data_path, face, image_id, own, k)
    except Exception as e:
        show_error(e)
        return
    st.markdown(nb.neighbourhood_sentence(df, NAMES[label] if label is not None else None))
    tiles(ctx, training, df, key)


def distance_text(d: float) -> str:
    """A tile's distance: a copy badge below `COPY_DISTANCE`, small distances in scientific notation."""
    if d < nb.COPY_DISTANCE:
        return ":violet-badge[copy · distance 0]"
    return f"distance {d:.1e}" if d < 1e-3 else f"distance {d:.3f}"


def tiles(ctx: Context, training: FERSplit, df: pd.DataFrame, key: str, cols: int = 8) -> None:
    """One tile per neighbour: the face, its label and the model's prediction, the distance, its
    id and a button that opens it (in Training) in the inspector."""
    pos = df.attrs["positions"]
    st.html(TILE_CSS)  # the gallery's tiles: badges wrap, Open buttons level across the row
    grid = None
    for i, (p, (_, row)) in enumerate(zip(pos, df.iterrows())):
        if i % cols == 0:
            grid = st.columns(cols)
        with grid[i % cols], st.container(key=f"{key}_nb_tile_{i}"):
            st.image(face_rgb(training.images[int(p)], (TILE_PX, TILE_PX)), width=TILE_PX)
            mark = RIGHT if row["neighbour_label"] == row["neighbour_pred"] else WRONG
            st.markdown(f"{mark} **{row['neighbour_label']}** → **{row['neighbour_pred']}**")
            st.markdown(distance_text(float(row["distance"])))
            st.caption(str(row["neighbour_id"]))
            if st.button("Open", key=f"{key}_nb_inspect_{i}", width="stretch",
                         help="Open this Training face in the inspector"):
                open_training(ctx, training, list(df["neighbour_id"]), str(row["neighbour_id"]))


def open_training(ctx: Context, training: FERSplit, order: list[str], image_id: str) -> None:
    """Switch the split to Training and open `image_id` there (previous/next walk `order`)."""
    st.session_state["sel_split"] = training.split
    st.session_state["sel_true"] = st.session_state["sel_pred"] = None  # Training has its own cells
    state.set_gallery(order, state.gallery_key(dataclasses.replace(ctx, split=training)))
    state.open_image(image_id)


# ------------------------------------------------------------------ prototypes

@st.cache_resource(show_spinner=False, max_entries=16)
def _prototypes(card_path: str, card_key: str, data_path: str, split: str, data_hash: str, n: int) -> pd.DataFrame:
    from ..analysis.embedding import features_cache_path

    card = load_card(card_path)
    data = resources.dataset(data_path or None)[split]
    if features_cache_path(card, data, VIEWS).is_file():
        return pr.split_prototypes(None, card, data, views=VIEWS, n_prototypes=n, n_criticisms=n)
    k = _views(card)
    bar = _Progress(f"{card.name}'s features of {len(data):,} {split} faces" + (f" in {k} test-time views" if k > 1
                                                                                else ""),
                    _minutes(len(data), k), total=len(data))
    try:
        return pr.split_prototypes(resources.model_for(card), card, data, views=VIEWS, n_prototypes=n, n_criticisms=n,
                                   progress=bar)
    finally:
        bar.empty()


def prototypes(card: ModelCard, data: FERSplit, data_path: str | None, n: int) -> pd.DataFrame:
    """Prototypes and criticisms per class of a split (`prototypes.split_prototypes`), in memory
    once computed. Computed before the evaluation: a cold pass fills the prediction cache too."""
    df = _prototypes(str(card.path), card.compute_key(), data_path or "", data.split, data.data_hash, int(n))
    resources.evaluation(card, data, data_path)
    return df
