"""A paged gallery of faces with labels, top-3 probabilities, badges and an Inspect button per tile.

Badges say whose fault an error likely is: "likely label issue" (confident learning flags the
label) or "likely model error"; "also in Training as happy" / "near copy in Training as ..."
(the face, or the same photo, is a Training image); and, when FER+'s votes align with the
data, "FER+ agrees with the model", "FER+ agrees with the label", "ambiguous (top ≤ 5/10)"
and "not a face". Badges wrap rather than end in "…", and the Inspect buttons of a row of tiles
line up at its bottom (`TILE_CSS`).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

# the views' vocabulary and tables live in the core (the export builds the same tables)
from ..analysis.error_views import (  # noqa: F401  (the views' vocabulary, used by the pages)
    ALL,
    FERPLUS_COLUMNS,
    FILTERS,
    ISSUES_ONLY,
    LABEL_ISSUE,
    MODEL_ERROR,
    MODEL_ONLY,
    QUALITY_COLUMNS,
    SORTS,
    annotate,
    arrange,
    view_title,
    vote_text,
)
from ..figures.overlay import face_rgb, overlay
from . import state
from .context import Context

TILE_PX = 144
RIGHT, WRONG = ":green[✓]", ":red[✗]"  # text marks: emoji need fonts many machines lack
APART = ":gray[○]"  # a face of a class the model cannot output: counted apart, neither right nor wrong

SCORE_NOTE = ("Label-issue score: the model's probability of the image's given label (confident "
              "learning's self-confidence); the lower it is, the more likely the label is wrong.")
SORT_HELP = ("confidence: most confident mistakes first; loss: highest cross-entropy first; "
             "label-issue score: most likely label issue first (lowest probability of the given label, "
             "confident learning's ranking)")
#: tiles (containers keyed ``<prefix>_tile_<id>``) fill their column, badges wrap instead of ending
#: in "…", and the Inspect button sits at the tile's bottom, level across a row of tiles
TILE_CSS = """<style>
[data-testid="stLayoutWrapper"]:has(> [class*="st-key-"][class*="_tile_"]) { flex: 1 1 auto; }
[class*="st-key-"][class*="_tile_"] .stMarkdownBadge {
  white-space: normal; overflow: visible; text-overflow: clip; overflow-wrap: anywhere; }
[class*="st-key-"][class*="_tile_"] > [class*="st-key-"][class*="_inspect_"] { margin-top: auto; }
</style>"""
#: badge text (or its start) -> colour of Streamlit's :color-badge[] markdown
_COLORS = {LABEL_ISSUE: "orange", MODEL_ERROR: "red", "also in Training": "violet",
           "near copy in Training": "violet", "FER+ agrees with the model": "green",
           "FER+ agrees with the label": "blue", "ambiguous": "gray", "not a face": "gray"}


def plural(n: int, word: str) -> str:
    """'1 likely label issue', '31 likely label issues' (the count in bold)."""
    return f"**{n:,}** {word}{'' if n == 1 else 's'}"


def tile_caption(row: pd.Series, *, cell: bool = True) -> str:
    """The mark and 'true fear → sad' (the mark alone when `cell` is False: a one-cell gallery
    names its cell once, in its heading), the top-3 probabilities and, when the row carries a
    label-issue score, what it says (`issue_text`; without the class names in a one-cell gallery,
    whose heading says them once: `cell_issue_note`)."""
    outside = "scored" in row.index and not bool(row["scored"])  # a class the model cannot output
    mark = APART if outside else RIGHT if row["true"] == row["pred"] else WRONG
    top = " · ".join(f"{row[f'top{k}']} {row[f'top{k}_p']:.0%}" for k in (1, 2, 3))
    text = f"{mark} true **{row['true']}** → **{row['pred']}**  \n{top}" if cell else f"{mark} {top}"
    if "label_issue_score" in row.index and pd.notna(row["label_issue_score"]):
        text += "  \n:small[" + issue_text(row, named=cell) + "]"
    return text


def issue_text(row: pd.Series, *, named: bool = True) -> str:
    """What a row's label-issue score says, and in which direction. The score is the model's
    probability of the given label; an error confident learning flags has a label that looks
    wrong in favour of the predicted class, an unflagged one a label it does not doubt.
    `named=False` leaves the class names out (a one-cell gallery says them once)."""
    score = f"label-issue score {row['label_issue_score']:.3f}"
    label = f"the label **{row['true']}**" if named else "the label"
    if row["true"] == row["pred"]:
        return f"{score}: the model agrees with the label"
    if row.get("likely_label_issue"):
        return f"{score}: {label} looks wrong" + (f" (model favours **{row['pred']}**)" if named else "")
    return f"{score}: {label} is not in doubt"


def cell_issue_note(true: str, pred: str) -> str:
    """A one-cell gallery's words, said once, for the direction of its tiles' label issues."""
    return (f"In this cell, a label that looks wrong is **{true}**, in favour of the model's **{pred}**; "
            "a label not in doubt makes the error the model's.")


def badge_color(text: str) -> str:
    for start, color in _COLORS.items():
        if text.startswith(start):
            return color
    return "gray"


def row_badges(row: pd.Series) -> list[str]:
    """The badge texts of one annotated row, in the order a tile shows them."""
    out = []
    if row.get("verdict"):
        out.append(row["verdict"])
    if row.get("training_copy"):
        out.append(row["training_copy"])
    if row.get("ferplus_badges"):
        out += row["ferplus_badges"].split(" | ")
    return out


def badge_markdown(badges: list[str]) -> str:
    """Streamlit markdown for badge texts (square brackets would end a badge: replaced)."""
    def clean(t: str) -> str:
        return t.replace("[", "(").replace("]", ")")
    return " ".join(f":{badge_color(b)}-badge[{clean(b)}]" for b in badges)


def paged(df: pd.DataFrame, key: str, per_page: int) -> tuple[pd.DataFrame, int, int]:
    """The rows of the current page (page number kept in session state under `key`)."""
    pages = max(1, math.ceil(len(df) / per_page))
    page = min(max(1, int(st.session_state.get(key, 1))), pages)
    st.session_state[key] = page
    return df.iloc[(page - 1) * per_page: page * per_page], page, pages


def pager(key: str, pages: int) -> None:
    if pages > 1:
        st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=key)


def show(rows: pd.DataFrame, ctx: Context, *, maps: dict[str, np.ndarray] | None = None,
         cols: int = 6, key_prefix: str = "g", alpha: float = 0.45, order: list[str] | None = None,
         empty: str = "No images here.", cell: bool = True) -> None:
    """Render tiles for error-table rows; `maps` (id -> map) adds an attribution overlay and
    annotated rows (see `annotate`) get their badges.

    `order` is the whole gallery's id order, which the inspector's previous/next follow;
    `cell=False` leaves 'true fear → sad' off the tiles (a one-cell gallery's heading says it).
    """
    split = ctx.split
    if rows.empty:
        st.info(empty)
        return
    st.html(TILE_CSS)  # only a style: it takes no space
    grid = None
    for i, (_, row) in enumerate(rows.iterrows()):
        if i % cols == 0:  # one row of columns at a time: tiles of a row start level, whatever their badges
            grid = st.columns(cols)
        face = split.images[int(row["pos"])]
        m = maps.get(row["id"]) if maps else None
        blank = m is not None and not np.nan_to_num(m).max() > 0  # no positive evidence: no flat overlay
        img = overlay(face, m, alpha, size=(TILE_PX, TILE_PX)) if m is not None and not blank \
            else face_rgb(face, (TILE_PX, TILE_PX))
        with grid[i % cols], st.container(key=f"{key_prefix}_tile_{row['id']}"):
            st.image(img, width=TILE_PX)
            if blank:
                st.caption(":red[Grad-CAM: no positive evidence]")
            st.markdown(tile_caption(row, cell=cell))
            badges = row_badges(row)
            if badges:
                st.markdown(badge_markdown(badges))
            st.caption(str(row["id"]))
            if st.button("Inspect", key=f"{key_prefix}_inspect_{row['id']}", width="stretch"):
                state.set_gallery(list(order) if order is not None else list(rows["id"]),
                                  state.gallery_key(ctx))
                state.open_image(row["id"])


class Quality:
    """What the badges are built from for the current model and split: label issues, Training
    copies and aligned FER+ votes (each None when unavailable; `notes` say why)."""

    def __init__(self, ctx, card=None) -> None:
        from . import resources

        card = card or ctx.card
        self.notes: list[str] = []
        self.issues = self.copies = self.aligned = None
        self.ferplus_why: str | None = None
        self.classes = set(card.class_ids)  # what the model can output: other true classes are counted apart
        if ctx.split.label_set == "ferplus":  # the badges compare FER+ with itself: say so once
            self.notes.append("The labels are FER+'s majority vote, so every face with FER+ votes has the "
                              "“FER+ agrees with the label” badge.")
        try:
            self.issues = resources.issues(card, ctx.split, ctx.data_path)
        except ValueError as e:
            self.notes.append(f"No label-issue scores: {e}.")
        try:
            self.copies = resources.training_copies(ctx.data_path, ctx.split.split)
        except Exception as e:  # a message, never a traceback; the gallery works without badges
            self.notes.append(f"No Training-copy badges: {e}")
        self.aligned, self.ferplus_why = resources.ferplus(ctx.data_path, ctx.split.split)

    @property
    def ferplus_short(self) -> str | None:
        """Why there are no FER+ votes, in one clause for captions beside a face (the Overview and
        the Dataset page give the whole explanation)."""
        from ..data.ferplus import REFUSAL

        if self.ferplus_why and REFUSAL in self.ferplus_why:
            return "they need the original fer2013.csv (the Dataset page says where to get it)"
        return self.ferplus_why

    def annotate(self, rows: pd.DataFrame) -> pd.DataFrame:
        return annotate(rows, self.issues, self.copies, self.aligned)

    def badges(self, image_id: str, true: int, pred: int) -> list[str]:
        """The badges of one image of the split (the inspector's)."""
        from ..analysis.label_issues import OUTSIDE
        from ..data.ferplus import badges as fp_badges

        out = []
        if true not in self.classes:
            out.append(OUTSIDE)
        elif self.issues is not None and true != pred:
            pos = int(np.flatnonzero(self.issues.ids == str(image_id))[0])
            out.append(LABEL_ISSUE if self.issues.flagged[pos] else MODEL_ERROR)
        if self.copies is not None and str(image_id) in self.copies.index:
            out.append(str(self.copies.loc[str(image_id), "badge"]))
        if self.aligned is not None:
            k = self.aligned.index_of(str(image_id))
            out += fp_badges(self.aligned.votes[k], true, pred, named=bool(self.aligned.named[k]))
        return out
