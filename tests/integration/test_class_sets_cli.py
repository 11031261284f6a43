"""The commands with other class sets: `evaluate` of an eight-class model (FER2013's seven and
contempt) on the real PrivateTest split gives a 7x8 matrix; ``--labels ferplus`` on a fer2013.csv
evaluates against FER+'s majority vote (eight classes with contempt), counted here from the
shipped votes file by hand; `predict` reports a model's own classes (six of them, or FER+'s ten
outputs with its non-classes)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from ferviz import cli
from ferviz.labels import EMOTIONS, EXPRESSIONS, NAMES
from tests.class_sets import eight_class_model


def _evaluate(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["evaluate", *args])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ an eight-class model, real faces

@pytest.mark.data
@pytest.mark.slow  # ~30 s: the eight-class model is built, then PrivateTest predicted twice
def test_an_eight_class_model_on_privatetest_gives_a_7x8_matrix(fer_path, tmp_path, capsys):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_fer2013
    from ferviz.models import load_card

    card_path = eight_class_model(tmp_path / "eight")
    code, out, err = _evaluate(capsys, "--model", str(card_path), "--data", str(fer_path), "--split",
                               "PrivateTest", "--json")
    assert code == 0, err[-2000:]
    got = json.loads(out)
    data = load_fer2013(fer_path, "PrivateTest")
    assert len(data) == 3589 and got["n"] == 3589 and got["labels"] == "fer2013"
    assert got["classes"] == list(EXPRESSIONS) and got["classes"][-1] == "contempt"
    assert got["true_classes"] == list(EMOTIONS)
    cm = np.array(got["confusion_matrix"])
    assert cm.shape == (7, 8) and cm.sum() == 3589
    # recomputed here from fresh predictions (not the cache the command filled)
    ev = evaluate(load_card(card_path), data, use_cache=False)
    assert ev.probs.shape == (3589, 8)
    preds = ev.probs.argmax(axis=1)
    want = np.zeros((7, 8), int)
    np.add.at(want, (data.labels, preds), 1)
    np.testing.assert_array_equal(cm, want)
    assert want[:, 7].sum() > 0  # contempt is predicted for some faces: a real eighth column
    assert got["accuracy"] == pytest.approx(ev.accuracy, abs=1e-12)
    assert got["accuracy"] == pytest.approx(float((preds == data.labels).mean()), abs=1e-12)
    assert got["n_outside"] == 0 and "outside_note" not in got  # every FER2013 class is one of the model's
    assert set(got["per_class"]) == set(EXPRESSIONS)


# ------------------------------------------------------------------ --labels ferplus on fer2013.csv

N_ROWS = 1000  # the first rows of fer2013.csv (all Training): FER+ has 5 contempt majorities among them
VOTE_COLUMNS = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt"}


def ferplus_majority(n: int) -> tuple[list[str], np.ndarray]:
    """(Usage, majority class index or -1) of the shipped votes file's first `n` rows, read with
    the csv module: the most-voted column when it is one of the eight expressions and not tied."""
    from ferviz.data.ferplus import SHIPPED

    usage, major = [], []
    with open(SHIPPED, newline="") as f:
        for k, row in enumerate(csv.DictReader(f)):
            if k == n:
                break
            usage.append(row["Usage"])
            votes = {c: int(row[c]) for c in ("neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                                              "fear", "contempt", "unknown", "NF")}
            top = max(votes.values())
            winners = [c for c, v in votes.items() if v == top]
            ok = len(winners) == 1 and winners[0] in VOTE_COLUMNS
            major.append(NAMES.index(VOTE_COLUMNS[winners[0]]) if ok else -1)
    return usage, np.array(major)


@pytest.fixture(scope="module")
def ferplus_csv(tmp_path_factory):
    """A fer2013.csv of the first N_ROWS rows: random faces, FER2013-style labels, and the Usage of
    the FER+ votes file's rows (which it checks)."""
    usage, _ = ferplus_majority(N_ROWS)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (N_ROWS, 48 * 48), dtype=np.uint8)
    root = tmp_path_factory.mktemp("ferplus-csv")
    pd.DataFrame({"emotion": rng.integers(0, 7, N_ROWS), "pixels": [" ".join(map(str, p)) for p in pixels],
                  "Usage": usage}).to_csv(root / "fer2013.csv", index=False)
    return root / "fer2013.csv"


@pytest.fixture(scope="module")
def seven_class_card(tmp_path_factory):
    """A seven-class model (FER2013's classes, no contempt) whose prediction follows the brightness."""
    from ferviz.models import ModelCard
    from tests.unit.tiny_models import brightness_model

    root = tmp_path_factory.mktemp("seven")
    brightness_model(np.linspace(0.05, 0.95, 7).astype(np.float32)).save(root / "tiny.keras")
    return ModelCard(name="Tiny brightness", file="tiny.keras", gradcam_layer="conv").save(root / "tiny.json").path


def test_labels_ferplus_evaluates_against_the_ferplus_majority(ferplus_csv, seven_class_card, capsys):
    usage, major = ferplus_majority(N_ROWS)
    assert set(usage) == {"Training"}
    counts = np.bincount(major[major >= 0], minlength=8)
    assert counts[7] > 0 and (major < 0).sum() > 0  # contempt faces, and faces left out
    code, out, err = _evaluate(capsys, "--model", str(seven_class_card), "--data", str(ferplus_csv),
                               "--split", "Training", "--labels", "ferplus", "--json")
    assert code == 0, err[-2000:]
    got = json.loads(out)
    assert got["labels"] == "ferplus" and got["n"] == int((major >= 0).sum())
    assert got["true_classes"] == list(EXPRESSIONS) and got["classes"] == list(EMOTIONS)
    cm = np.array(got["confusion_matrix"])
    assert cm.shape == (8, 7)
    np.testing.assert_array_equal(cm.sum(axis=1), counts)  # rows: the FER+ majority counts
    # contempt is not one of the model's classes: those faces are counted apart, not as errors
    assert got["n_outside"] == counts[7] and got["outside"] == {"contempt": int(counts[7])}
    assert got["n_scored"] == counts[:7].sum()
    assert f"{counts[7]} of {got['n']:,} faces are labelled contempt" in got["outside_note"]
    assert got["accuracy"] == pytest.approx(np.trace(cm[:7]) / counts[:7].sum())

    code, out, err = _evaluate(capsys, "--model", str(seven_class_card), "--data", str(ferplus_csv),
                               "--split", "Training", "--labels", "FER+")
    assert code == 0, err[-2000:]
    assert "ferplus labels" in out and got["outside_note"] in out
    lines = out.splitlines()
    head = lines.index("confusion matrix (rows true, columns predicted):")
    assert lines[head + 1].split() == ["predicted", *[w for e in EMOTIONS for w in e.split()]]
    assert [ln.split()[0] for ln in lines[head + 3:head + 11]] == list(EXPRESSIONS)

    # the same csv with its own labels: seven classes, square, nothing counted apart
    code, out, err = _evaluate(capsys, "--model", str(seven_class_card), "--data", str(ferplus_csv),
                               "--split", "Training", "--json")
    own = json.loads(out)
    assert code == 0 and own["labels"] == "fer2013" and own["n"] == N_ROWS and own["n_outside"] == 0
    assert np.array(own["confusion_matrix"]).shape == (7, 7)


def test_labels_ferplus_is_refused_for_image_folders(tmp_path, seven_class_card, capsys):
    from tests.class_sets import write_folders

    rng = np.random.default_rng(1)
    folders = write_folders(tmp_path / "kaggle", rng.integers(0, 256, (14, 48, 48)), np.arange(14) % 7, {})
    code, out, err = _evaluate(capsys, "--model", str(seven_class_card), "--data", str(folders),
                               "--split", "test", "--labels", "ferplus")
    assert code == 2 and out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("ferviz evaluate: error: ") and "FER+ votes need the original fer2013.csv" in line
    code, out, err = _evaluate(capsys, "--model", str(seven_class_card), "--data", str(folders),
                               "--split", "test", "--json")
    assert code == 0 and json.loads(out)["n"] == 14  # the folders read fine with their own labels


# ------------------------------------------------------------------ predict: a model's own classes

@pytest.mark.parametrize("classes", [
    ["happy", "sad", "surprise", "fear", "anger", "disgust"],  # no neutral, AffectNet's spelling
    ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"],  # FER+
])
def test_predict_reports_the_models_own_classes(classes, tmp_path, capsys):
    from PIL import Image

    from ferviz.labels import canonical, class_index
    from ferviz.models import ModelCard
    from tests.unit.tiny_models import brightness_model

    levels = np.linspace(0.05, 0.95, len(classes)).astype(np.float32)
    brightness_model(levels).save(tmp_path / "m.keras")
    card = ModelCard(name="Own classes", file="m.keras", classes=tuple(classes), gradcam_layer="conv")
    card = card.save(tmp_path / "m.json")
    brightest = int(np.argmax(levels))  # a white image reads as the class of the highest level
    Image.fromarray(np.full((64, 64), 250, np.uint8)).save(tmp_path / "white.png")
    code = cli.main(["predict", "--model", str(card.path), str(tmp_path / "white.png"), "--whole-image", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    (r,) = json.loads(out)
    assert list(r["probs"]) == list(canonical(classes))  # the model's classes, vocabulary order
    assert abs(sum(r["probs"].values()) - 1) < 1e-3
    assert r["top3"][0][0] == NAMES[class_index(classes[brightest])]
    assert [p for _, p in r["top3"]] == sorted(r["probs"].values(), reverse=True)[:3]
    assert {n for n, _ in r["top3"]} <= set(r["probs"])
    code = cli.main(["predict", "--model", str(card.path), str(tmp_path / "white.png"), "--whole-image", "--out",
                     str(tmp_path / "figs"), "--method", "gradcam", "--format", "svg"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    from tests.filecheck import svg_text

    (svg,) = (tmp_path / "figs").glob("*.svg")
    text = svg_text(svg.read_bytes())
    assert f"predicted: {r['top3'][0][0]}" in text and f"Grad-CAM ({r['top3'][0][0]})" in text


# ------------------------------------------------------------------ export with FER+'s eight classes

def test_export_with_ferplus_labels_and_a_seven_class_model(ferplus_csv, seven_class_card, tmp_path, capsys):
    """FER+'s eight classes against a model without contempt: the 8x7 figure with the contempt row
    marked, the contempt faces' sheet and tables named by class, the per-class table the model's."""
    from tests.filecheck import svg_text

    usage, major = ferplus_majority(N_ROWS)
    n_contempt = int((major == 7).sum())

    def export(*args):
        code = cli.main(["export", "--model", str(seven_class_card), "--data", str(ferplus_csv), "--split",
                         "Training", "--labels", "ferplus", "--out", str(tmp_path), *args])
        out, err = capsys.readouterr()
        assert code == 0, err[-2000:]
        return [tmp_path / ln.rsplit("/", 1)[1] for ln in out.splitlines() if ln.strip()]

    (svg,) = export("--confusion-matrix", "--format", "svg")
    text = svg_text(svg.read_bytes())
    assert "contempt *" in text and "not a class of the model" in text
    assert f"{n_contempt} of {int((major >= 0).sum())} faces are labelled contempt" in text
    (sheet,) = export("--cell", "contempt:happy", "--format", "svg")  # the brightness model reads noise as happy
    assert sheet.name == "tiny_Training_contempt-happy_sheet.svg"
    assert f"true contempt \u2192 predicted happy, {n_contempt} images" in svg_text(sheet.read_bytes())
    (errors,) = export("--errors-csv", "contempt:any")
    got = pd.read_csv(errors, dtype={"id": str})
    assert len(got) == n_contempt and set(got["true"]) == {"contempt"} and set(got["pred"]) <= set(EMOTIONS)
    (per_class,) = export("--per-class-csv")
    assert pd.read_csv(per_class)["class"].tolist() == list(EMOTIONS)
    (preds,) = export("--predictions-csv")
    df = pd.read_csv(preds, dtype={"id": str})
    assert [c for c in df.columns if c.startswith("p_")] == [f"p_{e}" for e in EMOTIONS]
    assert set(df["true"]) == set(EXPRESSIONS) and (~df.loc[df["true"] == "contempt", "scored"]).all()


def test_precompute_with_ferplus_labels_fills_what_the_ferplus_evaluation_reads(ferplus_csv, seven_class_card,
                                                                               tmp_path, monkeypatch, capsys):
    """`precompute --labels ferplus` caches the predictions of the FER+-labelled split (its faces
    with a majority), which `evaluate --labels ferplus` and the app then read instead of computing."""
    from ferviz.analysis.evaluation import prediction_cache_path
    from ferviz.data.splits import load_fer2013
    from ferviz.models import load_card

    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path / "cache"))
    card = load_card(seven_class_card)
    fer, plus = (load_fer2013(ferplus_csv, "Training", labels=lab) for lab in ("fer2013", "ferplus"))
    assert len(plus) < len(fer)  # ties, unknown and not a face left out
    code = cli.main(["precompute", "--models", str(seven_class_card), "--data", str(ferplus_csv), "--labels",
                     "ferplus", "--splits", "Training", "--what", "evaluate", "--workers", "0", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["computed"] == 1
    assert prediction_cache_path(card, plus).is_file()  # the FER+ split's predictions ...
    assert not prediction_cache_path(card, fer).is_file()  # ... not the whole split's
