"""Label issues on the real PrivateTest: ferviz's flags equal cleanlab's, through the API and the CLI."""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from ferviz.analysis.evaluation import evaluate
from ferviz.analysis.label_issues import label_issues, mean_evaluation
from ferviz.labels import EMOTIONS
from ferviz.models import find_card
from ferviz.config import PROJECT_ROOT as ROOT

pytestmark = [pytest.mark.data, pytest.mark.slow]  # predictions: ~1 min per model and split
MODEL = ROOT / "models" / "vgg_small_ft.json"
OTHER = ROOT / "models" / "baseline_cnn_ft.json"


def _cleanlab(labels, probs) -> np.ndarray:
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        pytest.fail("cleanlab not installed: pip install -r requirements-test.txt (a test requirement)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return find_label_issues(labels, probs)


@pytest.fixture(scope="module")
def ev(private_test):
    assert MODEL.exists(), f"{MODEL.name} not shipped"
    return evaluate(find_card(str(MODEL)), private_test)


def test_flags_equal_cleanlab_on_real_probabilities(ev):
    res = label_issues(ev.probs, ev.labels, ev.ids)
    np.testing.assert_array_equal(res.flagged, _cleanlab(ev.labels, ev.probs))
    c = res.counts()
    assert 0 < c["flagged"] < 0.5 * ev.n
    assert c["flagged_errors"] == c["flagged"] and c["flagged"] + c["model_errors"] == c["errors"]
    assert c["errors"] == round((1 - ev.accuracy) * ev.n)
    print(f"\n{ev.model_name}: {c}")


def test_mean_of_two_models_equals_cleanlab(ev, private_test):
    assert OTHER.exists(), f"{OTHER.name} not shipped"
    mean = mean_evaluation([ev, evaluate(find_card(str(OTHER)), private_test)])
    res = label_issues(mean.probs, mean.labels, mean.ids)
    np.testing.assert_array_equal(res.flagged, _cleanlab(mean.labels, mean.probs))
    assert 0 < res.flagged.sum() < 0.5 * mean.n


def test_label_issues_command(ev, fer_path, tmp_path):
    r = subprocess.run([sys.executable, "-m", "ferviz", "label-issues", "--model", str(MODEL), "--data",
                        str(fer_path), "--split", "PrivateTest", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    df = pd.read_csv(tmp_path / "label_issues.csv", keep_default_na=False)
    assert list(df.columns) == ["id", "true", "pred", "suggested", "score", "flagged"]
    assert len(df) == ev.n and df["score"].is_monotonic_increasing
    assert set(df["true"]) == set(EMOTIONS) and set(df["suggested"]) <= set(EMOTIONS)
    res = label_issues(ev.probs, ev.labels, ev.ids)
    c = res.counts()
    assert int(df["flagged"].sum()) == c["flagged"]
    assert set(df.loc[df["flagged"], "id"]) == set(ev.ids[res.flagged])
    assert f"{c['flagged']}/{ev.n}" in r.stdout and f"{c['flagged_errors']}/{c['errors']}" in r.stdout


def test_label_issues_command_bad_input(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ferviz", "label-issues", "--model", " , ", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "ferviz label-issues: error: --model" in r.stderr
    assert "Traceback" not in r.stderr
