"""Live video analysis (`ferviz.faces.live`): Haar detection on frames, IoU tracking, smoothing, fps, messages."""
from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ferviz.faces import detection as faces
from ferviz.labels import EMOTIONS
from ferviz.faces.live import (
    IOU_MATCH,
    FaceTracker,
    FpsCounter,
    HaarDetector,
    LiveAnalyser,
    draw_message,
    ema,
    iou,
)


@pytest.fixture(scope="module")
def face_frame():
    """A 640x480 frame with the astronaut's head (face about 85 px) pasted near the middle, and where
    her face is: hairline to chin, cheek to cheek (measured on the 512x512 photo: x 180-265, y 65-170)."""
    from skimage import data

    head = data.astronaut()[0:250, 100:300]  # the face is at x 80-165, y 65-170 of this cut
    frame = np.full((480, 640, 3), 120, np.uint8)
    frame[100:300, 240:400] = np.asarray(Image.fromarray(head).resize((160, 200), Image.Resampling.BICUBIC))
    return frame, (240 + 80 * 0.8, 100 + 65 * 0.8, 85 * 0.8, 105 * 0.8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny untrained Keras model (48x48x1) with a card, and the same with mirror+shift test-time views."""
    import keras

    from ferviz.models import card_from_dict, load_model

    folder = tmp_path_factory.mktemp("live-models")
    keras.utils.set_random_seed(0)
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inp, keras.layers.Dense(7, activation="softmax")(x)).save(folder / "tiny.keras")
    spec = {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}
    card = card_from_dict({"name": "tiny", "file": "tiny.keras", "gradcam_layer": "conv",
                           "input": spec}).save(folder / "tiny.json")
    tta = card_from_dict({"name": "tiny tta", "file": "tiny.keras", "gradcam_layer": "conv", "input": spec,
                          "tta": "mirror+shift"}).save(folder / "tiny_tta.json")
    return load_model(card), card, tta


class FakeClock:
    def __init__(self, step: float = 0.1):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


class Boxes:
    """A detector that returns given boxes (the same every call, or one list per call) and counts calls."""

    def __init__(self, *boxes_per_call):
        self.calls = 0
        self._seq = boxes_per_call

    def __call__(self, gray):
        assert gray.ndim == 2 and gray.dtype == np.uint8
        self.calls += 1
        return list(self._seq[min(self.calls, len(self._seq)) - 1])


class Scripted(LiveAnalyser):
    """An analyser whose model answers with given probabilities, frame after frame."""

    def __init__(self, probs, **kw):
        super().__init__(object(), None, gradcam=False, **kw)
        self._probs = iter(probs)

    def predict(self, crops):
        return np.stack([next(self._probs) for _ in crops]).astype(np.float32)


# ------------------------------------------------------------------ detection on frames

def test_haar_finds_the_face_on_a_frame(face_frame):
    frame, (fx, fy, fw, fh) = face_frame
    boxes = HaarDetector()(np.asarray(Image.fromarray(frame).convert("L")))
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert abs((x + w / 2) - (fx + fw / 2)) < 15 and abs((y + h / 2) - (fy + fh / 2)) < 15
    assert 0.7 * fw < w < 1.4 * fw


def test_analyser_boxes_top3_gradcam_and_fps_on_a_face(tiny, face_frame):
    model, card, _ = tiny
    frame, _ = face_frame
    clock = FakeClock(0.05)
    la = LiveAnalyser(model, card, clock=clock)
    for _ in range(3):
        out, r = la.process(frame)
    assert len(r.faces) == 1 and r.main == 0 and r.message is None
    f = r.faces[0]
    assert not f.too_small and f.crop_box is not None and f.crop_box[2] == max(f.box[2], f.box[3])
    assert f.probs.shape == (7,) and np.isclose(f.probs.sum(), 1.0, atol=1e-5)
    top = f.top()
    assert len(top) == 3 and [e for e, _ in top][0] == EMOTIONS[int(np.argmax(f.probs))]
    assert top[0][1] >= top[1][1] >= top[2][1]
    assert r.fps == pytest.approx(3 / clock.t)  # frames per second of the (fake) clock
    assert set(r.timings) == {"detect", "crop", "predict", "gradcam", "draw", "total"}
    assert out.shape == frame.shape and out.dtype == np.uint8 and out is not frame
    x, y, w, h = f.box
    assert (out[y + 4:y + h - 4, x + 4:x + w - 4] != frame[y + 4:y + h - 4, x + 4:x + w - 4]).any()  # Grad-CAM
    assert (out[:30, :200] != frame[:30, :200]).any()  # the fps line
    np.testing.assert_array_equal(la.last_frame(), frame)  # the snapshot is the raw frame


def test_a_model_with_other_classes_live(tmp_path, face_frame):
    """Three outputs (happy, contempt, sad; no angry): probabilities over the vocabulary's columns,
    contempt named on the frame, Grad-CAM warmed up and drawn on a class the model has."""
    import keras

    from ferviz.models import card_from_dict, load_model

    keras.utils.set_random_seed(0)
    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(3, activation="softmax")
    keras.Model(inp, head(x)).save(tmp_path / "three.keras")
    model = keras.models.load_model(tmp_path / "three.keras")
    w, b = model.layers[-1].get_weights()
    model.layers[-1].set_weights([w * 0.01, np.array([0.0, 3.0, 0.0], np.float32)])  # contempt wins
    model.save(tmp_path / "three.keras")
    card = card_from_dict({"name": "three", "file": "three.keras", "gradcam_layer": "conv",
                           "classes": ["happiness", "contempt", "sadness"],
                           "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}
                          ).save(tmp_path / "three.json")
    la = LiveAnalyser(load_model(card), card, clock=FakeClock())
    la.warm_up()  # explains the model's first class (happy), not angry, which it lacks
    frame, _ = face_frame
    out, r = la.process(frame)
    f = r.faces[0]
    assert f.probs.shape == (8,) and np.isclose(f.probs.sum(), 1.0, atol=1e-5)
    assert set(np.flatnonzero(f.probs)) == {3, 4, 7} and f.top()[0][0] == "contempt"
    assert {e for e, _ in f.top()} == {"contempt", "happy", "sad"}  # the model's three, by their names
    x, y, w_, h = f.box
    assert (out[y + 4:y + h - 4, x + 4:x + w_ - 4] != frame[y + 4:y + h - 4, x + 4:x + w_ - 4]).any()


def test_bgr_frames_give_the_same_analysis_in_bgr(tiny, face_frame):
    model, card, _ = tiny
    frame, _ = face_frame
    out_rgb, r_rgb = LiveAnalyser(model, card, clock=FakeClock()).process(frame)
    out_bgr, r_bgr = LiveAnalyser(model, card, clock=FakeClock()).process(frame[..., ::-1].copy(), bgr=True)
    assert [f.box for f in r_bgr.faces] == [f.box for f in r_rgb.faces]
    np.testing.assert_allclose(r_bgr.faces[0].probs, r_rgb.faces[0].probs, atol=1e-6)
    np.testing.assert_array_equal(out_bgr[..., ::-1], out_rgb)


def test_predictions_equal_the_photo_pipeline_with_test_time_views(tiny, face_frame):
    model, card, tta = tiny
    frame, _ = face_frame
    crops = np.stack([faces.crop_face(frame, (300, 150, 85, 85))[0], faces.crop_face(frame, (240, 100, 160, 200))[0]])
    ten = LiveAnalyser(model, tta).predict(crops)  # 2 faces x 10 views in one call
    np.testing.assert_allclose(ten, faces.predict_faces(model, tta, crops), atol=1e-6)
    single = LiveAnalyser(model, tta, tta=False).predict(crops)
    np.testing.assert_allclose(single, faces.predict_faces(model, card, crops), atol=1e-6)
    assert np.abs(single - ten).max() > 1e-5  # the views do change the average


def test_no_face_gives_no_boxes_and_a_message(tiny):
    model, card, _ = tiny
    frame = np.random.default_rng(0).integers(90, 110, (480, 640, 3), dtype=np.uint8)
    out, r = LiveAnalyser(model, card).process(frame)
    assert r.faces == () and r.main is None
    assert r.message.startswith("No face found") and "move closer" in r.message
    assert (out[-40:] != frame[-40:]).any()  # the message is drawn at the bottom


def test_a_face_too_small_is_marked_not_classified(tiny):
    model, card, _ = tiny
    frame = np.full((480, 640, 3), 100, np.uint8)
    la = LiveAnalyser(model, card, detector=Boxes([(100, 100, 30, 30)]))
    _, r = la.process(frame)
    assert len(r.faces) == 1 and r.faces[0].too_small and r.faces[0].probs is None and r.main is None
    assert "too small" in r.message and "move closer" in r.message
    big = LiveAnalyser(model, card, detector=Boxes([(300, 100, 120, 120), (100, 100, 30, 30)]))
    _, r = big.process(frame)
    assert [f.too_small for f in r.faces] == [False, True] and r.main == 0 and r.message is None


def test_no_model_draws_boxes_only(face_frame):
    frame, _ = face_frame
    _, r = LiveAnalyser(None, None, detector=Boxes([(300, 150, 90, 90)])).process(frame)
    assert len(r.faces) == 1 and r.faces[0].probs is None and r.main is None
    assert r.message.startswith("No model")


# ------------------------------------------------------------------ smoothing, tracking, fps

def test_ema_math():
    p0 = np.array([1, 0, 0, 0, 0, 0, 0], np.float32)
    p1 = np.array([0, 1, 0, 0, 0, 0, 0], np.float32)
    np.testing.assert_array_equal(ema(None, p0, 0.4), p0)
    np.testing.assert_allclose(ema(p0, p1, 0.4), 0.4 * p1 + 0.6 * p0)
    p = p0
    for _ in range(30):
        p = ema(p, p1, 0.4)
    np.testing.assert_allclose(p, p1, atol=1e-6)  # 0.6 ** 30 of p0 is left


def test_analyser_smooths_each_tracked_face_with_an_ema():
    seq = [np.eye(7, dtype=np.float32)[k] for k in (3, 3, 6, 6)]
    la = Scripted(seq, detector=Boxes([(100, 100, 80, 80)]), alpha=0.5)
    frame = np.full((480, 640, 3), 100, np.uint8)
    got = [la.process(frame)[1].faces[0].probs for _ in seq]
    want, p = [], None
    for s in seq:
        p = s if p is None else 0.5 * s + 0.5 * p
        want.append(p)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got[2][3] == pytest.approx(0.5) and got[3][6] == pytest.approx(0.75)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 0, 10), (0, 0, 0, 10)) == 0.0


def test_tracker_keeps_ids_by_iou_and_drops_lost_faces():
    tr = FaceTracker(box_alpha=1.0, max_age=2)
    a, b = (100, 100, 80, 80), (400, 120, 60, 60)
    ids = {t.box: t.id for t in tr.update([a, b])}
    assert ids == {tuple(map(float, a)): 1, tuple(map(float, b)): 2}
    moved = [(b[0] + 6, b[1] - 4, 60, 60), (a[0] + 8, a[1] + 5, 80, 80)]  # listed in the other order
    live = tr.update(moved)
    assert [t.id for t in live] == [1, 2] and live[0].box == tuple(map(float, moved[1]))
    far = (10, 300, 70, 70)  # a new face; the others are not seen
    assert {t.id for t in tr.update([far])} == {1, 2, 3}
    tr.update([far])
    assert {t.id for t in tr.update([far])} == {3}  # unseen for 3 > max_age frames


def test_tracker_follows_a_face_that_jumped_further_than_iou_sees():
    tr = FaceTracker(box_alpha=1.0)
    tr.update([(100, 100, 100, 100)])
    assert iou((100, 100, 100, 100), (170, 100, 100, 100)) < IOU_MATCH
    assert [t.id for t in tr.update([(170, 100, 100, 100)])] == [1]  # 0.7 box sides: the same face
    assert sorted(t.id for t in tr.update([(420, 100, 100, 100)])) == [1, 2]  # 2.5 sides: another face
    assert [t.id for t in FaceTracker().update([(0, 0, 100, 100)]) if t.age == 0] == [1]
    tr2 = FaceTracker()
    tr2.update([(100, 100, 100, 100)])
    assert sorted(t.id for t in tr2.update([(130, 100, 30, 30)])) == [1, 2]  # near, but a third the size


def test_tracker_smooths_boxes():
    tr = FaceTracker(box_alpha=0.5)
    tr.update([(100, 100, 80, 80)])
    assert tr.update([(110, 100, 80, 80)])[0].box == (105.0, 100.0, 80.0, 80.0)


def test_missed_detection_keeps_the_face_for_max_age_frames():
    det = Boxes([(100, 100, 80, 80)], [], [], [], [])
    la = Scripted(itertools.repeat(np.full(7, 1 / 7, np.float32)), detector=det, detect_every=1, max_age=2)
    frame = np.full((480, 640, 3), 100, np.uint8)
    counts = [len(la.process(frame)[1].faces) for _ in range(4)]
    assert counts == [1, 1, 1, 0]


def test_detects_every_few_frames_and_carries_boxes_over():
    det = Boxes([(100, 100, 80, 80)])
    la = Scripted(itertools.repeat(np.full(7, 1 / 7, np.float32)), detector=det, detect_every=3)
    frame = np.full((480, 640, 3), 100, np.uint8)
    results = [la.process(frame)[1] for _ in range(7)]
    assert det.calls == 3 and [r.detected for r in results] == [True, False, False] * 2 + [True]
    assert all(r.faces[0].box == (100, 100, 80, 80) for r in results)


def test_a_new_frame_size_restarts_tracking_and_detects_at_once():
    det = Boxes([(100, 100, 80, 80)], [(200, 60, 60, 60)])
    la = Scripted(itertools.repeat(np.full(7, 1 / 7, np.float32)), detector=det, detect_every=5, min_face=20)
    r1 = la.process(np.full((480, 640, 3), 100, np.uint8))[1]
    r2 = la.process(np.full((480, 640, 3), 100, np.uint8))[1]
    r3 = la.process(np.full((240, 320, 3), 100, np.uint8))[1]
    assert [r.detected for r in (r1, r2, r3)] == [True, False, True] and det.calls == 2
    assert [(f.track_id, f.box) for f in r3.faces] == [(1, (200, 60, 60, 60))]  # the old face is forgotten


def test_fps_counter():
    clock = FakeClock(0.1)
    fps = FpsCounter(window=5, clock=clock)
    assert fps.fps == 0.0 and fps.tick() == 0.0
    assert fps.tick() == pytest.approx(10.0)
    for _ in range(10):
        fps.tick()
    clock.step = 0.05  # faster frames: the window forgets the old rate
    for _ in range(5):
        fps.tick()
    assert fps.fps == pytest.approx(20.0)
    with pytest.raises(ValueError):
        FpsCounter(window=1)


def test_draw_message_and_bad_frames(tiny):
    frame = np.zeros((120, 160, 3), np.uint8)
    out = draw_message(frame, "a rather long message that must still fit inside a small frame")
    assert out.shape == frame.shape and (out != 0).any() and (frame == 0).all()
    model, card, _ = tiny
    with pytest.raises(ValueError, match="uint8 frame"):
        LiveAnalyser(model, card).process(np.zeros((48, 48), np.uint8))


def test_webrtc_imports_after_tensorflow_without_crashing():
    """pylibsrtp (aiortc) loaded after TensorFlow used to bind to TensorFlow's BoringSSL and segfault."""
    code = ("import tensorflow\n"
            "from ferviz.ui.live import import_webrtc\n"
            "import_webrtc()\n"
            "import pylibsrtp\n"
            "p = pylibsrtp.Policy(key=bytes(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)\n"
            "print(len(pylibsrtp.Session(policy=p).protect(bytes([0x80, 0x60]) + bytes(10) + b'payload!' * 4)))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-1] == "54"  # 44 bytes of RTP + a 10-byte authentication tag
