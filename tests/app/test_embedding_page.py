"""The Embedding map page: every face of the split is one point, grouped and coloured as the
core's table says; the label-issue colouring follows confident learning's flags."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferviz.analysis.embedding import cached_embedding
from ferviz.analysis.evaluation import evaluate
from ferviz.analysis.label_issues import evaluation_issues
from ferviz.data.splits import load_all
from ferviz.models import load_card
from tests.app.helpers import array_values, page


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _scatter(at) -> dict:
    for el in at.get("plotly_chart"):
        fig = json.loads(el.proto.spec)
        if "Embedding" in str(fig.get("layout", {}).get("title", {}).get("text", "")) or \
                any(t.get("type") == "scattergl" for t in fig.get("data", [])):
            return fig
    raise AssertionError("no embedding scatter on the page")


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_embedding_page_plots_every_face_where_the_core_puts_it(app, tiny_env, method):
    at = app
    at.session_state["emb_method"] = method
    at = page(at.run(), "embedding")
    _ok(at)
    split = load_all(tiny_env["data"])["PrivateTest"]
    card = load_card(Path(tiny_env["models"]) / "tiny_a.json")
    df = cached_embedding(None, card, split, method).set_index("id")
    fig = _scatter(at)
    seen = 0
    for trace in fig["data"]:
        ids = [row[0] for row in trace["customdata"]]
        xs, ys = array_values(trace["x"]), array_values(trace["y"])
        assert np.allclose(xs, df.loc[ids, "x"], atol=1e-5) and np.allclose(ys, df.loc[ids, "y"], atol=1e-5)
        emotion = trace["name"].split(" (")[0]
        assert set(df.loc[ids, "true"]) <= {emotion}  # coloured by the true class by default
        seen += len(ids)
    assert seen == len(split)
    assert any("Drag a box or a lasso" in i.value for i in at.info)


def test_embedding_page_colours_label_issues_as_confident_learning_flags_them(app, tiny_env):
    at = app
    at.session_state["emb_method"] = "pca"
    at.session_state["emb_color"] = "issue"
    at = page(at.run(), "embedding")
    _ok(at)
    split = load_all(tiny_env["data"])["PrivateTest"]
    ev = evaluate(load_card(Path(tiny_env["models"]) / "tiny_a.json"), split)
    li = evaluation_issues(ev)
    fig = _scatter(at)
    groups = {t["name"].split(" (")[0]: {row[0] for row in t["customdata"]} for t in fig["data"]}
    wrong = ev.preds != ev.labels
    assert groups["correct"] == set(split.ids[~wrong])
    assert groups["likely label issue"] == set(split.ids[wrong & li.flagged])
    assert groups["likely model error"] == set(split.ids[wrong & ~li.flagged])


def _box_heading(rows) -> str:
    n, k = len(rows), int((~rows["correct"]).sum())
    return f"{n} face{'' if n == 1 else 's'} in the box ({k} error{'' if k == 1 else 's'})"


def test_a_box_opens_the_faces_inside_it_by_the_cores_rule(app, tiny_env):
    """The page counts a box's faces with `embedding.in_box` (edges included), says how many and how
    many are errors (no raw coordinates), and leaves out the groups hidden in the legend (plotly
    reports no point of them)."""
    from ferviz.analysis.embedding import in_box

    at = app
    at.session_state["emb_method"] = "pca"
    at = page(at.run(), "embedding")
    _ok(at)
    split = load_all(tiny_env["data"])["PrivateTest"]
    df = cached_embedding(None, load_card(Path(tiny_env["models"]) / "tiny_a.json"), split, "pca")
    x = df["x"].to_numpy()
    edge = float(np.sort(x)[len(x) // 2])  # the box's right edge passes exactly through a face
    box = {"xref": "x", "yref": "y", "x": [float(x.min()) - 1, edge],
           "y": [float(df["y"].min()) - 1, float(df["y"].max()) + 1]}
    inside = df[in_box(df["x"], df["y"], box)]
    assert (inside["x"] == np.float32(edge)).any() and 0 < len(inside) < len(df)
    every_group = [{"curve_number": k, "point_index": 0} for k in range(7)]
    at.session_state["emb_chart"] = {"selection": {"points": every_group, "point_indices": [], "box": [box],
                                                   "lasso": []}}
    at.run()
    _ok(at)
    assert _box_heading(inside) in [s.value for s in at.subheader]
    assert not [c.value for c in at.caption if "box x" in c.value]
    # only angry's points came back (the other classes hidden in the legend): only angry faces count
    at.session_state["emb_chart"] = {"selection": {"points": every_group[:1], "point_indices": [], "box": [box],
                                                   "lasso": []}}
    at.run()
    _ok(at)
    angry = inside[inside["true"] == "angry"]
    assert 0 < len(angry) < len(inside)
    assert _box_heading(angry) in [s.value for s in at.subheader]
