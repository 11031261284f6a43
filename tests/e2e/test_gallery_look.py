"""What a user sees at 1440x900 in real Chromium on the real FER2013, page by page: the Errors
gallery (badges whole, Inspect buttons level across a row, the cell named once, the label-issue
score's direction, the sort and filter in the link) and the Dataset page (where FER+ votes come
from, which upload limit applies where)."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from ferviz.config import MODELS_DIR
from ferviz.models import list_cards

TILES = '[class*="st-key-err_tile_"]'
#: per badge in a gallery tile: its text, its box and its text's own extent (a clipped or
#: ellipsised badge has text wider than its box, or a box wider than its tile)
BADGES_JS = """() => [...document.querySelectorAll('[class*="st-key-err_tile_"] .stMarkdownBadge')].map(b => {
  const cs = getComputedStyle(b), box = b.getBoundingClientRect();
  const tile = b.closest('[class*="st-key-err_tile_"]').getBoundingClientRect();
  const range = document.createRange(); range.selectNodeContents(b);
  const text = range.getBoundingClientRect();
  return {text: b.textContent, scrollWidth: b.scrollWidth, clientWidth: b.clientWidth,
          scrollHeight: b.scrollHeight, clientHeight: b.clientHeight, textRight: text.right,
          right: box.right, tileRight: tile.right, clipped: cs.textOverflow === 'ellipsis' && cs.whiteSpace === 'nowrap'};
})"""
#: per row of tiles: each tile's Inspect button top and the bottom of its content above the button
ROWS_JS = """() => [...document.querySelectorAll('[data-testid="stHorizontalBlock"]')]
  .filter(row => row.querySelector('[class*="st-key-err_tile_"]'))
  .map(row => [...row.querySelectorAll('[class*="st-key-err_tile_"]')].map(tile => {
    const button = tile.querySelector('[class*="st-key-err_inspect_"] button').getBoundingClientRect();
    const parts = [...tile.children].filter(c => !c.className.includes('_inspect_'));
    return {button: button.top, content: Math.max(...parts.map(c => c.getBoundingClientRect().bottom))};
  }))"""


def _model() -> str:
    """The key of the first model shipped in models/ (the one the other browser tests open)."""
    return next(c for c in list_cards()[0] if c.model_path.parent == MODELS_DIR).key


def _open(page, url: str, wait_idle) -> None:
    page.goto(url)
    page.locator(TILES).first.wait_for()
    wait_idle(page)
    # the layout is final once every face has loaded
    page.wait_for_function("() => [...document.images].filter(i => i.src.includes('/media/'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")


def _radio_checked(page, key: str) -> str:
    """The label of the selected option of the radio keyed `key` (once the radio has drawn)."""
    option = page.locator(f'.st-key-{key} [data-testid="stRadioOption"][data-selected="true"]')
    option.wait_for()
    return option.inner_text().strip()


def _tile_ids(page) -> list[str]:
    return [re.search(r"st-key-err_tile_(\S+)", c).group(1)
            for c in page.locator(TILES).evaluate_all("els => els.map(e => e.className)")]


def test_errors_gallery_reads_right_at_a_glance(server, page_1440, fer_splits, wait_idle, no_exception, shot):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.analysis.label_issues import evaluation_issues
    from ferviz.models import load_card

    page = page_1440
    model = _model()
    split = fer_splits["PrivateTest"]
    card = load_card(next(c.path for c in list_cards()[0] if c.key == model))
    ev = evaluate(card, split)  # the app's cache
    issues = evaluation_issues(ev)
    errors = ev.errors(2, 4)  # fear → sad, most confident first
    n = len(errors)
    _open(page, f"{server}/errors?model={model}&split=PrivateTest&true=fear&pred=sad", wait_idle)
    no_exception(page)
    first = shot(page, "errors_fear_sad_1440.png")
    assert first.stat().st_size > 0
    tall = shot(page, "errors_fear_sad_1440_tall.png", height=2200)
    assert tall.stat().st_size > 0
    page.set_viewport_size({"width": 1440, "height": 900})

    # the cell is named once, in the heading; no tile repeats it
    body = page.inner_text('[data-testid="stMain"]')
    assert body.count("true fear → predicted sad") == 1, body[:1500]
    tiles = page.locator(TILES)
    expect(tiles).to_have_count(min(n, 24))
    texts = tiles.evaluate_all("els => els.map(e => e.innerText)")
    assert not any("→" in t for t in texts), texts[:3]
    assert _tile_ids(page) == errors["id"].tolist()[:24]

    # which way a label issue points is said once for the cell; each tile says which way its own points
    assert body.count("In this cell, a label that looks wrong is fear, in favour of the model's sad") == 1
    for image_id, text in zip(_tile_ids(page), texts):
        k = split.index_of(image_id)
        said = "looks wrong" if issues.flagged[k] else "is not in doubt"
        assert f"label-issue score {issues.score[k]:.3f}: the label {said}" in text, text

    # badges show whole: none is clipped, ellipsised or wider than its tile
    badges = page.evaluate(BADGES_JS)
    assert any(b["text"].startswith(("also in Training", "near copy in Training")) for b in badges)  # long ones
    for b in badges:
        assert not b["clipped"], b
        assert b["scrollWidth"] <= b["clientWidth"] and b["scrollHeight"] <= b["clientHeight"] + 1, b
        assert b["textRight"] <= b["right"] + 1 and b["right"] <= b["tileRight"] + 1, b

    # the Inspect buttons of a row sit level, though the tiles above them differ in height
    rows = page.evaluate(ROWS_JS)
    assert len(rows) == 4 and all(len(r) == 6 for r in rows)
    for r in rows:
        tops = [t["button"] for t in r]
        assert max(tops) - min(tops) < 1, r
    assert any(max(t["content"] for t in r) - min(t["content"] for t in r) > 10 for r in rows), rows


def test_errors_sort_and_filter_live_in_the_link(server, page_1440, fer_splits, wait_idle, no_exception, shot):
    page = page_1440
    model = _model()
    base = f"{server}/errors?model={model}&split=PrivateTest&true=fear&pred=sad"
    _open(page, base, wait_idle)
    page.get_by_text("label-issue score", exact=True).click()  # the "Sort by" radio
    page.wait_for_url(re.compile(r"[?&]sort=label-issue(&|$)"))
    wait_idle(page)
    page.locator(".st-key-err_filter label", has_text="likely model error").click()
    page.wait_for_url(re.compile(r"[?&]show=model-errors(&|$)"))
    wait_idle(page)
    page.get_by_text(re.compile(r"^Showing the \d+ likely model errors of these \d+ images\.$")).wait_for()
    ids = _tile_ids(page)
    assert "true=fear" in page.url and "pred=sad" in page.url

    page.reload()  # the same link reopens the same view
    page.locator(TILES).first.wait_for()
    wait_idle(page)
    assert _radio_checked(page, "err_sort") == "label-issue score"
    assert _radio_checked(page, "err_filter").startswith("likely model error")
    assert _tile_ids(page) == ids
    no_exception(page)
    shot(page, "errors_sorted_filtered_1440.png")

    # a bad value in a link falls back alone: the cell and the good filter stay
    _open(page, base + "&sort=by-magic&show=model-errors", wait_idle)
    no_exception(page)
    assert _radio_checked(page, "err_sort") == "confidence"
    assert _radio_checked(page, "err_filter").startswith("likely model error")
    assert page.inner_text('[data-testid="stMain"]').count("true fear → predicted sad") == 1
    assert "sort=" not in page.url and "show=model-errors" in page.url


def test_dataset_page_says_where_fer_plus_votes_come_from(server, page_1440, fer_path, wait_idle,
                                                           no_exception, shot):
    from ferviz.data import ferplus
    from ferviz.data.splits import source_kind

    page = page_1440
    page.goto(f"{server}/data?model={_model()}")
    page.get_by_role("heading", name="FER+ votes").wait_for()
    wait_idle(page)
    no_exception(page)
    path = shot(page, "dataset_1440.png", height=1800)
    assert path.stat().st_size > 0
    main = page.inner_text('[data-testid="stMain"]')
    link = page.get_by_role("link", name=re.compile("Challenges in Representation Learning"))
    expect(link.first).to_have_attribute("href", ferplus.KAGGLE_URL)
    if source_kind(fer_path) in ("zip", "folder"):  # the Kaggle image-folder download: said plainly
        assert "FER+ votes need the original fer2013.csv" in main and "cannot be aligned" not in main
        assert "put it in data/, or set FERVIZ_DATA to its path" in main
    else:
        assert re.search(r"PrivateTest: aligned for [\d,]+ images", main)
    # which upload limit applies where: the dataset here, a photo on Your face
    assert "Up to 400 MB per dataset file here" in main
    assert re.search(r"A photo on Your face has its own limit: 20 MB \(5 MB on a shared instance\)", main)
    expect(page.locator(".st-key-data_upload")).to_contain_text("400MB per file")
    # nothing runs off the side of the page
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
