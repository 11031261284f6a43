"""Calibration of the shipped models on the real data, the calibration command and
`evaluate --out`'s ECE.

Measured (10-view TTA averages are already close to calibrated, T = 0.97-1.26): the temperature
fitted on PublicTest lowers PrivateTest NLL for baseline_cnn and vgg_small_ft but raises it
slightly for baseline_cnn_ft (+0.0007) and vgg_small (+0.0028 nats). So the test asserts what
holds: never more than 0.005 nats worse, and lower wherever PublicTest showed a clear
miscalibration (a PublicTest NLL gain above 0.01 nats)."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from ferviz.analysis.calibration import calibrate_evaluations, ece
from ferviz.analysis.evaluation import evaluate
from ferviz.models import list_cards
from ferviz.config import PROJECT_ROOT as ROOT

pytestmark = [pytest.mark.data, pytest.mark.slow]  # predictions: ~1 min per model and split
CARDS = [c for c in list_cards()[0] if c.model_path.parent == ROOT / "models"]


@pytest.fixture(scope="module")
def results(fer_splits):
    assert len(CARDS) >= 4, f"expected the 4 shipped models, found {len(CARDS)}"
    return {c.key: calibrate_evaluations(evaluate(c, fer_splits["PublicTest"]), evaluate(c, fer_splits["PrivateTest"]))
            for c in CARDS}


@pytest.mark.parametrize("card", CARDS, ids=[c.key for c in CARDS])
def test_temperature_lowers_private_nll(card, results):
    r = results[card.key]
    print(f"\n{card.key}: T={r.temperature:.3f} ECE {r.ece_before:.4f}->{r.ece_after:.4f} "
          f"NLL {r.nll_before:.4f}->{r.nll_after:.4f} (PublicTest NLL {r.fit_nll_before:.4f}->{r.fit_nll_after:.4f})")
    assert r.n == 3589 and r.split == "PrivateTest" and r.fit_split == "PublicTest"
    assert r.fit_nll_after <= r.fit_nll_before
    assert r.nll_after < r.nll_before + 0.005
    if r.fit_nll_before - r.fit_nll_after > 0.01:
        assert r.nll_after < r.nll_before
    assert 0.3 < r.temperature < 5
    assert round(r.accuracy, 6) == card.metrics["PrivateTest"]["accuracy"]  # accuracy unchanged
    assert 0 <= r.ece_before < 0.2 and 0 <= r.ece_after < 0.2


def test_calibration_command(fer_path, tmp_path):
    card = next((c for c in CARDS if c.key == "vgg_small_ft"), None)
    assert card is not None, "vgg_small_ft not shipped"
    r = subprocess.run([sys.executable, "-m", "ferviz", "calibration", "--model", str(card.path), "--data",
                        str(fer_path), "--out", str(tmp_path), "--per-class", "--format", "png", "pdf"],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads((tmp_path / "calibration.json").read_text())
    assert {"temperature", "ece_before", "ece_after", "nll_before", "nll_after"} <= set(d)
    assert d["nll_after"] < d["nll_before"] and d["split"] == "PrivateTest"
    df = pd.read_csv(tmp_path / "calibration.csv")
    assert {"split", "stage", "bin_lo", "bin_hi", "count", "confidence", "accuracy"} <= set(df.columns)
    top = df[(df["class"] == "all") & (df["split"] == "PrivateTest")]
    assert top.groupby("stage")["count"].sum().to_dict() == {"after": 3589, "before": 3589}
    assert len(df[df["class"] != "all"]) == 2 * 2 * 7 * 15
    for name in ("reliability.png", "reliability.pdf", "reliability_per_class.png"):
        assert (tmp_path / name).stat().st_size > 1000, name
    assert f"{d['temperature']:.3f}" in r.stdout


def test_evaluate_out_records_ece(fer_path, fer_splits, tmp_path):
    card = next((c for c in CARDS if c.key == "vgg_small_ft"), None)
    assert card is not None, "vgg_small_ft not shipped"
    r = subprocess.run([sys.executable, "-m", "ferviz", "evaluate", "--model", str(card.path), "--data",
                        str(fer_path), "--split", "PrivateTest", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    ev = evaluate(card, fer_splits["PrivateTest"])
    assert m["ece"] == pytest.approx(ece(ev.probs, ev.labels), abs=1e-12)
    assert f"ECE {m['ece']:.4f}" in r.stdout
