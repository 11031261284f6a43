"""The label review's database: every reviewer's decision on every face, in one SQLite file.

A decision is keyed by the dataset (its source's content hash, `FERSplit.source_hash`), the
split, the face id and the reviewer, and carries a UTC timestamp, the decision (keep, relabel as
one of the expression classes, contempt included, not a face, ambiguous), the face's label when it
was decided and a note. Labels are class indices of :data:`ferviz.labels.NAMES` (0-7).

* **Nothing is lost.** Each decision is written at once, in its own transaction (``BEGIN
  IMMEDIATE`` ... ``COMMIT``, ``synchronous=FULL``); an import is one transaction, so a file is
  either all in or not at all. The file is in WAL mode, so readers never block the writer; many
  processes (a shared app's visitors, imports) write at once: each waits for the lock
  (``busy_timeout``) and a write that still finds the database busy is retried until `timeout`.
* **History is kept.** Rows are only appended; a face's current decision by a reviewer is their
  latest one (by timestamp, then by the order written). Undo marks the reviewer's last written
  decision undone, which brings back the one before it.
* **A damaged file is never overwritten.** Before anything is written the file is checked (an
  SQLite header, ferviz's application id, ``PRAGMA quick_check``, read-only); a file that fails
  raises :class:`~ferviz.errors.ReviewError` saying so, and stays as it was.
* **Old files are upgraded in place, keeping every row.** Schema 1 (FER2013's seven classes:
  ``label BETWEEN 0 AND 6``) is rebuilt as schema 2 (contempt too) in one transaction on the first
  write: every decision is copied with its sequence number, the copy is counted, and only then does
  it replace the old table (anything wrong rolls back, leaving the file as it was).

Connections are opened per operation (a store object holds only the path), so a store is safe to
share between threads and a new store object, or a new process, sees everything committed.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .. import config
from ..errors import LabelError, ReviewError
from ..labels import EXPRESSIONS, NAMES, class_index

KEEP, RELABEL, NOT_A_FACE, AMBIGUOUS = "keep", "relabel", "not_a_face", "ambiguous"
DECISIONS: tuple[str, ...] = (KEEP, RELABEL, NOT_A_FACE, AMBIGUOUS)
#: a decision's category: 0-7 the reviewed class (an expression, contempt included), then these two
#: (left out of reviewed metrics). Categories are never stored: the file keeps decisions and labels.
CATEGORIES: tuple[str, ...] = EXPRESSIONS + ("not a face", "ambiguous")
NOT_A_FACE_CAT, AMBIGUOUS_CAT = len(EXPRESSIONS), len(EXPRESSIONS) + 1
N_LABELS = len(EXPRESSIONS)  # a stored label is 0..N_LABELS-1
APPLICATION_ID = 0x46565256  # "FVRV": marks the file as ferviz's review database
SCHEMA_VERSION = 2  # 1: labels 0-6 (FER2013's seven); 2: labels 0-7 (contempt too)
_HEADER = b"SQLite format 3\x00"
_SPELLINGS = {"keep": KEEP, "not a face": NOT_A_FACE, "not_a_face": NOT_A_FACE, "not-a-face": NOT_A_FACE,
              "nf": NOT_A_FACE, "ambiguous": AMBIGUOUS, "unknown": AMBIGUOUS}
MAX_NAME = 64
MAX_NOTE = 2000

def _table_sql(name: str) -> str:
    """The decisions table of the current schema, created as `name`."""
    return f"""
CREATE TABLE {name} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    split TEXT NOT NULL,
    face_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ({", ".join(repr(d) for d in DECISIONS)})),
    label INTEGER CHECK (label BETWEEN 0 AND {N_LABELS - 1}),
    original_label INTEGER CHECK (original_label BETWEEN 0 AND {N_LABELS - 1}),
    note TEXT NOT NULL DEFAULT '',
    timestamp TEXT NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0,
    CHECK ((decision = 'relabel') = (label IS NOT NULL)),
    UNIQUE (dataset, split, face_id, reviewer, timestamp)
)"""


_INDEX = "CREATE INDEX IF NOT EXISTS decisions_by_reviewer ON decisions (dataset, split, reviewer, seq)"
_DATASETS = "CREATE TABLE IF NOT EXISTS datasets (hash TEXT PRIMARY KEY, source TEXT NOT NULL)"
#: path -> (size, mtime, inode) of the file when it last passed `ReviewStore.check` in this process
_SOUND: dict[str, tuple[int, int, int]] = {}
_WRITTEN = "dataset, split, face_id, reviewer, decision, label, original_label, note, timestamp"
_COLUMNS = _WRITTEN + ", seq, undone"
_INSERT = f"INTO decisions ({_WRITTEN}) VALUES (?,?,?,?,?,?,?,?,?)"


def now() -> str:
    """The current UTC time as the store writes it (ISO 8601, microseconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def normalise_timestamp(text: str) -> str:
    """An ISO 8601 time as the store writes it (UTC, microseconds); a time without a zone is UTC.
    ValueError when it is not one."""
    t = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds")


def check_reviewer(name: str) -> str:
    """A reviewer's name, stripped: 1-64 printable characters. ReviewError otherwise."""
    n = " ".join(str(name or "").split())
    if not n:
        raise ReviewError("a reviewer needs a name")
    if len(n) > MAX_NAME or not n.isprintable():
        raise ReviewError(f"reviewer name {n[:MAX_NAME]!r}... must be at most {MAX_NAME} printable characters")
    return n


def parse_decision(text: str | int, original: int | None = None,
                   classes: Iterable[int] | None = None) -> tuple[str, int | None]:
    """(decision, label) for 'keep', 'not a face', 'ambiguous' or a class name (any alias) or
    index (a relabel; 'keep' when it is the `original` label). `classes`: the class indices a face
    may be relabelled with (the dataset's; default every expression, contempt included).
    LabelError names what is allowed."""
    allowed = sorted({int(c) for c in classes} if classes is not None else range(N_LABELS))
    key = " ".join(str(text).strip().lower().split())
    if key in _SPELLINGS:
        return _SPELLINGS[key], None
    try:
        k = class_index(key)
    except LabelError:
        k = None
    if k is None or k not in allowed:
        raise LabelError(f"unknown decision {str(text)!r}; expected keep, not a face, ambiguous or one of "
                         f"{', '.join(NAMES[c] for c in allowed)}") from None
    return (KEEP, None) if original is not None and k == int(original) else (RELABEL, k)


@dataclass(frozen=True)
class Decision:
    """One reviewer's decision on one face (a row of the database)."""

    dataset: str
    split: str
    face_id: str
    reviewer: str
    decision: str
    label: int | None = None  # the new class of a relabel
    original_label: int | None = None  # the face's label when it was decided
    note: str = ""
    timestamp: str = ""
    seq: int = 0  # the order written (0: not written yet)
    undone: bool = False

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.dataset, self.split, self.face_id, self.reviewer

    @property
    def reviewed_label(self) -> int | None:
        """The face's class after the review: the original (keep), the new one (relabel), or None."""
        if self.decision == RELABEL:
            return self.label
        return self.original_label if self.decision == KEEP else None

    def category(self, original: int | None = None) -> int | None:
        """0-7 the reviewed class, 8 not a face, 9 ambiguous (`CATEGORIES`); a keep takes `original`
        when given (the data's label), else the label stored with the decision."""
        if self.decision == NOT_A_FACE:
            return NOT_A_FACE_CAT
        if self.decision == AMBIGUOUS:
            return AMBIGUOUS_CAT
        if self.decision == KEEP and original is not None:
            return int(original)
        return self.reviewed_label

    @property
    def text(self) -> str:
        """'keep', 'relabel as sad', 'not a face' or 'ambiguous'."""
        if self.decision == RELABEL:
            return f"relabel as {NAMES[self.label]}"
        return {KEEP: "keep", NOT_A_FACE: "not a face", AMBIGUOUS: "ambiguous"}[self.decision]

    @property
    def reviewed_text(self) -> str:
        """The reviewed label as a file writes it: a class name, 'not a face' or 'ambiguous'."""
        c = self.category()
        return CATEGORIES[c] if c is not None else "keep"

    def checked(self) -> "Decision":
        """This decision, validated (ReviewError naming the bad value), with a timestamp."""
        if self.decision not in DECISIONS:
            raise ReviewError(f"unknown decision {self.decision!r}; expected one of {', '.join(DECISIONS)}")
        if (self.decision == RELABEL) != (self.label is not None):
            raise ReviewError("a relabel needs the new class, and only a relabel has one")
        for what, v in (("label", self.label), ("original label", self.original_label)):
            if v is not None and not 0 <= int(v) < N_LABELS:
                raise ReviewError(f"{what} {v} is outside 0-{N_LABELS - 1} (the expression classes: "
                                  f"{', '.join(EXPRESSIONS)})")
        if not str(self.dataset) or not str(self.split) or not str(self.face_id).strip():
            raise ReviewError("a decision needs a dataset, a split and a face id")
        if len(self.note) > MAX_NOTE:
            raise ReviewError(f"a note is at most {MAX_NOTE} characters")
        return replace(self, reviewer=check_reviewer(self.reviewer), face_id=str(self.face_id).strip(),
                       label=None if self.label is None else int(self.label),
                       original_label=None if self.original_label is None else int(self.original_label),
                       note=str(self.note or ""), timestamp=self.timestamp or now())


def _row(r: tuple) -> Decision:
    ds, split, fid, who, dec, lab, orig, note, ts, seq, undone = r
    return Decision(ds, split, fid, who, dec, lab, orig, note, ts, int(seq), bool(undone))


def latest(decisions: Iterable[Decision]) -> list[Decision]:
    """Each (dataset, split, face, reviewer)'s current decision: the latest not undone (by
    timestamp, then by the order written), in the order written."""
    best: dict[tuple, Decision] = {}
    for d in decisions:
        if d.undone:
            continue
        b = best.get(d.key)
        if b is None or (d.timestamp, d.seq) > (b.timestamp, b.seq):
            best[d.key] = d
    return sorted(best.values(), key=lambda d: d.seq)


class ReviewStore:
    """The decisions in the SQLite file at `path` (default: FERVIZ_REVIEWS, else the user's data
    folder). Writes wait for other writers up to `timeout` seconds."""

    def __init__(self, path: str | Path | None = None, *, timeout: float = 30.0):
        self.path = Path(path).expanduser() if path else config.reviews_path()
        self.timeout = float(timeout)

    # -------------------------------------------------------------- checks and connections

    def _damaged(self, why: str) -> ReviewError:
        return ReviewError(f"{self.path}: {why}. ferviz has left the file as it is and writes nothing to it: "
                           "move it away (or restore a backup) and a new database is started, or set "
                           "FERVIZ_REVIEWS to another file")

    def check(self) -> None:
        """Raise ReviewError unless the file is absent, empty or a sound ferviz review database
        (checked read-only: header, application id, schema version, ``PRAGMA quick_check``)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        except OSError as e:
            raise ReviewError(f"{self.path}: cannot read the review database ({e.strerror})") from None
        if not self.path.is_file():
            raise ReviewError(f"{self.path}: is not a file (the review database must be a file)")
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        if st.st_size == 0 or _SOUND.get(str(self.path.resolve())) == stamp:
            return
        try:
            with open(self.path, "rb") as f:
                head = f.read(len(_HEADER))
        except OSError as e:
            raise ReviewError(f"{self.path}: cannot read the review database ({e.strerror})") from None
        if head != _HEADER:
            raise self._damaged("is not an SQLite database (damaged, or another kind of file)")
        try:
            con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=self.timeout)
            try:
                app = con.execute("PRAGMA application_id").fetchone()[0]
                version = con.execute("PRAGMA user_version").fetchone()[0]
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                problems = [r[0] for r in con.execute("PRAGMA quick_check(3)")]
            finally:
                con.close()
        except sqlite3.OperationalError as e:
            if _busy(e):
                return  # another process holds it: it is in use, hence readable; the write retries
            raise self._damaged(f"cannot be read as a database ({e})") from None
        except sqlite3.DatabaseError as e:
            raise self._damaged(f"is damaged ({e})") from None
        if problems != ["ok"]:
            raise self._damaged("is damaged (SQLite's integrity check: "
                               + "; ".join(" ".join(p.split()) for p in problems) + ")")
        if app != APPLICATION_ID and (app or tables - {"sqlite_sequence"}):
            raise self._damaged("is an SQLite database but not ferviz's review database")
        if version > SCHEMA_VERSION:
            raise ReviewError(f"{self.path}: was written by a newer ferviz (schema {version}; this one reads "
                              f"{SCHEMA_VERSION}); upgrade ferviz")
        _SOUND[str(self.path.resolve())] = stamp

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            con.execute("PRAGMA synchronous = FULL")
            yield con
        finally:
            con.close()

    def _write(self, work, *, what: str):
        """Run `work(connection)` inside BEGIN IMMEDIATE ... COMMIT, retried while the database is
        busy (up to `timeout`); anything else rolls back and is raised."""
        self.check()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                with self._connection() as con:
                    self._init(con)
                    con.execute("BEGIN IMMEDIATE")
                    try:
                        out = work(con)
                        con.execute("COMMIT")
                    except BaseException:
                        if con.in_transaction:
                            con.execute("ROLLBACK")
                        raise
                    return out
            except sqlite3.OperationalError as e:
                if not _busy(e) or time.monotonic() > deadline:
                    raise ReviewError(f"{self.path}: could not {what} ({e})") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as e:
                raise self._damaged(f"is damaged ({e})") from None

    def _init(self, con: sqlite3.Connection) -> None:
        """WAL mode and the tables (idempotent; several processes may do it at once); an older
        schema is upgraded, keeping every row (:meth:`_migrate`)."""
        if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            con.execute("PRAGMA journal_mode = WAL")
        if con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        con.execute("BEGIN IMMEDIATE")
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]  # another process may have done it
            if version != SCHEMA_VERSION:
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "decisions" in tables:
                    self._migrate(con)
                else:
                    con.execute(_table_sql("decisions"))
                con.execute(_INDEX)
                con.execute(_DATASETS)
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def _migrate(self, con: sqlite3.Connection) -> None:
        """Inside the caller's transaction: rebuild an older schema's decisions table as the current
        one (labels 0-7), copying every row with its sequence number; refused (ReviewError, rolled
        back) if a row would not fit or the copy does not hold every row."""
        cols = "seq, " + _WRITTEN + ", undone"
        n = con.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        bad = con.execute("SELECT COUNT(*) FROM decisions WHERE label NOT BETWEEN 0 AND ? "
                          "OR original_label NOT BETWEEN 0 AND ?", (N_LABELS - 1, N_LABELS - 1)).fetchone()[0]
        if bad:
            raise ReviewError(f"{self.path}: {bad} decisions have a label outside 0-{N_LABELS - 1}; "
                              "ferviz cannot upgrade the file and has left it as it was")
        seq_row = con.execute("SELECT seq FROM sqlite_sequence WHERE name='decisions'").fetchone()
        con.execute("DROP TABLE IF EXISTS decisions_upgrade")
        con.execute(_table_sql("decisions_upgrade"))
        con.execute(f"INSERT INTO decisions_upgrade ({cols}) SELECT {cols} FROM decisions ORDER BY seq")
        copied = con.execute("SELECT COUNT(*) FROM decisions_upgrade").fetchone()[0]
        if copied != n:  # pragma: no cover (the insert copies every row or fails)
            raise ReviewError(f"{self.path}: upgrading copied {copied} of {n} decisions; nothing was changed")
        con.execute("DROP TABLE decisions")
        con.execute("ALTER TABLE decisions_upgrade RENAME TO decisions")
        if seq_row is not None:  # new decisions keep numbering after every one ever written
            con.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name='decisions'", (int(seq_row[0]),))
            con.execute("INSERT INTO sqlite_sequence (name, seq) SELECT 'decisions', ? WHERE NOT EXISTS "
                        "(SELECT 1 FROM sqlite_sequence WHERE name='decisions')", (int(seq_row[0]),))

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a query; [] when there is no database yet (nothing is created by reading)."""
        self.check()
        if not self.path.exists() or self.path.stat().st_size == 0:
            return []
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with self._connection() as con:
                    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                    if "decisions" not in tables:
                        return []
                    return con.execute(sql, params).fetchall()
            except sqlite3.OperationalError as e:
                if not _busy(e) or time.monotonic() > deadline:
                    raise ReviewError(f"{self.path}: could not read the review database ({e})") from None
                time.sleep(0.02)
            except sqlite3.DatabaseError as e:
                raise self._damaged(f"is damaged ({e})") from None

    # -------------------------------------------------------------- writing

    def record(self, decision: Decision, *, source: str = "") -> Decision:
        """Write one decision at once (its own transaction); the decision as stored (seq, time)."""
        d = decision.checked()

        def work(con):
            nonlocal d
            for _ in range(100):  # the same microsecond for this face and reviewer: take the next one
                try:
                    cur = con.execute("INSERT " + _INSERT, _values(d))
                    break
                except sqlite3.IntegrityError:
                    t = datetime.fromisoformat(normalise_timestamp(d.timestamp)).timestamp() + 1e-6
                    d = replace(d, timestamp=datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds"))
            else:  # pragma: no cover
                raise ReviewError(f"{self.path}: could not write the decision (its time is taken)")
            if source:
                con.execute("INSERT OR IGNORE INTO datasets VALUES (?, ?)", (d.dataset, source))
            return cur.lastrowid

        seq = self._write(work, what="write the decision")
        return replace(d, seq=int(seq))

    def add_many(self, decisions: Iterable[Decision], *, source: str = "") -> tuple[int, int]:
        """Write many decisions in one transaction (all or none); one already in the database (same
        face, reviewer and timestamp) is skipped. (added, skipped)."""
        rows = [d.checked() for d in decisions]

        def work(con):
            added = 0
            for d in rows:
                added += con.execute("INSERT OR IGNORE " + _INSERT, _values(d)).rowcount
            if source:
                for ds in {d.dataset for d in rows}:
                    con.execute("INSERT OR IGNORE INTO datasets VALUES (?, ?)", (ds, source))
            return added

        added = self._write(work, what="import the decisions")
        return added, len(rows) - added

    def undo(self, dataset: str, split: str, reviewer: str) -> Decision | None:
        """Mark `reviewer`'s last written decision on this dataset and split undone (the face's
        decision before it, if any, is current again); the decision undone, or None."""
        who = check_reviewer(reviewer)

        def work(con):
            r = con.execute(f"SELECT {_COLUMNS} FROM decisions WHERE dataset=? AND split=? AND reviewer=? "
                            "AND undone=0 ORDER BY seq DESC LIMIT 1", (dataset, split, who)).fetchone()
            if r is None:
                return None
            con.execute("UPDATE decisions SET undone=1 WHERE seq=?", (r[-2],))
            return replace(_row(r), undone=True)

        if not self.path.exists():
            return None
        return self._write(work, what="undo the decision")

    # -------------------------------------------------------------- reading

    def history(self, dataset: str | None = None, split: str | None = None, reviewer: str | None = None,
                face_id: str | None = None) -> list[Decision]:
        """Every decision written (undone ones too), in the order written, filtered by what is given."""
        where, params = [], []
        for col, v in (("dataset", dataset), ("split", split), ("reviewer", reviewer), ("face_id", face_id)):
            if v is not None:
                where.append(f"{col} = ?")
                params.append(str(v))
        sql = f"SELECT {_COLUMNS} FROM decisions" + (" WHERE " + " AND ".join(where) if where else "") \
            + " ORDER BY seq"
        return [_row(r) for r in self._read(sql, tuple(params))]

    def decisions(self, dataset: str | None = None, split: str | None = None,
                  reviewer: str | None = None) -> list[Decision]:
        """The current decisions (each face's latest by each reviewer, undone ones left out)."""
        return latest(self.history(dataset, split, reviewer))

    def reviewers(self, dataset: str, split: str | None = None) -> list[str]:
        """The reviewers with a current decision on this dataset (and split), sorted."""
        return sorted({d.reviewer for d in self.decisions(dataset, split)})

    def datasets(self) -> dict[str, str]:
        """Dataset hash -> where its decisions came from (a data path or file), for every dataset
        with decisions."""
        named = dict(self._read("SELECT hash, source FROM datasets"))
        return {h: named.get(h, "") for (h,) in self._read("SELECT DISTINCT dataset FROM decisions ORDER BY dataset")}

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ('ok' when sound)."""
        self.check()
        with self._connection() as con:
            return "; ".join(r[0] for r in con.execute("PRAGMA integrity_check"))


def _busy(e: sqlite3.OperationalError) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


def _values(d: Decision) -> tuple:
    return (d.dataset, d.split, d.face_id, d.reviewer, d.decision, d.label, d.original_label, d.note, d.timestamp)
