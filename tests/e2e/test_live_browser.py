"""Live webcam mode in real Chromium, fed by its fake camera (a face video made here, or its own pattern)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from ferviz.labels import EMOTIONS
from ferviz.models import list_cards
from ferviz.config import PROJECT_ROOT as ROOT

pytestmark = pytest.mark.browser
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
FPS = re.compile(r"\d+\.\d frames per second")
SHIPPED = [c for c in list_cards()[0] if c.model_path.parent == ROOT / "models"]
MODEL = max(SHIPPED, key=lambda c: c.metrics.get("PrivateTest", {}).get("accuracy", 0)).key  # the best one


def face_frame(t: int = 0, frames: int = 60) -> np.ndarray:
    """Frame t of the face video: the astronaut's head (scikit-image's sample photo) on grey."""
    from skimage import data

    head = np.asarray(Image.fromarray(data.astronaut()[0:250, 100:300]).resize((200, 250), Image.Resampling.BICUBIC))
    frame = np.full((480, 640, 3), 110, np.uint8)
    x = 220 + int(40 * np.sin(2 * np.pi * t / frames))
    frame[110:360, x:x + 200] = head
    return frame


def face_video(path, frames: int = 60) -> None:
    """A 640x480 Y4M video (what Chromium's fake camera plays, looped) of the head drifting sideways."""
    import cv2

    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        for t in range(frames):
            out.write(b"FRAME\n" + cv2.cvtColor(face_frame(t, frames), cv2.COLOR_RGB2YUV_I420).tobytes())


@pytest.fixture(scope="module")
def camera(playwright_session, tmp_path_factory, chromium):
    """Launch Chromium with a fake camera: `camera(video)` (a Y4M file, or None for Chromium's pattern)."""
    opened = []

    def launch(video=None, *, fake: list[str] = FAKE_CAMERA, allow: bool = True):
        extra = [f"--use-file-for-fake-video-capture={video}"] if video else []
        b = playwright_session.chromium.launch(executable_path=chromium[0], headless=True, args=chromium[1] + fake + extra)
        opened.append(b)
        ctx = b.new_context(viewport={"width": 1500, "height": 1300}, permissions=["camera"] if allow else [])
        page = ctx.new_page()
        page.set_default_timeout(180_000)
        return page

    yield launch
    for b in opened:
        b.close()


def _start_live(page, server, *, wait_fps: bool = True):
    page.goto(f"{server}/upload?model={MODEL}")
    page.get_by_text("Live (webcam)").click()
    page.get_by_text("Press Start to analyse your camera live").wait_for()
    frame = page.frame_locator('iframe[title*="webrtc"]')
    frame.get_by_role("button", name="Start").click()
    if wait_fps:
        page.get_by_text(FPS).wait_for(timeout=120_000)
    return frame


def test_live_face_video_shows_boxes_emotions_and_frame_rate(server, camera, tmp_path, no_exception, shot):
    video = tmp_path / "face.y4m"
    face_video(video)
    page = camera(str(video))
    # a photo first, so the server has loaded TensorFlow before the live mode loads aiortc
    # (pylibsrtp after TensorFlow used to crash the server)
    photo = tmp_path / "face.png"
    Image.fromarray(face_frame()).save(photo)
    page.goto(f"{server}/upload?model={MODEL}")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    page.get_by_text(re.compile(r"^1 face\(s\) found")).wait_for()
    _start_live(page, server)
    emotions = "|".join(EMOTIONS)
    # the rate is 0.0 until a second frame has been analysed: wait for a positive one
    status = re.compile(rf"(?:[1-9]\d*\.\d|0\.[1-9]) frames per second · 1 face · largest face: ({emotions}) "
                        r"\(\d+%, smoothed\)")
    status = page.get_by_text(status)
    status.wait_for(timeout=180_000)
    fps = float(FPS.search(status.inner_text()).group().split()[0])
    assert fps > 0
    body = page.inner_text("body")
    assert "Live analysis failed" not in body and "No face found" not in body
    no_exception(page)
    page.wait_for_timeout(3000)  # let the video settle for the screenshot
    shot(page, "live.png", height=1300)


def test_live_camera_pattern_no_face_then_snapshot(server, camera, no_exception):
    page = camera(None)  # Chromium's own test pattern: no face in it
    _start_live(page, server)
    page.get_by_text(re.compile(r"frames per second · 0 faces")).wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"^No face found: face the camera and move closer")).wait_for()
    assert "Live analysis failed" not in page.inner_text("body")
    page.get_by_role("button", name="Snapshot: analyse this frame").click()
    page.get_by_text(re.compile(r"Below: the snapshot \d\d:\d\d:\d\d \(still-photo analysis\)")).wait_for()
    page.get_by_text("No face found in this photo.", exact=False).wait_for()  # MTCNN on the frozen frame
    page.get_by_text("what the model sees (48x48 grayscale)").wait_for()  # the whole-image fallback
    no_exception(page)


def test_live_without_a_camera_or_permission_says_so(server, camera, no_exception):
    page = camera(None, fake=[])  # headless Chromium with no fake device: no camera at all
    frame = _start_live(page, server, wait_fps=False)
    frame.get_by_text(re.compile(r"^NotFoundError")).wait_for(timeout=60_000)  # the browser's error, in the box
    page.get_by_text(re.compile(r"NotFoundError means no camera was found")).wait_for()  # and what it means
    assert not FPS.search(page.inner_text("body"))
    no_exception(page)
    page = camera(None, fake=["--use-fake-device-for-media-stream"], allow=False)  # a camera, permission refused
    frame = _start_live(page, server, wait_fps=False)
    frame.get_by_text(re.compile(r"^NotAllowedError")).wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"NotAllowedError means the camera permission was denied")).wait_for()
    no_exception(page)
