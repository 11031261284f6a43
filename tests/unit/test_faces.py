"""Face detection (MTCNN) on real photos, FER2013-style cropping, the pipeline and `ferviz predict`."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from ferviz.faces import detection as faces
from ferviz.faces.detection import (
    Face,
    FaceError,
    analyse_photo,
    crop_face,
    whole_image_box,
    whole_image_crop,
)


def png(rgb: np.ndarray) -> bytes:
    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "PNG")
    return b.getvalue()


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def two_faces(astronaut):
    """The astronaut's head pasted twice on a grey canvas: a small copy left, a larger one right."""
    head = astronaut[20:200, 120:280]
    canvas = np.full((400, 700, 3), 200, np.uint8)
    canvas[50:230, 50:210] = head
    canvas[100:370, 350:590] = np.asarray(Image.fromarray(head).resize((240, 270), Image.Resampling.BICUBIC))
    return canvas


@pytest.fixture(scope="module")
def detector():
    return faces.get_detector()


@pytest.fixture(scope="module")
def tiny_card(tmp_path_factory):
    """A tiny Keras model (48x48x1, [0,1]) and an RGB one (64x64x3, [-1,1], shuffled classes) with cards."""
    import keras

    from ferviz.models import card_from_dict

    folder = tmp_path_factory.mktemp("face-models")
    cards = {}
    for key, (h, w, c), scale, classes in [
        ("tiny", (48, 48, 1), [0, 1], None),
        ("tiny_rgb", (64, 64, 3), [-1, 1], ["neutral", "happy", "sad", "angry", "fear", "surprise", "disgust"]),
    ]:
        keras.utils.set_random_seed(0)
        inp = keras.Input((h, w, c))
        x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x))
        model.save(folder / f"{key}.keras")
        d = {"name": key, "file": f"{key}.keras", "input": {"height": h, "width": w, "channels": c, "scale": scale},
             "gradcam_layer": "conv"}
        if classes:
            d["classes"] = classes
        cards[key] = card_from_dict(d).save(folder / f"{key}.json")
    return cards


# ------------------------------------------------------------------ detection on real photos

def test_astronaut_has_exactly_one_face_where_it_is(astronaut, detector):
    found = faces.detect_faces(astronaut, detector=detector)
    assert len(found) == 1
    f = found[0]
    x, y, w, h = f.box
    # the face (hairline to chin, cheek to cheek) is about x 180-265, y 65-170 in the 512x512 image
    assert 165 <= x <= 195 and 50 <= y <= 80 and 245 <= x + w <= 285 and 150 <= y + h <= 185
    assert f.confidence > 0.95 and f.source == "mtcnn"
    assert set(f.landmarks) == set(faces.LANDMARKS)
    lx, ly = f.landmarks["left_eye"]
    rx, ry = f.landmarks["right_eye"]
    assert x < lx < rx < x + w and y < ly < y + h / 2 and abs(ly - ry) < 10
    assert all(isinstance(v, int) for v in f.box)


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_no_face_in_cat_or_coffee(name, detector):
    from skimage import data

    assert faces.detect_faces(getattr(data, name)(), detector=detector) == []


def test_two_faces_largest_first(two_faces, detector):
    found = faces.detect_faces(two_faces, detector=detector)
    assert len(found) == 2
    big, small = found
    assert big.area > small.area
    assert big.box[0] > 350 and small.box[0] + small.box[2] < 220


def test_large_photo_is_detected_on_a_smaller_copy(astronaut, detector):
    big = np.asarray(Image.fromarray(astronaut).resize((2048, 2048), Image.Resampling.BICUBIC))
    (f,) = faces.detect_faces(big, detector=detector)
    x, y, w, h = f.box
    assert 4 * 165 <= x <= 4 * 195 and 4 * 50 <= y <= 4 * 80 and 4 * 70 <= w <= 4 * 100


def test_detector_is_built_once(detector):
    assert faces.get_detector() is detector


def test_blank_and_tiny_images_have_no_face(detector):
    assert faces.detect_faces(np.full((200, 300, 3), 128, np.uint8), detector=detector) == []
    assert faces.detect_faces(np.zeros((10, 10, 3), np.uint8), detector=detector) == []
    with pytest.raises(FaceError, match="RGB image"):
        faces.detect_faces(np.zeros((50, 50, 4), np.uint8), detector=detector)


# ------------------------------------------------------------------ cropping

def test_crop_is_square_on_the_box_centre_and_fills_the_frame():
    a = np.zeros((200, 300, 3), np.uint8)
    a[50:150, 120:180] = 255  # a white "face" 60 wide, 100 high
    crop, square = crop_face(a, (120, 50, 60, 100))
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert square == (100, 50, 100, 100)  # side = max(w, h) with margin 0, same centre
    cols = np.flatnonzero(crop[24] > 128)
    assert (cols[0], cols[-1]) == (10, 37)  # white spans x 9.6-38.4 of 48: 60/100 of the width, centred
    assert crop[:, 24].min() > 200  # the face spans the full height


def test_margin_and_shift():
    a = np.zeros((400, 400, 3), np.uint8)
    _, sq = crop_face(a, (100, 100, 80, 100), margin=0.2)
    assert sq == (80, 90, 120, 120)
    _, sq = crop_face(a, (100, 100, 80, 100), margin=0.0, shift=0.1)
    assert sq == (90, 110, 100, 100)


def test_crop_uses_itu_601_luma():
    a = np.zeros((100, 100, 3), np.uint8)
    a[:] = (255, 0, 0)
    crop, _ = crop_face(a, (10, 10, 80, 80))
    assert np.all(crop == 76)  # round(255 * 299 / 1000)
    a[:] = (10, 200, 50)
    crop, _ = crop_face(a, (10, 10, 80, 80))
    assert np.all(crop == Image.new("RGB", (1, 1), (10, 200, 50)).convert("L").getpixel((0, 0)))


def test_crop_outside_the_image_replicates_edges():
    a = np.zeros((100, 100, 3), np.uint8)
    a[:, :10] = 200  # bright left edge
    crop, sq = crop_face(a, (-10, 30, 30, 40))  # partly outside on the left
    assert sq == (-15, 30, 40, 40)
    left_cols = -sq[0] * 48 // sq[2]
    assert crop[:, : max(1, left_cols - 1)].min() >= 190  # padded with the bright edge, not black


def test_crop_upscales_small_faces_and_downscales_by_area():
    a = np.zeros((100, 100, 3), np.uint8)
    a[::2] = 255  # 1-px stripes: area averaging gives mid-grey, not aliasing
    crop, _ = crop_face(a, (0, 0, 96, 96))
    assert abs(float(crop.mean()) - 127.5) < 3 and crop.std() < 3
    crop, sq = crop_face(a, (40, 40, 12, 12), size=48)
    assert crop.shape == (48, 48) and sq[2] == 12


@pytest.mark.parametrize("box,msg", [((500, 10, 20, 20), "outside"), ((10, 10, 0, 20), "empty"),
                                     ((1, 2, 3), "four numbers"), (("a", 1, 2, 3), "four numbers")])
def test_bad_boxes(box, msg):
    with pytest.raises(FaceError, match=msg):
        crop_face(np.zeros((100, 100, 3), np.uint8), box)


def test_whole_image_crop_is_the_centre_square():
    a = np.zeros((60, 100, 3), np.uint8)
    a[:, 20:80] = 255
    assert whole_image_box(a.shape) == (20, 0, 60, 60)
    crop, sq = whole_image_crop(a)
    assert sq == (20, 0, 60, 60) and np.all(crop == 255)


def test_astronaut_crop_looks_like_fer2013(astronaut, detector):
    photo = analyse_photo(png(astronaut), detector=detector)
    assert photo.crops.shape == (1, 48, 48) and photo.crops.dtype == np.uint8
    (f,), (sq,) = photo.faces, photo.boxes
    assert sq[2] == sq[3] == max(f.box[2], f.box[3])
    # FER2013 (MTCNN on its test faces): eyes at y ~ 19/48, mouth ~ 37/48; allow a few pixels
    eye_y = (f.landmarks["left_eye"][1] - sq[1]) * 48 / sq[2]
    mouth_y = (f.landmarks["mouth_left"][1] - sq[1]) * 48 / sq[2]
    assert 13 <= eye_y <= 23 and 30 <= mouth_y <= 41


# ------------------------------------------------------------------ analyse_photo variants

def test_analyse_photo_no_face(detector):
    from skimage import data

    photo = analyse_photo(png(data.chelsea()), detector=detector)
    assert photo.faces == [] and photo.crops.shape == (0, 48, 48) and photo.boxes == []


def test_analyse_photo_user_box_and_whole_image(astronaut):
    photo = analyse_photo(png(astronaut), box=(180, 60, 90, 110))
    assert photo.faces == [Face((180, 60, 90, 110), 1.0, None, "user")]
    assert photo.boxes == [(170, 60, 110, 110)]
    photo = analyse_photo(astronaut, whole_image=True)
    assert photo.faces[0].source == "whole-image" and photo.boxes == [(0, 0, 512, 512)]
    assert photo.crops.shape == (1, 48, 48)
    with pytest.raises(FaceError, match="outside"):
        analyse_photo(astronaut, box=(600, 0, 10, 10))


def test_analyse_photo_rejects_bad_bytes():
    with pytest.raises(faces.PhotoError, match="not an image"):
        analyse_photo(b"not an image")


def test_face_is_frozen_and_hashable():
    f = Face((1, 2, 3, 4), 0.9, {"nose": (2, 3)})
    with pytest.raises(AttributeError):
        f.box = (0, 0, 1, 1)
    assert hash(f) == hash(Face((1, 2, 3, 4), 0.9, None)) and f.area == 12


# ------------------------------------------------------------------ annotate

def test_annotate_boxes_draws_numbered_boxes(two_faces, detector):
    found = faces.detect_faces(two_faces, detector=detector)
    before = two_faces.copy()
    out = faces.annotate_boxes(two_faces, found, selected=0)
    np.testing.assert_array_equal(two_faces, before)  # input untouched
    assert out.shape == two_faces.shape and out.dtype == np.uint8
    x, y, w, h = found[1].box
    assert tuple(out[y + h // 2, x]) == (0, 220, 90)  # left edge of box 2 (not selected)
    x, y, w, h = found[0].box
    assert tuple(out[y + h // 2, x]) == (255, 200, 0)  # selected box
    plain = faces.annotate_boxes(two_faces, [(10, 10, 50, 50)])
    assert tuple(plain[30, 10]) == (0, 220, 90)


# ------------------------------------------------------------------ prediction

@pytest.mark.parametrize("key", ["tiny", "tiny_rgb"])
def test_full_pipeline_gives_seven_probabilities(key, tiny_card, astronaut, detector):
    from ferviz.models import load_model

    card = tiny_card[key]
    model = load_model(card)
    photo = analyse_photo(png(astronaut), detector=detector)
    probs = faces.predict_faces(model, card, photo.crops)
    assert probs.shape == (1, 7) and probs.dtype == np.float32
    assert abs(float(probs.sum()) - 1) < 1e-5 and (probs >= 0).all()
    assert faces.predict_faces(model, card, photo.crops[:0]).shape == (0, 7)
    with pytest.raises(FaceError, match="uint8 crops"):
        faces.predict_faces(model, card, photo.crops.astype(np.float32))


# ------------------------------------------------------------------ CLI

def run_cli(*argv):
    from ferviz.cli import main

    return main(["predict", *map(str, argv)])


def test_cli_predict_json(tmp_path, tiny_card, astronaut, two_faces, capsys, detector):
    (tmp_path / "a.png").write_bytes(png(astronaut))
    (tmp_path / "two.jpg").write_bytes(png(two_faces))  # extension does not matter
    assert run_cli("--model", tiny_card["tiny"].path, tmp_path / "a.png", tmp_path / "two.jpg", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["file"].endswith("a.png"), r["face"]) for r in out] == [(True, 1), (False, 1), (False, 2)]
    r = out[0]
    assert set(r) >= {"file", "face", "box", "confidence", "top3", "probs"}
    assert len(r["top3"]) == 3 and r["top3"][0][1] >= r["top3"][1][1] >= r["top3"][2][1]
    assert list(r["probs"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert abs(sum(r["probs"].values()) - 1) < 1e-3 and r["confidence"] > 0.9


def test_cli_predict_text_and_no_face(tmp_path, tiny_card, astronaut, capsys, detector):
    from skimage import data

    (tmp_path / "a.png").write_bytes(png(astronaut))
    (tmp_path / "cat.png").write_bytes(png(data.chelsea()))
    assert run_cli("--model", tiny_card["tiny"].path, tmp_path / "a.png", tmp_path / "cat.png") == 0
    out = capsys.readouterr().out
    assert "a.png face 1/1 box x=" in out and "confidence 0.99" in out
    assert f"no face found in {tmp_path / 'cat.png'} (use --whole-image to classify the whole image)" in out
    assert run_cli("--model", tiny_card["tiny"].path, tmp_path / "cat.png") == 1
    assert run_cli("--model", tiny_card["tiny"].path, tmp_path / "cat.png", "--whole-image") == 0
    assert "cat.png face 1/1 box x=" in capsys.readouterr().out


def test_cli_predict_bad_files(tmp_path, tiny_card, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"no image here")
    assert run_cli("--model", tiny_card["tiny"].path, tmp_path / "bad.jpg", tmp_path / "missing.png") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "bad.jpg: not an image" in err[0] and "missing.png: cannot read" in err[1]
    assert run_cli("--model", tmp_path / "nope.json", tmp_path / "bad.jpg") == 2
    assert run_cli("--model", tiny_card["tiny"].path, tmp_path / "bad.jpg", "--box", "1,2,3") == 2
    assert "--box must be four integers" in capsys.readouterr().err


def test_cli_predict_writes_the_your_face_figure(tmp_path, tiny_card, astronaut, capsys, detector):
    (tmp_path / "a.png").write_bytes(png(astronaut))
    card = tiny_card["tiny_rgb"]
    assert run_cli("--model", card.path, tmp_path / "a.png", "--out", tmp_path / "figs", "--method", "gradcam",
                   "--format", "png", "svg", "--json") == 0
    r = json.loads(capsys.readouterr().out)[0]
    names = [p.rsplit("/", 1)[1] for p in r["figures"]]
    assert names == ["tiny_rgb_upload_a-face1_gradcam.png", "tiny_rgb_upload_a-face1_gradcam.svg"]
    png_bytes = (tmp_path / "figs" / names[0]).read_bytes()
    assert png_bytes[:8] == b"\x89PNG\r\n\x1a\n" and len(png_bytes) > 5000
    svg = (tmp_path / "figs" / names[1]).read_text()
    top = r["top3"][0][0]
    assert "tiny_rgb" in svg and f"Grad-CAM ({top})" in svg  # the overlay explains the predicted class
    assert run_cli("--model", card.path, tmp_path / "a.png", "--out", tmp_path / "figs", "--method", "lime") == 2
    assert "lime" in capsys.readouterr().err
