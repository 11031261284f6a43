"""FER+ votes: loading and checks, alignment to each FER2013 form, majority, badges, metrics."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
from PIL import Image

from ferviz.data import ferplus as fp
from ferviz.analysis.agreement import ferplus_metrics
from ferviz.data.splits import align_votes
from ferviz.data.splits import load_all
from ferviz.errors import DataError
from ferviz.labels import EXPRESSIONS
from ferviz.analysis.evaluation import Evaluation

HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
# row: (usage, FER2013 label, FER+ image name, votes in file order)
ROWS = [
    ("Training", 3, "fer0000000.png", "0,10,0,0,0,0,0,0,0,0"),  # happy, unanimous
    ("Training", 0, "fer0000001.png", "2,0,0,0,4,0,4,0,0,0"),  # anger/fear tie -> angry
    ("PublicTest", 4, "", "0,0,0,0,0,0,0,0,0,10"),  # no image: not a face
    ("PublicTest", 6, "fer0000002.png", "5,5,0,0,0,0,0,0,0,0"),  # neutral/happiness tie -> neutral
    ("PrivateTest", 5, "fer0000003.png", "0,0,9,0,0,0,1,0,0,0"),  # surprise
    ("PrivateTest", 2, "fer0000004.png", "1,0,1,6,0,0,2,0,0,0"),  # sadness -> sad
    ("PrivateTest", 1, "fer0000005.png", "0,0,0,0,0,3,0,6,1,0"),  # contempt majority
]


def _fer_csv(path, rows=ROWS):
    rng = np.random.default_rng(0)
    lines = ["emotion,pixels,Usage"]
    for usage, label, _, _ in rows:
        lines.append(f"{label},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _ferplus_csv(path, rows=ROWS):
    path.write_text("\n".join([HEADER] + [f"{u},{n},{v}" for u, _, n, v in rows]) + "\n")
    return path


@pytest.fixture()
def csv_form(tmp_path):
    splits = load_all(_fer_csv(tmp_path / "fer2013.csv"))
    votes = fp.load_votes(_ferplus_csv(tmp_path / "fer2013new.csv"), expected_rows=len(ROWS))
    return splits, votes


def test_synthetic_csv_votes_align(csv_form):
    splits, votes = csv_form
    a = align_votes(splits["PrivateTest"], votes)
    assert a.ids.tolist() == ["4", "5", "6"] and a.rows.tolist() == [4, 5, 6]
    names = np.array(fp.VOTE_CLASSES)
    assert names[a.majority].tolist() == ["surprise", "sad", "contempt"]
    # file columns mapped to FER2013 order: neutral->neutral, sadness->sad, fear->fear ...
    row = dict(zip(fp.VOTE_CLASSES, a.votes[1]))
    assert row == {"angry": 0, "disgust": 0, "fear": 2, "happy": 0, "sad": 6, "surprise": 1,
                   "neutral": 1, "contempt": 0, "unknown": 0, "NF": 0}
    assert a.ambiguous.tolist() == [False, False, False] and a.not_a_face.tolist() == [False] * 3
    pub = align_votes(splits["PublicTest"], votes)
    assert pub.not_a_face.tolist() == [True, False]
    assert names[pub.majority].tolist() == ["NF", "neutral"]  # tie neutral/happiness: file order
    tr = align_votes(splits["Training"], votes)
    assert names[tr.majority].tolist() == ["happy", "angry"] and tr.ambiguous.tolist() == [False, True]
    f = a.frame()
    assert f.columns.tolist()[:3] == ["id", "row", "angry"] and f["majority"].tolist()[0] == "surprise"


def test_usage_mismatch_is_refused(tmp_path):
    splits = load_all(_fer_csv(tmp_path / "fer2013.csv"))
    swapped = [ROWS[0], ROWS[1], ("PrivateTest",) + ROWS[2][1:]] + ROWS[3:]
    votes = fp.load_votes(_ferplus_csv(tmp_path / "new.csv", swapped), expected_rows=len(ROWS))
    with pytest.raises(DataError, match=r"line 4 \(row 2\) is PrivateTest but it is a PublicTest image"):
        align_votes(splits["PublicTest"], votes)
    short = fp.load_votes(_ferplus_csv(tmp_path / "short.csv", ROWS[:5]), expected_rows=None)
    with pytest.raises(DataError, match="5 rows, but .* has row 6"):
        align_votes(splits["PrivateTest"], short)


def test_shipped_votes():
    v = fp.load_votes()
    assert len(v) == 35887 and int((v.names == "").sum()) == 173
    assert set(np.unique(v.votes.sum(axis=1))) <= {9, 10}
    top = v.votes[v.usage == "PrivateTest"].max(axis=1)
    assert (v.usage == "PrivateTest").sum() == 3589
    assert abs((top == 10).mean() - 0.22) < 0.015  # measured 22.9% unanimous
    assert abs((top <= 5).mean() - 0.24) < 0.015  # measured 23.4% with top <= 5 of 10


def test_wrong_length_is_refused(tmp_path):
    p = _ferplus_csv(tmp_path / "fer2013new.csv")
    with pytest.raises(DataError, match=r"fer2013new.csv: 7 rows, expected 35,887"):
        fp.load_votes(p)


@pytest.mark.parametrize("text, match", [
    ("Usage,Image name,neutral,happy\nTraining,fer0000000.png,1,9\n",
     "columns Usage, Image name, neutral, happy; "),
    (HEADER + "\nTraining,fer0000000.png,1,9,0,0,0,0,0,0,0,x\n", "line 2: NF vote 'x' is not a whole number"),
    (HEADER + "\nTesting,fer0000000.png,1,9,0,0,0,0,0,0,0,0\n", "line 2: unknown Usage 'Testing'"),
    (HEADER + "\nTraining,img.jpg,1,9,0,0,0,0,0,0,0,0\n", "line 2: image name 'img.jpg'"),
    (HEADER + "\nTraining,fer0000000.png,0,0,0,0,0,0,0,0,0,0\n", "line 2: no votes"),
    ("", "is empty"),
])
def test_bad_files_are_refused(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=match):
        fp.load_votes(p, expected_rows=None)
    with pytest.raises(DataError, match="cannot read"):
        fp.load_votes(tmp_path / "missing.csv")


def test_image_folder_forms_are_refused(tmp_path):
    z = tmp_path / "archive.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name in ("train/happy/Training_1.jpg", "test/sad/PrivateTest_2.jpg"):
            img = Image.fromarray(np.full((48, 48), 100, np.uint8))
            path = tmp_path / "x.jpg"
            img.save(path)
            zf.write(path, name)
    splits = load_all(z)
    with pytest.raises(DataError) as e:
        align_votes(splits["PrivateTest"])
    said = str(e.value)  # plainly: what FER+ needs, why this form will not do, where to get it, where it goes
    assert said.startswith(f"{z}: ") and ("FER+ votes need the original fer2013.csv, whose rows they follow; the "
                                         "Kaggle image-folder download (archive.zip with train/ and test/ folders "
                                         "of JPEGs) has no row order.") in said
    assert 'on Kaggle ("Challenges in Representation Learning: Facial Expression Recognition Challenge")' in said
    assert "put it in data/, or set FERVIZ_DATA to its path" in said and "cannot be aligned" not in said
    folder = tmp_path / "fer"
    zipfile.ZipFile(z).extractall(folder)
    with pytest.raises(DataError, match="FER\\+ votes need the original fer2013.csv"):
        align_votes(load_all(folder)["Training"])


def _ferplus_folders(root):
    """Three FER+ folders with label.csv and PNGs for a few real FER+ rows (random pixels)."""
    v = fp.load_votes()
    m = np.where(fp.tied(v.votes), 99, fp.majority(v.votes))  # a tie has no majority: left out
    chosen = {}
    for folder, split in (("FER2013Train", "Training"), ("FER2013Valid", "PublicTest"),
                          ("FER2013Test", "PrivateTest")):
        named = np.flatnonzero((v.usage == split) & (v.names != ""))
        faces = [r for r in named if m[r] < 7][:3] + [r for r in named if m[r] == 7][:1]  # contempt is a class
        other = [r for r in named if 8 <= m[r] < 99][:1] + [r for r in named if m[r] == 99][:1]
        # unknown/NF majority or a tie: left out
        (root / folder).mkdir(parents=True)
        lines = []
        for r in faces + other:
            file_votes = v.votes[r][fp.FILE_TO_VOTE]
            lines.append(f'{v.names[r]},"(0, 0, 48, 48)",{",".join(map(str, file_votes))}')
            Image.fromarray(np.random.default_rng(int(r)).integers(0, 256, (48, 48), dtype=np.uint8)).save(
                root / folder / v.names[r])
        lines.append(lines[0])  # a name listed twice is read once
        (root / folder / "label.csv").write_text("\n".join(lines) + "\n")
        chosen[split] = (faces, other)
    return chosen


def test_ferplus_folder_form_loads_and_aligns(tmp_path):
    root = tmp_path / "FERPlus"
    chosen = _ferplus_folders(root)
    splits = load_all(root)
    assert splits.kind == "ferplus" and splits.label_source.startswith("FER+ majority")
    v = fp.load_votes()
    for split, (faces, other) in chosen.items():
        s = splits[split]
        assert s.classes == EXPRESSIONS and s.label_set == "ferplus" and 7 in s.labels
        assert s.ids.tolist() == [str(r) for r in sorted(faces)]  # fer2013.csv row numbers
        assert s.labels.tolist() == fp.majority(v.votes[sorted(faces)]).tolist()
        a = align_votes(s)
        np.testing.assert_array_equal(a.votes, v.votes[sorted(faces)])
        assert str(other[0]) not in s.ids
    pixels = np.asarray(Image.open(root / "FER2013Train" / v.names[int(splits["Training"].ids[0])]))
    np.testing.assert_array_equal(splits["Training"].images[0], pixels)


def test_ferplus_folder_problems(tmp_path):
    root = tmp_path / "FERPlus"
    _ferplus_folders(root)
    (root / "FER2013Test" / "label.csv").write_text("fer9999999.png,1,2\n")
    with pytest.raises(DataError, match=r"label.csv: line 1: 3 fields, expected"):
        load_all(root)
    (root / "FER2013Test" / "label.csv").write_text('fer0000001.png,"(0, 0, 48, 48)",0,10,0,0,0,0,0,0,0,0\n')
    with pytest.raises(DataError, match="fer0000001.png is not a PrivateTest image"):
        load_all(root)
    (root / "FER2013Test" / "label.csv").unlink()
    with pytest.raises(DataError, match="FER2013Test: no label.csv"):
        load_all(root)


def test_majority_tie_rule():
    # file order: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
    votes = np.zeros((3, 10), int)
    votes[0, [fp.VOTE_CLASSES.index("fear"), fp.VOTE_CLASSES.index("angry")]] = 5  # anger before fear
    votes[1, [fp.VOTE_CLASSES.index("contempt"), fp.VOTE_CLASSES.index("sad")]] = 5  # sadness first
    votes[2, fp.NF] = 6
    votes[2, fp.VOTE_CLASSES.index("neutral")] = 4
    assert [fp.VOTE_CLASSES[i] for i in fp.majority(votes)] == ["angry", "sad", "NF"]


def test_badges():
    v = np.zeros(10, int)
    v[3] = 10  # happy, unanimous
    assert fp.badges(v, true=3, pred=6) == ["FER+ agrees with the label"]
    assert fp.badges(v, true=6, pred=3) == ["FER+ agrees with the model"]
    assert fp.badges(v, true=3, pred=3) == ["FER+ agrees with the model", "FER+ agrees with the label"]
    v = np.zeros(10, int)
    v[[4, 2]] = [5, 5]  # sad/fear tie: no majority, so FER+ agrees with neither
    assert fp.badges(v, true=2, pred=4) == ["ambiguous (top ≤ 5/10)"]
    assert fp.tied(v) and not fp.tied(np.eye(10, dtype=int)[3] * 10)
    v = np.zeros(10, int)
    v[fp.NF] = 10
    assert fp.badges(v, true=2, pred=2) == ["not a face"]
    v = np.zeros(10, int)
    v[3] = 8
    v[fp.NF] = 2
    assert fp.badges(v, true=3, pred=3, named=False) == ["not a face"]


def test_ferplus_metrics_by_hand(csv_form):
    splits, votes = csv_form
    a = align_votes(splits["PrivateTest"], votes)  # majorities: surprise, sad, contempt
    labels = splits["PrivateTest"].labels  # 5 surprise, 2 fear, 1 disgust
    preds = np.array([5, 4, 1])  # right, wrong (but FER+ says sad), right
    ev = Evaluation("m", "PrivateTest", np.eye(7, dtype=np.float32)[preds], labels, splits["PrivateTest"].ids)
    m = ferplus_metrics(ev, a)
    assert m["n"] == 3 and m["n_used"] == 2 and m["n_contempt_or_unknown"] == 1 and m["n_not_a_face"] == 0
    assert m["accuracy_vs_ferplus"] == 1.0 and m["accuracy"] == 0.5 and m["label_agreement"] == 0.5
    assert m["errors_ferplus_agrees_with_model"] == 1
    cm = np.array(m["confusion_matrix"])
    assert cm.sum() == 2 and cm[5, 5] == 1 and cm[4, 4] == 1
    assert a.badges("5", true=2, pred=4) == ["FER+ agrees with the model"]
    pub = align_votes(splits["PublicTest"], votes)
    ev = Evaluation("m", "PublicTest", np.eye(7, dtype=np.float32)[[4, 3]], splits["PublicTest"].labels,
                    splits["PublicTest"].ids)
    m = ferplus_metrics(ev, pub)
    # the neutral/happiness tie has no majority: left out like the not-a-face image
    assert m["n_not_a_face"] == 1 and m["n_tied"] == 1 and m["n_used"] == 0 and m["accuracy_vs_ferplus"] is None


def test_ferplus_metrics_of_an_eight_class_model_use_the_contempt_majority(csv_form):
    splits, votes = csv_form
    a = align_votes(splits["PrivateTest"], votes)  # majorities: surprise, sad, contempt
    labels = splits["PrivateTest"].labels  # surprise, fear, disgust
    preds = np.array([5, 4, 7])  # right, wrong (FER+ says sad), contempt (FER+ agrees, the label not)
    ev = Evaluation("m8", "PrivateTest", np.eye(8, dtype=np.float32)[preds], labels, splits["PrivateTest"].ids,
                    tuple(range(8)), tuple(range(7)))
    m = ferplus_metrics(ev, a)
    assert m["classes"][-1] == "contempt" and len(m["classes"]) == 8
    assert m["n_used"] == 3 and m["n_contempt_or_unknown"] == 0  # contempt is one of this model's classes
    assert m["accuracy_vs_ferplus"] == 1.0 and m["accuracy"] == pytest.approx(1 / 3)
    assert m["errors_ferplus_agrees_with_model"] == 2
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (8, 8) and cm[7, 7] == 1 and cm.sum() == 3
    assert a.badges("6", true=1, pred=7) == ["FER+ agrees with the model"]  # a contempt majority agrees too
    seven = ferplus_metrics(Evaluation("m7", "PrivateTest", np.eye(7, dtype=np.float32)[[5, 4, 1]], labels,
                                       splits["PrivateTest"].ids), a)
    assert seven["n_contempt_or_unknown"] == 1 and np.array(seven["confusion_matrix"]).shape == (7, 7)
