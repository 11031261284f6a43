"""The inspector's Feature maps tab in real Chromium: computed when the tab is clicked, its channel
tiles load, and the figure downloads as a PNG."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image


pytestmark = pytest.mark.browser


def test_inspector_feature_maps_tab(server, page, tmp_path, fer_path, wait_idle, no_exception, shipped_card):
    MODEL = shipped_card.key
    from ferviz.data.splits import load_fer2013

    image_id = str(load_fer2013(fer_path, "PrivateTest").ids[0])
    page.goto(f"{server}/inspector?model={MODEL}&split=PrivateTest&id={image_id}")
    page.get_by_text("Explain the class").wait_for()
    tab = page.get_by_role("tab", name="Feature maps")
    assert page.get_by_text("Rank channels by").count() == 0  # not computed before the tab opens
    tab.click()
    page.locator('[data-testid="stImageCaption"]',
                 has_text=re.compile(r"channel #\d+: \d+\.\d% of the Grad-CAM evidence")).first.wait_for()
    wait_idle(page)
    tiles = page.locator('[data-testid="stImageCaption"]', has_text=re.compile(r"^#\d+ · "))
    assert tiles.count() >= 8  # at least one block of 8 channels
    page.wait_for_function("() => { const im = [...document.images].filter(i => i.src.includes('/media/') "
                           "&& i.checkVisibility()); return im.length >= 9 && im.every(i => i.complete "
                           "&& i.naturalWidth > 0); }")
    no_exception(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Feature maps figure (PNG)").click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.name.startswith(f"{MODEL}_PrivateTest_{image_id}_features_mean_target-")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and Image.open(io.BytesIO(data)).size[0] > 600
