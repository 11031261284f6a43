"""AppTest fixtures: a tiny FER2013-format CSV whose errors are known, and two hand-weighted models."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.unit.tiny_models import brightness_model

LEVELS = 20 + 35 * np.arange(7)  # class c's faces have brightness LEVELS[c]
APP = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "app.py")


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


def _card(folder, stem, model, name):
    model.save(folder / f"{stem}.keras")
    (folder / f"{stem}.json").write_text(json.dumps({
        "name": name, "file": f"{stem}.keras", "gradcam_layer": "conv",
        "input": {"height": 48, "width": 48, "channels": 1, "scale": [0, 1]},
        "metrics": {"PrivateTest": {"accuracy": 0.75}}}))


@pytest.fixture(scope="session")
def tiny_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("appdata")
    csv = root / "fer2013.csv"
    csv.write_text("emotion,pixels,Usage\n" + "\n".join(
        f"{c},{' '.join(map(str, f.astype(int)))},{u}" for c, f, u in tiny_rows()) + "\n")
    models = root / "models"
    models.mkdir()
    centres = LEVELS / 255.0
    _card(models, "tiny_a", brightness_model(centres), "Tiny A")
    # model B calls every happy face sad: its sad centre sits just above happy's brightness
    # and its happy centre far below it
    b = centres.copy()
    b[4] = centres[3] + 0.02
    b[3] = centres[3] - 0.08
    _card(models, "tiny_b", brightness_model(b), "Tiny B")
    return {"data": str(csv), "models": str(models)}


@pytest.fixture
def app(tiny_env, monkeypatch):
    """An AppTest of app.py on the tiny data with Tiny A selected."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FERVIZ_DATA", tiny_env["data"])
    monkeypatch.setenv("FERVIZ_MODELS", tiny_env["models"])
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["sel_model"] = "tiny_a"
    return at


def texts(at) -> str:
    """All markdown, captions, info/warning/error texts of a run, joined."""
    parts = [c for img in at.image for c in img.captions]
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += [getattr(e, "value", "") or "" for e in getattr(at, kind)]
    return "\n".join(map(str, parts))


def page(at, name: str):
    at.switch_page(f"ferviz/ui/pages/{name}.py")
    return at.run()
