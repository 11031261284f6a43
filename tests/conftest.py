"""Shared fixtures: an isolated cache per session, the real data and browser gates, and the last
line of a run that says which tests skipped for want of a resource and how to get it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ferviz import config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = config.PROJECT_ROOT

#: what a missing resource's skip says last, and how to fix it
HOW_TO_FIX = {
    "FER2013": "put archive.zip or fer2013.csv in data/ (or set FERVIZ_DATA to it)",
    "Chromium": "apt-get install chromium (or set FERVIZ_CHROMIUM)",
    "nginx": "apt-get install nginx",
    "cleanlab": "pip install -r requirements-test.txt",
}
_MISSING: dict[str, int] = {}


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Tests use their own disk cache unless FERVIZ_CACHE names one (CI gives a fresh one), and their
    own label-review database unless FERVIZ_REVIEWS names one."""
    if config.cache_setting() is None:
        os.environ["FERVIZ_CACHE"] = str(tmp_path_factory.mktemp("ferviz-cache"))
    if not os.environ.get("FERVIZ_REVIEWS"):  # never the user's own label-review database
        os.environ["FERVIZ_REVIEWS"] = str(tmp_path_factory.mktemp("ferviz-reviews") / "reviews.sqlite")
    yield


def _require(condition: bool, why: str) -> None:
    """Skip when a real resource is missing, except in CI (FERVIZ_STRICT=1) where it fails."""
    if not condition:
        if config.strict():
            pytest.fail(f"required in CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def require():
    """`require(condition, why)`: skip (fail in CI) when a real resource is missing."""
    return _require


@pytest.fixture(scope="session")
def fer_path() -> Path:
    """The real FER2013, found the way the app finds it: FERVIZ_DATA, else data/fer2013.csv,
    data/archive.zip, data/fer2013/ or data/ (the README's places)."""
    from ferviz.data.splits import resolve_data_path
    from ferviz.errors import DataError

    try:
        return resolve_data_path(None)
    except DataError as e:
        _require(False, f"FER2013 not found ({e})")


@pytest.fixture(scope="session")
def fer_splits(fer_path):
    from ferviz.data.splits import load_all

    return load_all(fer_path)


@pytest.fixture(scope="session")
def private_test(fer_splits):
    return fer_splits["PrivateTest"]


def _run_exported(fmt: str, path, x):
    """An independent forward pass through the exported file (not ferviz's runner)."""
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})[0]
    import tensorflow as tf

    it = tf.lite.Interpreter(model_path=str(path))
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(inp["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


@pytest.fixture(scope="session")
def run_exported():
    """`run_exported(fmt, path, x)`: a forward pass through an exported .tflite/.onnx file with
    its own runtime (not ferviz's runner)."""
    return _run_exported


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _SKIPPED.append(report.nodeid)
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        for resource in HOW_TO_FIX:
            if resource in reason:
                _MISSING[resource] = _MISSING.get(resource, 0) + 1


def pytest_sessionfinish(session, exitstatus):
    """In CI (FERVIZ_STRICT=1) any skip fails the run, whatever skipped it."""
    if config.strict() and _SKIPPED and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if config.strict() and _SKIPPED:
        terminalreporter.write_line(f"FERVIZ_STRICT: {len(_SKIPPED)} skipped test(s) count as failures: "
                                    + ", ".join(_SKIPPED[:10]), red=True)


def pytest_unconfigure(config):
    """After pytest's own summary: one last line naming what was missing, so a green run that
    skipped the real-data or browser tests cannot pass for a full one."""
    if _MISSING:
        parts = [f"{n} test(s) skipped for want of {r}: {HOW_TO_FIX[r]}" for r, n in _MISSING.items()]
        tw = config.get_terminal_writer()
        tw.line("ferviz: NOT A FULL RUN: " + "; ".join(parts), yellow=True, bold=True)
