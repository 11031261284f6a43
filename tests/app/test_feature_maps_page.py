"""The Feature maps tab of the inspector and the feature maps of an uploaded face render without an
exception: channel tiles with their indices and scores, and the Grad-CAM layer's top channel."""
from __future__ import annotations

from tests.app.helpers import page, texts, upload_astronaut


def _no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def _tile_captions(at) -> list[str]:
    return [c for img in at.image for c in img.captions if c.startswith("#")]


def test_inspector_feature_maps_tab(app):
    at = app.run()
    at.session_state["sel_id"] = "6"
    at = page(at, "inspector")
    _no_exceptions(at)
    assert [t.label for t in at.tabs] == ["Attributions", "Feature maps"]
    assert not _tile_captions(at)  # computed only when its tab is open
    at.session_state["insp_tab"] = "Feature maps"
    at.run()
    _no_exceptions(at)
    t = texts(at)
    # Tiny A: one block (its conv layer, 48x48, 2 channels); only channel 0 feeds the classes
    assert "**conv** · 48x48, 2 channels · top 2 by mean activation" in t
    assert "conv channel #0: 100.0% of the Grad-CAM evidence" in t
    assert "single view (no test-time augmentation)" in t
    caps = _tile_captions(at)
    assert len(caps) == 2 and caps[0].startswith("#0 · ") and caps[1] == "#1 · 0"
    at.radio(key="insp_fm_rank").set_value("gradxact").run()
    _no_exceptions(at)
    assert "top 2 by gradient x activation" in texts(at)
    at.slider(key="insp_fm_top").set_value(1).run()
    _no_exceptions(at)
    assert _tile_captions(at)[0].startswith("#0 · ") and len(_tile_captions(at)) == 1


def test_uploaded_face_feature_maps(app):
    at = upload_astronaut(app)
    _no_exceptions(at)
    assert "Feature maps of Tiny A" in [e.label for e in at.expander] and not _tile_captions(at)
    at.session_state["up_features"] = True  # open the expander
    at.run()
    _no_exceptions(at)
    assert "conv channel #0: 100.0% of the Grad-CAM evidence" in texts(at)
    assert len(_tile_captions(at)) == 2
