"""In real Chromium on the real FER2013: the fear → sad gallery sorted by label-issue score shows
confident learning's ranking with its badges, the model-error filter shows the Training-copy
badges, and the CSV download follows the sort and the filter."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from ferviz.models import list_cards
from ferviz.config import PROJECT_ROOT as ROOT
CARD = next(c for c in list_cards()[0] if c.model_path.parent == ROOT / "models")
MODEL = CARD.key
TILES = '[class*="st-key-err_tile_"]'


def _tile_ids(page) -> list[str]:
    """The gallery's tile ids in reading order: tile i sits in column i % 6, row i // 6 (rows
    need not line up across columns, whose tiles differ in height)."""
    tiles = page.locator(TILES)
    found = []
    for i in range(tiles.count()):
        t = tiles.nth(i)
        box = t.bounding_box()
        image_id = re.search(r"st-key-err_tile_(\S+)", t.get_attribute("class")).group(1)
        found.append((round(box["x"]), box["y"], image_id))
    xs = sorted({x for x, _, _ in found})
    by_column = [sorted((y, i) for x, y, i in found if x == col) for col in xs]
    rows = max(len(c) for c in by_column)
    return [c[r][1] for r in range(rows) for c in by_column if r < len(c)]


def test_label_issue_sort_badges_and_csv_in_the_fear_sad_cell(server, page, tmp_path, fer_path, wait_idle,
                                                               no_exception, shot):
    from ferviz.data.splits import load_all
    from ferviz.data.duplicates import find_duplicates, training_duplicates
    from ferviz.analysis.evaluation import evaluate
    from ferviz.export import read_errors_csv
    from ferviz.analysis.label_issues import evaluation_issues

    splits = load_all(fer_path)
    ev = evaluate(CARD, splits["PrivateTest"])  # the app's cache
    issues = evaluation_issues(ev)
    frame = issues.frame()  # the core's ranking: lowest probability of the given label first
    cell = frame[(frame["true"] == "fear") & (frame["pred"] == "sad")]
    ranked, flagged = cell["id"].tolist(), dict(zip(cell["id"], cell["flagged"]))
    copies = training_duplicates(find_duplicates(splits), "PrivateTest")["badge"].to_dict()
    n, k = len(cell), int(cell["flagged"].sum())
    assert n > 24 and flagged[ranked[0]]  # more than a page; the top-ranked error is flagged

    page.goto(f"{server}/errors?model={MODEL}&true=fear&pred=sad")
    page.get_by_text(f"true fear → predicted sad: {n:,} images · {k:,} likely label issues, "
                     f"{n - k:,} likely model errors").wait_for()
    page.get_by_text("label-issue score", exact=True).click()  # the "Sort by" radio
    tiles = page.locator(TILES)
    # the rerun is over when the first tile in the page is the core's top-ranked label issue
    expect(tiles.first).to_have_class(re.compile(rf"\bst-key-err_tile_{re.escape(ranked[0])}\b"))
    expect(tiles).to_have_count(24)
    assert _tile_ids(page) == ranked[:24]
    first = page.locator(f".st-key-err_tile_{ranked[0]}")
    expect(first.get_by_text("likely label issue", exact=True)).to_be_visible()
    expect(first).to_contain_text(f"label-issue score {issues.score[splits['PrivateTest'].index_of(ranked[0])]:.3f}: "
                                  "the label looks wrong")  # the heading names the label: fear
    for image_id in ranked[:24]:  # every tile says whose fault its error likely is
        verdict = "likely label issue" if flagged[image_id] else "likely model error"
        expect(page.locator(f".st-key-err_tile_{image_id}").get_by_text(verdict, exact=True)).to_be_visible()
    no_exception(page)
    shot(page, "errors_label_issues.png")

    # the model errors of the cell, still in ranking order, with their Training-copy badges
    page.get_by_text(f"likely model error ({n - k})", exact=True).click()  # the "Show" radio
    model_errors = [i for i in ranked if not flagged[i]]
    expect(tiles).to_have_count(len(model_errors))
    page.get_by_text(f"Showing the {n - k} likely model errors of these {n} images.").wait_for()
    assert _tile_ids(page) == model_errors
    with_copy = [i for i in model_errors if i in copies]
    assert with_copy  # on the real data some of these faces are also Training images
    for image_id in with_copy:
        tile = page.locator(f".st-key-err_tile_{image_id}")
        expect(tile.get_by_text(copies[image_id], exact=True)).to_be_visible()
        expect(tile.get_by_text("likely model error", exact=True)).to_be_visible()
    no_exception(page)
    shot(page, "errors_model_errors.png")

    wait_idle(page)
    page.get_by_text("Export", exact=True).click()  # the expander
    with page.expect_download() as dl:
        page.get_by_role("button", name="Error table (CSV)").click()
    assert dl.value.suggested_filename == f"{MODEL}_PrivateTest_fear-sad_by-label-issue-score_model-errors_errors.csv"
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    got = read_errors_csv(path.read_bytes())
    assert got["id"].tolist() == model_errors
    assert set(got["verdict"]) == {"likely model error"} and not got["likely_label_issue"].any()
    assert got["training_copy"].tolist() == [copies.get(i, "") for i in model_errors]
    pos = [splits["PrivateTest"].index_of(i) for i in model_errors]
    assert got["label_issue_score"].tolist() == issues.score[pos].astype(float).tolist()
    assert got["label_issue_score"].is_monotonic_increasing

    # the command line writes the same file, byte for byte, under the same name
    from ferviz.cli import main

    cli_out = tmp_path / "cli"
    assert main(["export", "--model", str(CARD.path), "--data", str(fer_path), "--errors-csv", "fear:sad",
                 "--sort", "label-issue", "--show", "model-errors", "--out", str(cli_out)]) == 0
    assert (cli_out / dl.value.suggested_filename).read_bytes() == path.read_bytes()
    # ... and the same cell sheet (PNG, the first 100 faces of the view, the same header)
    wait_idle(page)
    with page.expect_download() as sheet_dl:
        page.get_by_role("button", name=re.compile(r"^Cell sheet \(first \d+\)")).click()
    name = sheet_dl.value.suggested_filename
    assert name == f"{MODEL}_PrivateTest_fear-sad_by-label-issue-score_model-errors_sheet.png"
    sheet = tmp_path / name
    sheet_dl.value.save_as(sheet)
    assert main(["export", "--model", str(CARD.path), "--data", str(fer_path), "--cell", "fear:sad",
                 "--sort", "label-issue", "--show", "model-errors", "--out", str(cli_out)]) == 0
    assert (cli_out / name).read_bytes() == sheet.read_bytes()
