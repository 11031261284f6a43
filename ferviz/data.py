"""Read FER2013 from fer2013.csv, the Kaggle image-folder layout, or its archive.zip.

Every form yields the same :class:`FERSplit`: uint8 images (N, 48, 48), int labels in
FER2013 order (0 angry ... 6 neutral), a stable per-image id (CSV row number or file
name) and the split name. Decoded sources are cached on disk keyed by content hash.

Decisions for image folders (which also serve RAF-DB/CK+-style 7-folder datasets):
images that are not 48x48 or not grayscale are converted to grayscale and resized to
48x48 (area interpolation); an image that cannot be decoded stops the load with an error
naming it, so a partly loaded split is never used.
"""
from __future__ import annotations

import io
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from . import cache, config
from .labels import EMOTIONS, SPLITS, emotion_index, normalise_split

IMAGE_SIZE = 48
_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
MAX_ENTRY_BYTES = 8 << 20  # a single face image larger than this is not a face image
MAX_TOTAL_BYTES = 4 << 30  # uncompressed size limit for a whole archive
_CACHE_VERSION = "1"


class DataError(ValueError):
    """FER2013 input that cannot be read; the message names the file, row or entry."""


@dataclass(frozen=True)
class FERSplit:
    """One split of FER2013 (or a subset of it)."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, FER2013 order
    ids: np.ndarray  # (N,) str
    split: str
    source: str
    source_hash: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def index_of(self, image_id: str) -> int:
        """Position of an image id in this split."""
        hits = np.flatnonzero(self.ids == str(image_id))
        if hits.size == 0:
            raise KeyError(f"no image with id {image_id!r} in {self.split}")
        return int(hits[0])

    def subset(self, idx: np.ndarray) -> "FERSplit":
        """A new split holding only the given positions."""
        idx = np.asarray(idx)
        return FERSplit(self.images[idx], self.labels[idx], self.ids[idx], self.split,
                        self.source, self.source_hash)

    @property
    def data_hash(self) -> str:
        """Identifies the images of this split (source hash + split + size)."""
        return cache.key_hash(self.source_hash, self.split, len(self), str(self.ids[:3]))


def resolve_data_path(path: str | os.PathLike | None = None) -> Path:
    """The FER2013 location: an explicit path, else FERVIZ_DATA, else the first default found."""
    if path:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataError(f"{p}: no such file or folder")
        return p
    env = os.environ.get("FERVIZ_DATA")
    if env:
        p = Path(env).expanduser()
        if not p.exists():
            raise DataError(f"FERVIZ_DATA={env}: no such file or folder")
        return p
    for cand in config.DEFAULT_DATA_CANDIDATES:
        if cand.is_file() or (cand.is_dir() and _looks_like_folder(cand)):
            return cand
    raise DataError(
        "FER2013 not found. Download it from Kaggle (fer2013.csv, or the image-folder "
        "archive.zip) and put it in data/, or set FERVIZ_DATA to its path.")


def _looks_like_folder(p: Path) -> bool:
    return (p / "train").is_dir() or (p / "test").is_dir()


def load_fer2013(path: str | os.PathLike | None = None, split: str = "PrivateTest",
                 *, use_cache: bool = True) -> FERSplit:
    """Load one split of FER2013 from any of its three forms."""
    split = normalise_split(split)
    return load_all(path, use_cache=use_cache)[split]


def load_all(path: str | os.PathLike | None = None, *, use_cache: bool = True) -> dict[str, FERSplit]:
    """Load every split present; a missing split raises DataError when indexed."""
    p = resolve_data_path(path)
    kind, source_hash = _identify(p)
    cache_file = config.cache_dir() / "data" / f"{kind}-{source_hash[:32]}-v{_CACHE_VERSION}.npz"
    arrays = cache.load_arrays(cache_file) if use_cache else None
    if arrays is None:
        reader = {"csv": _read_csv, "zip": _read_zip, "folder": _read_folder}[kind]
        images, labels, ids, splits = reader(p)
        arrays = {"images": images, "labels": labels, "ids": ids, "splits": splits}
        cache.save_arrays(cache_file, **arrays)
    return _SplitDict(p, kind, source_hash, arrays)


class _SplitDict(dict):
    """dict of split name -> FERSplit that names the source when a split is missing."""

    def __init__(self, path: Path, kind: str, source_hash: str, arrays: dict[str, np.ndarray]):
        super().__init__()
        self.path = path
        for s in SPLITS:
            m = arrays["splits"] == s
            if m.any():
                self[s] = FERSplit(arrays["images"][m], arrays["labels"][m].astype(np.int64),
                                   arrays["ids"][m], s, str(path), source_hash)

    def __missing__(self, key: str) -> FERSplit:
        raise DataError(f"{self.path}: has no {key} images (found: {', '.join(self) or 'none'})")


def _identify(p: Path) -> tuple[str, str]:
    if p.is_dir():
        files = _folder_files(p)
        return "folder", cache.tree_hash(p, files)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise DataError(f"{p}: cannot read ({e.strerror})") from e
    if size == 0:
        raise DataError(f"{p}: the file is empty")
    if not os.access(p, os.R_OK):
        raise DataError(f"{p}: permission denied")
    if zipfile.is_zipfile(p):
        return "zip", cache.file_hash(p)
    if p.suffix.lower() in (".csv", ".txt") or p.suffix == "":
        return "csv", cache.file_hash(p)
    raise DataError(f"{p}: not a FER2013 csv, image folder or zip archive")


# ---------------------------------------------------------------- csv

def _read_csv(p: Path):
    import pandas as pd

    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as e:
        raise DataError(f"{p}: the file is empty") from e
    except (UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{p}: not a readable CSV ({e})") from e
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in ("emotion", "pixels") if c not in df.columns]
    if missing:
        raise DataError(f"{p}: missing column(s) {', '.join(missing)}; expected emotion,pixels,Usage")
    if len(df) == 0:
        raise DataError(f"{p}: has a header but no rows")
    n = len(df)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    labels = np.empty(n, np.int64)
    for i, (lab, pix) in enumerate(zip(df["emotion"].to_numpy(), df["pixels"].to_numpy())):
        where = f"{p}: row {i + 1} (line {i + 2})"
        try:
            labels[i] = int(lab)
        except ValueError:
            raise DataError(f"{where}: emotion {lab!r} is not an integer") from None
        if not 0 <= labels[i] <= 6:
            raise DataError(f"{where}: emotion {labels[i]} is outside 0-6")
        parts = pix.split()
        if len(parts) != IMAGE_SIZE * IMAGE_SIZE:
            raise DataError(f"{where}: {len(parts)} pixels, expected {IMAGE_SIZE * IMAGE_SIZE}")
        try:
            vals = np.array(parts, dtype=np.int32)
        except ValueError:
            bad = next(x for x in parts if not x.lstrip("-").isdigit())
            raise DataError(f"{where}: pixel value {bad!r} is not a number") from None
        if vals.min() < 0 or vals.max() > 255:
            raise DataError(f"{where}: pixel values must lie in 0-255")
        images[i] = vals.reshape(IMAGE_SIZE, IMAGE_SIZE)
    if "Usage" in df.columns:
        splits = []
        for i, u in enumerate(df["Usage"].to_numpy()):
            try:
                splits.append(normalise_split(u))
            except ValueError:
                raise DataError(f"{p}: row {i + 1} (line {i + 2}): unknown Usage {u!r}") from None
        splits = np.array(splits)
    else:  # a CSV without Usage is treated as a test set
        splits = np.full(n, "PrivateTest")
    ids = np.array([str(i) for i in range(n)])
    return images, labels, ids, splits


# ---------------------------------------------------------------- image folders

def _split_of(rel: PurePosixPath) -> str | None:
    """Split from a file name prefix, else from its top folder (train/val/test)."""
    stem = rel.name
    for s in SPLITS:
        if stem.startswith(s + "_"):
            return s
    top = rel.parts[0].lower() if len(rel.parts) > 2 else ""
    if top in ("train", "training"):
        return "Training"
    if top in ("val", "valid", "validation", "publictest"):
        return "PublicTest"
    if top in ("test", "privatetest"):
        return "PrivateTest"
    return None


def _entry(rel: PurePosixPath, where: str) -> tuple[int, str]:
    if len(rel.parts) < 2:
        raise DataError(f"{where}: {rel} is not inside a class folder")
    try:
        label = emotion_index(rel.parts[-2])
    except ValueError:
        raise DataError(f"{where}: {rel}: folder {rel.parts[-2]!r} is not one of "
                        f"{', '.join(EMOTIONS)}") from None
    split = _split_of(rel)
    if split is None:
        raise DataError(f"{where}: {rel}: cannot tell its split (expected train/ or test/ "
                        "folders or Training_/PublicTest_/PrivateTest_ file names)")
    return label, split


def decode_face(data: bytes, where: str) -> np.ndarray:
    """Decode image bytes to a 48x48 uint8 grayscale array; DataError names `where`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > 4096 * 4096:
                    raise DataError(f"{where}: image of {im.width}x{im.height} is too large")
                im.load()
                g = im.convert("L")
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{where}: not a readable image ({type(e).__name__}: {e})") from None
    if g.size != (IMAGE_SIZE, IMAGE_SIZE):
        g = g.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(g, dtype=np.uint8)


def _collect(entries, where: str):
    """entries: iterable of (rel PurePosixPath, bytes-thunk). Returns the four arrays."""
    images, labels, ids, splits = [], [], [], []
    for rel, read in entries:
        label, split = _entry(rel, where)
        images.append(decode_face(read(), f"{where}: {rel}"))
        labels.append(label)
        ids.append(rel.stem)
        splits.append(split)
    if not images:
        raise DataError(f"{where}: no face images found (expected train/<class>/*.jpg, test/<class>/*.jpg)")
    ids_arr = np.array(ids, dtype=object)
    uniq, counts = np.unique(ids_arr.astype(str), return_counts=True)
    dup = set(uniq[counts > 1])
    if dup:  # the same file name in two class folders: qualify those ids with their class
        for i, (lab, name) in enumerate(zip(labels, ids)):
            if name in dup:
                ids_arr[i] = f"{EMOTIONS[lab]}/{name}"
    ids_arr = ids_arr.astype(str)
    uniq, counts = np.unique(ids_arr, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{where}: image id {uniq[counts > 1][0]!r} appears more than once")
    order = np.argsort(ids_arr, kind="stable")
    return (np.stack(images)[order], np.array(labels, np.int64)[order], ids_arr[order],
            np.array(splits)[order])


def _folder_files(root: Path) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in _IMAGE_EXTS
            and not any(part.startswith(".") for part in f.relative_to(root).parts)]


def _read_folder(root: Path):
    files = _folder_files(root)

    def entries():
        for f in sorted(files):
            rel = PurePosixPath(f.relative_to(root).as_posix())
            yield rel, (lambda f=f: _read_file(f))
    return _collect(entries(), str(root))


def _read_file(f: Path) -> bytes:
    try:
        return f.read_bytes()
    except OSError as e:
        raise DataError(f"{f}: cannot read ({e.strerror})") from e


def _read_zip(p: Path):
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{p}: not a readable zip archive ({e})") from e
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        total = 0
        for info in infos:
            name = info.filename
            pp = PurePosixPath(name)
            if name.startswith(("/", "\\")) or ".." in pp.parts or ":" in pp.parts[0] or "\\" in name:
                raise DataError(f"{p}: entry {name!r} escapes the archive root")
            if info.file_size > MAX_ENTRY_BYTES:
                raise DataError(f"{p}: entry {name!r} would unpack to {info.file_size:,} bytes "
                                f"(limit {MAX_ENTRY_BYTES:,})")
            total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise DataError(f"{p}: archive would unpack to {total:,} bytes (limit {MAX_TOTAL_BYTES:,})")
        faces = [i for i in infos if PurePosixPath(i.filename).suffix.lower() in _IMAGE_EXTS
                 and not any(part.startswith((".", "__MACOSX")) for part in PurePosixPath(i.filename).parts)]
        # Kaggle archives may wrap everything in one top folder: strip it.
        prefix = _common_wrapper(faces)

        def read(info):
            with zf.open(info) as f:
                data = f.read(MAX_ENTRY_BYTES + 1)
            if len(data) > MAX_ENTRY_BYTES:
                raise DataError(f"{p}: entry {info.filename!r} unpacks past {MAX_ENTRY_BYTES:,} bytes")
            return data

        def entries():
            for info in faces:
                rel = PurePosixPath(info.filename[len(prefix):])
                yield rel, (lambda info=info: _zip_read(read, info, p))
        return _collect(entries(), str(p))


def _zip_read(read, info, p) -> bytes:
    try:
        return read(info)
    except (zipfile.BadZipFile, EOFError, OSError, Exception) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{p}: entry {info.filename!r} is corrupt ({e})") from None


def _common_wrapper(infos) -> str:
    tops = {PurePosixPath(i.filename).parts[0] for i in infos if len(PurePosixPath(i.filename).parts) > 1}
    if len(tops) == 1:
        top = next(iter(tops))
        if top.lower() not in ("train", "test", "training", "val", "validation") and all(
                len(PurePosixPath(i.filename).parts) > 3 for i in infos):
            return top + "/"
    return ""
