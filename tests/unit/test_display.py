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
from ferviz.labels import EMOTIONS
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
    (dict(counts=np.zeros((6, 6))), "7x7"), (dict(counts=-np.ones((7, 7))), "non-negative"),
    (dict(counts=np.ones((7, 7)), accuracy=2.0), "accuracy"),
])
def test_bad_confusion_input_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConfusionDisplay(**kwargs)


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match="7 class probabilities"):
        ProbsDisplay(np.ones(6))
    with pytest.raises(ValueError, match="top_k"):
        ProbsDisplay(np.ones(7) / 7, top_k=0)
    assert EMOTIONS[ProbsDisplay(np.eye(7)[3]).pred] == "happy"
