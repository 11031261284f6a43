"""Decisions as files: import a CSV (checked line by line, written in one transaction), export the
current decisions as CSV, and as a FER+-style vote table.

A decisions file has a header and the columns ``id,split,reviewed_label,reviewer`` (any order;
``original_label``, ``timestamp`` and ``note`` may follow, as an export writes them).
``reviewed_label`` is a class name (any alias) or index of one of the dataset's classes (the
face's own label means keep), ``keep``, ``not a face`` or ``ambiguous``. A bad file is refused with its name and line and nothing of it
is written.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.ferplus import FILE_COLUMNS, FILE_TO_VOTE, VOTE_CLASSES
from ..data.splits import FERSplit
from ..errors import FervizError, ReviewError
from ..labels import NAMES, SPLITS, normalise_split
from .store import (
    AMBIGUOUS,
    KEEP,
    NOT_A_FACE,
    RELABEL,
    Decision,
    ReviewStore,
    check_reviewer,
    normalise_timestamp,
    parse_decision,
)

COLUMNS: tuple[str, ...] = ("id", "split", "reviewed_label", "reviewer")
EXPORT_COLUMNS: tuple[str, ...] = COLUMNS + ("original_label", "timestamp", "note")
MAX_BYTES = 200 << 20


def _split_name(text: str, splits: Mapping[str, FERSplit]) -> str:
    resolve = getattr(splits, "resolve", None)
    if resolve is not None:
        return resolve(text)
    return normalise_split(text)


def read_decisions(path: str | Path, splits: Mapping[str, FERSplit]) -> list[Decision]:
    """The decisions of a CSV file on the dataset `splits` (``load_all``'s dict): each line's split
    and face id must be in the dataset, its decision readable, its reviewer named, its
    original_label (when given) the face's label. ReviewError names the file and line."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise ReviewError(f"{p}: larger than {MAX_BYTES >> 20} MB; a decisions file is one line per decision")
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReviewError(f"{p}: not UTF-8 text (a decisions file is a CSV)") from None
    except OSError as e:
        raise ReviewError(f"{p}: cannot read ({e.strerror})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [c.strip().lower() for c in next(reader)]
    except StopIteration:
        raise ReviewError(f"{p}: the file is empty; a decisions file starts with the header "
                          f"{','.join(COLUMNS)}") from None
    except csv.Error as e:
        raise ReviewError(f"{p}: line 1: {e}") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ReviewError(f"{p}: line 1: no column {', '.join(missing)}; a decisions file has the columns "
                          f"{','.join(COLUMNS)} (and optionally original_label, timestamp, note)")
    unknown = [c for c in header if c not in EXPORT_COLUMNS]
    if unknown or len(set(header)) != len(header):
        raise ReviewError(f"{p}: line 1: " + (f"unknown column {unknown[0]!r}" if unknown else "a column appears twice")
                          + f"; the columns are {','.join(EXPORT_COLUMNS)}")
    col = {c: header.index(c) for c in header}
    dataset = next(iter(splits.values())).source_hash if splits else ""
    labels: dict[str, dict[str, int]] = {}
    seen: dict[tuple, int] = {}
    out: list[Decision] = []
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not any(c.strip() for c in row):
                continue
            out.append(_decision(p, line, row, header, col, splits, labels, dataset, seen))
    except csv.Error as e:
        raise ReviewError(f"{p}: line {reader.line_num}: {e}") from None
    if not out:
        raise ReviewError(f"{p}: has a header but no decisions")
    return out


def _decision(p, line, row, header, col, splits, labels, dataset, seen) -> Decision:
    def bad(why: str) -> ReviewError:
        return ReviewError(f"{p}: line {line}: {why}")

    if len(row) != len(header):
        raise bad(f"{len(row)} fields, expected {len(header)} ({','.join(header)})")
    cell = {c: row[i].strip() for c, i in col.items()}
    try:
        split = _split_name(cell["split"], splits)
        data = splits[split]
    except (FervizError, KeyError):
        have = ", ".join(s for s in SPLITS if s in splits)
        raise bad(f"split {cell['split']!r} is not in the dataset (it has {have})") from None
    if split not in labels:
        labels[split] = dict(zip(data.ids.astype(str).tolist(), data.labels.tolist()))
    face = cell["id"]
    if face not in labels[split]:
        raise bad(f"no face with id {face!r} in {split} of {data.source}")
    original = int(labels[split][face])
    if cell.get("original_label"):
        try:
            given = parse_decision(cell["original_label"])[1]
        except FervizError:
            given = None
        if given != original:
            raise bad(f"original_label {cell['original_label']!r}, but face {face} of {split} is labelled "
                      f"{NAMES[original]} in {data.source}: is the file about another dataset?")
    try:
        decision, label = parse_decision(cell["reviewed_label"], original, data.class_ids)
        reviewer = check_reviewer(cell["reviewer"])
        stamp = normalise_timestamp(cell["timestamp"]) if cell.get("timestamp") else ""
    except ValueError as e:
        raise bad(str(e) if isinstance(e, FervizError) else f"timestamp {cell['timestamp']!r} is not an "
                                                                 "ISO 8601 time (e.g. 2026-12-01T10:00:00+00:00)") from None
    key = (split, face, reviewer, stamp)
    if key in seen:
        raise bad(f"face {face} of {split} by {reviewer} is already decided on line {seen[key]}"
                  + ("" if stamp else " (two decisions without a timestamp cannot be ordered)"))
    seen[key] = line
    return Decision(dataset, split, face, reviewer, decision, label, original, cell.get("note", ""), stamp)


def import_file(store: ReviewStore, path: str | Path, splits: Mapping[str, FERSplit]) -> tuple[int, int]:
    """Check a decisions file completely, then write all of it in one transaction: (added,
    skipped as already in the database). Nothing is written when any line is bad."""
    rows = read_decisions(path, splits)
    source = str(getattr(splits, "path", "") or next(iter(splits.values())).source)
    return store.add_many(rows, source=source)


def decisions_frame(decisions: Iterable[Decision]) -> pd.DataFrame:
    """The export table, one row per decision: id, split, reviewed_label (a class, 'not a face' or
    'ambiguous'), reviewer, original_label, timestamp, note."""
    rows = [(d.face_id, d.split, d.reviewed_text, d.reviewer,
             NAMES[d.original_label] if d.original_label is not None else "", d.timestamp, d.note)
            for d in decisions]
    return pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))


def decisions_csv(decisions: Iterable[Decision]) -> bytes:
    """The export CSV's bytes (what the app downloads and `reviews export` writes)."""
    return decisions_frame(decisions).to_csv(index=False).encode()


def vote_table(decisions: Iterable[Decision]) -> pd.DataFrame:
    """The reviewers' decisions as a FER+-style vote table (fer2013new.csv's columns: Usage, Image
    name, then neutral ... NF), one row per reviewed face (split, id), each reviewer one vote:
    keep votes for the face's label, a relabel for its class (contempt too), not a face for NF,
    ambiguous for unknown. Image name holds the face id."""
    votes: dict[tuple[str, str], np.ndarray] = {}
    unknown, nf = VOTE_CLASSES.index("unknown"), VOTE_CLASSES.index("NF")
    for d in decisions:
        v = votes.setdefault((d.split, d.face_id), np.zeros(len(VOTE_CLASSES), np.int64))
        if d.decision in (KEEP, RELABEL):
            v[int(d.reviewed_label)] += 1
        elif d.decision == NOT_A_FACE:
            v[nf] += 1
        elif d.decision == AMBIGUOUS:
            v[unknown] += 1
    rows = [[split, face, *v[FILE_TO_VOTE].tolist()] for (split, face), v in votes.items()]
    return pd.DataFrame(rows, columns=list(FILE_COLUMNS))


__all__ = ["COLUMNS", "EXPORT_COLUMNS", "decisions_csv", "decisions_frame", "import_file",
           "read_decisions", "vote_table"]
