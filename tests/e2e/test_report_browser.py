"""The report's HTML in real Chromium with the network blocked: it opens from the file alone, every
image loads (naturalWidth > 0), every section heading shows, and nothing was fetched from anywhere
else (any request not for the file itself is aborted and counted)."""
from __future__ import annotations

from ferviz.cli import main
from ferviz.config import MODELS_DIR
from ferviz.report import HEADINGS


def test_report_html_opens_offline_with_every_image(fer_path, browser, tmp_path):
    out = tmp_path / "report"
    assert main(["report", "--model", str(MODELS_DIR / "baseline_cnn.json"), "--data", str(fer_path),
                 "--split", "PrivateTest", "--format", "html", "--pair-sheets", "1", "--region-cells", "1",
                 "--region-faces", "8", "--stress-faces", "60", "--out", str(out)]) == 0
    html = out / "baseline_cnn_PrivateTest_report.html"
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, offline=True)
    page = ctx.new_page()
    blocked = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()
    page.route("**/*", route)
    page.goto(html.as_uri(), wait_until="load")
    images = page.evaluate("""() => Array.from(document.images).map(i => ({
        ok: i.complete && i.naturalWidth > 0, alt: i.alt, src: i.src.slice(0, 22)}))""")
    assert len(images) >= 6
    assert all(i["ok"] for i in images), [i["alt"] for i in images if not i["ok"]]
    assert all(i["src"] == "data:image/png;base64," for i in images)
    headings = page.locator("h2").all_inner_texts()
    assert headings == list(HEADINGS)
    assert page.locator("nav a").count() == len(HEADINGS)
    assert not blocked, blocked
    ctx.close()
