"""What the Inspector and Your face say at a glance: the probability of the view the maps explain,
the face's place in its confusion cell, a deep link with a bad id keeping its cell, the colour bar
under the overlays, the Methods selector in the Attributions tab, full rows of feature-map tiles,
every detected face in the photo's overview, and a live caption that matches its settings."""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

from tests.app.helpers import APP, app_on, write_fer_csv

LEVELS = 20 + 35 * np.arange(7)  # class c's centre brightness (as the tiny data's)
K = 200.0  # how sharply the lopsided model picks the nearest centre
COLORBAR = "low → high attribution (scaled per map)"


def open_page(at, name: str):
    """Make the next run show page `name` (ferviz's pages are registered under their URL path)."""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(name)
    return at


def run_page(at, name: str):
    return open_page(at, name).run()


def all_texts(at) -> str:
    parts = [c for img in at.image for c in img.captions]
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += [getattr(e, "value", "") or "" for e in getattr(at, kind)]
    return "\n".join(map(str, parts))


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


# ---------------------------------------------------------------- a model whose views disagree


def lopsided_model():
    """Predicts the class whose centre is nearest the brightness of the *left* half of the face:
    its mirror view reads the right half, so one view and the mean of the two differ. The conv
    layer ("conv", 8 channels: channel 0 the pixels, the others scaled copies) is the Grad-CAM layer."""
    import keras

    inp = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(8, 1, name="conv")(inp)
    out = keras.layers.Dense(7, activation="softmax", name="probs")(keras.layers.Flatten()(x))
    model = keras.Model(inp, out)
    model.get_layer("conv").set_weights([np.linspace(1.0, 0.3, 8, dtype=np.float32).reshape(1, 1, 1, 8),
                                         np.zeros(8, np.float32)])
    c = (LEVELS / 255.0).astype(np.float32)
    w = np.zeros((48, 48, 8, 7), np.float32)
    w[:, :24, 0, :] = 2 * K * c / (48 * 24)  # logit_j = 2 K c_j mean(left half) - K c_j^2
    model.get_layer("probs").set_weights([w.reshape(-1, 7), (-K * c ** 2).astype(np.float32)])
    return model


def lopsided_faces() -> list[tuple[int, np.ndarray, str]]:
    """Class c's two PrivateTest faces: left half at c's brightness, right half at class c+3's
    (ids 0-13, first in the file), then one plain Training and PublicTest face per class."""
    rng = np.random.default_rng(7)
    rows = []
    for c in range(7):
        for k in range(2):
            face = np.empty((48, 48))
            face[:, :24] = LEVELS[c] + 2 * k
            face[:, 24:] = LEVELS[(c + 3) % 7]
            rows.append((c, np.clip(face + rng.integers(-2, 3, (48, 48)), 0, 255).astype(np.uint8), "PrivateTest"))
    for usage in ("Training", "PublicTest"):
        rows += [(c, np.full((48, 48), LEVELS[c], np.uint8), usage) for c in range(7)]
    return rows


@pytest.fixture(scope="module")
def lopsided_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("lopsided")
    csv = root / "fer2013.csv"
    write_fer_csv(csv, lopsided_faces())
    models = root / "models"
    models.mkdir()
    lopsided_model().save(models / "lopsided.keras")
    (models / "lopsided.json").write_text(json.dumps({
        "name": "Lopsided", "file": "lopsided.keras", "gradcam_layer": "conv", "tta": "mirror",
        "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]}}))
    return {"data": str(csv), "models": str(models)}


@pytest.fixture
def lopsided_app(lopsided_env, monkeypatch):
    return app_on(lopsided_env, monkeypatch, "lopsided")


def _probs(face: np.ndarray) -> np.ndarray:
    """The model's probabilities for one face, computed here (not through ferviz)."""
    x = face.astype(np.float32)[None, :, :, None] / 255.0
    return np.asarray(lopsided_model()(x))[0]


def test_single_view_caption_shows_the_single_views_probability(lopsided_app):
    face = lopsided_faces()[0][1]  # angry on the left, happy on the right
    single = _probs(face)
    both = (single + _probs(face[:, ::-1])) / 2
    target = int(np.argmax(both))
    assert abs(single[target] - both[target]) > 0.1  # the views disagree: the test can fail
    lopsided_app.session_state["sel_id"] = "0"
    at = run_page(lopsided_app.run(), "inspector")
    ok(at)
    head = next(m.value for m in at.markdown if m.value.startswith("**Lopsided** — explaining"))
    assert f"(p = {both[target]:.1%})" in head and "maps: mean of 2 test-time views" in head
    at.radio(key="insp_views").set_value("single").run()
    ok(at)
    head = next(m.value for m in at.markdown if m.value.startswith("**Lopsided** — explaining"))
    assert f"**{['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'][target]}**" in head
    assert f"p = {single[target]:.1%} in this single view; {both[target]:.1%} averaged over the views" in head
    if int(np.argmax(single)) != target:
        assert "this view alone predicts" in head
    assert "maps: single view" in head


def test_methods_sit_in_the_attributions_tab_with_a_colour_bar_under_the_overlays(lopsided_app):
    lopsided_app.session_state["sel_id"] = "0"
    at = run_page(lopsided_app.run(), "inspector")
    ok(at)
    maps_tab = next(t for t in at.tabs if t.label == "Attributions")
    assert [m.key for m in maps_tab.multiselect] == ["insp_methods"]
    above = [m for m in at.multiselect if m.key == "insp_methods"]
    assert len(above) == 1  # only the one in the tab
    captions = [c for img in maps_tab.image for c in img.captions]
    assert captions.count(COLORBAR) == 1
    assert captions.index(COLORBAR) > max(captions.index(m) for m in ("Grad-CAM", "Grad-CAM++"))
    bar = next(img for img in maps_tab.image if COLORBAR in img.captions)
    assert bar.proto.imgs  # an image, not only a caption
    at.multiselect(key="insp_methods").set_value(["gradcampp"]).run()
    ok(at)
    captions = [c for img in at.image for c in img.captions]
    assert "Grad-CAM++" in captions and "XRAI" not in captions and COLORBAR in captions


def test_feature_map_tiles_fill_their_rows(lopsided_app):
    lopsided_app.session_state["sel_id"] = "0"
    at = run_page(lopsided_app.run(), "inspector")
    at.session_state["insp_tab"] = "Feature maps"
    at.run()
    ok(at)
    rows = [img.captions for img in at.image if img.captions and img.captions[0].startswith("#")]
    assert [len(r) for r in rows] == [4, 4]  # 8 channels: 4 + 4, not 7 + 1
    at.slider(key="insp_fm_top").set_value(6).run()
    assert [len(img.captions) for img in at.image if img.captions and img.captions[0].startswith("#")] == [6]


def test_grid_columns_make_full_rows():
    from ferviz.ui.feature_maps import grid_columns

    assert grid_columns(8) == 4 and grid_columns(7) == 7 and grid_columns(16) == 4 and grid_columns(12) == 6
    for n in range(1, 17):  # the panel's "Channels per block" slider goes to 16
        cols = grid_columns(n)
        last = n - (-(-n // cols) - 1) * cols
        assert cols <= 7 and last >= cols / 2, (n, cols, last)  # no near-empty last row


# ---------------------------------------------------------------- cells and deep links


def _link(tiny_env, monkeypatch, params: dict, name: str):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FERVIZ_DATA", tiny_env["data"])
    monkeypatch.setenv("FERVIZ_MODELS", tiny_env["models"])
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(params)
    at = run_page(at, name)
    ok(at)
    return at


def _cell_ids(tiny_env, monkeypatch, true: str, pred: str) -> list[str]:
    """The cell's ids in the gallery's order, read off the Errors page."""
    at = _link(tiny_env, monkeypatch, {"model": "tiny_a", "true": true, "pred": pred}, "errors")
    return [c.value for c in at.caption if c.value.isdigit()]


def _position(at) -> str:
    return next(m.value for m in at.markdown if re.match(r"^\*\*\w+\*\*( · |$)", m.value))


def test_a_cell_link_counts_the_face_in_its_cell(tiny_env, monkeypatch):
    ids = _cell_ids(tiny_env, monkeypatch, "fear", "happy")
    assert len(ids) == 2
    at = _link(tiny_env, monkeypatch, {"model": "tiny_a", "true": "fear", "pred": "happy", "id": ids[1]},
               "inspector")
    assert _position(at) == f"**{ids[1]}** · 2 of 2 in fear → happy"  # not its place among all 14 errors
    at.button(key="insp_prev").click().run()
    ok(at)
    assert _position(at) == f"**{ids[0]}** · 1 of 2 in fear → happy"
    assert at.button(key="insp_prev").disabled and not at.button(key="insp_next").disabled


def test_a_link_without_a_cell_counts_all_errors(tiny_env, monkeypatch):
    at = _link(tiny_env, monkeypatch, {"model": "tiny_a"}, "inspector")
    assert re.fullmatch(r"\*\*\d+\*\* · 1 of 14 in the gallery", _position(at))


def test_a_bad_id_in_a_cell_link_keeps_the_cell(tiny_env, monkeypatch):
    ids = _cell_ids(tiny_env, monkeypatch, "fear", "happy")
    at = _link(tiny_env, monkeypatch, {"model": "tiny_a", "true": "fear", "pred": "happy", "id": "no-such-face"},
               "inspector")
    assert "No image 'no-such-face' in PrivateTest; showing the first image of fear → happy instead." in \
        [w.value for w in at.warning]
    assert (at.session_state["sel_true"], at.session_state["sel_pred"]) == ("fear", "happy")
    assert at.session_state["sel_id"] == ids[0]
    assert _position(at) == f"**{ids[0]}** · 1 of 2 in fear → happy"
    assert at.query_params["true"] == "fear" and at.query_params["pred"] == "happy"
    assert at.query_params["id"] == ids[0]


# ---------------------------------------------------------------- Your face


def _upload(at, rgb: np.ndarray):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=92)
    at = run_page(at.run(), "upload")
    at.file_uploader(key="up_file").upload("faces.jpg", buf.getvalue(), "image/jpeg")
    return at.run()


def test_your_face_overview_shows_every_face_and_the_inspectors_methods(app):
    from skimage import data as skdata

    astronaut = skdata.astronaut()
    at = _upload(app, np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))  # two faces
    ok(at)
    t = all_texts(at)
    n = int(re.search(r"(\d+) face\(s\) found", t).group(1))
    assert n == 2
    crops = [c for img in at.image for c in img.captions if re.fullmatch(r"\d+ · \w+ \d+%", c)]
    assert [c.split(" · ")[0] for c in crops] == ["1", "2"]  # one crop per face, numbered as its box
    assert at.multiselect(key="up_methods").value == ["gradcam", "gradcampp", "xrai"]  # the inspector's defaults
    for method in ("Grad-CAM", "Grad-CAM++", "XRAI"):
        assert any(re.fullmatch(rf"{re.escape(method)} for \w+", c) for img in at.image for c in img.captions), method
    assert COLORBAR in [c for img in at.image for c in img.captions]
    at.radio(key=next(r.key for r in at.radio if r.key.startswith("up_choice_"))).set_value("face 2").run()
    ok(at)
    assert "Face 2" in [s.value for s in at.subheader]


class FakeStreamer:
    """streamlit-webrtc's component replaced (AppTest has no browser to stream from)."""

    def __init__(self):
        self.playing = False

    def __call__(self, **kwargs):
        return SimpleNamespace(state=SimpleNamespace(playing=self.playing, signalling=False))


def test_live_caption_matches_the_views_setting(lopsided_app, monkeypatch):
    from ferviz.ui.live import import_webrtc

    fake = FakeStreamer()
    monkeypatch.setattr(import_webrtc(), "webrtc_streamer", fake)
    at = run_page(lopsided_app.run(), "upload")
    at.radio(key="up_source").set_value("Live (webcam)").run()
    ok(at)
    caption = next(c.value for c in at.caption if c.value.startswith("Lopsided, live:"))
    assert at.toggle(key="up_live_tta").value is True
    assert "each frame's prediction averages the card's 2 test-time views (mirror)" in caption
    assert "Grad-CAM on the largest face, from a single view" in caption
    assert "Press Start to analyse your camera live" in all_texts(at)  # no error: the note shows
    at.toggle(key="up_live_tta").set_value(False).run()
    ok(at)
    caption = next(c.value for c in at.caption if c.value.startswith("Lopsided, live:"))
    assert "each frame's prediction from a single view (test-time views off)" in caption
    assert "averages" not in caption
    fake.playing = True
    at.run()
    assert "Press Start to analyse your camera live" not in all_texts(at)  # playing: no stale note
