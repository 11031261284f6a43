"""In real Chromium on the real FER2013: after ``python -m ferviz precompute`` for the eight most
confident fear → sad errors of the shipped model, eight browser sessions at once each open one of
those faces in the inspector and all see their three maps (Grad-CAM, Grad-CAM++, XRAI) loaded and
not blank, with no "busy" message: nobody waits for a map."""
from __future__ import annotations

import io
import json
import re

import numpy as np
from PIL import Image

from ferviz.cli import main
from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.labels import EMOTIONS
from ferviz.models import list_cards

CARD = next(c for c in list_cards()[0] if c.model_path.parent == ROOT / "models")
CAPTION = '[data-testid="stImageCaption"]'
SESSIONS = 8


def test_eight_sessions_at_once_see_their_precomputed_maps(server, browser, fer_path, capsys):
    from ferviz.analysis.evaluation import evaluate
    from ferviz.data.splits import load_fer2013

    assert main(["precompute", "--models", str(CARD.path), "--data", str(fer_path), "--splits", "PrivateTest",
                 "--what", "evaluate,maps", "--cells", "fear:sad", "--top", str(SESSIONS), "--workers", "0",
                 "--quiet"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(summary)["failed"] == 0
    ev = evaluate(CARD, load_fer2013(fer_path, "PrivateTest"))
    ids = [str(i) for i in ev.errors(EMOTIONS.index("fear"), EMOTIONS.index("sad"))["id"].head(SESSIONS)]

    contexts, pages = [], []
    for face_id in ids:  # every session starts before any is waited on: they run at once
        ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
        pg = ctx.new_page()
        pg.set_default_timeout(240_000)
        pg.goto(f"{server}/inspector?model={CARD.key}&true=fear&pred=sad&id={face_id}", wait_until="commit")
        contexts.append(ctx)
        pages.append(pg)
    try:
        for face_id, pg in zip(ids, pages):
            pg.get_by_text(re.compile(rf"^{re.escape(face_id)} · \d+ of \d+ in fear → sad")).wait_for()
            for caption in ("Grad-CAM", "Grad-CAM++", "XRAI"):
                pg.locator(CAPTION, has_text=re.compile(f"^{re.escape(caption)}$")).first.wait_for()
            pg.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
            body = pg.inner_text("body")
            assert "busy" not in body.lower() and "Traceback" not in body, (face_id, body[:500])
            caption = pg.locator(CAPTION, has_text=re.compile(r"^(Grad-CAM|Grad-CAM\+\+|XRAI)$"))
            imgs = pg.locator('[data-testid="stImageContainer"]', has=caption).locator("img")
            assert imgs.count() == 3, face_id
            for k in range(3):
                img = imgs.nth(k)
                img.scroll_into_view_if_needed()
                pg.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
                px = np.asarray(Image.open(io.BytesIO(pg.request.get(img.evaluate("i => i.src")).body())))
                assert px.std() > 8, (face_id, k)  # a map, not a flat tile
    finally:
        for ctx in contexts:
            ctx.close()
