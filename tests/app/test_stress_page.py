"""The Stress test page on the tiny data: the background job evaluates every perturbed copy, the
curves and flips then show what the core computes, a flips cell opens exactly the faces that
flipped, and the inspector shows one face under every perturbation."""
from __future__ import annotations

import json
import time

import numpy as np

from ferviz.analysis import stress as core
from ferviz.data.splits import load_all
from ferviz.labels import EMOTIONS
from ferviz.models import load_card
from tests.app.helpers import app_on, page, texts, tiles


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _wait_for_job(card, split, timeout=600):
    from ferviz.ui import stress as job_ui

    t = time.time()
    while time.time() - t < timeout:
        j = job_ui.job(card, split)
        if j is not None and not j.running:
            assert j.error is None, j.error
            return j
        time.sleep(1)
    raise AssertionError("the stress job did not finish")


def test_the_stress_page_runs_the_job_and_shows_the_core_numbers(tiny_env, monkeypatch):
    split = load_all(tiny_env["data"])["PrivateTest"]
    card = load_card(f"{tiny_env['models']}/tiny_a.json")
    at = page(app_on(tiny_env, monkeypatch).run(), "stress")
    _ok(at)
    have, total = core.cached_count(card, split)
    assert total == 66 and any(f"{have} of {total} perturbed copies" in i.value for i in at.info)
    at.button(key="st_run_tiny_a").click()
    at = at.run()
    _ok(at)
    j = _wait_for_job(card, split)
    assert j.done == j.total == total - have
    assert core.cached_count(card, split) == (total, total)
    at = at.run()
    _ok(at)
    res = core.stress_test(card, split)  # all from the cache now
    table = res.table()
    fig = json.loads(next(el.proto.spec for el in at.get("plotly_chart")))
    traces = {t["name"]: t for t in fig["data"]}
    blur = table[(table["perturbation"] == "blur") & (table["class"] == "all")].sort_values("severity")
    from tests.app.helpers import array_values

    assert np.allclose(array_values(traces["blur"]["y"]), 100 * blur["accuracy"].to_numpy())
    flips = res.flips()
    top = flips.iloc[0]
    assert core.flip_sentence(top["perturbation"], int(top["severity"]), top["from"], top["to"],
                              int(top["count"])) in texts(at)


def test_a_flips_cell_opens_exactly_the_faces_that_flipped(tiny_env, monkeypatch):
    split = load_all(tiny_env["data"])["PrivateTest"]
    card = load_card(f"{tiny_env['models']}/tiny_a.json")
    if core.cached_count(card, split)[0] < 66:
        core.stress_test(card, split)
    res = core.stress_test(card, split)
    top = res.flips().iloc[0]
    t, q = EMOTIONS.index(top["from"]), EMOTIONS.index(top["to"])
    at = app_on(tiny_env, monkeypatch)
    at.session_state["st_open"] = (top["perturbation"], int(top["severity"]), t, q)  # what a cell click sets
    at = page(at.run(), "stress")
    _ok(at)
    want = set(split.ids[res.flip_mask(top["perturbation"], int(top["severity"]), t, q)].astype(str))
    assert len(want) == top["count"]
    assert any(h.value.startswith(f"{len(want)} {top['from']} face") for h in at.subheader)
    assert {x["id"] for x in tiles(at)} == want


def test_the_inspector_shows_a_face_under_every_perturbation(tiny_env, monkeypatch):
    at = app_on(tiny_env, monkeypatch)
    at.session_state["insp_stress"] = True
    at = page(at.run(), "inspector")
    _ok(at)
    captions = [c for img in at.image for c in img.captions]
    assert {"eyes occluded", "mouth occluded", "blur", "dim light", "mirror"} <= set(captions)
