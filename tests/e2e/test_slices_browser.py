"""In real Chromium on the real FER2013: the Failure slices page says where the shipped model fails,
and clicking the top slice's Open shows a gallery of exactly that slice's faces (counted, tiles
checked, and the whole list downloaded and compared with the core's members)."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pandas as pd
from playwright.sync_api import expect

from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.models import list_cards

CARD = next(c for c in list_cards()[0] if c.model_path.parent == ROOT / "models")
TILES = '[class*="st-key-sl_tile_"]'


def _core(fer_path):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.analysis.failures import data_facts
    from ferviz.analysis.attributes import face_attributes, image_attributes
    from ferviz.analysis.slices import find_slices
    from ferviz.data.splits import load_all

    splits = load_all(fer_path)
    split = splits["PrivateTest"]
    ev = evaluate(CARD, split)
    facts, _ = data_facts(split, splits, ev)
    attrs = face_attributes(split, base=image_attributes(split.images, split.data_hash), **facts)
    return find_slices(attrs, ev.preds == ev.labels)


def test_the_top_slice_opens_exactly_its_faces(server, page, fer_path, wait_idle, no_exception, shot):
    page.goto(f"{server}/slices?model={CARD.key}")
    page.get_by_text(f"Where {CARD.name} fails on PrivateTest").wait_for(timeout=400_000)  # a cold cache evaluates first
    wait_idle(page, 400_000)
    no_exception(page)
    search = _core(fer_path)
    top = search.table.iloc[0]
    expect(page.get_by_text(top["sentence"], exact=False).first).to_be_visible()
    shot(page, "slices.png", height=1400)
    page.locator('[class*="st-key-sl_open_0"] button').click()
    heading = page.get_by_text(re.compile(r"^[\d,]+ faces: .+ \([\d,]+ errors?\)$"))
    heading.wait_for(timeout=120_000)
    wait_idle(page)
    no_exception(page)
    expect(heading).to_be_in_viewport()  # the gallery opens below the tables: the page scrolls to it
    n, n_err = (int(v.replace(",", "")) for v in re.findall(r"([\d,]+) (?:faces|errors?)", heading.inner_text()))
    members = set(search.members(top["slice"]))
    assert n == int(top["n"]) == len(members) and n_err == int(top["errors"])
    assert parse_qs(urlparse(page.url).query).get("slice") == [top["slice"]]  # the link reopens it
    tiles = page.locator(TILES)
    expect(tiles).to_have_count(min(24, n))
    shown = {re.search(r"st-key-sl_tile_(\S+)", tiles.nth(i).get_attribute("class")).group(1)
             for i in range(tiles.count())}
    assert shown <= members
    with page.expect_download() as dl:
        page.locator('[class*="st-key-sl_members_csv"] button').click()
    faces = pd.read_csv(dl.value.path(), dtype={"id": str})
    assert set(faces["id"]) == members and len(faces) == n
    assert int((~faces["correct"]).sum()) == n_err
    assert not faces["correct"].iloc[:n_err].any()  # errors first
    shot(page, "slices_open.png", height=1400)
