"""The dashboard in real Chromium: click a confusion cell, inspect an error, download, upload a face."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

from PIL import Image

from ferviz.labels import EMOTIONS
from ferviz.models import list_cards
from tests.conftest import ROOT

SHOTS = os.environ.get("FERVIZ_SCREENSHOTS")  # a folder: save screenshots there (for the README)
MODEL = next((c.key for c in list_cards()[0] if c.model_path.parent == ROOT / "models"), "baseline_cnn")


def _no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0
    body = page.inner_text("body")
    assert "Traceback" not in body and "Error:" not in body.replace("Model problem", ""), body[:2000]


def _shot(page, name, height=None):
    """Save a screenshot (Streamlit scrolls inside its own container, so a taller viewport shows more)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        if height:
            page.set_viewport_size({"width": 1500, "height": height})
            page.wait_for_timeout(1500)
        page.screenshot(path=str(Path(SHOTS) / name))


def _click_cell(page, true: int, pred: int) -> None:
    """Mouse-click the centre of a confusion-matrix cell (plot area split into a 7x7 grid)."""
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first
    box = area.bounding_box()
    x = box["x"] + (pred + 0.5) * box["width"] / 7
    y = box["y"] + (true + 0.5) * box["height"] / 7
    page.mouse.click(x, y)


def test_overview_click_cell_inspect_and_download(server, page, tmp_path):
    page.goto(f"{server}/?model={MODEL}")
    page.get_by_text("Confusion matrix — click a cell").wait_for()
    page.get_by_text("Per-class metrics", exact=True).wait_for()
    assert re.search(r"Accuracy\s*\n?\s*\d+\.\d+%", page.inner_text("body"))
    _no_exception(page)
    _shot(page, "overview.png")

    fear, sad = EMOTIONS.index("fear"), EMOTIONS.index("sad")
    _click_cell(page, fear, sad)
    page.get_by_text(re.compile(r"true fear → predicted sad: [\d,]+ images")).wait_for()
    page.wait_for_url(re.compile(r"/errors\?.*true=fear"), timeout=30_000)
    assert "pred=sad" in page.url
    tiles = page.locator('[data-testid="stMarkdownContainer"]', has_text="✗ true fear → sad")
    tiles.first.wait_for()
    assert tiles.count() >= 1
    assert re.search(r"sad \d+% · \w+ \d+% · \w+ \d+%", tiles.first.inner_text())  # top-3 probabilities
    _no_exception(page)

    page.get_by_role("button", name="Inspect").first.click()
    page.get_by_text("Explain the class").wait_for()
    page.get_by_text(re.compile(r"1 of [\d,]+ in the gallery")).wait_for()  # the cell's order, not all errors
    for caption in ("Grad-CAM", "Grad-CAM++", "XRAI"):
        page.locator('[data-testid="stImageCaption"]', has_text=re.compile(f"^{re.escape(caption)}$")).wait_for()
    assert "/inspector" in page.url and "id=PrivateTest_" in page.url
    _no_exception(page)

    with page.expect_download() as dl:
        page.get_by_role("button", name="Annotated figure").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and path.name.startswith(MODEL)
    assert Image.open(io.BytesIO(data)).size[0] > 300


def test_upload_a_face_photo(server, page, tmp_path):
    from skimage import data as skdata

    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(photo, quality=92)
    page.goto(f"{server}/upload?model={MODEL}")
    page.get_by_text("Upload a photo with one or more faces.").wait_for()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    page.get_by_text("what the model sees (48x48 grayscale)").wait_for()
    page.get_by_text("1 face(s) found", exact=False).wait_for()
    page.locator('[data-testid="stImageCaption"]', has_text=re.compile(r"^Grad-CAM for \w+")).wait_for()
    page.locator('[data-testid="stImageCaption"]', has_text=re.compile(r"^XRAI for \w+")).wait_for()
    assert re.search(r"\w+ \(\d+\.\d%\)", page.inner_text("body"))
    _no_exception(page)
    _shot(page, "upload.png", height=1750)
