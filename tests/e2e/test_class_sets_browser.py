"""In real Chromium: an eight-class model (the shipped baseline with a contempt output, in
AffectNet's class order) on real FER2013 PrivateTest faces. The Overview draws a rectangular
confusion matrix, seven rows (the dataset's classes) by eight columns (the model's, contempt a
column only), and the Inspector draws one probability bar per class the model can output,
contempt's included. The app runs on a small cut of PrivateTest written as class folders, with
the model in FERVIZ_MODELS."""
from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import expect

from ferviz.labels import EMOTIONS, EXPRESSIONS, NAMES
from tests.class_sets import eight_class_model, write_folders

PER_CLASS = 12
CONTEMPT = NAMES.index("contempt")
CARD_NAME = "Baseline CNN + contempt"  # the name eight_class_model gives its card
CELL_TEXTS = "c => [...c.querySelectorAll('.hm text, .heatmaplayer text')].map(e => e.textContent)"
TICKS = "(c, axis) => [...c.querySelectorAll(`.${axis}tick text`)].map(e => e.textContent)"


@pytest.fixture(scope="module")
def eight(fer_path, tmp_path_factory, streamlit_on):
    """A small cut of the real PrivateTest (PER_CLASS faces of each class, as class folders), the
    eight-class model's card, and `streamlit run app.py` on both; yields (url, data folder, card)."""
    from ferviz.data.splits import load_fer2013

    split = load_fer2013(fer_path, "PrivateTest")
    idx = np.concatenate([np.flatnonzero(split.labels == c)[:PER_CLASS] for c in range(7)])
    data = write_folders(tmp_path_factory.mktemp("fer7"), split.images[idx], split.labels[idx],
                         dict(enumerate(EMOTIONS)))
    models = tmp_path_factory.mktemp("eightmodels")
    card = eight_class_model(models)
    with streamlit_on(tmp_path_factory.mktemp("eightserver"), FERVIZ_DATA=str(data),
                      FERVIZ_MODELS=str(models)) as url:
        yield url, data, card


def _evaluation(data, card):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_all
    from ferviz.models import load_card

    splits = load_all(data)
    return evaluate(load_card(card), splits[splits.resolve("test")])  # the app's disk cache


def test_the_overview_matrix_is_seven_rows_by_eight_columns(eight, page, wait_idle, no_exception, shot):
    url, data, card = eight
    page.goto(f"{url}/?model=eight_class")
    page.get_by_text("Confusion matrix — click a cell").first.wait_for(timeout=300_000)
    wait_idle(page, 300_000)
    no_exception(page)
    ev = _evaluation(data, card)
    matrix = page.locator('[data-testid="stPlotlyChart"]').first
    texts = matrix.evaluate(CELL_TEXTS)
    assert len(texts) == 7 * 8, texts  # a rectangle: 7 true classes x 8 predicted ones
    assert sorted(texts) == sorted(str(int(v)) for v in ev.matrix().to_numpy().ravel())
    rows, cols = matrix.evaluate(TICKS, "y"), matrix.evaluate(TICKS, "x")
    assert rows == list(EMOTIONS) and sorted(cols) == sorted(EXPRESSIONS)  # contempt: a column, not a row
    expect(matrix.locator(".xtick text", has_text="contempt")).to_be_visible()
    assert page.get_by_text("Rows: the dataset's 7 classes; columns: the model's 8.").count() == 1
    shot(page, "class_sets_overview.png", height=1400)


def test_the_inspector_draws_a_contempt_bar(eight, page, wait_idle, no_exception, shot):
    url, data, card = eight
    ev = _evaluation(data, card)
    pos = int(np.argmax(ev.probs[:, CONTEMPT]))  # the face the model finds most contemptuous
    page.goto(f"{url}/inspector?model=eight_class&id={ev.ids[pos]}")
    page.get_by_text("Explain the class").first.wait_for(timeout=300_000)
    wait_idle(page, 300_000)
    no_exception(page)
    bars = page.locator('[data-testid="stPlotlyChart"]').filter(has_text=CARD_NAME).first
    bars.scroll_into_view_if_needed()
    assert bars.locator(".bars .point path").count() == 8  # one bar per class the model can output
    ticks = bars.evaluate("c => [...c.querySelectorAll('.ytick text')].map(e => "
                          "[e.textContent, e.getBoundingClientRect().top])")
    labels = [t.replace(" (true)", "") for t, _ in sorted(ticks, key=lambda t: t[1])]  # top to bottom
    assert sorted(labels) == sorted(EXPRESSIONS) and labels[0] == "contempt"  # highest first
    expect(bars.locator(".ytick text", has_text="contempt")).to_be_visible()
    expect(page.get_by_text(f"predicts contempt ({ev.probs[pos, CONTEMPT]:.1%})", exact=False).first) \
        .to_be_visible()
    shot(page, "class_sets_inspector.png", height=1400)
