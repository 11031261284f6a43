"""The dashboard in real Chromium: click a confusion cell, inspect an error, download, upload a face."""
from __future__ import annotations

import io
import re

from PIL import Image
from playwright.sync_api import expect

from ferviz.labels import EMOTIONS
from ferviz.models import list_cards
from ferviz.config import PROJECT_ROOT as ROOT

CARD = next(c for c in list_cards()[0] if c.model_path.parent == ROOT / "models")
MODEL = CARD.key


def _click_cell(page, true: int, pred: int) -> None:
    """Mouse-click the centre of a confusion-matrix cell (plot area split into a 7x7 grid)."""
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.scroll_into_view_if_needed()
    area = chart.locator(".nsewdrag").first
    box = area.bounding_box()
    x = box["x"] + (pred + 0.5) * box["width"] / 7
    y = box["y"] + (true + 0.5) * box["height"] / 7
    page.mouse.click(x, y)


def test_overview_click_cell_inspect_and_download(server, page, tmp_path, fer_path, wait_idle, no_exception, shot):
    page.goto(f"{server}/?model={MODEL}")
    page.get_by_text("Confusion matrix — click a cell").wait_for()
    page.get_by_text("Per-class metrics", exact=True).wait_for()
    acc = f"{CARD.metrics['PrivateTest']['accuracy']:.2%}"
    body = page.inner_text("body")
    assert re.search(rf"Accuracy\s*\n?\s*{re.escape(acc)}", body), body[:1500]  # measured in the app ...
    assert re.search(rf"Model card says\s*\n?\s*{re.escape(acc)}", body)  # ... equals the card
    no_exception(page)
    shot(page, "overview.png")

    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import evaluate

    fear, sad = EMOTIONS.index("fear"), EMOTIONS.index("sad")
    errors = evaluate(CARD, load_fer2013(fer_path, "PrivateTest")).errors(fear, sad)  # the app's cache
    n = len(errors)
    _click_cell(page, fear, sad)
    page.get_by_text(f"true fear → predicted sad: {n:,} images").wait_for()
    page.wait_for_url(re.compile(r"/errors\?.*true=fear"), timeout=30_000)
    assert "pred=sad" in page.url
    tiles = page.locator('[class*="st-key-err_tile_"]')
    tiles.first.wait_for()
    expect(tiles).to_have_count(min(n, 24))  # one page of this cell's errors
    assert re.search(r"✗ sad \d+% · \w+ \d+% · \w+ \d+%", tiles.first.inner_text())  # top-3 probabilities
    assert "→" not in tiles.first.inner_text()  # the heading names the cell, once
    first_id = errors["id"].iloc[0]  # most confident mistake first
    page.get_by_text(first_id, exact=True).first.wait_for()  # the first tile is that image
    no_exception(page)

    page.get_by_role("button", name="Inspect").first.click()
    page.get_by_text("Explain the class").wait_for()
    page.get_by_text(f"1 of {n} in fear → sad").wait_for()  # the cell's order, not all errors
    for caption in ("Grad-CAM", "Grad-CAM++", "XRAI"):
        page.locator('[data-testid="stImageCaption"]', has_text=re.compile(f"^{re.escape(caption)}$")).wait_for()
    assert "/inspector" in page.url and f"id={first_id}" in page.url
    page.get_by_text(f"{first_id} · true fear").wait_for()
    assert re.search(r"predicts\s+sad", page.inner_text("body"))
    # the face and the three overlays really render: wait for every media image to finish loading
    page.wait_for_function("() => { const im = [...document.images].filter(i => i.src.includes('/media/'));"
                           " return im.length >= 4 && im.every(i => i.complete); }")
    loaded = page.evaluate("() => [...document.images].filter(i => i.src.includes('/media/'))"
                           ".map(i => i.complete && i.naturalWidth > 0)")
    assert loaded and all(loaded)
    no_exception(page)

    wait_idle(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Annotated figure").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and path.name.startswith(MODEL)
    assert Image.open(io.BytesIO(data)).size[0] > 300


def test_upload_a_face_photo(server, page, tmp_path, no_exception, shot):
    from skimage import data as skdata

    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(photo, quality=92)
    page.goto(f"{server}/upload?model={MODEL}")
    page.get_by_text("Upload a photo with one or more faces.").wait_for()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    page.get_by_text("what the model sees (48x48 grayscale)").wait_for()
    page.get_by_text(re.compile(r"^1 face\(s\) found")).wait_for()
    emotions = "|".join(EMOTIONS)
    page.locator('[data-testid="stImageCaption"]', has_text=re.compile(rf"^Grad-CAM for ({emotions})$")).wait_for()
    page.locator('[data-testid="stImageCaption"]', has_text=re.compile(rf"^XRAI for ({emotions})$")).wait_for()
    assert re.search(rf"{re.escape(CARD.name)}: ({emotions}) \(\d+\.\d%\)", page.inner_text("body"))
    no_exception(page)
    shot(page, "upload.png", height=1750)


def test_errors_csv_download_follows_the_gallery_sort(server, page, tmp_path, fer_path, wait_idle, no_exception):
    """The CSV renders on click, outside the script run: it must still use the sort on screen."""
    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import evaluate
    from ferviz.export import read_errors_csv

    want = evaluate(CARD, load_fer2013(fer_path, "PrivateTest")).errors(EMOTIONS.index("fear"), EMOTIONS.index("sad"),
                                                                         sort="loss")
    page.goto(f"{server}/errors?model={MODEL}&true=fear&pred=sad")
    page.get_by_text(re.compile(r"true fear → predicted sad: [\d,]+ images")).wait_for()
    page.get_by_text("loss", exact=True).click()  # the "Sort by" radio
    # the rerun has finished when the first tile is the highest-loss error
    first = page.locator('[class*="st-key-err_tile_"]').first
    expect(first).to_have_class(re.compile(rf"st-key-err_tile_{re.escape(str(want['id'].iloc[0]))}(\s|$)"))
    wait_idle(page)
    page.get_by_text("Export", exact=True).click()  # the expander
    with page.expect_download() as dl:
        page.get_by_role("button", name="Error table (CSV)").click()
    assert dl.value.suggested_filename == f"{MODEL}_PrivateTest_fear-sad_by-loss_errors.csv"
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    got = read_errors_csv(path.read_bytes())
    assert got["id"].tolist() == want["id"].tolist() and len(got) > 1
    assert got["loss"].is_monotonic_decreasing and not got["confidence"].is_monotonic_decreasing
    no_exception(page)
