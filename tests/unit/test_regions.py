"""Facial regions, region shares and their statistics, on synthetic landmarks and hand-built models."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferviz.attribution import regions as R
from ferviz.data.landmarks import TEMPLATE, Landmarks, detect_landmarks, plausible
from ferviz.models import ModelCard

SIZE = (48, 48)


def _label_at(labels: np.ndarray, xy_frac) -> str:
    x, y = xy_frac
    return R.REGIONS[labels[int(y * SIZE[0]), int(x * SIZE[1])]]


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    c = points.mean(axis=0)
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return ((points - c) @ rot.T + c).astype(np.float32)


@pytest.mark.parametrize("degrees", [0.0, 20.0, -25.0])
def test_regions_of_a_synthetic_face_are_where_they_should_be(degrees):
    pts = _rotate(TEMPLATE, degrees)
    lab = R.region_map(pts, SIZE)
    le, re, nose, ml, mr = pts
    assert _label_at(lab, le) == "eyes" and _label_at(lab, re) == "eyes"
    assert _label_at(lab, nose) == "nose"
    assert _label_at(lab, (ml + mr) / 2) == "mouth"
    # a little above each eye, perpendicular to the (possibly tilted) eye line: the brow
    d = np.linalg.norm(re - le)
    up = np.array([(re - le)[1], -(re - le)[0]]) / d
    for eye in (le, re):
        assert _label_at(lab, eye + up * 0.33 * d) == "brows"
    # the cheek beside the nose is the rest of the face; the image corners are background
    cheek = nose + (le - re) * 0.55 + (ml - le) * 0.1
    assert _label_at(lab, cheek) == "face"
    for corner in [(0.01, 0.01), (0.98, 0.01)]:
        assert _label_at(lab, corner) == "background"
    assert set(np.unique(lab)) == set(range(len(R.REGIONS)))


def test_regions_follow_the_face_not_the_frame():
    """Moving the landmarks moves the regions: the mouth of a face in the left half is in the left half."""
    small = TEMPLATE * 0.5 + np.array([0.0, 0.25], np.float32)
    lab = R.region_map(small, SIZE)
    mouth_cols = np.flatnonzero((lab == R.REGIONS.index("mouth")).any(axis=0))
    assert mouth_cols.max() < 24
    assert _label_at(lab, (0.9, 0.5)) == "background"


def test_region_maps_scale_with_the_map_size():
    a = R.region_map(TEMPLATE, (48, 48))
    b = R.region_map(TEMPLATE, (96, 96))
    assert b.shape == (96, 96)
    agree = (b[::2, ::2] == a).mean()
    assert agree > 0.95


def test_shares_sum_to_one_and_blank_maps_have_none():
    lab = R.region_maps(np.stack([TEMPLATE, TEMPLATE]), SIZE)
    rng = np.random.default_rng(0)
    maps = np.stack([rng.random(SIZE), np.zeros(SIZE)]).astype(np.float32)
    maps[0, 0, 0] = -5.0  # negative evidence is not counted
    s = R.region_shares(maps, lab)
    assert s.shape == (2, len(R.REGIONS))
    assert np.isclose(s[0].sum(), 1.0)
    assert np.isnan(s[1]).all()
    # a uniform map gets each region's area share
    area = R.area_shares(lab[:1])[0]
    assert np.allclose(R.region_shares(np.ones((1, *SIZE)), lab[:1])[0], area)
    assert area[R.REGIONS.index("face")] > area[R.REGIONS.index("eyes")]


def test_a_map_on_one_region_gets_all_of_the_share():
    lab = R.region_map(TEMPLATE, SIZE)
    for k, r in enumerate(R.REGIONS):
        m = (lab == k).astype(np.float32)[None]
        s = R.region_shares(m, lab[None])[0]
        assert s[k] == pytest.approx(1.0), r


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        R.region_shares(np.ones((1, 48, 48)), np.zeros((1, 24, 24), np.int8))


def test_holm_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    adj = R.holm(p)
    # sorted 0.005, 0.01, 0.03, 0.04 with m = 4: 0.02, 0.03, 0.06, 0.06 (monotone)
    assert np.allclose(adj[[4, 0, 2, 1]], [0.02, 0.03, 0.06, 0.06])
    assert np.isnan(adj[3])


def test_bootstrap_interval_holds_the_mean_and_narrows_with_more_faces():
    rng = np.random.default_rng(1)
    few = rng.dirichlet(np.ones(6), 20)
    many = rng.dirichlet(np.ones(6), 2000)
    lo, hi = R.bootstrap_ci(few)
    assert np.all(lo <= few.mean(0)) and np.all(few.mean(0) <= hi)
    lo2, hi2 = R.bootstrap_ci(many)
    assert np.all((hi2 - lo2) < (hi - lo))


def _fake_maps(region_of_group: dict[int, str], points):
    """maps_for: each face's map is 1 on the region named for its target class."""
    def maps_for(pos, targets):
        labs = R.region_maps(points[pos], SIZE)
        rng = np.random.default_rng(len(pos))
        return np.stack([(lab == R.REGIONS.index(region_of_group[int(t)])).astype(np.float32) * 0.9
                         + rng.random(SIZE).astype(np.float32) * 0.02 for lab, t in zip(labs, targets)])
    return maps_for


def test_cell_report_finds_the_region_that_differs():
    rng = np.random.default_rng(2)
    n = 300
    true = rng.integers(0, 7, n)
    pred = true.copy()
    pred[:80] = 4  # many fear (2) -> sad (4) errors among these
    true[:80] = 2
    points = np.repeat(TEMPLATE[None], n, axis=0)
    detected = np.ones(n, bool)
    detected[:5] = False
    # explained towards sad (the cell, and correct sad): mouth; towards fear (correct fear): eyes
    region_of = {c: "face" for c in range(7)}
    region_of.update({4: "mouth", 2: "eyes"})
    rep = R.cell_report(true, pred, points, detected, 2, 4, _fake_maps(region_of, points), max_faces=50)
    names = list(rep.table["group"])
    assert names == ["cell fear→sad", "correct fear", "correct sad"]
    cell = rep.table.iloc[0]
    assert cell["mouth"] > 0.8 and cell["n"] == 50 and cell["n_template"] >= 0
    assert np.isclose(rep.table[list(R.REGIONS)].sum(axis=1), 1.0).all()
    t = rep.tests.set_index(["region", "reference"])
    assert bool(t.loc[("mouth", "correct fear"), "differs"]) and t.loc[("mouth", "correct fear"), "difference"] > 0
    assert bool(t.loc[("eyes", "correct fear"), "differs"])
    # the cell and correct sad are both explained on the mouth: no difference there
    assert not bool(t.loc[("mouth", "correct sad"), "differs"])
    assert any(s.startswith("mouth:") and "more than correct fear" in s for s in rep.differing())
    assert set(rep.faces["landmarks"]) <= {"onet", "template"}
    assert len(rep.faces) == rep.table["n"].sum() + rep.table["n_blank"].sum()


def test_cell_report_refuses_an_empty_cell():
    true = np.array([0, 1, 2])
    with pytest.raises(ValueError, match="no faces in the cell"):
        R.cell_report(true, true.copy(), np.repeat(TEMPLATE[None], 3, 0), np.ones(3, bool), 0, 5,
                      lambda pos, t: np.ones((len(pos), *SIZE)))


def test_a_cell_of_other_class_sets():
    """Contempt faces read as neutral by a seven-class model (a row of the rectangle): no
    "correct contempt" reference; contempt predicted by an eight-class model is a cell like any."""
    rng = np.random.default_rng(3)
    true = np.repeat([7, 6, 3], 40)
    pred = np.where(true == 7, 6, true)
    points = np.repeat(TEMPLATE[None], len(true), axis=0)
    region_of = {6: "mouth", 7: "eyes", 3: "face"}
    rep = R.cell_report(true, pred, points, np.ones(len(true), bool), 7, 6, _fake_maps(region_of, points),
                        max_faces=30, model_classes=range(7))
    assert list(rep.table["group"]) == ["cell contempt→neutral", "correct neutral"]
    assert list(rep.table["true"]) == ["contempt", "neutral"] and set(rep.tests["reference"]) == {"correct neutral"}
    with pytest.raises(ValueError, match=r"predicted class 7 \(contempt\) is not one the model can output: "
                                         "0 angry, .*6 neutral$"):
        R.cell_report(true, pred, points, np.ones(len(true), bool), 6, 7, _fake_maps(region_of, points),
                      model_classes=range(7))
    pred8 = pred.copy()
    pred8[rng.permutation(np.flatnonzero(true == 6))[:10]] = 7  # some neutral faces read as contempt
    pred8[true == 7] = 7
    rep8 = R.cell_report(true, pred8, points, np.ones(len(true), bool), 6, 7, _fake_maps(region_of, points),
                         max_faces=30, model_classes=range(8))
    assert list(rep8.table["group"]) == ["cell neutral→contempt", "correct neutral", "correct contempt"]
    assert rep8.table.set_index("group").loc["cell neutral→contempt", "eyes"] > 0.8  # explained towards contempt
    with pytest.raises(ValueError, match="true class 12 is not a class index"):
        R.cell_report(true, pred, points, np.ones(len(true), bool), 12, 6, _fake_maps(region_of, points))


def test_group_sampling_is_seeded_and_capped():
    true = np.zeros(500, int)
    pred = np.full(500, 4)
    a = R.group_positions(true, pred, 0, 4, max_faces=30, seed=7)
    b = R.group_positions(true, pred, 0, 4, max_faces=30, seed=7)
    c = R.group_positions(true, pred, 0, 4, max_faces=30, seed=8)
    key = "cell angry→sad"
    assert len(a[key][2]) == 30 and np.array_equal(a[key][2], b[key][2])
    assert not np.array_equal(a[key][2], c[key][2])


# ------------------------------------------------------------------ a model that looks at the mouth only

def _mouth_model():
    """Input x mask (1 inside a box well inside the template's mouth region) -> ReLU conv -> mean ->
    softmax: only mouth pixels can change the output."""
    import keras

    lab = R.region_map(TEMPLATE, SIZE)
    rows, cols = np.nonzero(lab == R.REGIONS.index("mouth"))
    cy, cx = int(np.median(rows)), int(np.median(cols))
    mask = np.zeros((*SIZE, 1), np.float32)
    mask[cy - 1:cy + 2, cx - 4:cx + 5] = 1.0

    class Mask(keras.layers.Layer):
        def call(self, x):
            return x * mask

    inp = keras.Input((*SIZE, 1))
    x = Mask()(inp)
    x = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(7, activation="softmax", name="probs")(x)
    model = keras.Model(inp, out)
    k = np.zeros((3, 3, 1, 2), np.float32)
    k[1, 1, 0, :] = 1.0
    model.get_layer("last_conv").set_weights([k, np.zeros(2, np.float32)])
    w = np.zeros((2, 7), np.float32)
    w[0, 3] = 50.0  # "happy" grows with the brightness of the mouth
    model.get_layer("probs").set_weights([w, np.zeros(7, np.float32)])
    return model


@pytest.mark.parametrize("method", ["gradcam", "gradcampp", "ig", "smoothgrad"])
def test_a_model_that_attends_only_to_the_mouth_gets_a_mouth_share_near_one(method):
    """XRAI is left out on purpose: it ranks whole image segments (found in the pixels, here
    noise), so its map spreads over segments that cross region borders (documented in regions)."""
    from ferviz.attribution import explain

    model = _mouth_model()
    card = ModelCard(name="mouth", file="mouth.keras", gradcam_layer="last_conv")
    rng = np.random.default_rng(3)
    faces = rng.integers(60, 255, (4, *SIZE)).astype(np.uint8)
    maps = explain(model, card, faces, np.full(4, 3), method)
    shares = R.region_shares(maps, R.region_maps(np.repeat(TEMPLATE[None], 4, 0), maps.shape[1:]))
    mouth = shares[:, R.REGIONS.index("mouth")]
    assert np.all(mouth > 0.95), (method, shares)


# ------------------------------------------------------------------ landmarks

def test_implausible_points_are_rejected():
    good = TEMPLATE[None]
    swapped = TEMPLATE[[1, 0, 2, 3, 4]][None]
    upside = TEMPLATE.copy()
    upside[:, 1] = 1 - upside[:, 1]
    assert plausible(good).tolist() == [True]
    assert plausible(swapped).tolist() == [False]
    assert plausible(upside[None]).tolist() == [False]


def test_no_face_falls_back_to_the_template_and_says_so():
    flat = np.full((3, 48, 48), 128, np.uint8)
    lm = detect_landmarks(flat)
    assert isinstance(lm, Landmarks) and len(lm) == 3
    assert not lm.detected.any()
    assert np.allclose(lm.points, TEMPLATE[None])
    assert lm.detection_rate == 0.0


def test_landmarks_accept_any_size_and_channels():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 255, (2, 100, 100, 3)).astype(np.uint8)
    lm = detect_landmarks(rgb)
    assert lm.points.shape == (2, 5, 2) and lm.score.shape == (2,)
    with pytest.raises(ValueError, match="expected faces"):
        detect_landmarks(np.zeros((2, 48, 48, 5), np.uint8))


# ------------------------------------------------------------------ figures

def _table():
    rng = np.random.default_rng(5)
    rows = []
    for g in ("cell fear→sad", "correct fear", "correct sad"):
        s = rng.dirichlet(np.ones(6))
        row = {"group": g, "n": 40}
        row.update({r: float(v) for r, v in zip(R.REGIONS, s)})
        row.update({f"{r}_lo": float(v) - 0.01 for r, v in zip(R.REGIONS, s)})
        row.update({f"{r}_hi": float(v) + 0.01 for r, v in zip(R.REGIONS, s)})
        rows.append(row)
    return pd.DataFrame(rows)


def test_region_chart_bars_are_the_table_means_and_stars_mark_differences():
    from ferviz.export.regions import STAR, regions_figure

    table = _table()
    tests = pd.DataFrame([{"region": "mouth", "reference": "correct fear", "differs": True},
                          {"region": "eyes", "reference": "correct fear", "differs": False}])
    fig = regions_figure(table, tests)
    ax = fig.axes[0]
    widths = [round(p.get_width(), 6) for p in ax.patches]
    expected = [round(table.iloc[g][r], 6) for g in range(3) for r in R.REGIONS]
    assert widths == expected
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert f"mouth {STAR}" in labels and "eyes" in labels
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "cell fear→sad (n=40)"


def test_region_chart_refuses_a_table_without_regions():
    from ferviz.export.regions import regions_figure
    from ferviz.export.render import ExportError

    with pytest.raises(ExportError, match="lacks column"):
        regions_figure(pd.DataFrame({"group": ["a"], "n": [1]}))


def test_region_overlay_tints_each_region_in_its_colour():
    from ferviz.export.regions import REGION_COLORS, region_overlay

    lab = R.region_map(TEMPLATE, SIZE)
    face = np.zeros(SIZE, np.uint8)
    img = region_overlay(face, lab, size=(48, 48), alpha=1.0)
    assert img.shape == (48, 48, 3)
    y, x = (TEMPLATE[2] * 48).astype(int)[::-1]
    hexcol = REGION_COLORS["nose"]
    assert tuple(img[y, x]) == tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))
