"""Helpers for the AppTest tests: reading what a run shows (texts, tiles, plotly arrays) and
opening pages. Plain functions (the fixtures that set up data and models are in conftest.py)."""
from __future__ import annotations

import base64

import numpy as np

from ferviz.config import PROJECT_ROOT

APP = str(PROJECT_ROOT / "app.py")
LEVELS = 20 + 35 * np.arange(7)  # the tiny data: class c's faces have brightness LEVELS[c]


def texts(at) -> str:
    """All markdown, captions, info/warning/error texts of a run, joined."""
    parts = [c for img in at.image for c in img.captions]
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += [getattr(e, "value", "") or "" for e in getattr(at, kind)]
    return "\n".join(map(str, parts))


def open_page(at, name: str):
    """Make the next run show page `name`. ferviz's pages are callables registered under their
    name as URL path (``ferviz.ui.navigation``); AppTest.switch_page only finds file pages, so
    this sets the page hash that st.navigation registered for that URL path."""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(name)
    return at


def page(at, name: str):
    """Open page `name` and run the app."""
    return open_page(at, name).run()


def app_on(env, monkeypatch, model: str = "tiny_a"):
    """An AppTest of app.py on `env`'s data and models with `model` selected."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FERVIZ_DATA", env["data"])
    monkeypatch.setenv("FERVIZ_MODELS", env["models"])
    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["sel_model"] = model
    return at


def tiles(at) -> list[dict]:
    """The gallery's tiles in reading order (left to right, then down): id, caption, badges.

    A tile is a run of elements in one gallery column: image, caption markdown, badge
    markdown (when it has badges), id caption, Inspect button. Columns are read in the
    element tree's order, then interleaved (a column holding several tiles holds tiles
    1, 1 + n, 1 + 2n, ...; one tile per column, as in row-by-row grids, reads straight)."""
    import re

    from streamlit.testing.v1.element_tree import Block

    def flat(node):
        for child in node.children.values():
            if isinstance(child, Block):
                yield from flat(child)
            else:
                yield child

    columns = []

    def walk(node):
        if node.type == "column":
            found = []
            for child in flat(node):
                kind = child.type
                if kind == "image":
                    found.append({"id": None, "caption": None, "badges": []})
                elif found and kind == "markdown" and child.value.startswith((":red[✗]", ":green[✓]", ":gray[○]")):
                    found[-1]["caption"] = child.value
                elif found and kind == "markdown" and "-badge[" in child.value:
                    found[-1]["badges"] = re.findall(r":\w+-badge\[([^\]]*)\]", child.value)
                elif found and kind == "caption" and found[-1]["id"] is None:
                    found[-1]["id"] = child.value
            if found and all(t["caption"] for t in found):
                columns.append(found)
            return
        for child in node.children.values():
            if isinstance(child, Block):
                walk(child)

    walk(at._tree[0])
    out, row = [], 0
    while any(row < len(c) for c in columns):
        out += [c[row] for c in columns if row < len(c)]
        row += 1
    return out


def upload_astronaut(at):
    """The Your face page with scikit-image's astronaut photo (public domain) uploaded."""
    import io

    from PIL import Image
    from skimage import data as skdata

    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(buf, format="JPEG")
    at = page(at.run(), "upload")
    at.file_uploader(key="up_file").upload("astronaut.jpg", buf.getvalue(), "image/jpeg")
    return at.run()


def chart(at, title: str) -> dict:
    """The plotly spec of the first chart of a run whose title contains `title`."""
    import json

    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if title in str(spec.get("layout", {}).get("title", {}).get("text", "")):
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def array_values(values) -> list:
    """A plotly JSON array: a list, or a typed array {"dtype": ..., "bdata": base64}."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)


def write_fer_csv(path, rows) -> None:
    """A FER2013-format CSV (emotion,pixels,Usage) of (label, face pixels, usage) rows."""
    path.write_text("emotion,pixels,Usage\n" + "\n".join(
        f"{c},{' '.join(map(str, np.asarray(f).ravel().astype(int)))},{u}" for c, f, u in rows) + "\n")


def tiny_rows():
    """PrivateTest: per class 6 faces at its own level and 2 at the next class's level (errors c -> c+1)."""
    rows, rng = [], np.random.default_rng(3)
    for c in range(7):
        for k in range(8):
            level = LEVELS[c] if k < 6 else LEVELS[(c + 1) % 7]
            face = np.clip(level + rng.integers(-3, 4, 2304), 0, 255)
            face[:48 * 8] = np.clip(face[:48 * 8] + 2 * k, 0, 255)  # a little structure
            rows.append((c, face, "PrivateTest"))
        rows.append((c, np.full(2304, LEVELS[c]), "Training"))
        rows.append((c, np.full(2304, LEVELS[c]), "PublicTest"))
    return rows
