"""`python -m ferviz export` on the real FER2013 PrivateTest split with a real model.

Uses the shipped models/baseline_cnn.json. Every exported file is opened and checked.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ferviz import cli
from ferviz.export import read_errors_csv
from tests.filecheck import file_kind, pdf_image_count, pdf_text, png_size, svg_text
from ferviz.config import PROJECT_ROOT as ROOT

FORMATS = ("png", "svg", "pdf")


@pytest.fixture(scope="module")
def card(fer_path):
    from ferviz.models import load_card

    return load_card(ROOT / "models" / "baseline_cnn.json")


@pytest.fixture(scope="module")
def ev(card, fer_path):
    from ferviz.data.splits import load_fer2013
    from ferviz.analysis.evaluation import evaluate

    data = load_fer2013(fer_path, "PrivateTest")
    return data, evaluate(card, data)


def export(card, fer_path, out, *args, capsys):
    code = cli.main(["export", "--model", str(card.path), "--data", str(fer_path), "--split", "PrivateTest",
                     "--out", str(out), *args])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr[-2000:]
    return [line.rsplit("/", 1)[1] for line in stdout.splitlines() if line.strip()]


def _text(data: bytes, fmt: str) -> str:
    return svg_text(data) if fmt == "svg" else pdf_text(data)


def test_confusion_matrix_from_the_command_line(card, fer_path, ev, tmp_path):
    r = subprocess.run([sys.executable, "-m", "ferviz", "export", "--model", str(card.path), "--data", str(fer_path),
                        "--split", "PrivateTest", "--confusion-matrix", "--format", *FORMATS, "--dpi", "200",
                        "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    key = card.key
    names = [f"{key}_PrivateTest_confusion.{f}" for f in FORMATS]
    assert [ln.rsplit("/", 1)[1] for ln in r.stdout.split()] == names
    _, evaluation = ev
    cm = evaluation.confusion()
    for f, name in zip(FORMATS, names):
        data = (tmp_path / name).read_bytes()
        assert file_kind(data) == f
        if f == "png":
            assert png_size(data) == (1280, 1120)  # 6.4 x 5.6 in at 200 dpi
            continue
        text = _text(data, f)
        assert f"{card.name} on PrivateTest: accuracy {100 * evaluation.accuracy:.1f}%" in text
        assert "n = 3589" in text
        for v in (cm[2, 4], cm[3, 3], cm[4, 6]):
            assert f"\n{v}\n" in f"\n{text}\n"


def test_errors_and_per_class_csv(card, fer_path, ev, tmp_path, capsys):
    _, evaluation = ev
    assert export(card, fer_path, tmp_path, "--errors-csv", capsys=capsys) == [f"{card.key}_PrivateTest_errors.csv"]
    back = read_errors_csv((tmp_path / f"{card.key}_PrivateTest_errors.csv").read_bytes())
    want = evaluation.errors()
    assert len(back) == len(want) == evaluation.n - int(round(evaluation.accuracy * evaluation.n))
    assert back["id"].tolist() == want["id"].tolist()
    assert back["pred"].tolist() == want["pred"].tolist()
    np.testing.assert_array_equal(back["confidence"].to_numpy(), want["confidence"].to_numpy())
    names = export(card, fer_path, tmp_path, "--per-class-csv", capsys=capsys)
    assert names == [f"{card.key}_PrivateTest_per_class.csv"]
    assert (tmp_path / names[0]).read_text().splitlines()[0] == "class,precision,recall,f1,support"
    got = pd.read_csv(tmp_path / names[0])
    want = evaluation.per_class()
    assert got["class"].tolist() == want["class"].tolist() and got["support"].sum() == 3589
    np.testing.assert_allclose(got[["precision", "recall", "f1"]].to_numpy(),
                               want[["precision", "recall", "f1"]].to_numpy(), atol=1e-6)


def test_cell_sheet(card, fer_path, ev, tmp_path, capsys):
    _, evaluation = ev
    cell = evaluation.errors(2, 4)  # fear -> sad, the seed reports' most confused pair
    assert len(cell) > 0
    names = export(card, fer_path, tmp_path, "--cell", "fear:sad", "--limit", "20", "--format", *FORMATS,
                   capsys=capsys)
    assert names == [f"{card.key}_PrivateTest_fear-sad_sheet.{f}" for f in FORMATS]
    shown = min(20, len(cell))
    for f, name in zip(FORMATS, names):
        data = (tmp_path / name).read_bytes()
        assert file_kind(data) == f
        if f == "png":
            w, h = png_size(data)
            assert w >= 150 * min(10, shown) and h > 150
            continue
        text = _text(data, f)
        assert f"true fear \u2192 predicted sad, {len(cell)} images" in text
        assert card.name in text and "PrivateTest" in text
        for _, row in cell.head(shown).iterrows():
            assert row["id"] in text and f"{100 * row['confidence']:.1f}%" in text
        if len(cell) > shown:
            assert cell.iloc[shown]["id"] not in text


def test_ids_with_gradcam(card, fer_path, ev, tmp_path, capsys):
    data, evaluation = ev
    ids = evaluation.errors(2, 4)["id"].head(2).tolist()
    assert len(ids) == 2  # fear -> sad errors exist for every shipped model
    names = export(card, fer_path, tmp_path, "--ids", *ids, "--method", "gradcam", "--format", *FORMATS,
                   "--dpi", "120", "--size", "8", "3", capsys=capsys)
    assert names == [f"{card.key}_PrivateTest_{i}_gradcam.{f}" for i in ids for f in FORMATS]
    for i in ids:
        pos = data.index_of(i)
        probs = evaluation.probs[pos]
        top3 = [f"{100 * p:.1f}%" for p in np.sort(probs)[::-1][:3]]
        for f in FORMATS:
            blob = (tmp_path / f"{card.key}_PrivateTest_{i}_gradcam.{f}").read_bytes()
            assert file_kind(blob) == f
            if f == "png":
                assert png_size(blob) == (960, 360)
                continue
            text = _text(blob, f)
            assert f"true: {evaluation.table().loc[pos, 'true']}" in text
            assert f"predicted: {evaluation.table().loc[pos, 'pred']}" in text
            assert "Grad-CAM (" in text and f"image: {i}" in text and card.name in text
            assert all(s in text for s in top3), (top3, text)
            if f == "pdf":
                assert pdf_image_count(blob) >= 2  # the face and its overlay
