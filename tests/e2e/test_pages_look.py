"""What a user sees at 1440x900 in real Chromium on the real FER2013, page by page (Overview,
Compare models, Calibration, Embedding map): numbers big enough to read, colours that mean what the
captions say, no chart title or top bar under plotly's toolbar, no metric label cut off."""
from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image

from ferviz.figures import palette
from ferviz.labels import EMOTIONS
from ferviz.models import list_cards

CARDS = {c.key: c for c in list_cards()[0]}
FIRST, SECOND = CARDS["baseline_cnn"], CARDS["baseline_cnn_ft"]  # the shipped models: cheapest to predict
MIN_FONT_PX = 11.0

#: per plotly chart on the page (visible ones): the toolbars' boxes (plotly's modebar and Streamlit's
#: element toolbar), the non-empty titles' boxes (main and subplot titles), the plot areas' boxes
_CHART_BOXES = """chart => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const holder = chart.closest('[data-testid="stElementContainer"]') || chart;
  const toolbars = [...holder.querySelectorAll('.modebar, [data-testid="stElementToolbar"]')]
    .filter(e => e.getBoundingClientRect().width > 0).map(box);
  const titles = [...chart.querySelectorAll('.gtitle, .annotation-text')]
    .filter(e => e.textContent.trim() && e.getBoundingClientRect().width > 0)
    .map(e => ({text: e.textContent, box: box(e)}));
  const areas = [...chart.querySelectorAll('.nsewdrag')].filter(e => e.getBoundingClientRect().width > 0).map(box);
  return {toolbars, titles, areas};
}"""

#: every metric label's text box: [label, scrollWidth, clientWidth]
_METRIC_LABELS = """() => [...document.querySelectorAll('[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"]')]
  .map(e => [e.textContent, e.scrollWidth, e.clientWidth])"""


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _open(page, url: str, wait_idle, no_exception, ready: str) -> None:
    page.goto(url)
    page.get_by_text(ready).first.wait_for(timeout=600_000)  # a cold cache predicts first (minutes)
    wait_idle(page, timeout=600_000)
    no_exception(page)


def _no_toolbar_over_titles(page) -> int:
    """Hover every visible plotly chart and check that neither toolbar covers a title or the plot
    area (where a chart's top bar is drawn). Returns how many charts showed a toolbar (at least one
    on every page: the check is not empty), then scrolls back to the page's title."""
    charts = page.locator('[data-testid="stPlotlyChart"]')
    checked = 0
    for k in range(charts.count()):
        chart = charts.nth(k)
        if not chart.is_visible():
            continue  # e.g. inside a closed expander
        chart.scroll_into_view_if_needed()
        chart.locator(".nsewdrag").first.hover()
        page.wait_for_timeout(400)
        boxes = chart.evaluate(_CHART_BOXES)
        assert boxes["areas"], f"chart {k} drew no plot area"
        assert boxes["titles"] or not chart.locator(".gtitle").count(), f"chart {k}: its title was not measured"
        for bar in boxes["toolbars"]:
            for t in boxes["titles"]:
                assert not _overlap(bar, t["box"]), f"chart {k}: the toolbar {bar} covers the title {t}"
            for area in boxes["areas"]:
                assert area[1] >= bar[3] - 0.5, f"chart {k}: the toolbar {bar} covers the plot area {area}"
        checked += bool(boxes["toolbars"])
    page.mouse.move(1, 1)
    page.locator('[data-testid="stMain"] h1').first.scroll_into_view_if_needed()
    return checked


def _metric_labels_fit(page) -> list[str]:
    labels = page.evaluate(_METRIC_LABELS)
    assert labels, "no metric on the page"
    cut = [f"{text!r}: {scroll} > {client} px" for text, scroll, client in labels if scroll > client]
    assert not cut, cut
    return [text for text, _, _ in labels]


def _heatmap_font_sizes(chart) -> list[float]:
    """The on-screen font sizes of the numbers written in a heatmap's cells."""
    sizes = chart.evaluate("""c => [...c.querySelectorAll('.hm text, .heatmaplayer text')]
        .map(e => parseFloat(getComputedStyle(e).fontSize) * (e.getScreenCTM() ? e.getScreenCTM().a : 1))""")
    assert len(sizes) == 49, f"{len(sizes)} cell texts, expected 49"
    return sizes


def _cell_rgb(page, chart, i: int, j: int) -> tuple[int, int, int]:
    """The rendered colour of heatmap cell (row i, column j): a pixel a fifth of the way into the
    cell from its top-left corner (clear of the number written in the middle)."""
    area = chart.locator(".nsewdrag").first.bounding_box()
    x = area["x"] + (j + 0.2) * area["width"] / 7
    y = area["y"] + (i + 0.2) * area["height"] / 7
    shot = Image.open(io.BytesIO(page.screenshot(clip={"x": x - 1, "y": y - 1, "width": 3, "height": 3})))
    return tuple(int(v) for v in np.asarray(shot.convert("RGB"))[1, 1])


def _rgb(color: str) -> str:
    r, g, b = palette.hex_rgb(color)
    return f"rgb({r}, {g}, {b})"


def test_overview_matrix_numbers_recall_and_labels(server, page_1440, fer_path, wait_idle, no_exception, shot):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_fer2013

    page = page_1440
    _open(page, f"{server}/?model={FIRST.key}&split=PrivateTest", wait_idle, no_exception,
          "Confusion matrix — click a cell")
    page.get_by_text("Is it the model, the label or the data?").wait_for()
    wait_idle(page, timeout=600_000)
    ev = evaluate(FIRST, load_fer2013(fer_path, "PrivateTest"))  # the app's disk cache
    counts = ev.confusion()
    matrix = page.locator('[data-testid="stPlotlyChart"]').first
    for normalised in (False, True):
        if normalised:
            page.get_by_text("Row-normalised", exact=True).click()
            page.wait_for_timeout(500)
            wait_idle(page)
            matrix.locator(".hm text, .heatmaplayer text").first.wait_for()
        sizes = _heatmap_font_sizes(matrix)
        assert min(sizes) >= MIN_FONT_PX, sizes
        texts = matrix.evaluate("c => [...c.querySelectorAll('.hm text, .heatmaplayer text')].map(e => e.textContent)")
        want = f"{counts[3, 3] / counts[3].sum():.2f}" if normalised else str(counts[3, 3])
        assert want in texts, (want, texts)
        # axis labels stay horizontal in both modes
        ticks = matrix.evaluate("c => [...c.querySelectorAll('.xtick text, .ytick text')].map(e => "
                                "[e.textContent, e.getAttribute('transform') || ''])")
        assert {t for t, _ in ticks} >= set(EMOTIONS)
        assert not [t for t in ticks if "rotate" in t[1]], ticks
        # recall and support of each class beside its row, at a readable size
        notes = matrix.evaluate("""c => [...c.querySelectorAll('.annotation-text')].map(e =>
            [e.textContent, parseFloat(getComputedStyle(e).fontSize)])""")
        words = [t for t, _ in notes]
        assert words[:2] == ["recall", "n"]
        for c in range(7):
            assert f"{counts[c, c] / counts[c].sum():.0%}" in words and f"{int(counts[c].sum()):,}" in words
        assert min(s for _, s in notes) >= MIN_FONT_PX
        shot(page, f"overview_{'normalised' if normalised else 'counts'}_1440.png")
    # the class distribution's bars are the classes' own colours
    dist = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Class distribution")
    dist.scroll_into_view_if_needed()
    fills = dist.evaluate("c => [...c.querySelectorAll('.bars .point path')].map(e => getComputedStyle(e).fill)")
    assert fills == [_rgb(palette.CLASS_COLORS[e]) for e in EMOTIONS], fills
    # the share of likely label issues comes with its caveat, next to it
    caveat = page.locator('[data-testid="stCaptionContainer"]', has_text=re.compile(r"What the \d+% can and cannot say"))
    text = caveat.inner_text()
    share = re.search(r"likely label issues \((\d+)%\)", text)  # the share, and right after it its caveat
    assert share and f"What the {share.group(1)}% can and cannot say" in text
    assert "cannot tell whether the label or the model is wrong" in text and "Check the faces" in text
    labels = _metric_labels_fit(page)
    assert "Accuracy without near copies" in labels
    assert _no_toolbar_over_titles(page) >= 1  # the class distribution (the matrix hides its toolbar)
    no_exception(page)
    shot(page, "overview_1440_tall.png", height=2600)


def test_compare_cell_colours_follow_the_caption(server, page_1440, fer_path, wait_idle, no_exception, shot):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_fer2013

    page = page_1440
    _open(page, f"{server}/compare?model={FIRST.key}&model2={SECOND.key}&split=PrivateTest", wait_idle, no_exception,
          f"{FIRST.name} minus {SECOND.name}")
    split = load_fer2013(fer_path, "PrivateTest")
    diff = evaluate(FIRST, split).confusion() - evaluate(SECOND, split).confusion()  # the app's disk cache
    off = np.where(np.eye(7, dtype=bool), 0, diff)
    worse = np.unravel_index(np.argmax(off), off.shape)  # the first model makes this mistake more often
    better = np.unravel_index(np.argmin(off), off.shape)  # ... and this one less often
    assert off[worse] > 0 > off[better]
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.scroll_into_view_if_needed()
    page.mouse.move(1, 1)  # no hover label over the cells
    page.wait_for_timeout(500)
    texts = chart.evaluate("c => [...c.querySelectorAll('.hm text, .heatmaplayer text')].map(e => e.textContent)")
    assert f"+{off[worse]}" in texts and f"{off[better]}" in texts
    assert min(_heatmap_font_sizes(chart)) >= MIN_FONT_PX
    r, g, b = _cell_rgb(page, chart, *worse)
    assert r > b + 40, f"+{off[worse]} at {worse} (a mistake the first model makes more often) is rgb{(r, g, b)}"
    r, g, b = _cell_rgb(page, chart, *better)
    assert b > r + 40, f"{off[better]} at {better} (a mistake it makes less often) is rgb{(r, g, b)}"
    diag = int(np.argmax(np.abs(np.diag(diff))))
    r, g, b = _cell_rgb(page, chart, diag, diag)  # on the diagonal, more right is better: blue
    assert (b > r + 40) if diff[diag, diag] > 0 else (r > b + 40), (diag, diff[diag, diag], (r, g, b))
    caption = page.get_by_text(re.compile(r"^Each cell is ")).inner_text()
    assert f"Red is worse for {FIRST.name}" in caption and "positive number off the diagonal is red" in caption
    _metric_labels_fit(page)
    assert _no_toolbar_over_titles(page) >= 1
    no_exception(page)
    shot(page, "compare_1440.png")


def test_calibration_says_when_scaling_makes_ece_worse(server, page_1440, fer_path, wait_idle, no_exception,
                                                       shot):
    from ferviz.analysis.calibration import calibrate_evaluations
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_all

    page = page_1440
    splits = load_all(fer_path)
    for card, name in ((FIRST, "calibration_better"), (SECOND, "calibration_worse")):
        res = calibrate_evaluations(evaluate(card, splits["PublicTest"]), evaluate(card, splits["PrivateTest"]))
        _open(page, f"{server}/calibration?model={card.key}&split=PrivateTest", wait_idle, no_exception,
              "Temperature T")
        page.get_by_text("before temperature scaling").first.wait_for()
        body = page.inner_text("body")
        note = f"Temperature scaling made ECE worse here ({res.ece_before:.1%} → {res.ece_after:.1%} on PrivateTest)"
        if res.ece_after > res.ece_before:
            assert note in body and "T was fitted on another split, PublicTest" in body
            assert re.search(rf"makes the ECE worse: {res.ece_before:.2%}\s*→\s*{res.ece_after:.2%}", body)
        else:
            assert "made ECE worse" not in body
            assert f"takes the ECE from {res.ece_before:.2%} to {res.ece_after:.2%}" in body
        _metric_labels_fit(page)
        assert _no_toolbar_over_titles(page) >= 1
        no_exception(page)
        shot(page, f"{name}_1440.png")
    # both cases are seen: temperature scaling helps the first shipped model and hurts the second
    worse = [calibrate_evaluations(evaluate(c, splits["PublicTest"]), evaluate(c, splits["PrivateTest"]))
             for c in (FIRST, SECOND)]
    assert worse[0].ece_after < worse[0].ece_before and worse[1].ece_after > worse[1].ece_before


def test_embedding_map_uses_the_class_colours(server, page_1440, wait_idle, no_exception, shot):
    page = page_1440
    _open(page, f"{server}/embedding?model={FIRST.key}&split=PrivateTest", wait_idle, no_exception,
          "PrivateTest · UMAP · 3,589 faces")
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".legend .traces").first.wait_for()
    legend = chart.evaluate("""c => [...c.querySelectorAll('.legend .traces')].map(t =>
        [t.textContent, getComputedStyle(t.querySelector('.scatterpts, path.legendpoints, .legendpoints path')).fill])""")
    assert [name.split(" (")[0] for name, _ in legend] == list(EMOTIONS)
    assert [fill for _, fill in legend] == [_rgb(palette.CLASS_COLORS[e]) for e in EMOTIONS], legend
    assert _no_toolbar_over_titles(page) >= 1
    no_exception(page)
    shot(page, "embedding_1440.png")
    page.get_by_text("correct / wrong", exact=True).click()
    page.wait_for_timeout(500)
    wait_idle(page)
    chart.locator(".legend .traces").first.wait_for()
    legend = chart.evaluate("""c => [...c.querySelectorAll('.legend .traces')].map(t =>
        [t.textContent, getComputedStyle(t.querySelector('.scatterpts, path.legendpoints, .legendpoints path')).fill])""")
    assert [fill for _, fill in legend] == [_rgb(palette.CORRECT), _rgb(palette.WRONG)], legend
    assert _no_toolbar_over_titles(page) >= 1
    shot(page, "embedding_correct_1440.png")
