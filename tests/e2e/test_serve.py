"""scripts/serve.py: two app processes behind nginx (sticky cookie, WebSocket proxying, one shared
disk cache, shared mode), visited with real Chromium."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from PIL import Image

from ferviz.models import list_cards
from ferviz.config import PROJECT_ROOT as ROOT

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MODEL = next(c for c in list_cards()[0] if c.model_path.parent == ROOT / "models").key
MEDIA = ("() => { const im = [...document.images].filter(i => i.src.includes('/media/'));"
         " return im.length >= 4 && im.every(i => i.complete && i.naturalWidth > 0); }")


@pytest.fixture(scope="module")
def served(fer_path, tmp_path_factory, require):
    """`scripts/serve.py --workers 2` on a free port; yields (url, its folder)."""
    require(os.path.exists(NGINX), f"nginx not found at {NGINX} (apt-get install nginx)")
    folder = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "FERVIZ_DATA": str(fer_path)}
    with open(folder / "serve.out", "w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "serve.py"), "--workers", "2", "--port", "0",
                                 "--folder", str(folder)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while not (folder / "url").exists():
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("serve.py did not start:\n" + (folder / "serve.out").read_text()[-3000:])
        time.sleep(0.5)
    yield (folder / "url").read_text().strip(), folder
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
    for log in folder.glob("app*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


def _get(url: str, cookie: str | None = None):
    req = urllib.request.Request(url, headers={"Cookie": f"ferviz_node={cookie}"} if cookie else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers


def test_sticky_sessions_spread_over_both_processes(served):
    url, folder = served
    first = _get(url + "/")
    assert re.match(r"ferviz_node=[0-9a-f]{32}; Path=/", first["Set-Cookie"] or "")  # a new visitor's cookie
    assert _get(url + "/", cookie="abc")["Set-Cookie"] is None  # a returning one keeps theirs
    for cookie in ("abc", "visitor-7"):
        assert len({_get(url + "/_stcore/health", cookie)["X-Ferviz-Upstream"] for _ in range(6)}) == 1
    upstreams = {_get(url + "/_stcore/health", f"visitor-{i}")["X-Ferviz-Upstream"] for i in range(24)}
    assert len(upstreams) == 2  # both app processes serve visitors
    assert len((folder / "pids").read_text().split()) == 2


def test_a_visit_through_nginx_gallery_inspector_and_upload(served, page, tmp_path):
    url, _ = served
    page.goto(f"{url}/errors?model={MODEL}&true=fear&pred=sad")  # the WebSocket goes through nginx
    page.locator('[class*="st-key-err_tile_"]').first.wait_for()
    page.get_by_role("button", name="Inspect").first.click()
    page.get_by_text("Explain the class").wait_for()
    for caption in ("Grad-CAM", "Grad-CAM++", "XRAI"):
        page.locator('[data-testid="stImageCaption"]', has_text=re.compile(f"^{re.escape(caption)}$")).wait_for()
    page.wait_for_function(MEDIA)  # media files come from the process that holds this session
    assert page.locator('[data-testid="stException"]').count() == 0

    from skimage import data as skdata

    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(photo, quality=92)
    page.goto(f"{url}/upload?model={MODEL}")
    page.get_by_text("Upload a photo with one or more faces.").wait_for()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    try:
        page.locator('[data-testid="stImageCaption"]', has_text=re.compile(r"^XRAI for ")).wait_for()
    except Exception:
        pytest.fail("no XRAI map for the photo; the page says:\n" + page.inner_text("body")[-2000:])
    page.wait_for_function(MEDIA)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_shared_mode_is_on_behind_nginx(served, page):
    url, _ = served
    page.goto(f"{url}/data")
    page.get_by_text("This is a shared instance: it analyses the dataset it was started with").wait_for()
    assert page.get_by_text("Path to fer2013.csv, archive.zip or the unpacked folder").count() == 0
    assert page.locator('[data-testid="stFileUploader"]').count() == 0
