"""One palette per meaning (ferviz.figures.palette), used alike by the dashboard's plotly charts and
the exported matplotlib figures; every chart keeps plotly's toolbar clear of its title and plot."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from ferviz.analysis.embedding import box_bounds, in_box
from ferviz.errors import AnalysisError
from ferviz.figures import palette
from ferviz.labels import EMOTIONS, NAMES
from ferviz.ui import charts


def _dist(a: str, b: str) -> float:
    return math.dist(palette.hex_rgb(a), palette.hex_rgb(b))


def test_one_colour_per_class_none_shared_with_another_meaning():
    assert tuple(palette.CLASS_COLORS) == NAMES  # every class ferviz knows, contempt and FER+'s non-classes too
    classes = {c.upper() for c in palette.CLASS_COLORS.values()}
    assert len(classes) == len(NAMES)
    for a in palette.CLASS_COLORS.values():  # no two classes look alike
        assert min(_dist(a, b) for b in palette.CLASS_COLORS.values() if b != a) >= 40, a
    for meaning, colours in palette.MEANINGS.items():
        assert not classes & {c.upper() for c in colours}, meaning


@pytest.mark.parametrize("meaning", ["right or wrong", "verdicts"])
def test_colours_shown_in_turn_with_the_classes_are_far_from_every_class_colour(meaning):
    """The embedding map colours by class, right/wrong or verdict on one page: no legend's colour
    may pass for another's."""
    for c in palette.MEANINGS[meaning]:
        near = min(palette.CLASS_COLORS.values(), key=lambda k: _dist(k, c))
        assert _dist(near, c) >= 60, (meaning, c, near)


def test_meanings_do_not_share_colours_except_the_right_answer():
    seen: dict[str, str] = {}
    shared = {palette.CORRECT.upper(), palette.WRONG.upper()}  # right/wrong, the verdicts and the true class
    for meaning, colours in palette.MEANINGS.items():
        for c in colours:
            if c.upper() in seen and c.upper() not in shared:
                raise AssertionError(f"{c} means {seen[c.upper()]!r} and {meaning!r}")
            seen.setdefault(c.upper(), meaning)
    assert palette.TRUE_COLOR == palette.CORRECT and palette.ISSUE_COLORS["likely model error"] == palette.WRONG


def test_the_app_and_the_exports_take_the_palettes_colours():
    from ferviz.export.calibration import BAR_COLOR, GAP_COLOR
    from ferviz.export.embedding import (
        CORRECT_COLORS,
        EMOTION_COLORS,
        ISSUE_COLORS,
        embedding_figure,
    )
    from ferviz.export.regions import GROUP_COLORS
    from ferviz.figures.display import (
        CONFUSION_CMAP,
        OTHER_COLOR,
        PRED_COLOR,
        TRUE_COLOR,
    )

    assert EMOTION_COLORS == palette.CLASS_COLORS and ISSUE_COLORS == palette.ISSUE_COLORS
    assert CORRECT_COLORS == {True: palette.CORRECT, False: palette.WRONG}
    assert (BAR_COLOR, GAP_COLOR) == (palette.ACCURACY_COLOR, palette.GAP_COLOR)
    assert (PRED_COLOR, TRUE_COLOR, OTHER_COLOR) == (palette.PRED_COLOR, palette.TRUE_COLOR, palette.OTHER_COLOR)
    assert CONFUSION_CMAP == palette.CONFUSION_CMAP and tuple(GROUP_COLORS) == palette.SERIES_COLORS

    labels = np.repeat(np.arange(7), [5, 1, 4, 9, 6, 4, 6])
    bars = charts.class_distribution(labels).data[0]
    assert list(bars.marker.color) == [palette.CLASS_COLORS[e] for e in EMOTIONS]
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": [str(i) for i in range(70)], "x": rng.normal(size=70), "y": rng.normal(size=70),
                       "true": np.array(EMOTIONS)[np.arange(70) % 7], "pred": np.array(EMOTIONS)[np.arange(70) // 10],
                       "confidence": rng.uniform(size=70)})
    df["correct"] = df["true"] == df["pred"]
    app = {t.name.split(" (")[0]: t.marker.color for t in charts.embedding_scatter(df, "true").data}
    assert app == {e: palette.CLASS_COLORS[e] for e in EMOTIONS}  # the classes the faces have, in order
    eight = df.assign(pred=np.where(np.arange(70) % 9 == 0, "contempt", df["pred"]))
    legend = [t.name.split(" (")[0] for t in charts.embedding_scatter(eight, "pred").data]
    assert legend == [*EMOTIONS, "contempt"]  # a model's eighth class gets its own colour and entry
    chosen = charts.embedding_scatter(df, "true", classes=["happy", "contempt", "sad"]).data
    assert [(t.name, t.marker.color) for t in chosen] == [
        (f"happy ({(df['true'] == 'happy').sum()})", palette.CLASS_COLORS["happy"]),
        ("contempt (0)", palette.CLASS_COLORS["contempt"]), (f"sad ({(df['true'] == 'sad').sum()})",
                                                             palette.CLASS_COLORS["sad"])]
    app = [t.marker.color for t in charts.embedding_scatter(df, "correct").data]
    assert app == [palette.CORRECT, palette.WRONG]
    ax = embedding_figure(df, "true").axes[0]
    drawn = [to_hex(c) for c in ax.collections[0].get_facecolors()[:, :3]]
    assert drawn == [palette.CLASS_COLORS[e].lower() for e in df["true"]]


def _charts():
    from ferviz.analysis.calibration import reliability

    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(7), 200)
    labels = rng.integers(0, 7, 200)
    rel = reliability(probs, labels)
    cm = rng.integers(0, 50, (7, 7))
    return {
        "confusion": charts.confusion_heatmap(None, cm, normalized=False, title="Confusion matrix — click a cell"),
        "confusion, normalised": charts.confusion_heatmap(None, cm, normalized=True, title="Confusion matrix"),
        "difference": charts.diff_heatmap(cm - cm.T, first="A", second="B", title="A minus B"),
        "probabilities": charts.probs_bar(probs[0], true=2),
        "probabilities, titled": charts.probs_bar(probs[0], true=2, title="Model"),
        "distribution": charts.class_distribution(labels),
        "plain confusion": charts.plain_confusion(cm, rows_title="FER+ majority", title="FER+"),
        "votes": charts.votes_bar(np.array([0, 0, 1, 6, 2, 0, 1, 0, 0, 0]), title="FER+ votes"),
        "reliability": charts.reliability_chart({"before": rel, "after": rel}),
    }


@pytest.mark.parametrize("name", list(_charts()))
def test_every_chart_keeps_the_toolbar_strip_free(name):
    """The top TOOLBAR_PX pixels hold neither the title (which sits just below them) nor the plot."""
    fig = _charts()[name]
    top = fig.layout.margin.t
    assert top >= charts.TOOLBAR_PX + (charts.TITLE_LINE_PX if fig.layout.title.text else 0)
    if fig.layout.title.text:
        title = fig.layout.title
        assert (title.yref, title.yanchor) == ("container", "top")
        assert (1 - title.y) * fig.layout.height == pytest.approx(charts.TOOLBAR_PX)


@pytest.mark.parametrize("normalized", [False, True])
def test_confusion_numbers_are_readable_labels_level_and_recall_beside_the_rows(normalized):
    cm = np.arange(49).reshape(7, 7) + np.eye(7, dtype=int) * 100
    fig = charts.confusion_heatmap(None, cm, normalized=normalized)
    heat, clicks = fig.data
    assert heat.textfont.size >= 11 and heat.showscale is False
    assert fig.layout.xaxis.tickangle == 0 and fig.layout.yaxis.tickangle == 0
    assert clicks.type == "scatter" and len(clicks.x) == 49  # the click targets, trace 1
    notes = [a.text for a in fig.layout.annotations]
    assert notes[:2] == ["recall", "n"]
    support = cm.sum(axis=1)
    assert notes[2:] == [v for c in range(7) for v in (f"{cm[c, c] / support[c]:.0%}", f"{support[c]:,}")]
    assert all(a.font.size >= 11 for a in fig.layout.annotations)


def test_difference_colours_say_better_or_worse_for_the_first_model():
    import plotly.colors as pc

    diff = np.zeros((7, 7), int)
    diff[2, 3], diff[3, 3], diff[3, 4] = 21, -34, -20  # a mistake made more, fewer right, a mistake made less
    heat = charts.diff_heatmap(diff, first="A", second="B").data[0]

    def rgb(i, j):
        frac = (np.asarray(heat.z, float)[i, j] - heat.zmin) / (heat.zmax - heat.zmin)
        return pc.unlabel_rgb(pc.sample_colorscale([list(s) for s in heat.colorscale], [frac])[0])

    assert np.asarray(heat.text)[2, 3] == "+21" and np.asarray(heat.text)[0, 0] == "0"
    assert rgb(2, 3)[0] > rgb(2, 3)[2] + 40  # +21 off the diagonal: worse for A, red
    assert rgb(3, 3)[0] > rgb(3, 3)[2] + 40  # -34 on the diagonal: worse for A, red
    assert rgb(3, 4)[2] > rgb(3, 4)[0] + 40  # -20 off the diagonal: better for A, blue
    assert heat.colorscale[0][1] == palette.WORSE and heat.colorscale[-1][1] == palette.BETTER


def test_in_box_counts_edges_and_reads_every_box_form():
    x = np.array([0.0, 1.0, 2.0, 0.5, np.float32(1.1)], np.float32)
    y = np.array([0.0, 1.0, 2.0, 3.0, 0.5], np.float32)
    edge = float(x[4])  # a float32 coordinate as a JSON box would hold it
    for box in ({"x": [edge, 0.0], "y": [0.0, 2.0]}, {"x0": 0.0, "x1": edge, "y0": 2.0, "y1": 0.0},
                (0.0, edge, 0.0, 2.0)):
        assert in_box(x, y, box).tolist() == [True, True, False, False, True]
    assert box_bounds({"x": [3, 1], "y": [2, -1]}) == (1.0, 3.0, -1.0, 2.0)
    for bad in ({"x": [1]}, {"x": [0, 1], "y": [0, float("nan")]}, "box", None):
        with pytest.raises(AnalysisError, match="box"):
            in_box(x, y, bad)
