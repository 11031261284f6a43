"""Shared fixtures: an isolated cache per session, the real data and browser gates."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    if "FERVIZ_CACHE" not in os.environ or os.environ.get("FERVIZ_TEST_FRESH_CACHE"):
        os.environ["FERVIZ_CACHE"] = str(tmp_path_factory.mktemp("ferviz-cache"))
    yield


def _strict() -> bool:
    return os.environ.get("FERVIZ_STRICT", "") not in ("", "0", "false", "no")


def require(condition: bool, why: str) -> None:
    """Skip when a real resource is missing, except in CI (FERVIZ_STRICT=1) where it fails."""
    if not condition:
        if _strict():
            pytest.fail(f"required in CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def fer_path() -> Path:
    p = os.environ.get("FERVIZ_DATA")
    if not p:
        default = ROOT.parent / "shared" / "data" / "fer2013" / "archive.zip"
        p = str(default) if default.exists() else ""
    require(bool(p) and Path(p).exists(), "FER2013 not available: set FERVIZ_DATA to archive.zip or fer2013.csv")
    return Path(p)


@pytest.fixture(scope="session")
def fer_splits(fer_path):
    from ferviz.data.splits import load_all

    return load_all(fer_path)


@pytest.fixture(scope="session")
def private_test(fer_splits):
    return fer_splits["PrivateTest"]


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """In CI (FERVIZ_STRICT=1) any skip fails the run, whatever skipped it."""
    if _strict() and _SKIPPED and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _strict() and _SKIPPED:
        terminalreporter.write_line(f"FERVIZ_STRICT: {len(_SKIPPED)} skipped test(s) count as failures: "
                                    + ", ".join(_SKIPPED[:10]), red=True)
