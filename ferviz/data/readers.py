"""FER2013's readers (csv, image folders, zip, FER+ folders): each returns (images, labels,
ids, splits) arrays or raises DataError.

Decisions for image folders (which also serve RAF-DB, CK+ and AffectNet-style datasets, whose
class folders may be any expression names or aliases, contempt included, in any case):
images that are not 48x48 or not grayscale are converted to grayscale and resized to
48x48 (area interpolation); an image that cannot be decoded stops the load with an error
naming it, so a partly loaded split is never used.
"""
from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..errors import DataError
from ..labels import EXPRESSIONS, NAMES, NON_CLASSES, SPLITS, class_index, known_names, normalise_split

IMAGE_SIZE = 48
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
MAX_ENTRY_BYTES = 8 << 20  # a single face image larger than this is not a face image
MAX_TOTAL_BYTES = 4 << 30  # uncompressed size limit for a whole archive


# ---------------------------------------------------------------- csv

def read_csv(p: Path):
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
        except (ValueError, OverflowError):
            bad = next((x for x in parts if not x.lstrip("-").isdigit()), None)
            if bad is None:  # digits only, too large for any pixel
                raise DataError(f"{where}: pixel values must lie in 0-255") from None
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
        label = class_index(rel.parts[-2])
    except ValueError:
        raise DataError(f"{where}: {rel}: class folder {rel.parts[-2]!r} is not an expression ferviz knows; "
                        f"known names (aliases): {known_names()}") from None
    if label >= len(EXPRESSIONS):
        raise DataError(f"{where}: {rel}: {NAMES[label]!r} is not an expression class but one of FER+'s "
                        f"non-classes ({', '.join(NON_CLASSES)}): a face is labelled with an expression; move "
                        "that folder out of the dataset")
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
    images, labels, ids, splits, paths = [], [], [], [], []
    for rel, read in entries:
        label, split = _entry(rel, where)
        images.append(decode_face(read(), f"{where}: {rel}"))
        labels.append(label)
        ids.append(rel.stem)
        splits.append(split)
        paths.append(rel.with_suffix("").as_posix())
    if not images:
        raise DataError(f"{where}: no face images found (expected train/<class>/*.jpg, test/<class>/*.jpg)")
    ids_arr = np.array(ids, dtype=object)
    uniq, counts = np.unique(ids_arr.astype(str), return_counts=True)
    dup = set(uniq[counts > 1])
    if dup:  # the same file name in two class folders: qualify those ids with their class
        for i, (lab, name) in enumerate(zip(labels, ids)):
            if name in dup:
                ids_arr[i] = f"{NAMES[lab]}/{name}"
    ids_arr = ids_arr.astype(str)
    uniq, counts = np.unique(ids_arr, return_counts=True)
    dup = set(uniq[counts > 1])
    if dup:  # still clashing (e.g. train/happy/0001.jpg and test/happy/0001.jpg): the whole path
        ids_arr = np.array([paths[i] if v in dup else v for i, v in enumerate(ids_arr)])
        uniq, counts = np.unique(ids_arr, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{where}: image id {uniq[counts > 1][0]!r} appears more than once")
    order = np.argsort(ids_arr, kind="stable")
    return (np.stack(images)[order], np.array(labels, np.int64)[order], ids_arr[order],
            np.array(splits)[order])


def folder_files(root: Path) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTS
            and not any(part.startswith(".") for part in f.relative_to(root).parts)]


def read_folder(root: Path):
    files = folder_files(root)

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


def read_zip(p: Path):
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
        faces = [i for i in infos if PurePosixPath(i.filename).suffix.lower() in IMAGE_EXTS
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


# ---------------------------------------------------------------- FER+ folders

#: Microsoft FERPlus's split folders and the FER2013 splits they hold.
FERPLUS_FOLDERS = {"FER2013Train": "Training", "FER2013Valid": "PublicTest", "FER2013Test": "PrivateTest"}


def ferplus_folders(root: Path) -> list[Path]:
    """The FER+ split folders (FER2013Train, FER2013Valid, FER2013Test) present under root."""
    return [root / name for name in FERPLUS_FOLDERS if (root / name).is_dir()]


def ferplus_files(root: Path) -> list[Path]:
    """The files a FER+ folder form is made of: each split folder's label.csv and images."""
    out = []
    for folder in ferplus_folders(root):
        out += [f for f in folder.iterdir() if f.is_file() and (f.name == "label.csv"
                                                                or f.suffix.lower() in IMAGE_EXTS)]
    return out


def read_ferplus(root: Path):
    """The FER+ image folders (``FER2013Train/``, ``FER2013Valid/``, ``FER2013Test/``, each with
    ``label.csv`` and ``fer<number>.png`` files, as Microsoft's generate_training_data.py writes them).

    These folders carry FER+'s ten votes per image but not FER2013's labels: an image's label
    here is its FER+ majority vote (see :mod:`ferviz.data.ferplus`) among eight classes (FER2013's
    seven and contempt); images whose majority is unknown or not-a-face (non-classes) or whose top
    vote is tied are left out. The PNG numbers are not
    fer2013.csv row numbers (FER+ skipped its not-a-face rows), so each image's id is the row
    number of its (split, name) in the shipped fer2013new.csv, as in the CSV form; a name listed
    twice in a label.csv (FER+ gives a few identical images one file) is read once.
    """
    from .ferplus import load_votes, majority, read_label_csv, tied

    rows_of = load_votes().rows_by_name()
    images, labels, ids, splits = [], [], [], []
    for folder in ferplus_folders(root):
        split = FERPLUS_FOLDERS[folder.name]
        label_csv = folder / "label.csv"
        if not label_csv.is_file():
            raise DataError(f"{folder}: no label.csv (a FER+ folder holds label.csv and fer*.png images)")
        names, votes = read_label_csv(label_csv)
        seen: set[str] = set()
        for name, v in zip(names, votes):
            if name in seen:
                continue
            seen.add(name)
            m = int(majority(v))
            if m >= len(EXPRESSIONS) or tied(v):
                continue  # unknown, not a face or a tie: no expression class
            row = rows_of.get((split, name))
            if row is None:
                raise DataError(f"{label_csv}: {name} is not a {split} image in FER+'s fer2013new.csv")
            f = folder / name
            if not f.is_file():
                raise DataError(f"{label_csv}: lists {name}, but {f} does not exist")
            images.append(decode_face(_read_file(f), str(f)))
            labels.append(m)
            ids.append(row)
            splits.append(split)
    if not images:
        raise DataError(f"{root}: no FER+ face images found (expected FER2013Train/label.csv and "
                        "fer*.png images)")
    order = np.argsort(np.array(ids), kind="stable")
    return (np.stack(images)[order], np.array(labels, np.int64)[order],
            np.array([str(i) for i in ids])[order], np.array(splits)[order])
