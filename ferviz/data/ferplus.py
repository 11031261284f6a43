"""FER+ votes: ten crowd-sourced labels per FER2013 image (Microsoft FERPlus, MIT licence).

ferviz ships ``ferplus_data/fer2013new.csv``: one row per row of the original fer2013.csv,
in the same order (columns Usage, Image name, neutral, happiness, surprise, sadness, anger,
disgust, fear, contempt, unknown, NF). Here a vote matrix has ``VOTE_CLASSES`` columns: the
seven FER2013 classes in FER2013 order (neutral->neutral, happiness->happy, ... anger->angry),
then contempt, unknown and NF (not a face).

* Majority: the column with the most votes. A tie has no majority (``tied``): the image is
  left out of every comparison with FER+ (metrics, agreement badges, the FER+ folder form's
  labels), like Microsoft's majority mode, which turns such images into "unknown". (For display
  only, :func:`majority` still names the first tied column in the file's order.) A tie means at
  most 5 of 10 votes, so a tied image is always flagged ambiguous.
* ``ambiguous``: the top column has at most 5 votes (every row has 10 votes but one, with 9).
* ``not_a_face``: NF is the majority, or FER+ gave the row no image name (173 rows).

Alignment to a loaded dataset needs fer2013.csv row numbers: the CSV form's ids are row
numbers, and the FER+ folder form's reader maps each image name back to its row. The Kaggle
image-folder form has no row order and is refused (`REFUSAL` says where to get fer2013.csv).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, NotFoundError
from ..labels import EXPRESSIONS, NAMES, normalise_split

SHIPPED = Path(__file__).resolve().parent / "ferplus_data" / "fer2013new.csv"
N_ROWS = 35887
#: the vote columns: index k is class k of ferviz.labels.NAMES (its "not a face" spelt NF here)
VOTE_CLASSES: tuple[str, ...] = NAMES[:-1] + ("NF",)
FILE_VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                     "contempt", "unknown", "NF")
FILE_COLUMNS = ("Usage", "Image name") + FILE_VOTE_COLUMNS
_RENAME = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
           "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt",
           "unknown": "unknown", "NF": "NF"}
#: position in VOTE_CLASSES of each file column, in file order
FILE_TO_VOTE = np.array([VOTE_CLASSES.index(_RENAME[c]) for c in FILE_VOTE_COLUMNS])
NF = VOTE_CLASSES.index("NF")
NAME_RE = re.compile(r"fer\d+\.png")
#: the challenge whose fer2013.csv the votes follow, as Kaggle names it
KAGGLE_CHALLENGE = "Challenges in Representation Learning: Facial Expression Recognition Challenge"
KAGGLE_URL = "https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge"
REFUSAL = ("FER+ votes need the original fer2013.csv, whose rows they follow; the Kaggle image-folder "
           "download (archive.zip with train/ and test/ folders of JPEGs) has no row order. Get fer2013.csv from "
           f"the FER2013 challenge on Kaggle (\"{KAGGLE_CHALLENGE}\") and put it in data/, or set "
           "FERVIZ_DATA to its path (the FER+ folders work too)")
AMBIGUOUS, NOT_A_FACE = "ambiguous (top ≤ 5/10)", "not a face"
AGREES_MODEL, AGREES_LABEL = "FER+ agrees with the model", "FER+ agrees with the label"


@dataclass(frozen=True)
class FerPlusVotes:
    """The rows of a fer2013new.csv: votes (R, 10) in VOTE_CLASSES order, usage, image names."""

    votes: np.ndarray
    usage: np.ndarray  # (R,) split names
    names: np.ndarray  # (R,) str, "" where FER+ has no image
    source: str

    def __len__(self) -> int:
        return int(len(self.votes))

    def rows_by_name(self) -> dict[tuple[str, str], int]:
        """(split, image name) -> the first row with that name (FER+ gives a few identical
        images one file name)."""
        out: dict[tuple[str, str], int] = {}
        for r in np.flatnonzero(self.names != ""):
            out.setdefault((str(self.usage[r]), str(self.names[r])), int(r))
        return out


_LOADED: dict[tuple, FerPlusVotes] = {}


def load_votes(path: str | Path | None = None, *, expected_rows: int | None = N_ROWS) -> FerPlusVotes:
    """Read and check a fer2013new.csv (default: the copy shipped with ferviz).

    DataError names the file and the problem (missing, wrong columns, not `expected_rows`
    rows, a bad Usage, vote or image name); nothing is returned half-loaded.
    """
    p = Path(path) if path else SHIPPED
    try:
        st = p.stat()
    except OSError as e:
        raise DataError(f"{p}: cannot read the FER+ votes ({e.strerror})") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, expected_rows)
    if key not in _LOADED:
        _LOADED[key] = _read_votes(p, expected_rows)
    return _LOADED[key]


def _read_votes(p: Path, expected_rows: int | None) -> FerPlusVotes:
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{p}: the FER+ votes file is empty") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{p}: not a readable FER+ votes CSV ({e})") from None
    cols = tuple(c.strip() for c in df.columns)
    if cols != FILE_COLUMNS:
        raise DataError(f"{p}: columns {', '.join(cols)}; a FER+ votes file has {', '.join(FILE_COLUMNS)}")
    df.columns = list(cols)
    if expected_rows is not None and len(df) != expected_rows:
        raise DataError(f"{p}: {len(df):,} rows, expected {expected_rows:,} (one per row of fer2013.csv, "
                        "in its order)")
    if len(df) == 0:
        raise DataError(f"{p}: has a header but no rows")
    raw = df[list(FILE_VOTE_COLUMNS)].apply(lambda s: s.str.strip())
    ok = raw.apply(lambda s: s.str.fullmatch(r"\d{1,3}")).to_numpy()
    if not ok.all():
        r, c = np.argwhere(~ok)[0]
        raise DataError(f"{p}: line {r + 2}: {FILE_VOTE_COLUMNS[c]} vote {raw.iat[r, c]!r} is not a "
                        "whole number 0-999")
    file_votes = raw.to_numpy(dtype=np.int64)
    empty = np.flatnonzero(file_votes.sum(axis=1) == 0)
    if empty.size:
        raise DataError(f"{p}: line {empty[0] + 2}: no votes")
    usage = []
    for i, u in enumerate(df["Usage"].to_numpy()):
        try:
            usage.append(normalise_split(u))
        except ValueError:
            raise DataError(f"{p}: line {i + 2}: unknown Usage {u!r}") from None
    names = df["Image name"].str.strip().to_numpy().astype(str)
    bad = [i for i, n in enumerate(names) if n and not NAME_RE.fullmatch(n)]
    if bad:
        raise DataError(f"{p}: line {bad[0] + 2}: image name {str(names[bad[0]])!r} is not like "
                        "fer0000000.png")
    votes = np.zeros_like(file_votes)
    votes[:, FILE_TO_VOTE] = file_votes
    return FerPlusVotes(votes.astype(np.int16), np.array(usage), names, str(p))


def read_label_csv(path: Path) -> tuple[list[str], np.ndarray]:
    """Image names and votes (n, 10, VOTE_CLASSES order) from a FER+ folder's label.csv.

    Each line: ``fer0000000.png,"(0, 0, 48, 48)",4,0,0,1,3,2,0,0,0,0`` (image name, face box,
    ten votes in the file order of fer2013new.csv); the box may be absent and a header line
    is skipped.
    """
    names, rows = [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    for i, row in enumerate(lines):
        row = [c.strip() for c in row]
        if not row or not any(row):
            continue
        if i == 0 and not NAME_RE.fullmatch(row[0]):
            continue  # a header
        if len(row) not in (11, 12):
            raise DataError(f"{path}: line {i + 1}: {len(row)} fields, expected an image name, a face "
                            "box and 10 votes")
        if not NAME_RE.fullmatch(row[0]):
            raise DataError(f"{path}: line {i + 1}: image name {row[0]!r} is not like fer0000000.png")
        cells = row[-10:]
        if not all(c.isdigit() for c in cells):
            raise DataError(f"{path}: line {i + 1}: votes must be whole numbers, got {', '.join(cells)}")
        v = np.array(cells, dtype=np.int64)
        if v.sum() == 0:
            raise DataError(f"{path}: line {i + 1}: no votes")
        names.append(row[0])
        rows.append(v)
    file_votes = np.array(rows, np.int64).reshape(-1, 10)
    votes = np.zeros_like(file_votes)
    votes[:, FILE_TO_VOTE] = file_votes
    return names, votes


def tied(votes: np.ndarray) -> np.ndarray:
    """True where the most votes are shared by two or more columns (no majority)."""
    v = np.atleast_2d(votes)
    out = (v == v.max(axis=1, keepdims=True)).sum(axis=1) > 1
    return out if np.ndim(votes) > 1 else out[0]


def majority(votes: np.ndarray) -> np.ndarray:
    """Index into VOTE_CLASSES of the most-voted column per row (ties, which have no majority, see
    :func:`tied`: the first in the file's column order)."""
    v = np.atleast_2d(votes)
    out = FILE_TO_VOTE[np.argmax(v[:, FILE_TO_VOTE], axis=1)]
    return out if np.ndim(votes) > 1 else out[0]


def badges(votes: np.ndarray, true: int, pred: int, *, named: bool = True) -> list[str]:
    """Badge texts for one image from its 10 votes, its label and the model's prediction (class
    indices of :data:`ferviz.labels.NAMES`): "FER+ agrees with the model" and/or "... with the
    label" (both when the model is right and FER+ agrees; a contempt majority counts),
    "ambiguous (top ≤ 5/10)", "not a face"."""
    v = np.asarray(votes)
    m = int(majority(v))
    face = named and m != NF
    out = []
    if face and m < len(EXPRESSIONS) and not tied(v):
        if m == int(pred):
            out.append(AGREES_MODEL)
        if m == int(true):
            out.append(AGREES_LABEL)
    if v.max() <= 5:
        out.append(AMBIGUOUS)
    if not face:
        out.append(NOT_A_FACE)
    return out


@dataclass(frozen=True)
class AlignedVotes:
    """FER+ votes for the images of one split, in the split's order."""

    ids: np.ndarray  # (n,) str
    split: str
    rows: np.ndarray  # (n,) FER+ row (fer2013.csv row number)
    votes: np.ndarray  # (n, 10) VOTE_CLASSES order
    named: np.ndarray  # (n,) bool: FER+ has an image name for the row

    def __len__(self) -> int:
        return int(len(self.ids))

    @cached_property
    def majority(self) -> np.ndarray:
        return majority(self.votes) if len(self) else np.empty(0, np.int64)

    @property
    def top(self) -> np.ndarray:
        return self.votes.max(axis=1) if len(self) else np.empty(0, np.int64)

    @property
    def ambiguous(self) -> np.ndarray:
        return self.top <= 5

    @property
    def tied(self) -> np.ndarray:
        return tied(self.votes) if len(self) else np.empty(0, bool)

    @property
    def not_a_face(self) -> np.ndarray:
        return (self.majority == NF) | ~self.named

    def index_of(self, image_id: str) -> int:
        hits = np.flatnonzero(self.ids == str(image_id))
        if hits.size == 0:
            raise NotFoundError(f"no FER+ votes for image {image_id!r} in {self.split}")
        return int(hits[0])

    def badges(self, image_id: str, true: int, pred: int) -> list[str]:
        """Badge texts for one image of the split (see :func:`badges`)."""
        k = self.index_of(image_id)
        return badges(self.votes[k], true, pred, named=bool(self.named[k]))

    def frame(self) -> pd.DataFrame:
        """One row per image: id, row, the 10 vote counts, majority (name), top, ambiguous, not_a_face."""
        df = pd.DataFrame({"id": self.ids, "row": self.rows})
        for j, c in enumerate(VOTE_CLASSES):
            df[c] = self.votes[:, j]
        df["majority"] = np.array(VOTE_CLASSES)[self.majority]
        df["top"] = self.top
        df["ambiguous"] = self.ambiguous
        df["not_a_face"] = self.not_a_face
        return df
