"""A real `streamlit run app.py` on the real FER2013, and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ferviz import config
from ferviz.config import PROJECT_ROOT as ROOT

CHROMIUM = config.chromium()
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shipped_card():
    from ferviz.models import list_cards

    return next(c for c in list_cards()[0] if c.model_path.parent == config.PROJECT_ROOT / "models")


@pytest.fixture(scope="session")
def shipped_card():
    """The first model card shipped in models/ (the one the browser tests open)."""
    return _shipped_card()


@pytest.fixture(scope="session")
def chromium():
    """(executable, launch arguments) of the Chromium the tests drive, for a browser of one's own."""
    return CHROMIUM, list(ARGS)


@contextlib.contextmanager
def _streamlit(log_dir: Path, **settings: str):
    """`streamlit run app.py` on a free loopback port with these environment settings (e.g.
    FERVIZ_DATA); yields its base URL, and at the end stops it and checks its log has no traceback."""
    port = _free_port()
    log = log_dir / "streamlit.log"
    env = {**os.environ, **settings, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("streamlit exited:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start:\n" + log.read_text()[-3000:])
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    text = log.read_text()
    assert "Traceback" not in text, text[-4000:]


@pytest.fixture(scope="session")
def server(fer_path, tmp_path_factory):
    """Start the dashboard on a free loopback port; yield its base URL."""
    with _streamlit(tmp_path_factory.mktemp("server"), FERVIZ_DATA=str(fer_path)) as url:
        yield url


@pytest.fixture(scope="session")
def streamlit_on():
    """`streamlit_on(log_dir, **settings)`: a context manager running the dashboard with these
    environment settings (FERVIZ_DATA, FERVIZ_MODELS, ...) on a free port; yields its base URL."""
    return _streamlit


@pytest.fixture(scope="session")
def playwright_session(require):
    """One Playwright driver for the whole session (a second sync_playwright() in the same thread
    is refused): the shared browser and any specially launched one (e.g. with a fake camera)."""
    require(os.path.exists(CHROMIUM), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_session):
    b = playwright_session.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield b
    b.close()


def _open(browser, width: int, height: int):
    ctx = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(180_000)
    return ctx, pg


@pytest.fixture
def page(browser):
    """A page at 1500x1100 (room for a whole panel in one screenshot)."""
    ctx, pg = _open(browser, 1500, 1100)
    yield pg
    ctx.close()


def _wait_idle(page, timeout: float = 180_000) -> None:
    """Wait until the app's script run has finished (download buttons of a run still in progress
    are replaced when it ends, and a click on the old one finds no file)."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


@pytest.fixture
def wait_idle():
    """`wait_idle(page, timeout=180_000)`: wait until the app's script run has finished."""
    return _wait_idle


@pytest.fixture
def page_1440(browser):
    """A page at 1440x900, the size the dashboard is reviewed at."""
    ctx, pg = _open(browser, 1440, 900)
    yield pg
    ctx.close()


@pytest.fixture
def no_exception():
    """`no_exception(page)`: fail when the page shows a Streamlit exception or a traceback."""
    def check(page) -> None:
        assert page.locator('[data-testid="stException"]').count() == 0
        body = page.inner_text("body")
        assert "Traceback" not in body and "Error:" not in body.replace("Model problem", ""), body[:2000]
    return check


@pytest.fixture
def shot(tmp_path):
    """`shot(page, name, height=None) -> Path`: save a screenshot under the test's tmp folder and,
    when FERVIZ_SCREENSHOTS is set, there too (the README's pictures). Streamlit scrolls inside its
    own container, so a taller viewport shows more of a page."""
    def take(page, name: str, height: int | None = None) -> Path:
        if height:
            page.set_viewport_size({"width": page.viewport_size["width"], "height": height})
            page.wait_for_timeout(1500)
        path = tmp_path / name
        page.screenshot(path=str(path))
        extra = config.screenshots_dir()
        if extra is not None:
            extra.mkdir(parents=True, exist_ok=True)
            (extra / name).write_bytes(path.read_bytes())
        return path
    return take
