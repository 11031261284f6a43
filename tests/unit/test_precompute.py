"""Precompute's runner on fake tasks: skips what is cached, retries a failure once, never writes a
half entry, batches by group, and the command's arguments."""
from __future__ import annotations

import json

import pytest

from ferviz import cache, config
from ferviz.precompute import Summary, Task, batches, run_tasks
from ferviz.precompute import tasks as T


def _tasks(n: int, method: str = "gradcam") -> list[Task]:
    return [Task("maps", f"fake/{method}-{i}.npz", "m.json", "PrivateTest", method, str(i), 0) for i in range(n)]


@pytest.fixture
def fake_run(monkeypatch):
    calls: list[list[str]] = []
    failing: dict[str, int] = {}

    def run_group(batch, data):
        calls.append([t.key for t in batch])
        for t in batch:
            if failing.get(t.key, 0) > 0:
                failing[t.key] -= 1
                raise MemoryError("out of memory")
        for t in batch:
            cache.atomic_write_bytes(config.cache_dir() / t.key, b"ok")

    monkeypatch.setattr(T, "execute_task_group", run_group)
    return calls, failing


def test_cached_tasks_are_skipped_and_a_second_run_computes_nothing(fake_run):
    calls, _ = fake_run
    s = run_tasks(_tasks(5))
    assert (s.computed, s.cached, s.failed) == (5, 0, 0)
    s2 = run_tasks(_tasks(5) + _tasks(2, "xrai"))
    assert (s2.computed, s2.cached, s2.failed) == (2, 5, 0)
    assert all(len(c) == 1 for c in calls[-2:])  # XRAI: one face per batch


def test_a_failing_task_is_retried_once_alone_and_the_rest_go_on(fake_run):
    calls, failing = fake_run
    tasks = _tasks(4, "gradcampp")
    failing[tasks[1].key] = 1  # fails once: the retry succeeds
    failing[tasks[2].key] = 5  # always fails: reported after one retry
    lines = []
    s = run_tasks(tasks, report=lines.append)
    assert (s.computed, s.failed, s.retried) == (3, 1, 4)  # the batch of 4 failed together, each retried alone
    assert list(s.errors) == [tasks[2].key] and "out of memory" in s.errors[tasks[2].key]
    assert not (config.cache_dir() / tasks[2].key).exists()
    assert [c for c in calls if c == [tasks[2].key]] == [[tasks[2].key]]  # retried exactly once
    assert any("failed again" in line for line in lines)
    summary = json.loads(s.json())
    assert (summary["computed"], summary["cached"], summary["failed"]) == (3, 0, 1)
    s2 = run_tasks(tasks)  # the rest were written; only the failed one runs again
    assert s2.cached == 3


def test_batches_group_by_kind_model_split_and_method():
    tasks = _tasks(70) + _tasks(3, "xrai") + [Task("evaluate", "p.npz", "m.json", "PrivateTest")]
    got = batches(tasks)
    assert got[0][0].kind == "evaluate"  # predictions first
    assert sorted(len(b) for b in got) == [1, 1, 1, 1, 6, 32, 32]
    assert all(len({t.group for t in b}) == 1 for b in got)


def test_summary_is_one_json_line():
    s = Summary(computed=3, cached=2)
    line = s.json()
    assert "\n" not in line and json.loads(line)["tasks"] == 5


def test_command_is_registered_and_validates_its_arguments(capsys):
    from ferviz.cli import COMMANDS, main

    assert COMMANDS["precompute"][0] == "precompute"
    assert main(["precompute", "--models", "x", "--what", "maps,bogus"]) == 2
    assert "evaluate, maps" in capsys.readouterr().err
    assert main(["precompute", "--models", "x", "--cells", "fear:nope"]) == 2


def test_workers_setting(monkeypatch):
    monkeypatch.setenv("FERVIZ_PRECOMPUTE_WORKERS", "3")
    assert config.precompute_workers() == 3
    monkeypatch.setenv("FERVIZ_PRECOMPUTE_WORKERS", "0")
    assert config.precompute_workers() == 1
