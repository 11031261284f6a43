"""A shared instance (FERVIZ_SHARED=1): no inputs that take a server path; the upload limit; and a
"busy, try again" message instead of a hung page when every XRAI slot is taken."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ferviz.ui import serving
from tests.app.helpers import page, texts, upload_astronaut


def _no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def _keys(at, kind: str) -> list[str]:
    return [w.key for w in at.get(kind)]


def _captions(at) -> list[str]:
    return [c for img in at.image for c in img.captions]


@pytest.fixture
def slots_taken():
    """Hold every XRAI slot of this process (as other visitors' XRAI computations would)."""
    sem = serving.xrai_semaphore()
    held = []

    def take():
        while sem.acquire(blocking=False):
            held.append(1)

    def give_back():
        while held:
            held.pop()
            sem.release()

    yield take, give_back
    give_back()


def test_shared_mode_hides_the_inputs_that_take_a_server_path(app, monkeypatch, tmp_path, tiny_env):
    at = page(app.run(), "data")
    _no_exceptions(at)
    assert "data_path_input" in _keys(at, "text_input") and "w_model_dir" in _keys(at, "text_input")
    assert "data_upload" in _keys(at, "file_uploader")

    monkeypatch.setenv("FERVIZ_SHARED", "1")
    at.session_state["data_path"] = str(tmp_path / "elsewhere.csv")  # set before: no longer followed
    at.session_state["model_dir"] = str(tmp_path)
    at = page(at, "data")
    _no_exceptions(at)
    assert "data_path_input" not in _keys(at, "text_input") and "w_model_dir" not in _keys(at, "text_input")
    assert "data_upload" not in _keys(at, "file_uploader")
    t = texts(at)
    assert "This is a shared instance: it analyses the dataset it was started with" in t
    assert "This is a shared instance: its models are the ones it was started with." in t
    assert f"Using `{tiny_env['data']}`" in t  # the data the server was started with
    at = page(at, "errors")  # the pages still work on the server's data
    _no_exceptions(at)
    assert "images ·" in texts(at)


def test_upload_over_the_limit_is_refused(app, monkeypatch):
    monkeypatch.setenv("FERVIZ_MAX_UPLOAD_MB", "0.01")
    at = upload_astronaut(app)
    _no_exceptions(at)
    assert "astronaut.jpg: " in texts(at) and "is over the 0.01 MB limit" in texts(at)
    assert not any("XRAI" in c for c in _captions(at))


def test_shared_mode_lowers_the_upload_limit(monkeypatch):
    monkeypatch.delenv("FERVIZ_MAX_UPLOAD_MB", raising=False)
    monkeypatch.delenv("FERVIZ_SHARED", raising=False)
    assert serving.max_upload_bytes() == 20 << 20
    monkeypatch.setenv("FERVIZ_SHARED", "1")
    assert serving.max_upload_bytes() == 5 << 20


def test_inspector_says_busy_when_every_xrai_slot_is_taken(app, monkeypatch, tmp_path, slots_taken):
    from ferviz.attribution.cache import clear_memory

    take, give_back = slots_taken
    monkeypatch.setenv("FERVIZ_CACHE", str(tmp_path))  # this image's XRAI map is not cached yet
    monkeypatch.setenv("FERVIZ_XRAI_WAIT", "0")
    clear_memory()
    at = app.run()
    at.session_state["sel_id"] = "6"
    take()
    at = page(at, "inspector")
    _no_exceptions(at)
    assert any(serving.BUSY_MESSAGE in w.value for w in at.warning)
    caps = _captions(at)
    assert "Grad-CAM" in caps and "Grad-CAM++" in caps and "XRAI" not in caps  # the others still show

    give_back()
    at.button(key="insp_retry_tiny_a_xrai").click().run()
    _no_exceptions(at)
    assert not any(serving.BUSY_MESSAGE in w.value for w in at.warning)
    assert "XRAI" in _captions(at)

    take()  # a cached map needs no slot
    at.run()
    _no_exceptions(at)
    assert "XRAI" in _captions(at) and not any(serving.BUSY_MESSAGE in w.value for w in at.warning)


def test_your_face_says_busy_when_every_xrai_slot_is_taken(app, monkeypatch, slots_taken):
    take, give_back = slots_taken
    monkeypatch.setenv("FERVIZ_XRAI_WAIT", "0")
    rng = np.random.default_rng(1616)  # a photo no other test analysed (nothing cached for it)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (96, 96), dtype=np.uint8)).save(buf, format="PNG")
    at = page(app.run(), "upload")
    take()
    at.file_uploader(key="up_file").upload("noise.png", buf.getvalue(), "image/png")
    at.run()
    _no_exceptions(at)
    assert any(serving.BUSY_MESSAGE in w.value for w in at.warning)
    caps = _captions(at)
    assert any(c.startswith("Grad-CAM for ") for c in caps) and not any(c.startswith("XRAI for ") for c in caps)

    give_back()
    at.button(key="up_retry_tiny_a_xrai").click().run()
    _no_exceptions(at)
    assert any(c.startswith("XRAI for ") for c in _captions(at))
    assert not any(serving.BUSY_MESSAGE in w.value for w in at.warning)


def test_an_xrai_slot_is_free_again_after_a_computation_fails():
    with pytest.raises(ValueError):
        with serving.xrai_slot(wait=0):
            raise ValueError("boom")
    with serving.xrai_slot(wait=0):  # the slot came back
        pass
