"""The stress test on the real PrivateTest: ``python -m ferviz stress`` for the shipped baseline
and a 64x64 RGB legacy model; severity 0 is ``evaluate``'s accuracy; a mirror+shift model is
blind to mirroring (its ten views of a mirrored face are the same ten views)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferviz.analysis.evaluation import evaluate
from ferviz.cli import main
from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.labels import EMOTIONS
from ferviz.models import load_card

pytestmark = [pytest.mark.data, pytest.mark.slow]
BASELINE = ROOT / "models" / "baseline_cnn.json"


def _run(card_path, fer_path, out, *perturbations):
    assert main(["stress", "--model", str(card_path), "--data", str(fer_path), "--split", "PrivateTest",
                 "--perturbations", *perturbations, "--severities", "1", "3", "--format", "png", "pdf",
                 "--out", str(out)]) == 0
    return pd.read_csv(out / "stress.csv"), pd.read_csv(out / "flips.csv")


def _check(table, card, split):
    ev = evaluate(card, split)
    assert list(table.columns) == ["perturbation", "severity", "class", "n", "accuracy", "ci_low", "ci_high",
                                   "mean_p_true"]
    base = table[(table["severity"] == 0) & (table["class"] == "all")]
    assert (base["accuracy"] - ev.accuracy).abs().max() < 1e-6 and (base["n"] == len(split)).all()
    per_class = table[(table["severity"] == 0) & (table["class"] != "all")].drop_duplicates("class")
    assert set(per_class["class"]) == set(EMOTIONS) and per_class["n"].sum() == len(split)
    for _, r in per_class.iterrows():
        k = EMOTIONS.index(r["class"])
        assert r["accuracy"] == pytest.approx((ev.preds[ev.labels == k] == k).mean(), abs=1e-6)
    assert ((table["ci_low"] <= table["accuracy"]) & (table["accuracy"] <= table["ci_high"])).all()
    return ev


def test_stress_of_the_shipped_baseline(fer_path, private_test, tmp_path):
    table, flips = _run(BASELINE, fer_path, tmp_path, "mirror", "occlude_mouth")
    _check(table, load_card(BASELINE), private_test)
    mirror = table[(table["perturbation"] == "mirror") & (table["class"] == "all")].set_index("severity")
    assert mirror.loc[1, "accuracy"] == pytest.approx(mirror.loc[0, "accuracy"], abs=1e-3)
    mouth = table[(table["perturbation"] == "occlude_mouth") & (table["class"] == "happy")].set_index("severity")
    assert mouth.loc[3, "accuracy"] < mouth.loc[0, "accuracy"] - 0.15  # happy lives in the mouth
    assert list(flips.columns) == ["perturbation", "severity", "from", "to", "count", "share"]
    top = flips.iloc[0]
    assert (top["perturbation"], top["from"]) == ("occlude_mouth", "happy")
    assert (tmp_path / "stress.png").stat().st_size > 5000 and (tmp_path / "stress.pdf").stat().st_size > 5000


def test_stress_of_a_64px_rgb_legacy_model(other_card, fer_path, private_test, tmp_path):
    table, _ = _run(other_card, fer_path, tmp_path, "blur", "occlude_eyes")
    _check(table, load_card(other_card), private_test)
    assert set(table["perturbation"]) == {"blur", "occlude_eyes"}
    assert sorted(set(table["severity"])) == [0, 1, 3]
    assert np.isfinite(table[["accuracy", "mean_p_true"]].to_numpy()).all()
