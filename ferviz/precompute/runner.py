"""Run precompute tasks: in this process, on a local process pool or on Ray, with progress,
one retry per failed task and a summary.

Tasks are grouped into batches (one kind, model, split and method: several Grad-CAM maps per
call, one XRAI map per call) and handed to workers; each worker writes into the shared cache
with the cache's atomic writes, or sends the entries' bytes back for the driver to write
(``send=True``: workers that share no filesystem with the driver). A batch that fails is retried
task by task; a task that fails twice is reported and the rest go on. Nothing half-written is ever
visible (every entry is written to a temporary file and renamed), so stopping the run at any
point and running it again computes only what is missing.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .. import cache, config
from ..errors import AnalysisError
from . import tasks as T

#: faces per batch by method (XRAI is slow: one face per batch keeps the workers evenly busy)
BATCH = {"gradcam": 32, "gradcampp": 32, "xrai": 1}
DEFAULT_BATCH = 8

Report = Callable[[str], None]


@dataclass
class Summary:
    """Counts of a run, by status and kind, and the failures (key: error)."""

    computed: int = 0
    cached: int = 0
    failed: int = 0
    retried: int = 0
    seconds: float = 0.0
    backend: str = "serial"
    workers: int = 0
    by_kind: dict = field(default_factory=lambda: defaultdict(Counter))
    errors: dict = field(default_factory=dict)

    @property
    def tasks(self) -> int:
        return self.computed + self.cached + self.failed

    def json(self) -> str:
        """The one-line JSON summary the command prints last."""
        return json.dumps({"computed": self.computed, "cached": self.cached, "failed": self.failed,
                           "retried": self.retried, "tasks": self.tasks, "seconds": round(self.seconds, 2),
                           "backend": self.backend, "workers": self.workers,
                           "by_kind": {k: dict(v) for k, v in sorted(self.by_kind.items())},
                           "errors": dict(list(self.errors.items())[:20])}, sort_keys=False)


def batches(todo: Sequence[T.Task], sizes: dict[str, int] | None = None) -> list[list[T.Task]]:
    """Tasks grouped by (kind, model, split, method), cut into batches of each method's size."""
    sizes = {**BATCH, **(sizes or {})}
    groups: dict[tuple, list[T.Task]] = defaultdict(list)
    for t in todo:
        groups[t.group].append(t)
    out = []
    for g, items in groups.items():
        n = sizes.get(g[3], DEFAULT_BATCH) if g[0] == "maps" else 1
        out += [items[i:i + n] for i in range(0, len(items), n)]
    out.sort(key=lambda b: {"evaluate": 0, "landmarks": 1, "embedding": 2, "maps": 3}.get(b[0].kind, 4))
    return out


def _duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min"


class _Progress:
    """Progress lines on stderr: tasks done of total, computed, cached, failed, time left."""

    def __init__(self, total: int, cached: int, report: Report | None, every: float = 1.0):
        self.total, self.report, self.every = total, report, every
        self.t0 = self.last = time.monotonic()
        self.computed = 0
        self.cached = cached
        self.failed = 0
        self.shown = -1

    def add(self, computed: int = 0, cached: int = 0, failed: int = 0, force: bool = False) -> None:
        self.computed += computed
        self.cached += cached
        self.failed += failed
        now = time.monotonic()
        done = self.computed + self.cached + self.failed
        if self.report and ((force and done != self.shown) or now - self.last >= self.every):
            self.last, self.shown = now, done
            work = self.computed + self.failed
            left = self.total - done
            eta = f" · about {_duration((now - self.t0) / work * left)} left" if work and left else ""
            self.report(f"precompute: {done}/{self.total} tasks · computed {self.computed} · cached {self.cached}"
                        f" · failed {self.failed}{eta}")


class _Serial:
    """Runs batches in this process, one at a time."""

    name = "serial"

    def __init__(self, data, send: bool):
        self.data, self.send, self.pending = data, send, deque()

    def submit(self, batch):
        self.pending.append(batch)

    def next_done(self):
        batch = self.pending.popleft()
        return batch, T.execute(batch, self.data)

    def close(self):
        pass


class _Pool:
    """A local process pool (spawned processes: TensorFlow is not fork-safe)."""

    name = "pool"

    def __init__(self, data, send: bool, workers: int):
        self.data, self.send, self.workers = data, send, workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.futures: dict = {}
        self._start()

    def _start(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.ex = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))

    def submit(self, batch):
        root = str(config.cache_dir())
        f = self.ex.submit(T.execute, batch, self.data, root, self.send, self.threads)
        self.futures[f] = batch

    def next_done(self):
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait(list(self.futures), return_when=FIRST_COMPLETED)
        f = next(iter(done))
        batch = self.futures.pop(f)
        try:
            return batch, f.result()
        except BrokenProcessPool as e:  # a worker died (out of memory, killed): a fresh pool for the rest
            rest = list(self.futures.values())
            self.futures.clear()
            self.ex.shutdown(wait=False, cancel_futures=True)
            self._start()
            for b in rest:
                self.submit(b)
            return batch, [T.Outcome(t.key, "failed", f"worker died: {e}") for t in batch]
        except Exception as e:
            return batch, [T.Outcome(t.key, "failed", f"{type(e).__name__}: {e}") for t in batch]

    def close(self):
        self.ex.shutdown(wait=True, cancel_futures=True)


class _Ray:
    """Ray tasks (one CPU each) on the cluster at `address` ('auto', 'ray://...', or None: an
    already initialised Ray or a new local one)."""

    name = "ray"

    def __init__(self, data, send: bool, workers: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise AnalysisError("--ray needs Ray: pip install 'ferviz[ray]'") from None
        if not ray.is_initialized():
            ray.init(address=None if address in (None, "local") else address, include_dashboard=False,
                     log_to_driver=False)
        self.ray, self.data, self.send, self.workers = ray, data, send, workers
        self.fn = ray.remote(num_cpus=1, max_retries=0)(T.execute)
        self.refs: dict = {}

    def submit(self, batch):
        ref = self.fn.remote(batch, self.data, str(config.cache_dir()), self.send, 1)
        self.refs[ref] = batch

    def next_done(self):
        done, _ = self.ray.wait(list(self.refs), num_returns=1)
        batch = self.refs.pop(done[0])
        try:
            return batch, self.ray.get(done[0])
        except Exception as e:  # a worker that died, a task that could not be sent
            return batch, [T.Outcome(t.key, "failed", f"{type(e).__name__}: {e}") for t in batch]

    def close(self):
        pass


def run_tasks(tasks: Sequence[T.Task], *, data: str | None = None, workers: int = 0, ray: str | None = None,
              send: bool = False, report: Report | None = None, summary: Summary | None = None,
              sizes: dict[str, int] | None = None) -> Summary:
    """Run the tasks not cached yet. `workers` 0: in this process; N: a pool of N processes (on Ray
    with `ray`: at most N batches in flight, 0 meaning the cluster's CPUs). Failed batches are retried
    task by task once. Counts add up in `summary` (a new one by default)."""
    s = summary or Summary()
    t0 = time.monotonic()
    tasks = list({t.key: t for t in tasks}.values())
    root = config.cache_dir()
    todo = []
    for t in tasks:
        if t.cached(root):
            s.cached += 1
            s.by_kind[t.kind]["cached"] += 1
        else:
            todo.append(t)
    prog = _Progress(len(tasks), len(tasks) - len(todo), report)
    if ray is not None:
        runner = _Ray(data, send, workers, ray)
        inflight = workers or max(1, int(runner.ray.available_resources().get("CPU", 1)))
    elif workers > 0 and todo:
        runner, inflight = _Pool(data, send, workers), 2 * workers
    else:
        runner, inflight = _Serial(data, send), 1
    s.backend, s.workers = runner.name, workers
    queue = deque((b, 1) for b in batches(todo, sizes))
    attempt: dict[int, int] = {}
    running = 0
    try:
        while queue or running:
            while queue and running < inflight:
                b, n = queue.popleft()
                attempt[id(b)] = n
                runner.submit(b)
                running += 1
            batch, outcomes = runner.next_done()
            running -= 1
            n = attempt.pop(id(batch), 1)
            by_key = {t.key: t for t in batch}
            failed = [o for o in outcomes if o.status == "failed"]
            for o in outcomes:
                t = by_key[o.key]
                if o.status == "failed":
                    continue
                if o.files:
                    for rel, blob in o.files.items():
                        cache.atomic_write_bytes(root / rel, blob)
                setattr(s, o.status, getattr(s, o.status) + 1)
                s.by_kind[t.kind][o.status] += 1
                prog.add(**{o.status: 1})
            for o in failed:
                t = by_key[o.key]
                if n == 1:  # retried once, alone
                    s.retried += 1
                    if report:
                        report(f"precompute: {t.kind} {t.image_id or t.split} failed ({o.error}); retrying")
                    queue.append(([t], 2))
                else:
                    s.failed += 1
                    s.by_kind[t.kind]["failed"] += 1
                    s.errors[t.key] = o.error
                    if report:
                        report(f"precompute: {t.kind} {t.image_id or t.split} failed again: {o.error}")
                    prog.add(failed=1)
    finally:
        runner.close()
    prog.add(force=True)
    s.seconds += time.monotonic() - t0
    return s


def stderr_report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
