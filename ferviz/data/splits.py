"""Read FER2013 from fer2013.csv, the Kaggle image-folder layout, its archive.zip, or the FER+ folders.

Every form yields the same :class:`FERSplit`: uint8 images (N, 48, 48), int labels in
FER2013 order (0 angry ... 6 neutral), a stable per-image id (CSV row number, file name, or
for the FER+ folders the fer2013.csv row number) and the split name. The FER+ folders carry
no FER2013 labels: their labels are the FER+ majority vote (``_SplitDict.label_source`` says
which). Decoded sources are cached on disk keyed by content hash; the readers themselves
live in :mod:`ferviz.data.readers`.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import cache, config
from ..errors import DataError, NotFoundError
from ..labels import EMOTIONS, EXPRESSIONS, SPLITS, canonical, names_of, normalise_split
from . import readers
from .readers import decode_face  # noqa: F401  (public: decode one face image)

if TYPE_CHECKING:
    from . import ferplus

_CACHE_VERSION = "1"
_FERPLUS_CACHE_VERSION = "2"  # 2: contempt is a class (FER+'s eight)
LABEL_SETS = ("fer2013", "ferplus")  # a split's labels: its own, or FER+'s majority vote
__all__ = ["DataError", "FERSplit", "decode_face", "load_all", "load_fer2013", "resolve_data_path",
           "source_kind", "align_votes"]
#: where each form's labels come from
FOLDER_NAMES = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
LABEL_SOURCES = {"csv": "FER2013", "zip": "FER2013", "folder": "FER2013",
                 "ferplus": "FER+ majority vote (the FER+ folders carry no FER2013 labels)"}


@dataclass(frozen=True)
class FERSplit:
    """One split of FER2013 (or a subset of it)."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, FER2013 order
    ids: np.ndarray  # (N,) str
    split: str
    source: str
    source_hash: str
    name: str = ""  # what the dataset calls the split (e.g. "test" for a test/ folder); "" = `split`
    classes: tuple[str, ...] = EMOTIONS  # the dataset's classes (vocabulary order); labels index ferviz.labels.NAMES
    label_set: str = "fer2013"  # "ferplus": labels are FER+'s majority vote (see with_ferplus_labels)

    @property
    def title(self) -> str:
        """The split's name as its dataset says it (FER2013's name, or the folder's: train/val/test)."""
        return self.name or self.split

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def index_of(self, image_id: str) -> int:
        """Position of an image id in this split."""
        hits = np.flatnonzero(self.ids == str(image_id))
        if hits.size == 0:
            raise NotFoundError(f"no image with id {image_id!r} in {self.split}")
        return int(hits[0])

    def subset(self, idx: np.ndarray) -> "FERSplit":
        """A new split holding only the given positions."""
        idx = np.asarray(idx)
        return FERSplit(self.images[idx], self.labels[idx], self.ids[idx], self.split,
                        self.source, self.source_hash, self.name, self.classes, self.label_set)

    @property
    def class_ids(self) -> tuple[int, ...]:
        """The dataset's class indices, in vocabulary order."""
        from ..labels import class_index

        return tuple(class_index(c) for c in self.classes)

    @cached_property
    def data_hash(self) -> str:
        """Identifies the images of this split (source hash, split and every id)."""
        return cache.key_hash(self.source_hash, self.split, len(self),
                              hashlib.sha256("\n".join(map(str, self.ids)).encode()).hexdigest())


def resolve_data_path(path: str | os.PathLike | None = None) -> Path:
    """The FER2013 location: an explicit path, else FERVIZ_DATA, else the first default found."""
    if path:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataError(f"{p}: no such file or folder")
        return p
    p = config.data_path()
    if p is not None:
        if not p.exists():
            raise DataError(f"FERVIZ_DATA={p}: no such file or folder")
        return p
    for cand in config.DEFAULT_DATA_CANDIDATES:
        if cand.is_file() or (cand.is_dir() and _looks_like_folder(cand)):
            return cand
    raise DataError(
        "FER2013 not found. Download it from Kaggle (fer2013.csv, or the image-folder "
        "archive.zip) and put it in data/, or set FERVIZ_DATA to its path.")


def _looks_like_folder(p: Path) -> bool:
    return (p / "train").is_dir() or (p / "test").is_dir() or bool(readers.ferplus_folders(p))


def load_fer2013(path: str | os.PathLike | None = None, split: str = "PrivateTest",
                 *, use_cache: bool = True, labels: str = "fer2013") -> FERSplit:
    """Load one split of FER2013 from any of its three forms (or of a dataset in the same layout,
    whose folder names train/val/test are accepted too). ``labels="ferplus"``: FER+'s majority
    vote as labels (:func:`with_ferplus_labels`)."""
    splits = load_all(path, use_cache=use_cache, labels=labels)
    return splits[splits.resolve(split)]


def check_label_set(labels: str) -> str:
    """A label set name ("fer2013" or "ferplus", any case); DataError otherwise."""
    key = str(labels or "fer2013").strip().lower().replace("+", "plus").replace("-", "")
    if key not in LABEL_SETS:
        raise DataError(f"unknown label set {labels!r}; use fer2013 (the dataset's own labels) or ferplus "
                        "(FER+'s majority vote, eight classes with contempt)")
    return key


_FERPLUS_REF = "ferplus::"  # a data reference with FER+'s labels: this, then the path


def data_ref(path: str | os.PathLike | None, labels: str = "fer2013") -> str | None:
    """One string for a dataset and the labels it is read with, for what passes data paths
    around (the app's caches, precompute's workers): the path itself (None: FERVIZ_DATA or
    data/) for the dataset's own labels, ``ferplus::<path>`` for FER+'s majority vote."""
    path = None if path is None else str(path)
    return path if check_label_set(labels) == "fer2013" else f"{_FERPLUS_REF}{path or ''}"


def parse_ref(ref: str | os.PathLike | None) -> tuple[str | None, str]:
    """(path or None, label set) of a :func:`data_ref`."""
    if ref and str(ref).startswith(_FERPLUS_REF):
        return str(ref)[len(_FERPLUS_REF):] or None, "ferplus"
    return (str(ref) if ref else None), "fer2013"


def with_ferplus_labels(split: FERSplit) -> FERSplit:
    """The split relabelled with FER+'s majority vote (eight classes, contempt included): faces
    whose top vote is tied, unknown or not a face are left out. Needs fer2013.csv (or the FER+
    folders), whose rows the votes follow; the Kaggle image-folder form is refused (DataError)."""
    from . import ferplus

    if split.label_set == "ferplus":
        return split
    av = align_votes(split)
    m = ferplus.majority(av.votes)
    keep = ~ferplus.tied(av.votes) & (m < len(EXPRESSIONS))
    idx = np.flatnonzero(keep)
    return FERSplit(split.images[idx], m[idx].astype(np.int64), split.ids[idx], split.split, split.source,
                    split.source_hash, split.name, EXPRESSIONS, "ferplus")


def load_all(path: str | os.PathLike | None = None, *, use_cache: bool = True,
             labels: str = "fer2013") -> dict[str, FERSplit]:
    """Load every split present; a missing split raises DataError when indexed. ``labels``:
    "fer2013" (the dataset's own) or "ferplus" (FER+'s majority vote, :func:`with_ferplus_labels`)."""
    label_set = check_label_set(labels)
    p = resolve_data_path(path)
    kind, source_hash = _identify(p)
    version = _FERPLUS_CACHE_VERSION if kind == "ferplus" else _CACHE_VERSION
    cache_file = config.cache_dir() / "data" / f"{kind}-{source_hash[:32]}-v{version}.npz"
    arrays = cache.load_arrays(cache_file) if use_cache else None
    if arrays is None:
        reader = {"csv": readers.read_csv, "zip": readers.read_zip, "folder": readers.read_folder,
                  "ferplus": readers.read_ferplus}[kind]
        images, labs, ids, splits = reader(p)
        arrays = {"images": images, "labels": labs, "ids": ids, "splits": splits}
        cache.save_arrays(cache_file, **arrays)
    out = _SplitDict(p, kind, source_hash, arrays)
    if label_set == "ferplus" and kind != "ferplus":
        if kind != "csv":
            from . import ferplus

            raise DataError(f"{p}: {ferplus.REFUSAL}")
        for s in list(out):
            dict.__setitem__(out, s, with_ferplus_labels(out[s]))
        out.label_source = LABEL_SOURCES["ferplus"].split(" (")[0]
    return out


class _SplitDict(dict):
    """dict of split name -> FERSplit that names the source when a split is missing."""

    def __init__(self, path: Path, kind: str, source_hash: str, arrays: dict[str, np.ndarray]):
        super().__init__()
        self.path = path
        self.kind = kind
        self.label_source = LABEL_SOURCES[kind]
        ids = arrays["ids"].astype(str)
        # a dataset in FER2013's folder layout without FER2013's file names (e.g. RAF-DB's
        # train/ and test/) keeps its folders' names for its splits
        fer_named = kind in ("csv", "ferplus") or any(
            np.char.startswith(ids, s + "_").any() for s in SPLITS)
        self.names = {s: s for s in SPLITS} if fer_named else dict(FOLDER_NAMES)
        # fer2013.csv has FER2013's seven classes (even a cut lacking one); FER+'s folders its
        # eight; image folders (plain or zipped) the classes of their class folders
        self.classes = (EMOTIONS if kind == "csv" else EXPRESSIONS if kind == "ferplus"
                        else canonical(names_of(np.unique(arrays["labels"]))))
        label_set = "ferplus" if kind == "ferplus" else "fer2013"
        for s in SPLITS:
            m = arrays["splits"] == s
            if m.any():
                self[s] = FERSplit(arrays["images"][m], arrays["labels"][m].astype(np.int64),
                                   arrays["ids"][m], s, str(path), source_hash,
                                   "" if fer_named else self.names[s], self.classes, label_set)

    def title(self, split: str) -> str:
        """The dataset's own name for a canonical split."""
        return self.names.get(split, split)

    def resolve(self, name: str) -> str:
        """The canonical split for a name: FER2013's (any case, e.g. 'private') or, for a folder
        dataset, its folder's ('train', 'val', 'test'). ValueError lists the names that work."""
        key = str(name).strip().lower()
        for fer_name, own in self.names.items():
            if own != fer_name and key == own.lower():
                return fer_name
        try:
            return normalise_split(name)
        except ValueError:
            own = [self.names[s] for s in SPLITS if s in self]
            raise DataError(f"unknown split {name!r}; this dataset has {', '.join(own) or 'no splits'}"
                             + ("" if own == [s for s in SPLITS if s in self] else
                                f" (FER2013's {', '.join(s for s in SPLITS if s in self)})")) from None

    def __missing__(self, key: str) -> FERSplit:
        have = ", ".join(self.title(s) for s in self) or "none"
        raise DataError(f"{self.path}: has no {self.title(key)} images (found: {have})")


def source_kind(path: str | os.PathLike) -> str:
    """Which form a FER2013 path is: "csv", "zip", "folder" (image folders) or "ferplus"."""
    p = Path(path)
    if p.is_dir():
        return "ferplus" if readers.ferplus_folders(p) else "folder"
    try:
        size = p.stat().st_size
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror})") from e
    if size == 0:
        raise DataError(f"{p}: the file is empty")
    if not os.access(p, os.R_OK):
        raise DataError(f"{p}: permission denied")
    if zipfile.is_zipfile(p):
        return "zip"
    if p.suffix.lower() in (".csv", ".txt") or p.suffix == "":
        return "csv"
    raise DataError(f"{p}: not a FER2013 csv, image folder or zip archive")


def _identify(p: Path) -> tuple[str, str]:
    kind = source_kind(p)
    if kind == "folder":
        return kind, cache.tree_hash(p, readers.folder_files(p))
    if kind == "ferplus":  # its ids come from the shipped FER+ votes file: hash that too
        from . import ferplus

        return kind, cache.key_hash(cache.tree_hash(p, readers.ferplus_files(p)),
                                    cache.file_hash(ferplus.SHIPPED))
    return kind, cache.file_hash(p)


def align_votes(split: FERSplit, votes: ferplus.FerPlusVotes | None = None) -> ferplus.AlignedVotes:
    """The FER+ votes of each image of `split` (default votes: the shipped file).

    Works for the fer2013.csv form (id = row number; the FER+ Usage of every row must equal the
    split) and the FER+ folder form; the Kaggle image-folder form is refused with DataError.
    """
    from . import ferplus

    kind = source_kind(split.source)
    if kind not in ("csv", "ferplus"):
        raise DataError(f"{split.source}: {ferplus.REFUSAL}")
    votes = votes if votes is not None else ferplus.load_votes()
    ids = np.asarray(split.ids, str)
    bad = [str(i) for i in ids if not i.isdigit()]
    if bad:
        raise DataError(f"{split.source}: image id {bad[0]!r} is not a fer2013.csv row number")
    rows = ids.astype(np.int64)
    if rows.size and rows.max() >= len(votes):
        raise DataError(f"{votes.source}: {len(votes):,} rows, but {split.source} has row {rows.max()} "
                        "(the FER+ file must have one row per fer2013.csv row)")
    wrong = np.flatnonzero(votes.usage[rows] != split.split)
    if wrong.size:
        r = int(rows[wrong[0]])
        raise DataError(f"{votes.source}: line {r + 2} (row {r}) is {votes.usage[r]} but it is a "
                        f"{split.split} image in {split.source}; the FER+ votes follow the original "
                        "fer2013.csv's rows")
    return ferplus.AlignedVotes(ids, split.split, rows, votes.votes[rows].astype(np.int64), votes.names[rows] != "")
