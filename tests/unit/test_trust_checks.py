"""The trust table's corrections and added checks on hand-built models: the randomisation cascade
(one value per stage, to the fully randomised end point), blank randomised maps left out and
counted, integrated gradients on the map shown and on the absolute attribution, targets that follow
``--views single``, eMPRT/sMPRT, ROAD and its imputation, the blurred random control, and robustness."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import keras  # noqa: E402  (a requirement: a missing keras fails, never skips)

from ferviz.attribution import explain  # noqa: E402
from ferviz.attribution.faithfulness import blurred_random_maps, noisy_linear_imputation, road  # noqa: E402
from ferviz.attribution.randomisation import (  # noqa: E402
    cascade,
    cascade_stages,
    discrete_entropy,
    emprt,
    noisy_faces,
    randomised_model,
    smoothed_maps,
    spearman_per_map,
    weighted_layers,
)
from ferviz.attribution.robustness import perturb, robustness  # noqa: E402
from ferviz.attribution.trust import method_maps, shown_targets, trust_tables  # noqa: E402
from ferviz.models import ModelCard  # noqa: E402

from tests.unit.tiny_models import SQUARE, faces, square_model  # noqa: E402

CARD = ModelCard(name="sq", file="sq.keras", gradcam_layer="last_conv", tta="mirror")


@pytest.fixture(scope="module")
def square():
    return square_model()


def _bn_model():
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, keras.layers.Dense(7, activation="softmax", name="head")(x))


def test_cascade_stages_group_a_layer_with_its_batch_norm_and_end_fully_randomised():
    model = _bn_model()
    assert [[layer.name for layer in g] for g in cascade_stages(model)] == [["conv", "bn"], ["conv2"], ["head"]]
    seen = [(s, name) for s, name, _ in cascade(model, seed=5)]
    assert seen == [(1, "head"), (2, "conv2"), (3, "conv")]
    for s, _, rnd in cascade(model, seed=5):
        pass
    full = randomised_model(model, None, seed=5)  # the documented end point, drawn the same way
    assert all(np.array_equal(a, b) for a, b in zip(rnd.get_weights(), full.get_weights()))
    # after stage 2 the top two stages are new and the first keeps the trained weights
    it = cascade(model, seed=5)
    next(it)
    _, _, mid = next(it)
    for layer in weighted_layers(model):
        same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), mid.get_layer(layer.name).get_weights()))
        assert same == (layer.name in ("conv", "bn")), layer.name


@pytest.fixture(scope="module")
def tables(square):
    f = faces(6, seed=2)
    return f, trust_tables(square, CARD, f, np.zeros(6, int), ["gradcam", "ig"], steps=8, smprt_samples=2)


def test_cascade_has_one_value_per_stage_and_reaches_the_end_point(square, tables):
    f, (df, steps) = tables
    n_stages = len(cascade_stages(square))
    for (method, variant), g in steps.groupby(["method", "map"]):
        assert list(g["stage"]) == list(range(1, n_stages + 1)), (method, variant)
        assert g["layers_randomised"].iloc[-1] == len(weighted_layers(square))
    assert set(map(tuple, steps[["method", "map"]].drop_duplicates().to_numpy())) == {
        ("gradcam", "shown"), ("ig", "shown"), ("ig", "absolute")}
    # the last stage is the fully randomised model, and the table's mprt_spearman is that end point
    full = randomised_model(square, None, seed=0)
    t = np.zeros(6, int)
    expect = spearman_per_map(explain(square, CARD, f, t, "gradcam"), explain(full, CARD, f, t, "gradcam"))
    last = steps[(steps["method"] == "gradcam") & (steps["stage"] == n_stages)].iloc[0]
    assert last["spearman"] == pytest.approx(np.nanmean(expect), abs=1e-6)
    assert df.set_index("method").loc["gradcam", "mprt_spearman"] == pytest.approx(last["spearman"])


def test_blank_randomised_maps_are_left_out_and_counted(tables):
    """With only the output layer re-initialised, this detector's class-0 Grad-CAM has no positive
    evidence on any face: those faces are left out (no correlation of 0) and counted."""
    _, (_, steps) = tables
    first = steps[(steps["method"] == "gradcam") & (steps["stage"] == 1)].iloc[0]
    assert first["blank_randomised"] == 6 and first["faces"] == 0 and np.isnan(first["spearman"])


def test_integrated_gradients_checked_on_the_map_shown_and_on_the_absolute_attribution(square, tables):
    f, (df, steps) = tables
    t = np.zeros(6, int)
    both = method_maps(square, CARD, f, t, "ig")
    np.testing.assert_allclose(both["shown"], explain(square, CARD, f, t, "ig"), atol=1e-6)
    np.testing.assert_allclose(both["absolute"], explain(square, CARD, f, t, "ig", sign="absolute"), atol=1e-6)
    ig = df.set_index("method").loc["ig"]
    end = steps[(steps["method"] == "ig") & (steps["stage"] == steps["stage"].max())].set_index("map")
    assert ig["mprt_spearman"] == pytest.approx(end.loc["shown", "spearman"])
    assert ig["mprt_spearman_abs"] == pytest.approx(end.loc["absolute", "spearman"])
    assert ig["passes_sanity_check"] == (ig["mprt_spearman_hi"] < 0.5)  # the map shown decides
    assert ig["passes_sanity_check_abs"] == (ig["mprt_spearman_abs_hi"] < 0.5)


def _left_right_model():
    """Class 0 reads the left half, class 1 (much more strongly) the right half: the mirrored view
    turns a left-bright face into a confident class 1, so the mirror average differs from one pass."""
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Flatten()(inp)
    model = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x))
    w = np.zeros((48, 48, 7), np.float32)
    w[:, :24, 0] = 3.0 / (48 * 24)
    w[:, 24:, 1] = 20.0 / (48 * 24)
    b = np.zeros(7, np.float32)
    b[1] = -10.0
    model.layers[-1].set_weights([w.reshape(-1, 7), b])
    return model


def test_single_view_targets_follow_the_views(tmp_path, monkeypatch):
    from ferviz.analysis.evaluation import predict_probs
    from ferviz.attribution import trust

    model = _left_right_model()
    card = ModelCard(name="lr", file="lr.keras", tta="mirror")
    f = np.zeros((4, 48, 48), np.uint8)
    f[:, :, :24] = 255
    f[:, :, 24:] = 115
    f[2:] = 40  # two dark faces: the same class in both views
    from dataclasses import replace

    single = predict_probs(model, replace(card, tta=None), f).argmax(axis=1)
    tta = predict_probs(model, card, f).argmax(axis=1)
    assert single[0] == 0 and tta[0] == 1  # the views disagree on the bright faces
    split = SimpleNamespace(images=f)
    assert np.array_equal(shown_targets(model, card, split, np.arange(4), "single"), single)

    class Split(SimpleNamespace):
        def __len__(self):
            return len(self.images)

    seen = {}

    def fake(model, card, faces, targets, methods, **kw):
        seen["targets"], seen["views"] = np.asarray(targets), kw["views"]
        import pandas as pd

        return pd.DataFrame({"method": ["gradcam"]}), pd.DataFrame(columns=trust.CASCADE_COLUMNS)

    monkeypatch.setattr(trust, "trust_cache_path", lambda *a, **k: tmp_path / "t.csv")
    monkeypatch.setattr(trust, "trust_tables", fake)
    trust.cached_trust_tables(model, card, Split(images=f, split="Test", data_hash="x"), ["gradcam"], n=4,
                              views="single", use_cache=False)
    assert seen["views"] == "single" and np.array_equal(seen["targets"], single)


def test_emprt_is_the_relative_rise_in_discrete_entropy():
    two = np.zeros((1, 4, 4))
    two[0, :2] = 1.0  # two values, half each: ln 2
    four = np.repeat(np.array([0.0, 1 / 3, 2 / 3, 1.0]), 4).reshape(1, 4, 4)  # four values, a quarter each: ln 4
    assert discrete_entropy(two[0]) == pytest.approx(np.log(2))
    assert discrete_entropy(four[0]) == pytest.approx(np.log(4))
    assert emprt(two, four)[0] == pytest.approx(1.0)  # (ln 4 - ln 2) / ln 2
    assert emprt(four, two)[0] == pytest.approx(-0.5)
    assert np.isnan(emprt(two, np.zeros_like(two))[0])  # a blank randomised map is left out


def test_smprt_averages_noisy_copies_with_the_last_noise_free():
    f = np.tile(np.linspace(0, 200, 48).astype(np.uint8), (2, 48, 1))
    copies = noisy_faces(f, 4, noise=0.1, seed=1)
    assert len(copies) == 4 and np.array_equal(copies[-1], f)
    assert 0.08 * 200 < np.std(copies[0].astype(float) - f) < 0.12 * 200
    # a map that ignores the noise is unchanged by the smoothing; the clean maps are reused, not recomputed
    calls = []

    def fixed(x):
        calls.append(len(x))
        return np.broadcast_to(np.linspace(0, 1, 48 * 48).reshape(48, 48), x.shape).astype(np.float32)

    clean = fixed(f)
    calls.clear()
    out = smoothed_maps(fixed, f, 4, seed=1, clean=clean)
    np.testing.assert_allclose(out, clean, atol=1e-6)
    assert len(calls) == 3
    assert spearman_per_map(out, clean) == pytest.approx([1.0, 1.0])


def test_noisy_linear_imputation_worked_cases():
    ramp = np.tile(np.arange(48, dtype=np.float64), (48, 1))  # a symmetric neighbour mean of a ramp is exact
    holes = np.array([10 * 48 + 10, 10 * 48 + 11, 11 * 48 + 10, 30 * 48 + 5])  # inside: two-sided means
    np.testing.assert_allclose(noisy_linear_imputation(ramp, holes, noise=0), ramp, atol=1e-9)
    one = np.zeros((3, 3))
    one[0, 0], one[1, 1] = 12.0, 99.0
    # the centre: weighted mean of its 8 neighbours = 12 * 1/12 / (4/6 + 4/12) = 1
    assert noisy_linear_imputation(one, [4], noise=0)[1, 1] == pytest.approx(1.0)
    noisy = noisy_linear_imputation(ramp, holes, noise=2.55, rng=np.random.default_rng(0))
    assert 0 < np.abs(noisy - ramp).max() < 15
    with pytest.raises(ValueError, match="kept pixel"):
        noisy_linear_imputation(one, np.arange(9))


def test_road_on_the_square_detector(square):
    f = faces(3, seed=4)
    good = np.zeros((3, 48, 48), np.float32)
    good[:, SQUARE[0], SQUARE[1]] = 1.0  # the 144 square pixels first: gone at the first step (12.5%)
    r = road(square, CARD, f, good, 0, steps=4)
    assert np.array_equal(r.fractions, [0.125, 0.375, 0.625, 0.875])
    assert (r.road == 0).all() and r.kept.shape == (3, 4)
    bad = 1.0 - good  # the square last: kept until its pixels go (at 93.75% > 87.5%)
    assert (road(square, CARD, f, bad, 0, steps=4).road == 1.0).all()
    assert (r.random_road > r.road).all()


def test_blurred_random_maps_are_smooth_seeded_controls():
    m = blurred_random_maps(3, (48, 48), seed=2)
    assert m.shape == (3, 48, 48) and m.min() == 0.0 and m.max() == 1.0
    assert np.array_equal(m, blurred_random_maps(3, (48, 48), seed=2))
    assert not np.array_equal(m[0], m[1])
    # neighbouring pixels nearly agree (blobs), unlike the raw noise
    assert np.corrcoef(m[0, :, :-1].ravel(), m[0, :, 1:].ravel())[0, 1] > 0.9


def test_robustness_of_a_map_that_does_not_change():
    rng = np.random.default_rng(0)
    f = rng.integers(0, 255, (3, 48, 48)).astype(np.uint8)
    maps = rng.random((3, 48, 48)).astype(np.float32)
    t = np.array([0, 1, 2])
    same = robustness(maps, f, t, lambda x, tt: maps[: len(x)], lambda x: t,
                      kinds=("noise", "brightness"))
    np.testing.assert_allclose(same["robust_spearman"], 1.0)
    np.testing.assert_allclose(same["max_sensitivity"], 0.0)
    assert (same["kept"] == 2).all()
    # a map that follows the face (here: the face itself) is unchanged by a 1-pixel shift
    follows = robustness(f / 255.0, f, t, lambda x, tt: x / 255.0, lambda x: t, kinds=("shift",))
    np.testing.assert_allclose(follows["robust_spearman"], 1.0)
    np.testing.assert_allclose(follows["max_sensitivity"], 0.0, atol=1e-12)
    # a face whose prediction changes under every perturbation is left out
    flip = robustness(maps, f, t, lambda x, tt: maps[: len(x)], lambda x: np.array([0, 1, 5]),
                      kinds=("noise", "brightness"))
    assert flip["kept"].tolist() == [2, 2, 0] and np.isnan(flip["robust_spearman"][2])


def test_perturbations_are_small_and_seeded():
    f = np.random.default_rng(1).integers(0, 255, (2, 48, 48)).astype(np.uint8)
    assert np.array_equal(perturb(f, "noise", 3), perturb(f, "noise", 3))
    assert np.abs(perturb(f, "noise", 3).astype(int) - f).mean() < 4
    assert np.array_equal(perturb(f, "shift")[:, :, 1:], f[:, :, :-1])
    assert (perturb(f, "brightness").astype(int) - f).max() == 8
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb(f, "blur")


def test_figures_draw_the_controls_the_checks_and_the_cascade(tables):
    from ferviz.export.render import ExportError, figure_bytes
    from ferviz.export.trust import cascade_figure, trust_figure

    _, (df, steps) = tables
    fig = trust_figure(df, model_name="sq", split="x")
    assert len(fig.axes) == 5  # deletion, insertion, ROAD, randomisation, robustness
    assert "blurred random map" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    c = cascade_figure(steps, model_name="sq")
    labels = [t.get_text() for t in c.axes[0].get_legend().get_texts()]
    assert labels == ["Grad-CAM", "Integrated gradients", "Integrated gradients (absolute)"]
    assert len(figure_bytes(c, "png")) > 10_000
    with pytest.raises(ExportError, match="cascade table lacks"):
        cascade_figure(steps.drop(columns="spearman"))
