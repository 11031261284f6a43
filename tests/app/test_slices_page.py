"""The Failure slices page on data whose failure is planted: a brightness model errs exactly on
the faces drawn with a strong checkerboard (high contrast and sharpness, their mean brightness that
of the next class). The top slice must be those faces; Open shows exactly them; tree nodes and
links open theirs; a second model's fixes and breaks follow the core."""
from __future__ import annotations

import numpy as np
import pytest

from ferviz.analysis.attributes import face_attributes, image_attributes
from ferviz.analysis.evaluation import evaluate
from ferviz.analysis.slices import compare_slices, find_slices
from ferviz.analysis.error_tree import error_tree
from ferviz.data.splits import load_all
from ferviz.models import load_card
from tests.app.helpers import LEVELS, app_on, page, texts, tiles, write_fer_csv

PER_CLASS, PLANTED = 30, 6


def _rows():
    rows, rng = [], np.random.default_rng(11)
    yy, xx = np.mgrid[:48, :48]
    checker = np.where((yy + xx) % 2 == 0, 40, -40).ravel()
    for c in range(7):
        for k in range(PER_CLASS):
            if k < PLANTED:  # an error: the next class's brightness, drawn as a sharp checkerboard
                face = np.clip(LEVELS[(c + 1) % 7] + checker, 0, 255)
            else:
                face = np.clip(LEVELS[c] + rng.integers(-3, 4, 2304), 0, 255)
            rows.append((c, face, "PrivateTest"))
        rows.append((c, np.full(2304, LEVELS[c]), "Training"))
        rows.append((c, np.full(2304, LEVELS[c]), "PublicTest"))
    return rows


@pytest.fixture(scope="module")
def slices_env(tiny_env, tmp_path_factory):
    root = tmp_path_factory.mktemp("slicesdata")
    csv = root / "fer2013.csv"
    write_fer_csv(csv, _rows())
    return {"data": str(csv), "models": tiny_env["models"]}


@pytest.fixture(scope="module")
def core(slices_env):
    """What the core finds on the same data (the page must show the same)."""
    split = load_all(slices_env["data"])["PrivateTest"]
    card = load_card(f"{slices_env['models']}/tiny_a.json")
    ev = evaluate(card, split)
    attrs = face_attributes(split, base=image_attributes(split.images, split.data_hash))
    correct = ev.preds == ev.labels
    return {"split": split, "ev": ev, "correct": correct, "search": find_slices(attrs, correct),
            "tree": error_tree(attrs, correct)}


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _all_tile_ids(at) -> list[str]:
    """The ids of the gallery's tiles over every page."""
    ids = [t["id"] for t in tiles(at)]
    pages = [n for n in at.number_input if n.key == "sl_page"]
    if pages:
        for p in range(2, int(pages[0].max) + 1):
            at.number_input(key="sl_page").set_value(p)
            at = at.run()
            ids += [t["id"] for t in tiles(at)]
    return ids


def test_the_planted_failure_is_the_top_slice_and_open_shows_exactly_its_faces(slices_env, monkeypatch, core):
    wrong_ids = set(core["split"].ids[~core["correct"]].astype(str))
    assert len(wrong_ids) == 7 * PLANTED  # the planted errors, and only they
    at = page(app_on(slices_env, monkeypatch).run(), "slices")
    _ok(at)
    top = core["search"].table.iloc[0]
    shown = texts(at)
    assert f"1. {top['sentence']}" in shown
    assert set(core["search"].members(top["slice"])) == wrong_ids
    at.button(key="sl_open_0").click()
    at = at.run()
    _ok(at)
    heads = [h.value for h in at.subheader]
    assert any(h.startswith(f"{len(wrong_ids)} faces: ") and h.endswith(f"({len(wrong_ids)} errors)") for h in heads), heads
    assert at.query_params.get("slice") in ([top["slice"]], top["slice"])
    ids = _all_tile_ids(at)
    assert len(ids) == len(set(ids)) and set(ids) == wrong_ids


def test_a_link_to_an_error_tree_node_opens_its_faces(slices_env, monkeypatch, core):
    tree = core["tree"]
    leaf = tree.leaves().iloc[0]
    at = app_on(slices_env, monkeypatch)
    at.query_params["slice"] = f"tree:{int(leaf['node'])}"
    at = page(at.run(), "slices")
    _ok(at)
    n = int(leaf["n"])
    assert any(h.value.startswith(f"{n} faces: error-tree node {int(leaf['node'])}: ") for h in at.subheader)
    expected = set(core["split"].ids[tree.mask(int(leaf["node"]))].astype(str))
    assert set(_all_tile_ids(at)) == expected


def test_a_stale_link_says_so_and_the_page_still_works(slices_env, monkeypatch):
    at = app_on(slices_env, monkeypatch)
    at.query_params["slice"] = "no-such-slice"
    at = page(at.run(), "slices")
    _ok(at)
    assert any("No slice 'no-such-slice'" in w.value for w in at.warning)
    assert at.button(key="sl_open_0")  # the ranked slices are still there


def test_a_second_model_shows_what_it_fixes_and_breaks(slices_env, monkeypatch, core):
    at = app_on(slices_env, monkeypatch)
    at.session_state["sel_model2"] = "tiny_b"
    at = page(at.run(), "slices")
    _ok(at)
    ev_b = evaluate(load_card(f"{slices_env['models']}/tiny_b.json"), core["split"])
    cmp = compare_slices(core["search"], core["correct"], ev_b.preds == ev_b.labels)
    shown = texts(at)
    for verdict, word in (("fixes", "fixes"), ("breaks", "breaks")):
        assert f"**Slices Tiny B {word}** ({int((cmp['verdict'] == verdict).sum())})" in shown
    assert (cmp["verdict"] != "same").any()  # B calls every happy face sad: some slice must change


def test_the_attributes_are_explained(slices_env, monkeypatch):
    at = page(app_on(slices_env, monkeypatch).run(), "slices")
    _ok(at)
    shown = texts(at)
    assert "variance of the Laplacian" in shown and "yaw proxy" in shown
    assert "No FER+ attributes" in shown  # a tiny CSV that FER+'s votes do not align with


def test_error_clusters_open_their_faces(slices_env, monkeypatch):
    at = app_on(slices_env, monkeypatch)
    at = page(at.run(), "slices")
    _ok(at)
    at.button(key="sl_clusters_go").click()  # the features are computed on a click the first time
    at = at.run()
    _ok(at)
    from ferviz.analysis.embedding import cached_features
    from ferviz.analysis.error_clusters import error_clusters
    from ferviz.labels import EMOTIONS

    split = load_all(slices_env["data"])["PrivateTest"]
    card = load_card(f"{slices_env['models']}/tiny_a.json")
    ev = evaluate(card, split)
    attrs = face_attributes(split, base=image_attributes(split.images, split.data_hash))
    found = error_clusters(cached_features(None, card, split), ev.preds == ev.labels, attrs, ev.labels, ev.preds,
                           EMOTIONS)
    assert f"**Cluster 1** ({int(found.table['n'].iloc[0])} errors): " in texts(at)
    at.button(key="sl_cluster_0").click()
    at = at.run()
    _ok(at)
    assert set(_all_tile_ids(at)) == set(split.ids[found.mask(0)].astype(str))
