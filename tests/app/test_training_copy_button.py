"""The inspector's "also in Training" badge comes with a button that opens the Training copy."""
from __future__ import annotations

import numpy as np

from tests.app.helpers import app_on, page, texts, tiny_rows, write_fer_csv


def test_the_badge_opens_the_training_copy(tiny_env, monkeypatch, tmp_path):
    rows = tiny_rows()
    private = [i for i, r in enumerate(rows) if r[2] == "PrivateTest"]
    face = rows[private[0]]
    rows.append((face[0], np.asarray(face[1]), "Training"))  # an exact copy of the first PrivateTest face
    csv = tmp_path / "fer2013.csv"
    write_fer_csv(csv, rows)
    copy_id = str(len(rows) - 1)  # a CSV's ids are its row numbers
    at = app_on({"data": str(csv), "models": tiny_env["models"]}, monkeypatch)
    at.session_state["sel_id"] = str(private[0])
    at = page(at.run(), "inspector")
    assert not at.exception, [e.value for e in at.exception]
    assert "also in Training as" in texts(at)
    button = at.button(key="insp_open_copy")
    assert button.label == f"Open the Training copy ({copy_id})"
    at = button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["sel_split"] == "Training" and at.session_state["sel_id"] == copy_id
    assert f"**{copy_id}**" in texts(at)
