"""A paged gallery of faces with labels, top-3 probabilities and an Inspect button per tile."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from ..data import FERSplit
from ..overlay import face_rgb, overlay
from . import state
from .context import current

TILE_PX = 144
RIGHT, WRONG = ":green[✓]", ":red[✗]"  # text marks: emoji need fonts many machines lack


def tile_caption(row: pd.Series) -> str:
    """'true fear → sad' and the top-3 probabilities, for one error-table row."""
    mark = RIGHT if row["true"] == row["pred"] else WRONG
    top = " · ".join(f"{row[f'top{k}']} {row[f'top{k}_p']:.0%}" for k in (1, 2, 3))
    return f"{mark} true **{row['true']}** → **{row['pred']}**  \n{top}"


def paged(df: pd.DataFrame, key: str, per_page: int) -> tuple[pd.DataFrame, int, int]:
    """The rows of the current page (page number kept in session state under `key`)."""
    pages = max(1, math.ceil(len(df) / per_page))
    page = min(max(1, int(st.session_state.get(key, 1))), pages)
    st.session_state[key] = page
    return df.iloc[(page - 1) * per_page: page * per_page], page, pages


def pager(key: str, pages: int) -> None:
    if pages > 1:
        st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=key)


def show(rows: pd.DataFrame, split: FERSplit, *, maps: dict[str, np.ndarray] | None = None,
         cols: int = 6, key_prefix: str = "g", alpha: float = 0.45, order: list[str] | None = None) -> None:
    """Render tiles for error-table rows; `maps` (id -> map) adds an attribution overlay.

    `order` is the whole gallery's id order, which the inspector's previous/next follow.
    """
    if rows.empty:
        st.info("No images here.")
        return
    grid = st.columns(cols)
    for i, (_, row) in enumerate(rows.iterrows()):
        face = split.images[int(row["pos"])]
        img = overlay(face, maps[row["id"]], alpha, size=(TILE_PX, TILE_PX)) if maps and row["id"] in maps \
            else face_rgb(face, (TILE_PX, TILE_PX))
        with grid[i % cols]:
            st.image(img, width=TILE_PX)
            st.markdown(tile_caption(row))
            st.caption(str(row["id"]))
            if st.button("Inspect", key=f"{key_prefix}_inspect_{row['id']}", width="stretch"):
                state.set_gallery(list(order) if order is not None else list(rows["id"]),
                                  state.gallery_key(current()))
                state.open_image(row["id"])
