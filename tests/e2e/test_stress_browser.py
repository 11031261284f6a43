"""In real Chromium on the real FER2013: the Stress test page draws the accuracy curves of what is
evaluated, and a cell of the flips matrix (happy read as neutral once the mouth is occluded) opens
exactly the faces that flipped."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.labels import EMOTIONS
from ferviz.models import list_cards

CARD = next(c for c in list_cards()[0] if c.model_path.parent == ROOT / "models")
TILES = '[class*="st-key-st_tile_"]'
ROW_PX = 35  # the height of a header or row of Streamlit's data grid


def test_the_curves_and_a_flips_cell(server, page, fer_path, wait_idle, no_exception, shot):
    from ferviz.analysis import stress as core
    from ferviz.data.splits import load_all

    split = load_all(fer_path)["PrivateTest"]
    res = core.stress_test(CARD, split, ["occlude_mouth"], [3])  # into the cache the server reads
    happy, neutral = EMOTIONS.index("happy"), EMOTIONS.index("neutral")
    want = set(split.ids[res.flip_mask("occlude_mouth", 3, happy, neutral)].astype(str))
    assert len(want) > 20  # occluding the mouth turns many happy faces neutral

    page.set_viewport_size({"width": 1440, "height": 2000})
    page.goto(f"{server}/stress?model={CARD.key}")
    page.get_by_text("Flips", exact=True).wait_for(timeout=400_000)
    wait_idle(page)
    no_exception(page)
    plot = page.locator(".js-plotly-plot").first
    expect(plot).to_be_visible()
    names = page.evaluate("() => document.querySelector('.js-plotly-plot').data.map(t => t.name)")
    assert "mouth occluded" in names
    ys = page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot')._fullData[0].y)")
    table = res.table()
    acc = table[(table["perturbation"] == "occlude_mouth") & (table["class"] == "all")].sort_values("severity")
    assert [round(v, 6) for v in ys] == [round(100 * v, 6) for v in acc["accuracy"]]
    shot(page, "stress.png")

    grid = page.locator('[data-testid="stDataFrame"]').last
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    # the last column is neutral; rows follow EMOTIONS under the header
    page.mouse.click(box["x"] + box["width"] - 15, box["y"] + ROW_PX * (1 + happy) + ROW_PX / 2)
    heading = page.get_by_text(re.compile(r"^\d+ happy faces read as neutral after occluding the mouth"))
    heading.wait_for(timeout=120_000)
    wait_idle(page)
    no_exception(page)
    assert int(heading.inner_text().split()[0]) == len(want)
    tiles = page.locator(TILES)
    expect(tiles).to_have_count(min(24, len(want)))
    shown = {re.search(r"st-key-st_tile_(\S+)", tiles.nth(i).get_attribute("class")).group(1)
             for i in range(tiles.count())}
    assert shown <= want
