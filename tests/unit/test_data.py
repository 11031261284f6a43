"""FER2013 readers on tiny synthetic data in all three forms, and their error messages."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from ferviz.data.splits import DataError, load_all, load_fer2013, resolve_data_path
from ferviz.labels import EMOTIONS

RNG = np.random.default_rng(0)


def _faces(n):
    return RNG.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


def _write_csv(path, faces, labels, usages, *, header="emotion,pixels,Usage"):
    lines = [header]
    for f, lab, u in zip(faces, labels, usages):
        lines.append(f"{lab},{' '.join(map(str, f.ravel()))},{u}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _png(face) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, format="PNG")
    return buf.getvalue()


def _layout(faces, labels, splits):
    """(relative path, bytes) in the Kaggle image-folder layout, lossless PNG."""
    out = []
    for i, (f, lab, s) in enumerate(zip(faces, labels, splits)):
        top = "train" if s == "Training" else "test"
        out.append((f"{top}/{EMOTIONS[lab]}/{s}_{1000 + i}.png", _png(f)))
    return out


@pytest.fixture
def sample():
    faces = _faces(14)
    labels = np.arange(14) % 7
    splits = ["Training"] * 7 + ["PublicTest"] * 4 + ["PrivateTest"] * 3
    return faces, labels, splits


def test_csv_folder_zip_agree(tmp_path, sample):
    faces, labels, splits = sample
    csv = _write_csv(tmp_path / "fer2013.csv", faces, labels, splits)
    folder = tmp_path / "folder"
    zpath = tmp_path / "archive.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for rel, data in _layout(faces, labels, splits):
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
            z.writestr(rel, data)
    a, b, c = load_all(csv), load_all(folder), load_all(zpath)
    for s in ("Training", "PublicTest", "PrivateTest"):
        assert len(a[s]) == len(b[s]) == len(c[s]) == splits.count(s)
        np.testing.assert_array_equal(b[s].ids, c[s].ids)
        np.testing.assert_array_equal(b[s].labels, c[s].labels)
        np.testing.assert_array_equal(b[s].images, c[s].images)
        # CSV ids are row numbers; same rows in the same order carry the same pixels and labels
        order = np.argsort([int(i.split("_")[1]) for i in b[s].ids])
        np.testing.assert_array_equal(a[s].images, b[s].images[order])
        np.testing.assert_array_equal(a[s].labels, b[s].labels[order])
    assert a["PrivateTest"].images.dtype == np.uint8 and a["PrivateTest"].images.shape[1:] == (48, 48)
    assert list(a["Training"].ids[:2]) == ["0", "1"]


def test_second_load_comes_from_cache(tmp_path, sample, monkeypatch):
    faces, labels, splits = sample
    csv = _write_csv(tmp_path / "f.csv", faces, labels, splits)
    first = load_fer2013(csv, "PrivateTest")
    import ferviz.data.readers as r

    monkeypatch.setattr(r, "read_csv", lambda p: (_ for _ in ()).throw(AssertionError("decoded again")))
    again = load_fer2013(csv, "private")
    np.testing.assert_array_equal(first.images, again.images)
    # a changed file is decoded again (content hash), never served stale
    faces[-1, 0, 0] ^= 0xFF
    _write_csv(csv, faces, labels, splits)
    with pytest.raises(AssertionError, match="decoded again"):
        load_fer2013(csv, "PrivateTest")


@pytest.mark.parametrize("mutate, message", [
    (lambda rows: rows.__setitem__(2, "3," + " ".join(["1"] * 2303) + ",Training"), r"row 2 \(line 3\): 2303 pixels, expected 2304"),
    (lambda rows: rows.__setitem__(1, "3," + " ".join(["1"] * 2303 + ["x"]) + ",Training"), r"row 1 .*pixel value 'x' is not a number"),
    (lambda rows: rows.__setitem__(3, "9," + " ".join(["1"] * 2304) + ",Training"), r"row 3 .*emotion 9 is outside 0-6"),
    (lambda rows: rows.__setitem__(3, "happy," + " ".join(["1"] * 2304) + ",Training"), r"row 3 .*emotion 'happy' is not an integer"),
    (lambda rows: rows.__setitem__(1, "3," + " ".join(["300"] * 2304) + ",Training"), r"row 1 .*0-255"),
    (lambda rows: rows.__setitem__(1, "3," + " ".join(["99999999999"] * 2304) + ",Training"), r"row 1 .*0-255"),
    (lambda rows: rows.__setitem__(2, "3," + " ".join(["1"] * 2304) + ",Validation"), r"row 2 .*unknown Usage 'Validation'"),
    (lambda rows: rows.__setitem__(0, "label,pixels,Usage"), r"missing column\(s\) emotion"),
])
def test_csv_errors_name_row_and_problem(tmp_path, sample, mutate, message):
    faces, labels, splits = sample
    path = _write_csv(tmp_path / "bad.csv", faces, labels, splits)
    rows = path.read_text().splitlines()
    mutate(rows)
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=message) as e:
        load_all(path)
    assert "bad.csv" in str(e.value)


def test_empty_and_header_only_csv(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_all(tmp_path / "empty.csv")
    (tmp_path / "head.csv").write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="no rows"):
        load_all(tmp_path / "head.csv")


def test_missing_split_is_named(tmp_path, sample):
    faces, labels, _ = sample
    path = _write_csv(tmp_path / "train_only.csv", faces, labels, ["Training"] * len(faces))
    with pytest.raises(DataError, match="has no PrivateTest images"):
        load_fer2013(path, "PrivateTest")


def test_zip_entry_escaping_root_is_refused(tmp_path, sample):
    faces, labels, splits = sample
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for rel, data in _layout(faces, labels, splits):
            zf.writestr(rel, data)
        zf.writestr("../../etc/test/happy/PrivateTest_1.png", _png(faces[0]))
    with pytest.raises(DataError, match="escapes the archive root"):
        load_all(z)


def test_zip_bomb_entry_is_refused(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("test/happy/PrivateTest_1.png", b"\0" * (9 << 20))
    with pytest.raises(DataError, match="would unpack to"):
        load_all(z)


def test_corrupt_image_stops_the_load(tmp_path, sample):
    faces, labels, splits = sample
    folder = tmp_path / "f"
    for rel, data in _layout(faces, labels, splits):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    victim = sorted((folder / "test").rglob("*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:40])
    with pytest.raises(DataError, match=rf"{victim.name}: not a readable image"):
        load_all(folder)


def test_unknown_class_folder_and_non48_images(tmp_path, sample):
    faces, labels, splits = sample
    folder = tmp_path / "f"
    (folder / "test" / "happy").mkdir(parents=True)
    big = np.full((96, 96, 3), 200, np.uint8)
    Image.fromarray(big).save(folder / "test" / "happy" / "PrivateTest_1.jpg")
    s = load_fer2013(folder, "PrivateTest")
    assert s.images.shape == (1, 48, 48) and abs(int(s.images.mean()) - 200) <= 2
    (folder / "test" / "boredom").mkdir()
    Image.fromarray(big).save(folder / "test" / "boredom" / "PrivateTest_2.jpg")
    with pytest.raises(DataError, match="class folder 'boredom' is not an expression ferviz knows; known names .aliases.: angry .anger.; "):
        load_all(folder)


def test_resolve_path_messages(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no such file"):
        resolve_data_path(tmp_path / "nope.csv")
    monkeypatch.setenv("FERVIZ_DATA", str(tmp_path / "missing.zip"))
    with pytest.raises(DataError, match="FERVIZ_DATA"):
        resolve_data_path()
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(DataError, match="not a FER2013 csv"):
        load_all(tmp_path / "notes.pdf")


def test_subset_and_index_of(tmp_path, sample):
    faces, labels, splits = sample
    s = load_fer2013(_write_csv(tmp_path / "f.csv", faces, labels, splits), "Training")
    sub = s.subset(np.array([2, 4]))
    assert list(sub.ids) == ["2", "4"] and s.index_of("4") == 4
    with pytest.raises(KeyError, match="no image with id"):
        s.index_of("999")


def test_core_never_imports_streamlit():
    import subprocess
    import sys

    code = ("import importlib, pkgutil, sys, ferviz\n"
            "for m in pkgutil.walk_packages(ferviz.__path__, 'ferviz.'):\n"
            "    if not m.name.startswith('ferviz.ui') and m.name != 'ferviz.__main__':\n"
            "        importlib.import_module(m.name)\n"
            "assert 'streamlit' not in sys.modules, 'streamlit imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1000:]


def test_same_file_name_in_two_splits_and_one_class_loads(tmp_path):
    folder = tmp_path / "raf"
    a, b = _faces(2)
    for top, face in (("train", a), ("test", b)):
        (folder / top / "happy").mkdir(parents=True)
        Image.fromarray(face).save(folder / top / "happy" / "0001.png")
    splits = load_all(folder)
    assert list(splits["Training"].ids) == ["train/happy/0001"]
    assert list(splits["PrivateTest"].ids) == ["test/happy/0001"]
    np.testing.assert_array_equal(splits["PrivateTest"].images[0], b)


def test_data_hash_covers_every_id(tmp_path, sample):
    faces, labels, splits = sample
    s = load_fer2013(_write_csv(tmp_path / "f.csv", faces, labels, splits), "Training")
    assert s.subset([0, 1, 2, 3]).data_hash != s.subset([0, 1, 2, 4]).data_hash  # same size, same first 3
    assert s.subset([0, 1, 2, 3]).data_hash == s.subset([0, 1, 2, 3]).data_hash


def test_a_raf_db_like_folder_keeps_its_split_names(tmp_path):
    """train/ and test/ of 100x100 RGB faces without FER2013's file names: the splits are called
    train and test, `test` selects the test folder, and FER2013's names still work."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "rafdb"
    for top, n in (("train", 3), ("test", 2)):
        for cls in ("happy", "sad"):
            (folder / top / cls).mkdir(parents=True)
            for k in range(n):
                Image.fromarray(rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(
                    folder / top / cls / f"{k:04d}.jpg")
    splits = load_all(folder)
    assert splits.names == {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
    test = load_fer2013(folder, "test")
    assert test.split == "PrivateTest" and test.title == "test" and len(test) == 4
    assert test.images.shape == (4, 48, 48)
    assert load_fer2013(folder, "TRAIN").title == "train" and len(load_fer2013(folder, "train")) == 6
    assert test.subset([0]).title == "test"
    with pytest.raises(DataError, match="has no val images \\(found: train, test\\)"):
        load_fer2013(folder, "val")
    with pytest.raises(ValueError, match="unknown split 'dev'; this dataset has train, test"):
        load_fer2013(folder, "dev")


def test_fer2013_keeps_fer2013_split_names(tmp_path, sample):
    faces, labels, splits = sample
    path = _write_csv(tmp_path / "f.csv", faces, labels, splits)
    s = load_fer2013(path, "private")
    assert s.split == s.title == "PrivateTest"
    with pytest.raises(ValueError, match="unknown split 'test'"):  # PublicTest or PrivateTest: ambiguous
        load_fer2013(path, "test")


def test_evaluate_on_a_folder_datasets_test_split_from_the_command_line(tmp_path, capsys):
    from ferviz.cli import main
    from tests.unit.tiny_models import brightness_model

    folder = tmp_path / "rafdb"
    rng = np.random.default_rng(6)
    for top in ("train", "test"):
        for cls in ("happy", "sad"):
            (folder / top / cls).mkdir(parents=True)
            for k in range(2):
                Image.fromarray(rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(
                    folder / top / cls / f"{k}.png")
    brightness_model(np.linspace(0, 1, 7)).save(tmp_path / "b.keras")
    (tmp_path / "b.json").write_text('{"name": "B", "file": "b.keras", "input": {"scale": [0, 1]}}')
    assert main(["evaluate", "--model", str(tmp_path / "b.json"), "--data", str(folder), "--split", "test"]) == 0
    assert "B on test (4 images)" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(tmp_path / "b.json"), "--data", str(folder), "--split", "val"]) == 2
    assert "has no val images (found: train, test)" in capsys.readouterr().err
