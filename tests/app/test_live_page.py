"""The Your face page's live mode through AppTest, with streamlit-webrtc's component replaced by a
stand-in (AppTest has no browser to stream from): its settings, frames through the video callback,
the status line, the snapshot into the photo analysis."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from tests.app.helpers import page, texts


class FakeStreamer:
    """Records webrtc_streamer's arguments; reports the stream as playing or not."""

    def __init__(self):
        self.playing = False
        self.kwargs = {}

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        return SimpleNamespace(state=SimpleNamespace(playing=self.playing, signalling=False))


@pytest.fixture
def streamer(monkeypatch):
    from ferviz.ui.live import import_webrtc

    fake = FakeStreamer()
    monkeypatch.setattr(import_webrtc(), "webrtc_streamer", fake)
    return fake


def _live(app):
    at = page(app.run(), "upload")
    at.radio(key="up_source").set_value("Live (webcam)")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _face_frame():
    from skimage import data

    frame = np.full((480, 640, 3), 120, np.uint8)
    head = data.astronaut()[0:250, 100:300]
    frame[100:300, 240:400] = np.asarray(Image.fromarray(head).resize((160, 200), Image.Resampling.BICUBIC))
    return frame


def test_live_mode_streams_locally_and_waits_for_start(app, streamer):
    at = _live(app)
    t = texts(at)
    assert streamer.kwargs["rtc_configuration"] == {"iceServers": []}  # no public STUN server
    assert streamer.kwargs["media_stream_constraints"]["audio"] is False
    assert "Tiny A, live: faces found by OpenCV's Haar cascade" in t
    assert "Press Start to analyse your camera live" in t
    assert "NotAllowedError** means the camera permission was denied" in t  # not playing: camera help
    assert "what the model sees" not in t  # no photo analysis before a snapshot
    at.button(key="up_live_snap").click()
    at.run()
    assert not at.exception
    assert "No video frame yet: press Start and allow the camera" in texts(at)


def test_frames_through_the_callback_then_a_snapshot(app, streamer):
    import av

    at = _live(app)
    callback = streamer.kwargs["video_frame_callback"]
    frame = _face_frame()
    for _ in range(3):
        out = callback(av.VideoFrame.from_ndarray(frame, format="rgb24")).to_ndarray(format="rgb24")
    assert out.shape == frame.shape and (out != frame).any()  # boxes, labels, Grad-CAM, fps drawn
    streamer.playing = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    t = texts(at)
    assert "frames per second** · 1 face · largest face: " in t and "smoothed" in t
    assert "NotAllowedError" not in t  # playing: no camera help
    at.button(key="up_live_snap").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    t = texts(at)
    assert "Below: the snapshot" in t and "(still-photo analysis)" in t
    assert "1 face(s) found" in t and "### Tiny A:" in t and "Grad-CAM for" in t  # MTCNN on the frozen frame
