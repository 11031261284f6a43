"""In real Chromium on the real FER2013: review two faces with the keyboard (a number key relabels,
N says not a face), reload the page and find both decisions still there, then download the
decisions: the same file `ferviz reviews export` writes."""
from __future__ import annotations

import subprocess
import sys

import pytest

from ferviz.config import PROJECT_ROOT
from ferviz.labels import EMOTIONS
from ferviz.review.store import ReviewStore

NAME = "e2e reviewer"


def _sign_in(page, wait_idle) -> None:
    box = page.get_by_role("textbox", name="Reviewer")
    box.fill(NAME)
    box.press("Enter")
    wait_idle(page)
    box.blur()  # keys typed into the name field are text, not shortcuts


@pytest.fixture
def undo_after(fer_path):
    """Undo this test's decisions afterwards, so the server's other pages show no review (the
    history keeps them)."""
    yield
    from ferviz.data.splits import load_all

    store, h = ReviewStore(), load_all(fer_path)["PrivateTest"].source_hash
    while store.undo(h, "PrivateTest", NAME) is not None:
        pass


def test_review_two_faces_by_keyboard_reload_then_export(server, page, fer_path, shipped_card, wait_idle,
                                                         no_exception, shot, tmp_path, undo_after):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.analysis.label_issues import evaluation_issues
    from ferviz.data.splits import load_all

    split = load_all(fer_path)["PrivateTest"]
    ev = evaluate(shipped_card, split)  # the app's cache
    li = evaluation_issues(ev)
    flagged = [str(li.ids[i]) for i in li.order if li.flagged[i]]
    n = len(flagged)
    first, second = flagged[:2]
    pred = int(ev.preds[split.index_of(first)])
    store = ReviewStore()  # FERVIZ_REVIEWS: the server's database (the test session's own)
    before = len(store.history())

    page.goto(f"{server}/review?model={shipped_card.key}")
    page.get_by_text(f"Face 1 of {n:,} · id {first}").wait_for()
    _sign_in(page, wait_idle)
    page.get_by_text(f"0 of {n:,} faces reviewed by {NAME}").wait_for()
    page.keyboard.press(str(pred + 1))  # relabel as the model's prediction
    page.get_by_text(f"Face 2 of {n:,} · id {second}").wait_for()
    page.keyboard.press("n")  # not a face
    page.get_by_text(f"Face 3 of {n:,}").wait_for()
    page.get_by_text(f"2 of {n:,} faces reviewed by {NAME}").wait_for()
    wait_idle(page)
    no_exception(page)
    mine = {d.face_id: d.text for d in store.decisions(split.source_hash, "PrivateTest", NAME)}
    assert mine == {first: f"relabel as {EMOTIONS[pred]}", second: "not a face"}
    assert len(store.history()) == before + 2

    page.reload()  # a new session: nothing but the database remembers
    page.get_by_text(f"Face 1 of {n:,} · id {first}").wait_for()
    _sign_in(page, wait_idle)
    page.get_by_text(f"2 of {n:,} faces reviewed by {NAME}").wait_for()
    page.get_by_text(f"Your decision: relabel as {EMOTIONS[pred]}").wait_for()
    page.keyboard.press("ArrowRight")
    page.get_by_text(f"Face 2 of {n:,} · id {second}").wait_for()
    page.get_by_text("Your decision: not a face").wait_for()
    page.get_by_text("Accuracy, reviewed labels").first.wait_for()
    wait_idle(page)
    no_exception(page)
    shot(page, "review.png")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download decisions (CSV)").click()
    got = tmp_path / "download.csv"
    info.value.save_as(got)
    out = tmp_path / "cli.csv"
    r = subprocess.run([sys.executable, "-m", "ferviz", "reviews", "export", "--db", str(store.path), "--out",
                        str(out), "--data", str(fer_path), "--split", "PrivateTest"], cwd=PROJECT_ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert got.read_bytes() == out.read_bytes()
    lines = got.read_text().splitlines()
    assert lines[0] == "id,split,reviewed_label,reviewer,original_label,timestamp,note"
    ours = [line for line in lines[1:] if f",{NAME}," in line]
    assert [line.split(",")[:3] for line in ours] == [[first, "PrivateTest", EMOTIONS[pred]],
                                                       [second, "PrivateTest", "not a face"]]
