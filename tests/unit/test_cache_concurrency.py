"""Several app processes share one content-addressed disk cache (scripts/serve.sh): two processes
filling the same entries at once must never leave, or let each other read, a corrupt or
half-written entry."""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np

ENTRIES = 24
ROUNDS = 3


def expected(i: int) -> np.ndarray:
    """Entry i's array: large enough (256 KB) that a write takes many syscalls."""
    return (np.arange(256 * 256, dtype=np.float32).reshape(256, 256) * (i + 1)) % 9973


def _fill(folder: str, worker: int, barrier, out) -> None:
    """Write every entry ROUNDS times (in an order of this worker's own) and, between writes, read
    entries: any that exists must load whole and equal its array."""
    from ferviz import cache

    problems = []
    order = np.random.default_rng(worker).permutation(ENTRIES * ROUNDS) % ENTRIES
    barrier.wait()
    for k, i in enumerate(order):
        cache.save_arrays(Path(folder) / f"e{i}.npz", map=expected(int(i)))
        j = int(order[(k + 7) % len(order)])
        p = Path(folder) / f"e{j}.npz"
        if p.exists():
            got = cache.load_arrays(p)
            if got is None or not np.array_equal(got.get("map"), expected(j)):
                problems.append(f"worker {worker} read a bad e{j}.npz")
    out.put(problems)


def test_two_processes_fill_the_same_entries_at_once(tmp_path):
    from ferviz import cache

    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_fill, args=(str(tmp_path), w, barrier, out)) for w in range(2)]
    for w in workers:
        w.start()
    problems = [p for _ in workers for p in out.get(timeout=300)]
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    assert problems == []
    for i in range(ENTRIES):
        got = cache.load_arrays(tmp_path / f"e{i}.npz")
        assert got is not None and set(got) == {"map"}
        assert np.array_equal(got["map"], expected(i))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"e{i}.npz" for i in range(ENTRIES))  # no temp files


def test_a_writer_replacing_an_entry_never_shows_half_of_it(tmp_path):
    """One process rewrites an entry with alternating contents while another reads it: each read
    is one whole version, never a mix or a truncated file."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    path = tmp_path / "entry.npz"
    writer = ctx.Process(target=_rewrite, args=(str(path), barrier, out))
    reader = ctx.Process(target=_read, args=(str(path), barrier, out))
    writer.start()
    reader.start()
    results = [out.get(timeout=300) for _ in range(2)]
    writer.join(60)
    reader.join(60)
    assert writer.exitcode == 0 and reader.exitcode == 0
    reads = next(r for r in results if isinstance(r, dict))
    assert reads["bad"] == [] and reads["whole"] > 0


def _rewrite(path: str, barrier, out) -> None:
    from ferviz import cache

    cache.save_arrays(path, map=expected(1))  # the entry exists before the reader starts
    barrier.wait()
    for k in range(60):
        cache.save_arrays(path, map=expected(k % 2))
    cache.save_arrays(path + ".done", map=np.zeros(1))
    out.put("written")


def _read(path: str, barrier, out) -> None:
    from ferviz import cache

    versions = [expected(0), expected(1)]
    bad, whole = [], 0
    barrier.wait()
    for _ in range(100_000):  # bounded; ends when the writer is done (after one read at least)
        got = cache.load_arrays(path)  # the entry is always there: replaced, never removed
        if got is None or not any(np.array_equal(got.get("map"), v) for v in versions):
            bad.append("a read that is neither version")
        else:
            whole += 1
        if Path(path + ".done").exists():
            break
    out.put({"bad": bad[:5], "whole": whole})
