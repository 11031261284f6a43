"""The label review's database under real conditions, on the real FER2013: it survives a restart
(a new process), 8 processes importing at once lose nothing, a process killed in the middle of
an import leaves a sound database holding everything committed before, a damaged file is
refused and left as it was, and the reviews command's import and export round-trip."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pandas as pd

from ferviz.config import PROJECT_ROOT
from ferviz.labels import EMOTIONS
from ferviz.review.files import EXPORT_COLUMNS, read_decisions
from ferviz.review.store import ReviewStore


def _python(code: str, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferviz", *argv], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _decisions_file(path, split, reviewer: str, start: int, n: int, step: int = 1) -> None:
    """n decisions by `reviewer` on faces start, start+step, ... of `split`: cycling through keep,
    each class, not a face and ambiguous."""
    choices = ["keep", *EMOTIONS, "not a face", "ambiguous"]
    lines = ["id,split,reviewed_label,reviewer,note"]
    for k in range(n):
        face = split.ids[(start + k * step) % len(split)]
        lines.append(f"{face},{split.split},{choices[k % len(choices)]},{reviewer},\"line {k + 2}, by {reviewer}\"")
    path.write_text("\n".join(lines) + "\n")


def _count(db) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT reviewer, COUNT(*) FROM decisions GROUP BY reviewer").fetchall())
    finally:
        con.close()


def test_decisions_survive_a_restart(fer_splits, tmp_path):
    db = tmp_path / "reviews.sqlite"
    split = fer_splits["PrivateTest"]
    child = _python("""
        import sys
        from ferviz.data.splits import load_all
        from ferviz.review.store import Decision, ReviewStore
        s = load_all(sys.argv[2])["PrivateTest"]
        store = ReviewStore(sys.argv[1])
        for k in range(5):
            store.record(Decision(s.source_hash, s.split, str(s.ids[k]), "ann", "relabel", label=k,
                                  original_label=int(s.labels[k])))
        store.undo(s.source_hash, s.split, "ann")
        print("done", flush=True)
        """, str(db), str(fer_splits.path))
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0 and out.strip() == "done", err
    fresh = ReviewStore(db)  # another process, a new store object: "the server restarted"
    got = fresh.decisions(split.source_hash, "PrivateTest", "ann")
    assert [(d.face_id, d.label) for d in got] == [(str(split.ids[k]), k) for k in range(4)]
    assert len(fresh.history(split.source_hash)) == 5 and fresh.integrity() == "ok"


def test_eight_processes_importing_at_once_lose_nothing(fer_splits, tmp_path):
    db = tmp_path / "reviews.sqlite"
    split = fer_splits["PrivateTest"]
    n = 400
    procs = []
    for i in range(8):
        f = tmp_path / f"reviewer{i}.csv"
        _decisions_file(f, split, f"reviewer{i}", start=i * 97, n=n, step=3)  # overlapping faces
        procs.append(subprocess.Popen([sys.executable, "-m", "ferviz", "reviews", "import", str(f), "--db", str(db),
                                       "--data", str(fer_splits.path)], cwd=PROJECT_ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert out.startswith(f"imported {n} decisions from ") and "reviewer" in out
    assert _count(db) == {f"reviewer{i}": n for i in range(8)}
    store = ReviewStore(db)
    assert store.integrity() == "ok"
    assert len(store.decisions(split.source_hash, "PrivateTest")) == 8 * n
    assert store.reviewers(split.source_hash) == [f"reviewer{i}" for i in range(8)]


def test_a_process_killed_during_an_import_leaves_every_committed_decision(fer_splits, tmp_path):
    """The child imports files one by one; inside the fourth import's transaction, with every row
    written but not committed, it says so and waits: the parent kills it (SIGKILL) there."""
    db = tmp_path / "reviews.sqlite"
    split = fer_splits["PrivateTest"]
    names = []
    for i in range(5):
        f = tmp_path / f"part{i}.csv"
        _decisions_file(f, split, f"r{i}", start=i, n=1500)
        names.append(str(f))
    child = _python("""
        import sys, time
        from ferviz.data.splits import load_all
        from ferviz.review import store as S
        from ferviz.review.files import import_file
        db, data, *files = sys.argv[1:]
        splits = load_all(data)
        plain = S.ReviewStore._write

        def held(self, work, *, what):
            def inside(con):
                out = work(con)
                if held.n == 3:
                    print("in-transaction", flush=True)
                    time.sleep(120)
                return out
            return plain(self, inside, what=what)
        held.n = 0
        S.ReviewStore._write = held
        store = S.ReviewStore(db)
        for i, f in enumerate(files):
            held.n = i
            import_file(store, f, splits)
            print("committed", i, flush=True)
        """, str(db), str(fer_splits.path), *names)
    seen = []
    for line in child.stdout:
        seen.append(line.strip())
        if line.strip() == "in-transaction":
            os.kill(child.pid, signal.SIGKILL)
            break
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, (seen, child.stderr.read())
    assert seen == ["committed 0", "committed 1", "committed 2", "in-transaction"]
    con = sqlite3.connect(db)  # a plain SQLite client, before ferviz touches the file
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert _count(db) == {"r0": 1500, "r1": 1500, "r2": 1500}  # the killed import: nothing of it
    store = ReviewStore(db)
    for i in range(3):  # every committed decision, exactly as in its file
        want = {(d.face_id, d.decision, d.label, d.note) for d in read_decisions(names[i], fer_splits)}
        got = {(d.face_id, d.decision, d.label, d.note) for d in store.decisions(split.source_hash, reviewer=f"r{i}")}
        assert got == want
    # the database still takes writes after the kill
    _decisions_file(tmp_path / "after.csv", split, "r9", start=0, n=10)
    r = _cli("reviews", "import", str(tmp_path / "after.csv"), "--db", str(db), "--data", str(fer_splits.path))
    assert r.returncode == 0, r.stderr
    assert _count(db)["r9"] == 10


def test_a_damaged_database_is_refused_and_never_overwritten(fer_splits, tmp_path):
    db = tmp_path / "reviews.sqlite"
    split = fer_splits["PrivateTest"]
    _decisions_file(tmp_path / "d.csv", split, "ann", start=0, n=200)
    assert _cli("reviews", "import", str(tmp_path / "d.csv"), "--db", str(db), "--data",
                str(fer_splits.path)).returncode == 0
    good = db.read_bytes()
    db.write_bytes(good[: len(good) // 2])  # cut short, as by a full disk or a bad copy
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for argv in (["import", str(tmp_path / "d.csv"), "--db", str(db), "--data", str(fer_splits.path)],
                 ["export", "--db", str(db), "--out", str(tmp_path / "out.csv")]):
        r = _cli("reviews", *argv)
        assert r.returncode == 2 and r.stderr.startswith(f"ferviz reviews: error: {db}: is damaged"), r.stderr
        assert "ferviz has left the file as it is" in r.stderr and "Traceback" not in r.stderr
    db.write_bytes(b"GIF89a" + os.urandom(5000))  # not a database at all
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    r = _cli("reviews", "import", str(tmp_path / "d.csv"), "--db", str(db), "--data", str(fer_splits.path))
    assert r.returncode == 2 and "is not an SQLite database" in r.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_reviews_import_export_round_trip_on_the_real_data(fer_splits, tmp_path):
    db, db2 = tmp_path / "reviews.sqlite", tmp_path / "again.sqlite"
    private, public = fer_splits["PrivateTest"], fer_splits["PublicTest"]
    _decisions_file(tmp_path / "a.csv", private, "ann", start=10, n=30)
    _decisions_file(tmp_path / "b.csv", private, "bob", start=10, n=30, step=2)
    _decisions_file(tmp_path / "c.csv", public, "ann", start=0, n=5)
    for name in "abc":
        r = _cli("reviews", "import", str(tmp_path / f"{name}.csv"), "--db", str(db), "--data", str(fer_splits.path))
        assert r.returncode == 0, r.stderr
    out, votes = tmp_path / "export" / "decisions.csv", tmp_path / "export" / "votes.csv"
    r = _cli("reviews", "export", "--db", str(db), "--out", str(out), "--votes", str(votes))
    assert r.returncode == 0, r.stderr
    assert "wrote 65 decisions" in r.stdout
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert tuple(table.columns) == EXPORT_COLUMNS and len(table) == 65
    by_face = {(s.split, i): int(lab) for s in (private, public) for i, lab in zip(s.ids, s.labels)}
    assert table["original_label"].tolist() == [EMOTIONS[by_face[(r.split, r.id)]] for r in table.itertuples()]
    src = pd.read_csv(tmp_path / "a.csv", dtype=str, keep_default_na=False)
    mine = table[(table["reviewer"] == "ann") & (table["split"] == "PrivateTest")].reset_index(drop=True)
    assert mine["id"].tolist() == src["id"].tolist() and mine["note"].tolist() == src["note"].tolist()
    for given, reviewed, original in zip(src["reviewed_label"], mine["reviewed_label"], mine["original_label"]):
        assert reviewed == (original if given == "keep" else given)
    v = pd.read_csv(votes)
    assert list(v.columns[:2]) == ["Usage", "Image name"] and len(v) == len(set(zip(table["split"], table["id"])))
    assert v.iloc[:, 2:].to_numpy().sum() == 65  # one vote per decision
    # the export imports again, into a fresh database, to the same decisions (times included)
    r = _cli("reviews", "import", str(out), "--db", str(db2), "--data", str(fer_splits.path))
    assert r.returncode == 0 and "imported 65 decisions" in r.stdout, r.stderr
    key = lambda d: (d.split, d.face_id, d.reviewer, d.decision, d.label, d.timestamp, d.note)
    h = private.source_hash
    assert sorted(map(key, ReviewStore(db2).decisions(h))) == sorted(map(key, ReviewStore(db).decisions(h)))
    # a bad line names the file and line, and nothing of that file is written
    bad = tmp_path / "bad.csv"
    bad.write_text(f"id,split,reviewed_label,reviewer\n{private.ids[0]},PrivateTest,keep,cy\nnope,PrivateTest,keep,cy\n")
    r = _cli("reviews", "import", str(bad), "--db", str(db2), "--data", str(fer_splits.path))
    assert r.returncode == 2 and f"{bad}: line 3: no face with id 'nope' in PrivateTest" in r.stderr
    assert "cy" not in _count(db2)


def test_eight_visitors_deciding_at_once_lose_no_decision(fer_splits, tmp_path):
    """Shared mode's write path: 8 processes (as app processes serving visitors) each write 150
    decisions one at a time, each in its own transaction, all at once on the same faces."""
    db = tmp_path / "reviews.sqlite"
    split = fer_splits["PrivateTest"]
    code = """
        import sys, time
        from ferviz.review.store import Decision, ReviewStore
        db, dataset, who, *faces = sys.argv[1:]
        store = ReviewStore(db)
        t0 = time.perf_counter()
        for k, face in enumerate(faces):
            store.record(Decision(dataset, "PrivateTest", face, who, "relabel", label=k % 7))
        print(f"{(time.perf_counter() - t0) / len(faces) * 1000:.1f}", flush=True)
        """
    faces = [str(i) for i in split.ids[:150]]
    procs = [_python(code, str(db), split.source_hash, f"visitor{i}", *faces) for i in range(8)]
    per_decision_ms = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        per_decision_ms.append(float(out))
    assert _count(db) == {f"visitor{i}": 150 for i in range(8)}
    got = ReviewStore(db).decisions(split.source_hash, "PrivateTest")
    assert len(got) == 8 * 150 and all(d.label == faces.index(d.face_id) % 7 for d in got)
    print(f"ms per decision with 8 writers at once: {sorted(per_decision_ms)}")
