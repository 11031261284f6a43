"""In real Chromium on the real FER2013: a box dragged on the embedding map opens exactly the faces
inside it as a gallery, and a tile opens the inspector."""
from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import expect

from ferviz.models import list_cards
from ferviz.config import PROJECT_ROOT as ROOT
from tests.e2e.conftest import wait_idle

SHOTS = os.environ.get("FERVIZ_SCREENSHOTS")  # a folder: save screenshots there
CARD = next(c for c in list_cards()[0] if c.model_path.parent == ROOT / "models")
TILES = '[class*="st-key-emb_tile_"]'


def _no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.inner_text("body")


def test_box_selection_on_the_embedding_opens_those_faces(server, page, fer_path):
    from ferviz.data.splits import load_all
    from ferviz.analysis.embedding import cached_embedding

    page.goto(f"{server}/embedding?model={CARD.key}")
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(timeout=300_000)  # a cold cache computes features and UMAP first
    wait_idle(page)
    _no_exception(page)
    expect(page.get_by_text(re.compile(r"PrivateTest · UMAP · 3,589 faces")).first).to_be_visible()
    drag = plot.locator(".nsewdrag").first
    b = drag.bounding_box()
    x0, y0, x1, y1 = b["x"] + 0.35 * b["width"], b["y"] + 0.35 * b["height"], \
        b["x"] + 0.65 * b["width"], b["y"] + 0.65 * b["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
    heading = page.get_by_text(re.compile(r"^[\d,]+ faces in the box$"))
    heading.wait_for(timeout=120_000)
    wait_idle(page)
    n = int(heading.inner_text().split()[0].replace(",", ""))
    caption = page.get_by_text(re.compile(r"^box x ")).inner_text()
    bx0, bx1, by0, by1 = map(float, re.findall(r"-?\d+\.\d+", caption))

    df = cached_embedding(None, CARD, load_all(fer_path)["PrivateTest"], "umap")  # the app's cache
    inside = df[(df["x"] >= bx0) & (df["x"] <= bx1) & (df["y"] >= by0) & (df["y"] <= by1)]
    assert n == len(inside) > 0
    tiles = page.locator(TILES)
    expect(tiles).to_have_count(min(24, n))
    shown = {re.search(r"st-key-emb_tile_(\S+)", tiles.nth(i).get_attribute("class")).group(1)
             for i in range(tiles.count())}
    assert shown <= set(inside["id"])
    # errors come first, each tile says true → predicted
    first = tiles.first
    row = df.set_index("id").loc[re.search(r"st-key-emb_tile_(\S+)", first.get_attribute("class")).group(1)]
    expect(first).to_contain_text(f"true {row['true']} → {row['pred']}")
    _no_exception(page)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / "embedding_box.png"))
    first.get_by_role("button", name="Inspect").click()
    page.get_by_role("heading", name="Inspector").wait_for()
    wait_idle(page)
    _no_exception(page)
