"""Shared helpers for the benchmark scripts: arguments, timing, JSON output."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--model", default=str(ROOT / "models" / "baseline_cnn.json"))
    p.add_argument("--data", default=os.environ.get("FERVIZ_DATA"))
    p.add_argument("--repeats", type=int, default=3)
    return p


def fresh_cache() -> str:
    """Point ferviz's cache at an empty temporary folder (benchmarks never reuse user caches)."""
    d = tempfile.mkdtemp(prefix="ferviz-bench-")
    os.environ["FERVIZ_CACHE"] = d
    return d


def median_time(fn, repeats: int = 3, setup=None) -> float:
    """Median wall time of fn() over repeats (setup() runs untimed before each)."""
    times = []
    for _ in range(repeats):
        if setup:
            setup()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def emit(result: dict) -> None:
    print(json.dumps(result, indent=2, default=float))
