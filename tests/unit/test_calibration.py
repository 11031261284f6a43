"""ferviz.analysis.calibration: ECE by hand, calibrated data, temperature recovery, bad input, the figure."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ferviz.analysis.calibration import (
    apply_temperature,
    bin_index,
    ece,
    fit_temperature,
    nll,
    reliability,
    scaled_nll,
    temperature_calibration,
)


def _rows(top: np.ndarray, k: int = 7) -> np.ndarray:
    """Probabilities with `top` on class 0 and the rest spread evenly."""
    p = np.repeat(((1 - top) / (k - 1))[:, None], k, axis=1)
    p[:, 0] = top
    return p


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_ece_all_confident_60_percent_right():
    p = _rows(np.full(10, 0.9))
    y = np.array([0] * 6 + [1] * 4)
    assert ece(p, y) == pytest.approx(0.3, abs=1e-12)
    r = reliability(p, y)
    assert r.count.sum() == 10 and r.count[13] == 10  # 0.9 lies in (13/15, 14/15]
    assert r.accuracy[13] == pytest.approx(0.6) and r.confidence[13] == pytest.approx(0.9)
    assert np.isnan(r.accuracy[0]) and r.n == 10


def test_ece_two_bins_by_hand():
    # 4 images at 0.9, all right (gap 0.1); 6 at 0.5, half right (gap 0): ECE = 0.4 * 0.1
    p = _rows(np.array([0.9] * 4 + [0.5] * 6))
    y = np.array([0] * 4 + [0, 0, 0, 1, 1, 1])
    assert ece(p, y) == pytest.approx(0.04, abs=1e-12)
    # 15 bins by default, right-closed: 0.6 = 9/15 is in bin 8, 1.0 in bin 14, 0 in bin 0
    assert bin_index(np.array([0.0, 0.6, 0.6 + 1e-9, 1.0])).tolist() == [0, 8, 9, 14]
    assert len(reliability(p, y).count) == 15 and len(reliability(p, y, n_bins=10).count) == 10


def test_perfectly_calibrated_data_has_near_zero_ece():
    rng = np.random.default_rng(0)
    top = rng.uniform(0.2, 1.0, 200_000)
    y = np.where(rng.random(len(top)) < top, 0, rng.integers(1, 7, len(top)))
    assert ece(_rows(top), y) < 0.005
    assert ece(_rows(np.clip(top + 0.15, 0, 1)), y) > 0.1  # and overconfidence shows


def test_one_vs_rest_reliability():
    p = _rows(np.full(10, 0.9))
    y = np.array([0] * 6 + [1] * 4)
    r0 = reliability(p, y, cls=0)
    assert r0.cls == 0 and r0.ece == pytest.approx(0.3)
    r1 = reliability(p, y, cls=1)  # p_1 = 0.1/6 everywhere, 40% are class 1
    assert r1.count[0] == 10 and r1.ece == pytest.approx(0.4 - 0.1 / 6)


@pytest.fixture(scope="module")
def overconfident():
    """Logits z; the truth is softmax(z / 2), the model says softmax(z): T should be 2."""
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2.5, (40_000, 7))
    true = _softmax(z / 2)
    y = (true.cumsum(axis=1) < rng.random((len(z), 1))).sum(axis=1)
    return _softmax(z), np.minimum(y, 6)


def test_temperature_recovers_known_value(overconfident):
    p, y = overconfident
    t = fit_temperature(p[:20_000], y[:20_000])
    assert t == pytest.approx(2.0, rel=0.05)
    after = apply_temperature(p, t)
    np.testing.assert_array_equal(after.argmax(axis=1), p.argmax(axis=1))
    np.testing.assert_allclose(after.sum(axis=1), 1)
    assert fit_temperature(apply_temperature(p, 2.0)[:20_000], y[:20_000]) == pytest.approx(1.0, rel=0.05)
    assert scaled_nll(p, y, 1.0) == pytest.approx(nll(p, y), abs=1e-9)


def test_temperature_calibration_result(overconfident):
    p, y = overconfident
    res = temperature_calibration(p[:20_000], y[:20_000], p[20_000:], y[20_000:], per_class=True, model="m")
    assert res.ece_after < res.ece_before / 3 and res.nll_after < res.nll_before
    assert res.fit_nll_after <= res.fit_nll_before
    assert res.accuracy == pytest.approx(float((p[20_000:].argmax(1) == y[20_000:]).mean()))
    d = json.loads(json.dumps(res.to_dict()))
    assert d["temperature"] == pytest.approx(res.temperature) and set(d["per_class_ece"]) == {"before", "after"}
    assert len(d["per_class_ece"]["after"]) == 7
    df = res.frame()
    assert list(df.columns) == ["split", "stage", "class", "bin", "bin_lo", "bin_hi", "count", "confidence", "accuracy"]
    assert len(df) == 2 * 2 * 8 * 15  # splits x stages x (top label + 7 classes) x bins
    top = df[(df["split"] == "PrivateTest") & (df["class"] == "all")]
    assert top.groupby("stage")["count"].sum().tolist() == [20_000, 20_000]


@pytest.mark.parametrize("probs,labels,match", [
    (np.full((3, 7), 0.2), [0, 1, 2], "sum to 1"),
    (np.ones(7) / 7, [0], "shape"),
    (np.ones((3, 7, 1)) / 7, [0, 1, 2], "shape"),
    (np.ones((3, 1)), [0, 0, 0], "K >= 2"),
    (np.array([[np.nan] + [1 / 6] * 6] * 3), [0, 1, 2], "NaN"),
    (np.array([[-0.1, 1.1] + [0] * 5] * 3), [0, 1, 2], "non-negative"),
    (np.ones((3, 7)) / 7, [0, 1], "labels must be"),
    (np.ones((3, 7)) / 7, [0, 1, 9], "0-6"),
    (np.ones((3, 7)) / 7, [0, 1.5, 2], "integer"),
])
def test_bad_input(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        ece(probs, np.asarray(labels))
    with pytest.raises(ValueError, match=match):
        fit_temperature(probs, np.asarray(labels))


def test_bad_parameters():
    p, y = np.ones((3, 7)) / 7, np.array([0, 1, 2])
    for t in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            apply_temperature(p, t)
    with pytest.raises(ValueError, match="bins"):
        ece(p, y, n_bins=0)
    with pytest.raises(ValueError, match="class"):
        reliability(p, y, cls=7)


def test_reliability_figure_bars_read_back(overconfident):
    from ferviz.export import figure_bytes
    from ferviz.export.calibration import reliability_figure

    p, y = overconfident
    before, after = reliability(p, y), reliability(apply_temperature(p, 2.0), y)
    fig = reliability_figure({"before": before, "after": after}, model_name="m", split="PrivateTest")
    axes = [ax for ax in fig.axes if ax.get_ylabel() != "images" and "ECE" in ax.get_title()]
    assert len(axes) == 2
    for ax, r in zip(axes, (before, after)):
        filled = r.count > 0
        heights = [bar.get_height() for bar in ax.patches]
        np.testing.assert_allclose(heights, r.accuracy[filled])
        np.testing.assert_allclose([bar.get_x() + bar.get_width() / 2 for bar in ax.patches],
                                   ((r.bin_lo + r.bin_hi) / 2)[filled])
        assert f"ECE = {100 * r.ece:.2f}%" in ax.get_title()
    png = figure_bytes(fig, "png", dpi=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"ECE" in figure_bytes(fig, "svg")
    single = reliability_figure(before)
    assert len([ax for ax in single.axes if ax.patches and "ECE" in ax.get_title()]) == 1


def test_reliability_figure_rejects_non_reliability():
    from ferviz.export import ExportError
    from ferviz.export.calibration import reliability_figure

    with pytest.raises(ExportError, match="reliability"):
        reliability_figure({"x": np.zeros(3)})
    with pytest.raises(ExportError, match="at least one"):
        reliability_figure({})
