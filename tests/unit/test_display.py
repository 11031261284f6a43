"""One figure definition, two renderers: the dashboard's plotly charts and the exported matplotlib
figures show the same values, texts, order and colours (ferviz.figures.display)."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex

from ferviz.figures.display import (
    CONFUSION_CMAP,
    OTHER_COLOR,
    PRED_COLOR,
    TRUE_COLOR,
    ConfusionDisplay,
    ProbsDisplay,
)
from ferviz.export import annotated_figure, confusion_figure
from ferviz.labels import EMOTIONS, NAMES
from ferviz.ui import charts

CM = np.arange(49).reshape(7, 7) + np.eye(7, dtype=int) * 100


@pytest.mark.parametrize("normalize", [False, True])
def test_the_confusion_matrix_is_the_same_in_the_app_and_the_export(normalize):
    d = ConfusionDisplay(CM, normalize=normalize)
    app = charts.confusion_heatmap(d.values, CM, normalized=normalize)
    heat = app.data[0]
    np.testing.assert_allclose(np.asarray(heat.z), d.values)
    app_texts = [[t.replace("<b>", "").replace("</b>", "") for t in row] for row in heat.text]
    ax = confusion_figure(CM, normalize=normalize).axes[0]
    export_texts = [t.get_text() for t in ax.texts]
    assert sum(app_texts, []) == export_texts == sum(d.texts, [])
    np.testing.assert_allclose(ax.get_images()[0].get_array(), d.values)
    assert ax.get_images()[0].get_cmap().name == CONFUSION_CMAP
    # plotly's "Blues" and matplotlib's "Blues" are the same ColorBrewer scale: same ends
    import plotly.colors as pc
    from matplotlib import colormaps

    stops = [c for _, c in heat.colorscale]
    lo, hi = (np.array(pc.unlabel_rgb(pc.convert_colors_to_same_type(c)[0][0])) / 255 for c in (stops[0], stops[-1]))
    np.testing.assert_allclose(lo, colormaps[CONFUSION_CMAP](0.0)[:3], atol=0.02)
    np.testing.assert_allclose(hi, colormaps[CONFUSION_CMAP](1.0)[:3], atol=0.02)
    if normalize:
        assert d.hover(2, 4).startswith("true fear → predicted sad: ") and "% of true fear" in d.hover(2, 4)


def test_probability_bars_are_the_same_in_the_app_and_the_export():
    probs = np.array([0.05, 0.01, 0.30, 0.04, 0.45, 0.05, 0.10])
    true = 2  # fear, second highest; the prediction is sad
    d = ProbsDisplay(probs, true)
    assert d.labels[:2] == ["sad", "fear (true)"] and d.colors[:3] == [PRED_COLOR, TRUE_COLOR, OTHER_COLOR]
    bar = charts.probs_bar(probs, true=true).data[0]
    assert list(bar.y) == d.labels and list(bar.marker.color) == d.colors and list(bar.text) == d.texts
    fig = annotated_figure(np.zeros((48, 48), np.uint8), probs, true=true, top_k=7)
    ax = next(a for a in fig.axes if a.get_title() == d.title)
    assert [t.get_text() for t in ax.get_yticklabels()] == d.labels  # top bar first
    assert [to_hex(p.get_facecolor()) for p in ax.patches] == [c.lower() for c in d.colors]
    assert [t.get_text() for t in ax.texts][:7] == d.texts


def test_a_true_class_outside_the_top_k_is_said_below_the_bars():
    probs = np.array([0.6, 0.2, 0.1, 0.05, 0.03, 0.01, 0.01])
    d = ProbsDisplay(probs, true=6, top_k=3)
    assert d.title == "top-3 probabilities" and d.true_note == "p(neutral, true) = 1.0%"
    assert ProbsDisplay(probs, true=0, top_k=3).true_note is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(counts=np.zeros((6, 6)), classes=EMOTIONS), "7x7"), (dict(counts=-np.ones((7, 7))), "non-negative"),
    (dict(counts=np.zeros((7, 8)), classes=EMOTIONS, columns=EMOTIONS), "must be 7x7"),
    (dict(counts=np.zeros((11, 11))), "1-10 rows"), (dict(counts=np.zeros(7)), "2-D"),
    (dict(counts=np.ones((7, 7)), accuracy=2.0), "accuracy"),
])
def test_bad_confusion_input_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConfusionDisplay(**kwargs)


def test_a_rectangular_matrix_names_rows_and_columns_apart():
    """Rows the dataset's classes (CK+-like: no neutral, with contempt), columns a seven-class
    model's: the contempt row is marked, its faces are not in the accuracy."""
    rows = ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
    cm = np.arange(49).reshape(7, 7) + 50 * np.eye(7, dtype=int)
    d = ConfusionDisplay(cm, classes=rows, columns=EMOTIONS)
    assert d.shape == (7, 7) and d.outside_rows == [1] and d.row_labels[1] == "contempt *"
    assert d.diagonal == [(0, 0), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)]
    scored = cm[[0, 2, 3, 4, 5, 6]]
    assert d.accuracy == pytest.approx(sum(cm[i, j] for i, j in d.diagonal) / scored.sum())
    assert "not a class of the model" in d.footnote and "counted apart" in d.hover(1, 6)
    assert d.hover(2, 1) == f"true disgust → predicted disgust: {cm[2, 1]} images"
    square = ConfusionDisplay(np.eye(8, dtype=int))  # names default to the first eight classes
    assert square.classes == square.columns == EMOTIONS + ("contempt",) and square.accuracy == 1.0


@pytest.mark.parametrize("k", [8, 10])
def test_probability_bars_of_eight_and_ten_classes(k):
    probs = np.linspace(1, 2, k)
    probs /= probs.sum()
    d = ProbsDisplay(probs, true=7)
    assert len(d.order) == k and d.title == "probabilities" and d.labels[0].startswith(NAMES[k - 1])
    assert "contempt (true)" in d.labels and d.true_note is None
    top = ProbsDisplay(probs, true=0, top_k=k)
    assert top.labels[-1] == "angry (true)" and top.colors[-1] == TRUE_COLOR
    fig = annotated_figure(np.zeros((48, 48), np.uint8), probs, true=7, top_k=k)
    ax = next(a for a in fig.axes if a.get_title() == d.title)
    assert [t.get_text() for t in ax.get_yticklabels()] == d.labels
    # a model lacking some of the first k classes: only its classes get bars
    model = tuple(sorted({3, 4, 6, k - 1}))
    m = ProbsDisplay(probs, true=2, classes=model)
    assert list(m.order) == sorted(model, key=lambda c: -probs[c]) and m.pred == k - 1 and len(m.order) == 4
    assert m.true_note == "true: fear (not a class of the model)"


def test_bad_probabilities_are_refused():
    for probs in (np.ones(11), np.ones(1), np.ones((2, 7))):
        with pytest.raises(ValueError, match="2-10 class probabilities"):
            ProbsDisplay(probs)
    with pytest.raises(ValueError, match="top_k"):
        ProbsDisplay(np.ones(7) / 7, top_k=0)
    with pytest.raises(ValueError, match="top_k must be 1-8"):
        ProbsDisplay(np.ones(8) / 8, top_k=9)
    with pytest.raises(ValueError, match="a probability each"):  # contempt named, seven probabilities
        ProbsDisplay(np.ones(7) / 7, classes=(0, 3, 7))
    with pytest.raises(ValueError, match="a probability each"):
        ProbsDisplay(np.ones(8) / 8, classes=(3, 3))
    with pytest.raises(ValueError, match="true must be a class index"):
        ProbsDisplay(np.ones(8) / 8, true=10)
    assert EMOTIONS[ProbsDisplay(np.eye(7)[3]).pred] == "happy"
    assert ProbsDisplay(np.eye(8)[7]).pred == 7
