"""The label review's core: metrics with the review applied on a hand-made case, kappa against
published worked examples, the store (round trip, history, undo, a damaged file left alone) and
decisions files (refused with file and line, nothing half imported, export and re-import)."""
from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pytest
from sklearn.metrics import f1_score

from ferviz.analysis.evaluation import Evaluation
from ferviz.data.ferplus import FILE_COLUMNS, VOTE_CLASSES, AlignedVotes
from ferviz.data.splits import FERSplit
from ferviz.errors import DataError, ReviewError
from ferviz.review import agreement, files, metrics
from ferviz.review.store import (
    AMBIGUOUS,
    KEEP,
    NOT_A_FACE,
    RELABEL,
    Decision,
    ReviewStore,
    parse_decision,
)

DS, SPLIT = "d" * 64, "PrivateTest"


def _d(face, who, decision, label=None, orig=None, ts="", undone=False, seq=0):
    return Decision(DS, SPLIT, face, who, decision, label, orig, "", ts, seq, undone)


def _ev():
    """8 faces a-h: labels 0 0 1 1 2 2 3 3, predictions 0 1 1 2 2 3 3 0 (accuracy 4/8)."""
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    preds = np.array([0, 1, 1, 2, 2, 3, 3, 0])
    probs = np.full((8, 7), 0.02, np.float32)
    probs[np.arange(8), preds] = 0.88
    return Evaluation("m", SPLIT, probs, labels, np.array(list("abcdefgh")))


# ------------------------------------------------------------------ reviewed metrics

def test_reviewed_metrics_on_a_hand_made_case():
    ev = _ev()
    assert ev.accuracy == 0.5
    decisions = [
        _d("a", "ann", KEEP, orig=0), _d("a", "bob", KEEP, orig=0),  # kept: still right
        _d("b", "ann", RELABEL, 1, orig=0),  # relabelled as the prediction: now right
        _d("c", "ann", RELABEL, 4, orig=1),  # relabelled away from the prediction: now wrong
        _d("d", "ann", NOT_A_FACE, orig=1),  # left out (was wrong)
        _d("f", "ann", AMBIGUOUS, orig=2),  # left out (was wrong)
        _d("h", "ann", RELABEL, 0, orig=3), _d("h", "bob", KEEP, orig=3),  # 1 vs 1: disputed, left out
        _d("g", "ann", RELABEL, 5, orig=3, ts="2026-01-01T00:00:00.000000+00:00"),
        _d("g", "ann", KEEP, orig=3, ts="2026-01-02T00:00:00.000000+00:00"),  # the later one counts
        _d("e", "ann", NOT_A_FACE, orig=2, undone=True),  # undone: no decision
        Decision(DS, "PublicTest", "a", "ann", NOT_A_FACE),  # another split: ignored
    ]
    r = metrics.reviewed_metrics(ev, decisions)
    # kept: a b c e g with labels 0 1 4 2 3 and predictions 0 1 1 2 3 -> 4 of 5 right
    assert r.reviewed.ids.tolist() == list("abceg")
    assert r.reviewed.labels.tolist() == [0, 1, 4, 2, 3]
    assert r.accuracy == pytest.approx(0.8)
    want_f1 = f1_score([0, 1, 4, 2, 3], [0, 1, 1, 2, 3], labels=[0, 1, 2, 3, 4], average="macro")
    assert r.macro_f1 == pytest.approx(want_f1)
    cm = r.confusion()
    assert cm.sum() == 5 and cm[4, 1] == 1 and cm[1, 1] == 1 and np.trace(cm) == 4
    assert (r.n_reviewed, r.n_kept, r.n_relabelled, r.n_not_a_face, r.n_ambiguous, r.n_disputed) == (7, 2, 2, 1, 1, 1)
    assert r.n_left_out == 3 and r.summary()["accuracy_original"] == 0.5


def test_three_reviewers_majority_wins_and_no_decisions_change_nothing():
    ev = _ev()
    r = metrics.reviewed_metrics(ev, [_d("h", "ann", RELABEL, 0), _d("h", "bob", RELABEL, 0), _d("h", "cy", KEEP)])
    assert r.n_relabelled == 1 and r.accuracy == pytest.approx(5 / 8)
    none = metrics.reviewed_metrics(ev, [])
    assert none.accuracy == ev.accuracy and none.macro_f1 == ev.macro_f1 and none.n_reviewed == 0
    gone = metrics.reviewed_metrics(ev, [_d(f, "ann", AMBIGUOUS) for f in "abcdefgh"])
    assert gone.accuracy is None and gone.macro_f1 is None and gone.n_left_out == 8


# ------------------------------------------------------------------ kappa

def test_cohens_kappa_on_the_worked_example():
    """Wikipedia's 'Cohen's kappa' example: 50 proposals, both yes 20, A yes B no 5, A no B yes 10,
    both no 15: p_o = 0.7, p_e = 0.5, kappa = 0.4."""
    a = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert agreement.cohen_kappa(a, b) == pytest.approx(0.4)
    assert agreement.cohen_kappa([3, 3], [3, 3]) is None  # chance agreement 1: undefined
    assert agreement.cohen_kappa([], []) is None


def test_fleiss_kappa_on_the_published_worked_example():
    """Fleiss' kappa's worked example (Wikipedia, 'Fleiss' kappa'): 10 items, 14 raters, 5 categories:
    P-bar = 0.378, P-bar_e = 0.213, kappa = 0.210."""
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert agreement.fleiss_kappa(table) == pytest.approx(0.20993, abs=5e-5)
    with pytest.raises(ValueError, match="same number"):
        agreement.fleiss_kappa(np.array([[1, 1], [2, 1]]))


def test_reviewer_agreement_picks_cohen_for_two_and_fleiss_for_more():
    two = [_d(f, "ann", RELABEL, k) for f, k in zip("abcd", (0, 1, 2, 3))] + \
          [_d(f, "bob", RELABEL, k) for f, k in zip("abcd", (0, 1, 2, 2))] + [_d("e", "ann", KEEP, orig=0)]
    r = agreement.reviewer_agreement(two)
    assert r["method"] == "Cohen" and r["n"] == 4 and r["observed"] == 0.75
    assert r["kappa"] == pytest.approx(agreement.cohen_kappa([0, 1, 2, 3], [0, 1, 2, 2]))
    three = two + [_d(f, "cy", RELABEL, k) for f, k in zip("abcd", (0, 1, 3, 3))]
    r3 = agreement.reviewer_agreement(three)
    counts = np.zeros((4, 9))  # faces a-d, per category, how many of the three chose it
    for who in (("ann", (0, 1, 2, 3)), ("bob", (0, 1, 2, 2)), ("cy", (0, 1, 3, 3))):
        for i, k in enumerate(who[1]):
            counts[i, k] += 1
    assert r3["method"] == "Fleiss" and r3["n"] == 4 and r3["kappa"] == pytest.approx(agreement.fleiss_kappa(counts))
    assert len(r3["pairs"]) == 3 and agreement.reviewer_agreement(two[:4])["method"] is None


def test_agreement_with_the_ferplus_majority():
    votes = np.zeros((4, len(VOTE_CLASSES)), np.int64)
    votes[0, 3] = 10  # happy
    votes[1, 4], votes[1, 6] = 6, 4  # sad
    votes[2, 0], votes[2, 1] = 5, 5  # tied: left out
    votes[3, VOTE_CLASSES.index("NF")] = 10  # not a face
    aligned = AlignedVotes(np.array(list("abcd")), SPLIT, np.arange(4), votes, np.ones(4, bool))
    ds = [_d("a", "ann", KEEP, orig=3), _d("b", "ann", RELABEL, 6), _d("c", "ann", RELABEL, 0),
          _d("d", "ann", NOT_A_FACE)]
    (r,) = agreement.ferplus_agreement(ds, aligned, labels={"a": 3, "b": 4, "c": 0, "d": 3})
    assert r["reviewer"] == "ann" and r["n"] == 3 and r["agreement"] == pytest.approx(2 / 3)
    assert r["label_agreement"] == pytest.approx(2 / 3)  # labels: a agrees, b agrees, d (happy vs NF) not


# ------------------------------------------------------------------ the store

def test_store_round_trip_history_and_undo(tmp_path):
    path = tmp_path / "sub" / "reviews.sqlite"
    s = ReviewStore(path)
    assert s.decisions() == [] and not path.exists()  # reading creates nothing
    a = s.record(_d("a", "ann", KEEP, orig=0))
    s.record(_d("a", "ann", RELABEL, 2, orig=0))
    s.record(_d("b", " Ann  ", NOT_A_FACE, orig=1))  # names are stripped
    s.record(_d("a", "bob", AMBIGUOUS, orig=0))
    assert a.seq == 1 and a.timestamp.endswith("+00:00")
    fresh = ReviewStore(path)  # a "restart": a new store object sees everything
    assert [(d.face_id, d.reviewer, d.text) for d in fresh.decisions(DS, SPLIT)] == [
        ("a", "ann", "relabel as fear"), ("b", "Ann", "not a face"), ("a", "bob", "ambiguous")]
    assert fresh.reviewers(DS, SPLIT) == ["Ann", "ann", "bob"]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    undone = fresh.undo(DS, SPLIT, "ann")
    assert undone.text == "relabel as fear" and undone.undone
    assert [d.text for d in fresh.decisions(DS, SPLIT, "ann")] == ["keep"]  # the decision before is back
    assert fresh.undo(DS, SPLIT, "ann").text == "keep"
    assert fresh.undo(DS, SPLIT, "ann") is None and fresh.decisions(DS, SPLIT, "ann") == []
    assert len(fresh.history(DS)) == 4  # history keeps every row, undone ones marked
    assert sum(d.undone for d in fresh.history(DS)) == 2 and fresh.integrity() == "ok"


@pytest.mark.parametrize("bad, match", [
    (_d("a", "", KEEP), "needs a name"), (_d("a", "x" * 65, KEEP), "at most 64"),
    (_d("a", "ann", RELABEL), "needs the new class"), (_d("a", "ann", KEEP, 3), "only a relabel"),
    (_d("a", "ann", RELABEL, 8), "outside 0-7"), (_d("a", "ann", RELABEL, -1), "outside 0-7"),
    (_d("a", "ann", "maybe"), "unknown decision"),
])
def test_store_refuses_bad_decisions(tmp_path, bad, match):
    with pytest.raises(ReviewError, match=match):
        ReviewStore(tmp_path / "r.sqlite").record(bad)


def test_parse_decision():
    assert parse_decision("Not a face") == (NOT_A_FACE, None) and parse_decision("ambiguous") == (AMBIGUOUS, None)
    assert parse_decision("sad", 3) == (RELABEL, 4) and parse_decision("4", 4) == (KEEP, None)
    assert parse_decision("keep", 2) == (KEEP, None)
    with pytest.raises(ValueError, match="unknown decision 'sadd'"):
        parse_decision("sadd")


@pytest.mark.parametrize("content, match", [
    (b"this is not a database, just text " * 50, "is not an SQLite database"),
    (b"SQLite format 3\x00" + b"\x00" * 4000, "is damaged"),
])
def test_a_damaged_database_gives_a_clear_message_and_is_never_overwritten(tmp_path, content, match):
    path = tmp_path / "reviews.sqlite"
    path.write_bytes(content)
    s = ReviewStore(path)
    for act in (lambda: s.decisions(), lambda: s.record(_d("a", "ann", KEEP)), lambda: s.undo(DS, SPLIT, "ann"),
                lambda: s.add_many([_d("a", "ann", KEEP)])):
        with pytest.raises(DataError, match=match) as e:  # the DataError family
            act()
        assert str(path) in str(e.value) and "left the file as it is" in str(e.value)
    assert path.read_bytes() == content


def test_another_programs_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (n INTEGER)")
    con.commit()
    con.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ReviewError, match="not ferviz's review database"):
        ReviewStore(path).record(_d("a", "ann", KEEP))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


# ------------------------------------------------------------------ files

def _splits():
    """A tiny dataset: PrivateTest faces 0-9 labelled i % 7, PublicTest faces 100-104."""
    def split(name, ids):
        return FERSplit(np.zeros((len(ids), 48, 48), np.uint8), np.array([i % 7 for i in ids]),
                        np.array([str(i) for i in ids]), name, "/data/fer2013.csv", DS)
    return {"PrivateTest": split("PrivateTest", range(10)), "PublicTest": split("PublicTest", range(100, 105))}


GOOD = ("id,split,reviewed_label,reviewer\n"
        "0,PrivateTest,keep,ann\n"
        "1,privatetest,sad,ann\n"
        "2,PrivateTest,not a face,ann\n"
        "100,PublicTest,ambiguous,bob\n"
        "3,PrivateTest,3,bob\n")


def test_import_then_export_round_trip(tmp_path):
    f = tmp_path / "decisions.csv"
    f.write_text(GOOD)
    store = ReviewStore(tmp_path / "r.sqlite")
    assert files.import_file(store, f, _splits()) == (5, 0)
    got = {(d.split, d.face_id, d.reviewer): d.text for d in store.decisions(DS)}
    assert got == {("PrivateTest", "0", "ann"): "keep", ("PrivateTest", "1", "ann"): "relabel as sad",
                   ("PrivateTest", "2", "ann"): "not a face", ("PublicTest", "100", "bob"): "ambiguous",
                   ("PrivateTest", "3", "bob"): "keep"}
    out = tmp_path / "export.csv"
    out.write_bytes(files.decisions_csv(store.decisions(DS)))
    lines = out.read_text().splitlines()
    assert lines[0] == "id,split,reviewed_label,reviewer,original_label,timestamp,note"
    assert lines[1].startswith("0,PrivateTest,angry,ann,angry,") and lines[2].startswith("1,PrivateTest,sad,ann,disgust,")
    again = ReviewStore(tmp_path / "r2.sqlite")
    assert files.import_file(again, out, _splits()) == (5, 0)
    assert [(d.face_id, d.reviewer, d.text, d.timestamp) for d in again.decisions(DS)] == \
           [(d.face_id, d.reviewer, d.text, d.timestamp) for d in store.decisions(DS)]
    assert files.import_file(again, out, _splits()) == (0, 5)  # the same export twice: nothing new


def test_vote_table_has_the_ferplus_columns():
    ds = [_d("1", "ann", RELABEL, 4, orig=1), _d("1", "bob", KEEP, orig=1), _d("1", "cy", NOT_A_FACE),
          _d("2", "ann", AMBIGUOUS)]
    t = files.vote_table(ds)
    assert tuple(t.columns) == FILE_COLUMNS
    row = t.set_index("Image name").loc["1"]
    assert (row["Usage"], row["sadness"], row["disgust"], row["NF"], row["neutral"]) == (SPLIT, 1, 1, 1, 0)
    assert t.set_index("Image name").loc["2", "unknown"] == 1


@pytest.mark.parametrize("body, where, match", [
    ("", "", "the file is empty"),
    ("id,split,label,reviewer\n0,PrivateTest,keep,ann\n", "line 1", "no column reviewed_label"),
    ("id,split,reviewed_label,reviewer,colour\n", "line 1", "unknown column 'colour'"),
    ("id,split,reviewed_label,reviewer\n", "", "no decisions"),
    (GOOD + "11,PrivateTest,keep,ann\n", "line 7", "no face with id '11' in PrivateTest"),
    (GOOD + "4,Validation,keep,ann\n", "line 7", "split 'Validation' is not in the dataset"),
    (GOOD + "4,PrivateTest,sadd,ann\n", "line 7", "unknown decision 'sadd'"),
    (GOOD + "4,PrivateTest,keep,\n", "line 7", "needs a name"),
    (GOOD + "4,PrivateTest,keep\n", "line 7", "3 fields, expected 4"),
    (GOOD + "1,PrivateTest,happy,ann\n", "line 7", "already decided on line 3"),
    ("id,split,reviewed_label,reviewer,original_label\n4,PrivateTest,keep,ann,fear\n", "line 2",
     "original_label 'fear', but face 4 of PrivateTest is labelled sad"),
    ("id,split,reviewed_label,reviewer,timestamp\n4,PrivateTest,keep,ann,yesterday\n", "line 2",
     "timestamp 'yesterday' is not an ISO 8601 time"),
])
def test_bad_files_are_refused_with_file_and_line_and_nothing_is_imported(tmp_path, body, where, match):
    store = ReviewStore(tmp_path / "r.sqlite")
    store.record(_d("9", "old", KEEP, orig=2))
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(ReviewError, match=match) as e:
        files.import_file(store, f, _splits())
    assert str(e.value).startswith(f"{f}: {where + ': ' if where else ''}")
    assert [d.face_id for d in store.history()] == ["9"]  # nothing of the file got in


def test_a_file_bad_at_its_last_line_imports_nothing(tmp_path):
    body = "id,split,reviewed_label,reviewer\n" + "".join(f"{i},PrivateTest,keep,r{i}\n" for i in range(10))
    (tmp_path / "bad.csv").write_text(body + "10,PrivateTest,keep,ann\n")
    store = ReviewStore(tmp_path / "r.sqlite")
    with pytest.raises(ReviewError, match="line 12"):
        files.import_file(store, tmp_path / "bad.csv", _splits())
    assert store.history() == []
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ReviewError, match="not UTF-8"):
        files.import_file(store, tmp_path / "bin.csv", _splits())


# ------------------------------------------------------------------ contempt, and files of the old schema

#: the decisions table exactly as schema 1 (ferviz before contempt) created it
_OLD_SCHEMA = """
CREATE TABLE decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL,
    split TEXT NOT NULL,
    face_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('keep', 'relabel', 'not_a_face', 'ambiguous')),
    label INTEGER CHECK (label BETWEEN 0 AND 6),
    original_label INTEGER CHECK (original_label BETWEEN 0 AND 6),
    note TEXT NOT NULL DEFAULT '',
    timestamp TEXT NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0,
    CHECK ((decision = 'relabel') = (label IS NOT NULL)),
    UNIQUE (dataset, split, face_id, reviewer, timestamp)
);
CREATE INDEX IF NOT EXISTS decisions_by_reviewer ON decisions (dataset, split, reviewer, seq);
CREATE TABLE IF NOT EXISTS datasets (hash TEXT PRIMARY KEY, source TEXT NOT NULL);
"""


def _old_database(path):
    """A review database as the seven-class ferviz wrote it (schema 1, WAL), with six decisions:
    keeps, relabels, an undone one, notes, two splits; the last seq taken is 9 (rows 7-9 never
    written: their numbers must not be reused)."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.executescript(_OLD_SCHEMA)
    con.execute(f"PRAGMA application_id = {0x46565256}")
    con.execute("PRAGMA user_version = 1")
    rows = [(1, SPLIT, "a", "ann", KEEP, None, 0, "", "2026-01-01T00:00:00.000001+00:00", 0),
            (2, SPLIT, "b", "ann", RELABEL, 6, 4, "looks calm", "2026-01-01T00:00:01.000000+00:00", 0),
            (3, SPLIT, "b", "ann", RELABEL, 3, 4, "", "2026-01-01T00:00:02.000000+00:00", 1),
            (4, SPLIT, "c", "bob", NOT_A_FACE, None, 2, "a hand", "2026-01-01T00:00:03.000000+00:00", 0),
            (5, "PublicTest", "x", "bob", AMBIGUOUS, None, 5, "", "2026-01-01T00:00:04.000000+00:00", 0),
            (6, SPLIT, "a", "cy", RELABEL, 0, 1, "", "2026-01-01T00:00:05.000000+00:00", 0)]
    for seq, split, face, who, dec, lab, orig, note, ts, undone in rows:
        con.execute("INSERT INTO decisions (seq, dataset, split, face_id, reviewer, decision, label, original_label,"
                    " note, timestamp, undone) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (seq, DS, split, face, who, dec, lab, orig, note, ts, undone))
    con.execute("UPDATE sqlite_sequence SET seq = 9 WHERE name = 'decisions'")
    con.execute("INSERT INTO datasets VALUES (?, ?)", (DS, "/data/fer2013.csv"))
    with pytest.raises(sqlite3.IntegrityError):  # the old CHECK: no room for contempt (7)
        con.execute("INSERT INTO decisions (dataset, split, face_id, reviewer, decision, label, timestamp) "
                    "VALUES (?,?,?,?,?,?,?)", (DS, SPLIT, "z", "ann", RELABEL, 7, "2026-01-02T00:00:00+00:00"))
    con.close()


def _all_rows(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT seq, dataset, split, face_id, reviewer, decision, label, original_label, note, "
                           "timestamp, undone FROM decisions ORDER BY seq").fetchall()
    finally:
        con.close()


def test_an_old_seven_class_database_keeps_every_decision_and_then_takes_a_contempt_relabel(tmp_path):
    path = tmp_path / "reviews.sqlite"
    _old_database(path)
    before = _all_rows(path)
    store = ReviewStore(path)
    assert [d.text for d in store.history()] == ["keep", "relabel as neutral", "relabel as happy", "not a face",
                                                 "ambiguous", "relabel as angry"]  # readable as it is
    assert _all_rows(path) == before  # reading changes nothing
    new = store.record(_d("d", "ann", RELABEL, 7, orig=3))  # contempt
    assert new.text == "relabel as contempt" and new.seq == 10  # numbering goes on after the old last seq
    after = _all_rows(path)
    assert after[:-1] == before  # every old row, seq, time, note and undone flag as it was
    assert after[-1][0] == 10 and after[-1][6] == 7
    con = sqlite3.connect(path)
    sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'decisions'").fetchone()[0]
    assert "BETWEEN 0 AND 7" in sql and "BETWEEN 0 AND 6" not in sql
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    indexes = dict(con.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'").fetchall())
    assert indexes["decisions_by_reviewer"] == "decisions"  # the index is back, on the new table
    assert {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == \
        {"decisions", "datasets", "sqlite_sequence"}  # no leftover copy
    con.close()
    fresh = ReviewStore(path)
    assert fresh.integrity() == "ok" and fresh.datasets() == {DS: "/data/fer2013.csv"}
    assert {(d.face_id, d.reviewer): d.text for d in fresh.decisions(DS, SPLIT)} == {
        ("a", "ann"): "keep", ("b", "ann"): "relabel as neutral", ("c", "bob"): "not a face",
        ("a", "cy"): "relabel as angry", ("d", "ann"): "relabel as contempt"}
    assert fresh.undo(DS, SPLIT, "ann").text == "relabel as contempt"  # undo works on the new table
    assert ReviewStore(path).record(_d("e", "bob", RELABEL, 7)).seq == 11  # a second write: no second upgrade
    assert _all_rows(path)[:6] == before


def test_a_newer_schema_is_refused_by_this_version(tmp_path):
    path = tmp_path / "reviews.sqlite"
    ReviewStore(path).record(_d("a", "ann", KEEP, orig=0))
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 3")
    con.commit()
    con.close()
    with pytest.raises(ReviewError, match="newer ferviz"):
        ReviewStore(path).record(_d("b", "ann", KEEP, orig=0))


def test_contempt_decisions_need_a_dataset_with_contempt():
    from ferviz.labels import EXPRESSIONS

    assert parse_decision("Contemptuous", 3) == (RELABEL, 7) and parse_decision("7") == (RELABEL, 7)
    assert parse_decision("contempt", 7, classes=range(8)) == (KEEP, None)
    with pytest.raises(ValueError, match="unknown decision 'contempt'; .*angry.*neutral$"):
        parse_decision("contempt", 3, classes=range(7))  # a seven-class dataset: no contempt to relabel as
    for non_class in ("8", "not a face 2"):
        with pytest.raises(ValueError, match="unknown decision"):
            parse_decision(non_class)  # FER+'s non-classes are decisions of their own, not labels
    assert parse_decision("unknown") == (AMBIGUOUS, None)
    assert len(EXPRESSIONS) == 8


def _contempt_splits():
    """A CK+-like dataset with contempt: PrivateTest faces 0-9 labelled 0-7 cycling."""
    from ferviz.labels import EXPRESSIONS

    ids = range(10)
    return {"PrivateTest": FERSplit(np.zeros((10, 48, 48), np.uint8), np.array([i % 8 for i in ids]),
                                    np.array([str(i) for i in ids]), "PrivateTest", "/data/ckplus", DS,
                                    classes=EXPRESSIONS)}


def test_files_relabel_as_contempt_only_where_the_dataset_has_it(tmp_path):
    body = ("id,split,reviewed_label,reviewer\n"
            "0,PrivateTest,Contempt,ann\n"  # angry -> contempt
            "7,PrivateTest,keep,ann\n"  # a contempt face kept
            "1,PrivateTest,contemptuous,bob\n")
    f = tmp_path / "decisions.csv"
    f.write_text(body)
    store = ReviewStore(tmp_path / "r.sqlite")
    assert files.import_file(store, f, _contempt_splits()) == (3, 0)
    got = {(d.face_id, d.reviewer): (d.text, d.reviewed_text) for d in store.decisions(DS)}
    assert got == {("0", "ann"): ("relabel as contempt", "contempt"), ("7", "ann"): ("keep", "contempt"),
                   ("1", "bob"): ("relabel as contempt", "contempt")}
    lines = files.decisions_csv(store.decisions(DS)).decode().splitlines()
    assert lines[1].startswith("0,PrivateTest,contempt,ann,angry,")
    assert lines[2].startswith("7,PrivateTest,contempt,ann,contempt,")
    t = files.vote_table(store.decisions(DS)).set_index("Image name")
    assert t.loc["0", "contempt"] == 1 and t.loc["7", "contempt"] == 1 and t.loc["0", "anger"] == 0
    again = ReviewStore(tmp_path / "r2.sqlite")  # the export reads back
    out = tmp_path / "export.csv"
    out.write_bytes(files.decisions_csv(store.decisions(DS)))
    assert files.import_file(again, out, _contempt_splits()) == (3, 0)
    f.write_text("id,split,reviewed_label,reviewer\n0,PrivateTest,contempt,ann\n")  # FER2013's seven: refused
    with pytest.raises(ReviewError, match="line 2: unknown decision 'contempt'"):
        files.import_file(ReviewStore(tmp_path / "r3.sqlite"), f, _splits())


def test_a_contempt_relabel_on_a_seven_class_model_counts_the_face_apart():
    ev = _ev()  # a seven-class model's probabilities (7 columns)
    decisions = [_d("a", "ann", RELABEL, 7, orig=0),  # was right: now a class the model cannot output
                 _d("b", "ann", RELABEL, 1, orig=0)]  # was wrong: now right
    r = metrics.reviewed_metrics(ev, decisions)
    assert r.n_relabelled == 2 and r.reviewed.n == 8 and r.reviewed.n_outside == 1
    assert r.accuracy == pytest.approx(4 / 7)  # 4 right of the 7 faces the model can be scored on
    assert r.reviewed.matrix().shape == (8, 7) and r.reviewed.matrix().loc["contempt"].sum() == 1
    assert not r.reviewed.wrong[0] and "contempt" in r.reviewed.outside_note()


def test_a_contempt_majority_is_a_review_category():
    from ferviz.review.store import AMBIGUOUS_CAT, CATEGORIES, NOT_A_FACE_CAT

    assert CATEGORIES[7] == "contempt" and (NOT_A_FACE_CAT, AMBIGUOUS_CAT) == (8, 9)
    v = np.zeros(len(VOTE_CLASSES), np.int64)
    v[7] = 8
    assert agreement.ferplus_category(v, True) == 7
    v[VOTE_CLASSES.index("unknown")] = 9
    assert agreement.ferplus_category(v, True) == AMBIGUOUS_CAT
    assert agreement.ferplus_category(v, False) == NOT_A_FACE_CAT
    votes = np.zeros((2, len(VOTE_CLASSES)), np.int64)
    votes[0, 7], votes[1, 3] = 7, 9  # contempt, happy
    aligned = AlignedVotes(np.array(["a", "b"]), SPLIT, np.arange(2), votes, np.ones(2, bool))
    (r,) = agreement.ferplus_agreement([_d("a", "ann", RELABEL, 7), _d("b", "ann", KEEP, orig=3)], aligned,
                                       labels={"a": 6, "b": 3})
    assert r["n"] == 2 and r["agreement"] == 1.0 and r["label_agreement"] == 0.5
