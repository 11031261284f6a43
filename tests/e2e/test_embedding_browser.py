"""In real Chromium on the real FER2013: a box dragged on the embedding map opens exactly the faces
inside it as a gallery (counted by the core's rule, `ferviz.analysis.embedding.in_box`, for the
box the browser drew), and a tile opens the inspector."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.models import list_cards

CARD = next(c for c in list_cards()[0] if c.model_path.parent == ROOT / "models")
TILES = '[class*="st-key-emb_tile_"]'
#: the box plotly drew, in data coordinates: what Streamlit hands the app as the selection's box
_DRAWN_BOX = """() => { const gd = document.querySelector('.js-plotly-plot');
  const s = ((gd && gd.layout && gd.layout.selections) || []).filter(s => s.type === 'rect');
  return s.length ? {x0: s[0].x0, x1: s[0].x1, y0: s[0].y0, y1: s[0].y1} : null; }"""


def test_box_selection_on_the_embedding_opens_those_faces(server, page, fer_path, wait_idle, no_exception, shot):
    from ferviz.analysis.embedding import cached_embedding, in_box
    from ferviz.data.splits import load_all

    page.goto(f"{server}/embedding?model={CARD.key}")
    plot = page.locator(".js-plotly-plot").first
    plot.wait_for(timeout=300_000)  # a cold cache computes features and UMAP first
    wait_idle(page)
    no_exception(page)
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
    box = page.wait_for_function(_DRAWN_BOX, timeout=30_000).json_value()  # the box as plotly keeps it
    heading = page.get_by_text(re.compile(r"^[\d,]+ faces in the box \([\d,]+ errors?\)$"))
    heading.wait_for(timeout=120_000)
    wait_idle(page)
    n, n_err = (int(v.replace(",", "")) for v in re.findall(r"[\d,]+", heading.inner_text()))
    assert "box x" not in page.inner_text("body")  # no raw UMAP coordinates for the user

    df = cached_embedding(None, CARD, load_all(fer_path)["PrivateTest"], "umap")  # the app's cache
    inside = df[in_box(df["x"], df["y"], box)]  # the app's rule, on the box the browser drew
    assert n == len(inside) > 0 and n_err == int((~inside["correct"]).sum())
    tiles = page.locator(TILES)
    expect(tiles).to_have_count(min(24, n))
    shown = {re.search(r"st-key-emb_tile_(\S+)", tiles.nth(i).get_attribute("class")).group(1)
             for i in range(tiles.count())}
    assert shown <= set(inside["id"])
    # errors come first, each tile says true → predicted
    first = tiles.first
    row = df.set_index("id").loc[re.search(r"st-key-emb_tile_(\S+)", first.get_attribute("class")).group(1)]
    expect(first).to_contain_text(f"true {row['true']} → {row['pred']}")
    no_exception(page)
    shot(page, "embedding_box.png")
    first.get_by_role("button", name="Inspect").click()
    page.get_by_role("heading", name="Inspector").wait_for()
    wait_idle(page)
    no_exception(page)
