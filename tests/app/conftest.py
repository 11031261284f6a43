"""AppTest fixtures: a tiny FER2013-format CSV whose errors are known, and two hand-weighted models."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.app.helpers import LEVELS, app_on, tiny_rows, write_fer_csv
from tests.unit.tiny_models import brightness_model


def _card(folder, stem, model, name):
    model.save(folder / f"{stem}.keras")
    (folder / f"{stem}.json").write_text(json.dumps({
        "name": name, "file": f"{stem}.keras", "gradcam_layer": "conv",
        "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]},
        "metrics": {"PrivateTest": {"accuracy": 0.75}}}))


@pytest.fixture(scope="session")
def tiny_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("appdata")
    csv = root / "fer2013.csv"
    write_fer_csv(csv, tiny_rows())
    models = root / "models"
    models.mkdir()
    centres = LEVELS / 255.0
    _card(models, "tiny_a", brightness_model(centres), "Tiny A")
    # model B calls every happy face sad: its sad centre sits just above happy's brightness
    # and its happy centre far below it
    b = centres.copy()
    b[4] = centres[3] + 0.02
    b[3] = centres[3] - 0.08
    _card(models, "tiny_b", brightness_model(b), "Tiny B")
    return {"data": str(csv), "models": str(models)}


@pytest.fixture
def app(tiny_env, monkeypatch):
    """An AppTest of app.py on the tiny data with Tiny A selected."""
    return app_on(tiny_env, monkeypatch, "tiny_a")


# ---------------------------------------------------------------- data-quality fixtures

#: Training copies appended to the quality rows: (row copied, Training label, brightness shift).
#: Row 26 is a fear face at happy's brightness (Tiny A: happy), copied exactly as happy; row 0 an
#: angry face copied exactly as angry; row 47 a sad face at surprise's brightness, copied 2 levels
#: brighter (the same photo, not the same pixels: a near copy) as sad.
COPIES = ((26, 3, 0), (0, 0, 0), (47, 4, 2))
#: ids of the PrivateTest faces between two classes' levels (quality rows 70-76)
UNSURE = tuple(range(70, 77))


def quality_rows():
    """The tiny rows, then per class one PrivateTest face a little past the middle between its
    level and the next class's (Tiny A: the next class, unsure: an error confident learning
    leaves to the model), then Training copies of three PrivateTest faces (ids 77, 78, 79)."""
    rows, rng = tiny_rows(), np.random.default_rng(5)
    for c in range(7):
        level = LEVELS[c] + (0.56 if c < 6 else -0.56 * 6) * 35  # neutral's next class, angry, lies below it
        rows.append((c, np.clip(level + rng.integers(-3, 4, 2304), 0, 255), "PrivateTest"))
    for row, label, shift in COPIES:
        rows.append((label, np.clip(rows[row][1] + shift, 0, 255), "Training"))
    return rows


@pytest.fixture(scope="session")
def quality_env(tiny_env, tmp_path_factory):
    """The quality rows as fer2013.csv (see `quality_rows`), and the tiny models."""
    root = tmp_path_factory.mktemp("qualitydata")
    write_fer_csv(root / "fer2013.csv", quality_rows())
    return {"data": str(root / "fer2013.csv"), "models": tiny_env["models"]}


def _face(level: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    face = np.clip(level + rng.integers(-3, 4, (48, 48)), 0, 255)
    face[:8] = np.clip(face[:8] + seed % 7, 0, 255)
    return face.astype(np.uint8)


def ferplus_choice():
    """Real FER+ rows (fer2013new.csv) for a tiny FER+ folder form, and the brightness each face
    gets (Tiny A predicts the class whose level it has): per split and class the first clear
    image (top vote >= 6) at its own level, a second one at the next class's level (an error),
    and in PrivateTest one ambiguous image (top <= 5) at its own level."""
    from ferviz.data import ferplus as fp

    v = fp.load_votes()
    m, top = fp.majority(v.votes), v.votes.max(axis=1)
    chosen = {}
    for split, classes in (("Training", (3, 6)), ("PublicTest", (3, 6, 4)), ("PrivateTest", (3, 6, 4, 5, 0))):
        named = np.flatnonzero((v.usage == split) & (v.names != ""))
        rows = []
        for c in classes:
            clear = [int(r) for r in named if m[r] == c and top[r] >= 6][:2]
            rows += [(clear[0], c), (clear[1], (c + 1) % 7)]
        if split == "PrivateTest":
            rows.append((int(next(r for r in named if m[r] == 2 and top[r] <= 5
                                   and (v.votes[r] == top[r]).sum() == 1)), 2))  # no tie: a majority
        chosen[split] = rows
    return chosen


@pytest.fixture(scope="session")
def ferplus_env(tiny_env, tmp_path_factory):
    """A tiny FER+ folder form (FER2013Train/Valid/Test with label.csv naming real FER+ images,
    synthetic faces); the first Training face is a pixel copy of the second PrivateTest face."""
    from PIL import Image

    from ferviz.data import ferplus as fp

    v = fp.load_votes()
    root = tmp_path_factory.mktemp("ferplus") / "FERPlus"
    chosen = ferplus_choice()
    private_copy = None
    for folder, split in (("FER2013Test", "PrivateTest"), ("FER2013Valid", "PublicTest"),
                          ("FER2013Train", "Training")):
        (root / folder).mkdir(parents=True)
        lines = []
        for k, (r, level_class) in enumerate(chosen[split]):
            face = _face(int(LEVELS[level_class]), r)
            if split == "PrivateTest" and k == 1:
                private_copy = face
            if split == "Training" and k == 0:
                face = private_copy
            Image.fromarray(face).save(root / folder / v.names[r])
            lines.append(f'{v.names[r]},"(0, 0, 48, 48)",{",".join(map(str, v.votes[r][fp.FILE_TO_VOTE]))}')
        (root / folder / "label.csv").write_text("\n".join(lines) + "\n")
    return {"data": str(root), "models": tiny_env["models"], "chosen": chosen}


@pytest.fixture(scope="session")
def zip_env(tiny_env, tmp_path_factory):
    """The tiny faces as a Kaggle-style image-folder archive.zip (train/<class>/, test/<class>/)."""
    import io
    import zipfile

    from PIL import Image

    from ferviz.labels import EMOTIONS

    root = tmp_path_factory.mktemp("zipdata")
    with zipfile.ZipFile(root / "archive.zip", "w") as zf:
        for i, (c, face, split) in enumerate(tiny_rows()):
            buf = io.BytesIO()
            Image.fromarray(np.asarray(face, np.uint8).reshape(48, 48)).save(buf, format="PNG")
            folder = "train" if split == "Training" else "test"
            zf.writestr(f"{folder}/{EMOTIONS[c]}/{split}_{i}.png", buf.getvalue())
    return {"data": str(root / "archive.zip"), "models": tiny_env["models"]}


@pytest.fixture(scope="session")
def ferplus_csv_env(tiny_env, tmp_path_factory):
    """fer2013.csv cut to its first 30 rows (all Training, as in FER+'s votes), so FER+ aligns to
    the CSV form: each face has the brightness of its FER+ majority (Tiny A predicts it), every
    third one is labelled the next class (an error FER+ agrees with the model on), and the two
    rows FER+ marks not-a-face (17, 23) are happy-bright faces labelled sad."""
    from ferviz.data import ferplus as fp

    v = fp.load_votes()
    m = fp.majority(v.votes[:30])
    rows = []
    for r in range(30):
        if m[r] >= 7:
            level, label = LEVELS[3], 4
        else:
            level, label = LEVELS[m[r]], (int(m[r]) + 1) % 7 if r % 3 == 0 else int(m[r])
        rows.append((label, _face(int(level), r).ravel(), "Training"))
    root = tmp_path_factory.mktemp("ferpluscsv")
    write_fer_csv(root / "fer2013.csv", rows)
    return {"data": str(root / "fer2013.csv"), "models": tiny_env["models"]}
