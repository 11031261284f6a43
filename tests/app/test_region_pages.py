"""Facial regions in the dashboard: the Errors page's per-cell chart and the inspector's per-image
chart show the core's numbers (ferviz.attribution.regions on the same maps and landmarks)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ferviz.analysis.evaluation import evaluate
from ferviz.attribution import cached_explain
from ferviz.attribution import regions as R
from ferviz.data.landmarks import cached_landmarks
from ferviz.data.splits import load_all
from ferviz.models import load_card, load_model
from tests.app.helpers import array_values, page, texts


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _chart(at, key_start: str) -> dict:
    for el in at.get("plotly_chart"):
        fig = json.loads(el.proto.spec)
        names = [t.get("name", "") for t in fig.get("data", [])]
        if names and names[0].startswith(key_start):
            return fig
    raise AssertionError(f"no chart whose first trace starts with {key_start!r}")


def _core(env):
    split = load_all(env["data"])["PrivateTest"]
    card = load_card(Path(env["models"]) / "tiny_a.json")
    ev = evaluate(card, split)
    model = load_model(card)
    lm = cached_landmarks(split.images, split.data_hash)

    def maps_for(pos, targets):
        return cached_explain(model, card, split.images[pos], split.ids[pos], split.data_hash, targets, "gradcam")

    return split, ev, lm, maps_for


def test_errors_page_region_chart_shows_the_core_report(app, tiny_env):
    at = app
    at.session_state["sel_true"], at.session_state["sel_pred"] = "angry", "disgust"
    at = page(at.run(), "errors")
    _ok(at)
    at.toggle(key="reg_on").set_value(True)
    at = at.run()
    _ok(at)
    split, ev, lm, maps_for = _core(tiny_env)
    rep = R.cell_report(split.labels, ev.preds, lm.points, lm.detected, 0, 1, maps_for, max_faces=100)
    fig = _chart(at, "cell angry→disgust")
    assert [t["name"] for t in fig["data"]] == [f"{g} (n={n})" for g, n in zip(rep.table["group"], rep.table["n"])]
    for trace, (_, row) in zip(fig["data"], rep.table.iterrows()):
        assert np.allclose(array_values(trace["x"]), [row[r] for r in R.REGIONS])
    shown = texts(at)
    assert "Differs significantly" in shown
    assert f"ONet found landmarks on {lm.detection_rate:.1%} of PrivateTest" in shown
    assert any(b.label == "regions.csv" for b in at.get("download_button"))


def test_region_differences_are_in_percentage_points(app, tiny_env):
    """Shares are fractions of the attribution: the gap between two is in percentage points (on the
    tiny data the disgust → fear cell looks less at the brows than correct fear faces)."""
    at = app
    at.session_state["sel_true"], at.session_state["sel_pred"] = "disgust", "fear"
    at = page(at.run(), "errors")
    at.toggle(key="reg_on").set_value(True)
    at = at.run()
    _ok(at)
    split, ev, lm, maps_for = _core(tiny_env)
    rep = R.cell_report(split.labels, ev.preds, lm.points, lm.detected, 1, 2, maps_for, max_faces=100)
    tests = rep.tests[rep.tests["differs"]]
    assert len(tests) > 0  # some region differs, so the wording is shown and checked
    line = next(x for x in texts(at).split("\n") if x.startswith("**Differs significantly**"))
    for _, t in tests.iterrows():
        word = "more" if t["difference"] > 0 else "less"
        assert (f"{t['region']}: {abs(t['difference']) * 100:.1f} percentage points {word} than {t['reference']} "
                f"({t['cell_mean']:.1%} vs {t['reference_mean']:.1%}") in line
    assert not re.search(r"\d% (more|less)", line), line


def test_errors_page_asks_for_one_cell_before_regions(app):
    at = page(app.run(), "errors")
    _ok(at)
    assert any("Pick one confusion cell" in i.value for i in at.info)


def test_inspector_region_chart_is_each_maps_share(app, tiny_env):
    at = app
    split, ev, lm, maps_for = _core(tiny_env)
    image_id = str(ev.errors(0, 1)["id"].iloc[0])
    at.session_state["sel_id"] = image_id
    at.session_state["insp_methods"] = ["gradcam"]
    at = page(at.run(), "inspector")
    _ok(at)
    fig = _chart(at, "Grad-CAM")
    pos = split.index_of(image_id)
    m = maps_for(np.array([pos]), np.array([int(ev.preds[pos])]))
    want = R.region_shares(m, R.region_maps(lm.points[[pos]], m.shape[1:]))[0]
    assert np.allclose(array_values(fig["data"][0]["x"]), want, atol=1e-6)
    assert np.isclose(sum(array_values(fig["data"][0]["x"])), 1.0)
    assert any(c.startswith("regions from") for img in at.image for c in img.captions)
