"""The Inspector and Your face as a user sees them in Chromium at 1440x900, on the real FER2013 and a
shipped model: the face's place in its cell, the probability of the view the maps explain, every
overlay loaded and not blank, a colour bar under them, full rows of feature-map tiles; every face
of a photo in its overview, the inspector's methods, and no stale note under a camera error."""
from __future__ import annotations

import io
import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.labels import EMOTIONS
from ferviz.models import load_card

pytestmark = pytest.mark.browser
CARD = load_card(ROOT / "models" / "vgg_small.json")  # test-time views: mirror+shift
COLORBAR = "low → high attribution (scaled per map)"
CAPTION = '[data-testid="stImageCaption"]'


def _images_with_caption(page, pattern: str):
    """The <img> elements of the st.image blocks whose caption matches `pattern` (a regex)."""
    caption = page.locator(CAPTION, has_text=re.compile(pattern))
    return page.locator('[data-testid="stImageContainer"]', has=caption).locator("img")


def _pixels(page, img) -> np.ndarray:
    """The image as the browser got it: (H, W, 3) uint8, fetched from its own URL."""
    src = img.evaluate("i => i.src")
    return np.asarray(Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB"))


def _loaded(img) -> bool:
    return bool(img.evaluate("i => i.complete && i.naturalWidth > 0"))


def _check_images(page, images, *, label: str) -> None:
    """Each image loaded (naturalWidth > 0) and not blank (its pixels vary)."""
    n = images.count()
    assert n >= 1, label
    for k in range(n):
        img = images.nth(k)
        img.scroll_into_view_if_needed()
        page.wait_for_function("i => i.complete", arg=img.element_handle())
        assert _loaded(img), (label, k)
        assert _pixels(page, img).std() > 8, (label, k)  # not one flat colour


def _box_pixels(px: np.ndarray) -> tuple[int, int]:
    """Pixels of the overview's box colours: the selected face's yellow and the others' green."""
    r, g, b = (px[..., k].astype(int) for k in range(3))
    return int(((r > 200) & (g > 150) & (b < 90)).sum()), int(((r < 90) & (g > 170) & (b < 150)).sum())


def _to_top(page, title: str) -> None:
    """Scroll Streamlit's own container back to the page's title."""
    page.get_by_role("heading", name=title).first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)


def _check_colour_bar(page, key: str) -> None:
    bar = page.locator(f".st-key-{key} img")
    bar.wait_for()
    _check_images(page, bar, label="colour bar")
    px = _pixels(page, bar.first).astype(int)
    row = px[px.shape[0] // 2]
    low, high = row[2], row[-3]
    assert np.abs(high - low).sum() > 200  # viridis: dark purple on the left, yellow on the right
    assert high.sum() > low.sum() + 200  # brighter towards "high"
    page.locator(f".st-key-{key} {CAPTION}", has_text=COLORBAR).wait_for()


def test_inspector_reads_right_at_a_glance(server, page_1440, fer_path, wait_idle, no_exception, shot):
    import keras

    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_fer2013

    page = page_1440
    split = load_fer2013(fer_path, "PrivateTest")
    ev = evaluate(CARD, split)  # the app's cached predictions
    fear, sad = EMOTIONS.index("fear"), EMOTIONS.index("sad")
    cell = ev.errors(fear, sad)
    n, first = len(cell), str(cell["id"].iloc[0])
    page.goto(f"{server}/inspector?model={CARD.key}&true=fear&pred=sad")
    page.get_by_text(f"{first} · 1 of {n} in fear → sad").wait_for()  # its place in the cell, not all errors
    for caption in ("Grad-CAM", "Grad-CAM++", "XRAI"):
        page.locator(CAPTION, has_text=re.compile(f"^{re.escape(caption)}$")).wait_for()
    wait_idle(page)
    no_exception(page)
    overlays = _images_with_caption(page, r"^(Grad-CAM|Grad-CAM\+\+|XRAI)$")
    expect(overlays).to_have_count(3)
    _check_images(page, overlays, label="overlays")
    _check_colour_bar(page, "insp_colorbar")
    # the methods are chosen in the Attributions tab, not above both tabs
    tab = page.get_by_role("tabpanel").filter(has=page.get_by_text("Maps from"))
    expect(tab.get_by_text("Methods", exact=True)).to_be_visible()
    _to_top(page, "Inspector")
    shot(page, "inspector_look.png")
    shot(page, "inspector_look_tall.png", height=2000)
    page.set_viewport_size({"width": 1440, "height": 900})

    # single view: the caption's probability is the single view's, computed here with Keras itself
    pos = split.index_of(first)
    face = split.images[pos]
    model = keras.models.load_model(CARD.model_path, compile=False)
    single = np.asarray(model(face.astype(np.float32)[None, :, :, None] / 255.0))[0][np.argsort(CARD.output_to_fer)]
    averaged = ev.probs[pos]
    assert int(np.argmax(averaged)) == sad
    page.get_by_text("Single view", exact=True).click()
    text = f"p = {single[sad]:.1%} in this single view; {averaged[sad]:.1%} averaged over the views"
    page.get_by_text(text, exact=False).wait_for()
    wait_idle(page)
    no_exception(page)
    _check_images(page, _images_with_caption(page, r"^(Grad-CAM|Grad-CAM\+\+|XRAI)$"), label="single-view overlays")
    _check_colour_bar(page, "insp_colorbar")
    page.get_by_text(text, exact=False).scroll_into_view_if_needed()
    shot(page, "inspector_look_single_view.png")

    # feature maps: 8 channels a block in full rows (4 + 4), not 7 + 1
    page.get_by_role("tab", name="Feature maps").click()
    page.locator(CAPTION, has_text=re.compile(r"^#\d+ · ")).first.wait_for()
    wait_idle(page)
    no_exception(page)
    shot(page, "inspector_look_features.png", height=2400)
    tiles = page.evaluate(f"""() => [...document.querySelectorAll('{CAPTION}')]
        .filter(c => /^#\\d+ · /.test(c.innerText))
        .map(c => [Math.round(c.closest('[data-testid="stImageContainer"]').getBoundingClientRect().top),
                   c.innerText])""")
    per_row = Counter(top for top, _ in tiles)
    assert len(tiles) >= 16 and set(per_row.values()) == {4}, tiles


def test_your_face_shows_every_face_and_the_inspectors_maps(server, page_1440, tmp_path, wait_idle, no_exception,
                                                             shot):
    from skimage import data as skdata

    page = page_1440
    astronaut = skdata.astronaut()
    photo = tmp_path / "two-faces.jpg"
    Image.fromarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)).save(photo, quality=92)
    page.goto(f"{server}/upload?model={CARD.key}")
    page.get_by_text("Upload a photo with one or more faces.").wait_for()
    expect(page.locator(".st-key-up_file")).to_contain_text("20MB per file")  # the photo limit, not 400 MB
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
    found = page.locator(CAPTION, has_text=re.compile(r"^\d+ face\(s\) found"))
    found.wait_for()
    n = int(re.match(r"(\d+)", found.inner_text()).group(1))
    assert n == 2
    emotions = "|".join(EMOTIONS)
    for method in ("Grad-CAM", "Grad-CAM++", "XRAI"):
        page.locator(CAPTION, has_text=re.compile(rf"^{re.escape(method)} for ({emotions})$")).wait_for()
    wait_idle(page)
    no_exception(page)
    # the overview: a crop per face, numbered as its box, with its top prediction ...
    crops = page.locator(f".st-key-up_crops {CAPTION}")
    expect(crops).to_have_count(n)
    assert [re.match(rf"^(\d+) · ({emotions}) \d+%$", c).group(1) for c in crops.all_inner_texts()] == ["1", "2"]
    _check_images(page, page.locator(".st-key-up_crops img"), label="crops")
    # ... and the photo with a box per face: the selected one yellow, the other green
    shown = _pixels(page, page.locator(".st-key-up_photo img").first)
    plain = np.asarray(Image.open(photo).convert("RGB").resize(shown.shape[1::-1], Image.Resampling.BILINEAR))
    yellow, green = _box_pixels(shown)
    assert yellow > _box_pixels(plain)[0] + 40 and green > _box_pixels(plain)[1] + 40, (yellow, green)
    maps = _images_with_caption(page, rf"^(Grad-CAM|Grad-CAM\+\+|XRAI) for ({emotions})$")
    expect(maps).to_have_count(3)
    _check_images(page, maps, label="maps")
    _check_colour_bar(page, "up_colorbar")
    _to_top(page, "Your face")
    shot(page, "your_face_look.png")
    shot(page, "your_face_look_tall.png", height=2000)
    page.set_viewport_size({"width": 1440, "height": 900})

    # live, in a browser without a camera: the "Press Start" note goes once the box shows the error
    page.get_by_text("Live (webcam)").click()
    note = page.locator(".st-key-up_live_start_note")
    expect(note).to_be_visible()
    caption = page.get_by_text(re.compile(r"live: faces found by OpenCV's Haar cascade"))
    expect(caption).to_contain_text(f"averages the card's 10 test-time views ({CARD.tta})")  # the toggle's default
    frame = page.frame_locator('iframe[title*="webrtc"]')
    frame.get_by_role("button", name="Start").click()
    frame.get_by_text(re.compile(r"^\w+Error")).wait_for(timeout=60_000)
    expect(note).to_be_hidden()
    no_exception(page)
    shot(page, "your_face_live_error.png")
