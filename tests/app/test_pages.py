"""Each dashboard page through AppTest: what a user sees for known data and models."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.app.helpers import open_page, page, texts, upload_astronaut


def _no_exceptions(at):
    assert not at.exception, [e.value for e in at.exception]


def test_overview_metrics_table_and_pairs(app):
    at = app.run()
    _no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == "75.00%"  # 42 of 56 PrivateTest faces sit at their own level
    assert metrics["Errors"] == "14" and metrics["Model card says"] == "75.00%"
    table = at.dataframe[0].value
    assert list(table["class"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert table["support"].tolist() == [8] * 7
    assert "fear → happy**: 2 images (25% of fear)" in texts(at)


def test_overview_matrix_has_recall_beside_it_and_comes_before_the_slower_panel(app):
    """Each row of the matrix ends with the class's recall and support; what is cheap (matrix, pairs,
    per-class metrics) is drawn before "Is it the model, the label or the data?" (copies in Training,
    FER+: slower the first time)."""
    import json

    at = app.run()
    _no_exceptions(at)
    heads = [h.value for h in at.subheader]
    assert heads.index("Most confused pairs") < heads.index("Per-class metrics") \
        < heads.index("Is it the model, the label or the data?")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    notes = [a["text"] for a in spec["layout"]["annotations"]]
    assert notes == ["recall", "n"] + ["75%", "8"] * 7  # Tiny A: 6 of each class's 8 faces right
    assert spec["data"][0]["textfont"]["size"] >= 11 and spec["layout"]["xaxis"]["tickangle"] == 0


def test_clicking_a_cell_opens_its_gallery(app):
    at = app.run()
    # the chart's selection event, as a click in the browser delivers it (x: predicted, y: true)
    at.session_state["cm_chart"] = {"selection": {"points": [{"x": 3, "y": 2, "curve_number": 1}],
                                                  "point_indices": [17], "box": [], "lasso": []}}
    at.run()
    _no_exceptions(at)
    t = texts(at)
    assert "true **fear** → predicted **happy**: **2** images" in t
    tiles = [m.value for m in at.markdown if m.value.startswith(":red[✗]")]
    assert len(tiles) == 2 and t.count("→ **happy**") == 0  # the heading names the cell; tiles do not
    assert at.session_state["sel_true"] == "fear" and at.session_state["sel_pred"] == "happy"
    assert at.query_params["true"] == "fear" and at.query_params["pred"] == "happy"


def test_keyboard_twin_open_cell_form(app):
    at = app.run()
    at.selectbox(key="cell_true").set_value("sad")
    at.selectbox(key="cell_pred").set_value("surprise")
    next(b for b in at.button if b.label == "Open cell").click()
    at.run()
    _no_exceptions(at)
    assert "true **sad** → predicted **surprise**: **2** images" in texts(at)


def test_errors_gallery_top3_sorting_and_empty_cell(app):
    at = app.run()
    at.session_state["sel_true"], at.session_state["sel_pred"] = "happy", "sad"
    at = page(at, "errors")
    _no_exceptions(at)
    t = texts(at)
    assert "**2** images" in t
    captions = [m.value for m in at.markdown if m.value.startswith(":red[✗]")]
    assert len(captions) == 2 and all(c.startswith(":red[✗] sad ") and "·" in c for c in captions)
    probs = [float(x.split()[-1].rstrip("%")) for c in captions for x in [c.split("\n")[0].split(" · ")[0]]]
    assert probs == sorted(probs, reverse=True)  # most confident first
    at.selectbox(key="err_pred").set_value("angry").run()  # an empty cell
    assert "**0** images" in texts(at) and "No images here." in texts(at)


def test_all_errors_and_gradcam_thumbnails(app):
    at = app.run()
    at = page(at, "errors")
    assert "all errors: **14** images" in texts(at)
    plain = [img.proto.imgs[0].url for img in at.image]  # media URLs name the image content
    at.toggle(key="err_gradcam").set_value(True).run()
    _no_exceptions(at)
    overlaid = [img.proto.imgs[0].url for img in at.image]
    assert len(overlaid) == 14 and set(plain).isdisjoint(overlaid)  # every tile now carries a map
    from ferviz.config import cache_dir

    cached = list((cache_dir() / "attributions").glob("tiny_a-gradcam-*/*.npz"))
    assert len(cached) >= 14  # one Grad-CAM map per tile, computed and cached



def test_inspector_shows_probabilities_and_three_overlays(app):
    at = app.run()
    at.session_state["sel_id"] = "6"  # row 6: an angry face at disgust's brightness
    at = page(at, "inspector")
    _no_exceptions(at)
    t = texts(at)
    assert "**Tiny A** predicts **disgust**" in t and ":red[✗] wrong" in t
    assert "explaining **disgust**" in t
    at.radio(key="insp_target").set_value("true").run()
    assert "explaining **angry**" in texts(at)
    at.toggle(key="insp_faith").set_value(True).run()
    _no_exceptions(at)
    assert texts(at).count("deletion AUC") == 3


def test_inspector_second_model_row(app):
    at = app.run()
    at.session_state["sel_model2"] = "tiny_b"
    at.session_state["sel_id"] = "27"  # a happy face at happy's level: Tiny B says sad
    at = page(at, "inspector")
    _no_exceptions(at)
    t = texts(at)
    assert "**Tiny A** — explaining **happy**" in t and "**Tiny B** — explaining **sad**" in t


def test_compare_page(app):
    at = app.run()
    at.session_state["sel_model2"] = "tiny_b"
    at = page(at, "compare")
    _no_exceptions(at)
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    assert metrics["Tiny A"][0] == "75.00%"
    assert float(metrics["Tiny B"][1].split()[0]) < 0
    assert any("Tiny A right, Tiny B wrong" in tab.label for tab in at.tabs)


def _decoded(values) -> np.ndarray:
    """A plotly JSON array: a (nested) list or a typed array {"dtype", "bdata", "shape"}."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        a = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return a.reshape([int(k) for k in str(values.get("shape", len(a))).split(",")])
    return np.asarray(values)


def _cell_rgb(heat: dict, i: int, j: int) -> tuple[float, float, float]:
    """The colour a plotly heatmap paints cell (i, j): its z on the trace's colour scale."""
    import plotly.colors as pc

    z = _decoded(heat["z"]).astype(float)[i, j]
    frac = (z - heat["zmin"]) / (heat["zmax"] - heat["zmin"])
    return pc.unlabel_rgb(pc.sample_colorscale(heat["colorscale"], [frac])[0])


def test_compare_colours_say_better_or_worse_for_the_first_model(app):
    """Tiny B calls every happy face sad; Tiny A gets the happy-bright ones right. A minus B: on the
    happy row +6 right (better for A: blue) and -6 happy → sad (A makes that mistake less: blue);
    fear → happy +2 (A makes that mistake more: worse for A, red)."""
    import json

    at = app.run()
    at.session_state["sel_model2"] = "tiny_b"
    at = page(at, "compare")
    _no_exceptions(at)
    spec = json.loads(next(c for c in at.get("plotly_chart") if "minus" in c.proto.spec).proto.spec)
    heat = spec["data"][0]
    text = _decoded(heat["text"]).astype(int)
    fear, happy, sad = 2, 3, 4
    assert (text[happy, happy], text[happy, sad], text[fear, happy]) == (6, -6, 2)
    red, green, blue = _cell_rgb(heat, fear, happy)
    assert red > blue + 40, (red, green, blue)  # a positive count off the diagonal: worse, red
    for cell in ((happy, happy), (happy, sad)):  # more right, fewer of that mistake: better, blue
        red, green, blue = _cell_rgb(heat, *cell)
        assert blue > red + 40, (cell, red, green, blue)
    red, green, blue = _cell_rgb(heat, 0, 0)  # no difference: white
    assert min(red, green, blue) > 235
    caption = next(c.value for c in at.caption if "minus" in c.value or "Blue" in c.value)
    assert ":red[Red] is worse for Tiny A" in caption


def test_compare_without_second_model_explains(app):
    at = page(app.run(), "compare")
    assert "Compare with" in texts(at)


def test_url_query_string_reopens_selection(tiny_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.app.helpers import APP

    monkeypatch.setenv("FERVIZ_DATA", tiny_env["data"])
    monkeypatch.setenv("FERVIZ_MODELS", tiny_env["models"])
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": "tiny_b", "split": "PrivateTest", "true": "happy", "pred": "sad"})
    at = page(at.run(), "errors")
    _no_exceptions(at)
    assert at.session_state["sel_model"] == "tiny_b"
    assert "true **happy** → predicted **sad**: **8** images" in texts(at)


def _link(tiny_env, monkeypatch, params: dict):
    """An AppTest session opened from a link with query `params`, on the Errors page."""
    from streamlit.testing.v1 import AppTest

    from tests.app.helpers import APP

    monkeypatch.setenv("FERVIZ_DATA", tiny_env["data"])
    monkeypatch.setenv("FERVIZ_MODELS", tiny_env["models"])
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    at = page(at.run(), "errors")
    _no_exceptions(at)
    return at


@pytest.mark.parametrize("bad", [{"split": "Validation"}, {"model": "gone_model"}, {"id": ""},
                                 {"sort": "by-magic"}, {"show": "nothing"}, {"model2": "also_gone"}])
def test_a_deep_link_keeps_its_cell_when_another_value_is_bad(tiny_env, monkeypatch, bad):
    at = _link(tiny_env, monkeypatch, {"model": "tiny_a", "true": "fear", "pred": "happy", **bad})
    assert (at.session_state["sel_true"], at.session_state["sel_pred"]) == ("fear", "happy")
    assert "true **fear** → predicted **happy**: **2** images" in texts(at)
    assert at.query_params["true"] == "fear" and at.query_params["pred"] == "happy"  # the link stays whole
    assert at.session_state["sel_split"] == "PrivateTest" and at.radio(key="err_sort").value == "confidence"
    name = next(iter(bad))
    assert name not in at.query_params or at.query_params[name] != bad[name]  # the bad value is dropped


def test_a_deep_link_reads_class_names_loosely_and_drops_a_bad_one_alone(tiny_env, monkeypatch):
    at = _link(tiny_env, monkeypatch, {"true": "Scared", "pred": "3", "split": "private"})
    assert (at.session_state["sel_true"], at.session_state["sel_pred"]) == ("fear", "happy")
    assert "true **fear** → predicted **happy**: **2** images" in texts(at)
    assert at.query_params["true"] == "fear" and at.query_params["split"] == "PrivateTest"
    at = _link(tiny_env, monkeypatch, {"true": "fear", "pred": "bored"})  # the bad class alone falls back
    assert at.session_state["sel_true"] == "fear" and "sel_pred" not in at.session_state
    assert "true **fear**, any wrong prediction" in texts(at) and "pred" not in at.query_params


def test_no_data_keeps_app_usable(app, monkeypatch, tmp_path):
    monkeypatch.setenv("FERVIZ_DATA", str(tmp_path / "missing.zip"))
    at = app.run()
    _no_exceptions(at)
    assert "FERVIZ_DATA" in texts(at) and "no such file" in texts(at)
    at = page(at, "data")
    assert "Kaggle" in texts(at)
    bad = "emotion,pixels,Usage\n3," + " ".join(["1"] * 2303) + ",PrivateTest\n"
    at.file_uploader(key="data_upload").upload("fer2013.csv", bad.encode(), "text/csv")
    at.run()
    _no_exceptions(at)
    assert "fer2013.csv: row 1 (line 2): 2303 pixels, expected 2304" in texts(at)


def test_upload_page_photo_and_bad_file(app):
    at = upload_astronaut(app)
    _no_exceptions(at)
    t = texts(at)
    assert "1 face(s) found" in t and "### Tiny A:" in t
    assert "Grad-CAM for" in t and "XRAI for" in t
    at.file_uploader(key="up_file").upload("notes.png", b"not an image at all", "image/png")
    at.run()
    _no_exceptions(at)
    assert "notes.png:" in texts(at)


@pytest.mark.parametrize("name", ["errors", "inspector", "compare"])
def test_pages_without_data_point_to_setup(app, monkeypatch, tmp_path, name):
    monkeypatch.setenv("FERVIZ_DATA", str(tmp_path / "nope.csv"))
    at = page(app.run(), name)
    _no_exceptions(at)
    assert "no such file" in texts(at)


def test_inspect_from_a_cell_keeps_the_cell_order(app):
    at = app.run()
    at.session_state["sel_true"], at.session_state["sel_pred"] = "happy", "sad"
    at = page(at, "errors")
    first_id = next(c for c in at.caption if c.value.isdigit()).value
    next(b for b in at.button if b.label == "Inspect").click()
    at.run()
    _no_exceptions(at)
    assert f"**{first_id}** · 1 of 2 in happy → sad" in texts(at)  # its place in the cell
    open_page(at, "inspector")  # AppTest does not follow the app's own page switch
    at.run()
    at.button(key="insp_next").click().run()
    assert "· 2 of 2 in happy → sad" in texts(at)
    assert at.button(key="insp_next").disabled


def test_cell_mean_attribution_map(app):
    at = app.run()
    at.session_state["sel_true"], at.session_state["sel_pred"] = "sad", "surprise"
    at = page(at, "errors")
    at.toggle(key="err_mean_on").set_value(True).run()
    _no_exceptions(at)
    t = texts(at)
    assert "mean face of 2 images" in t and "mean Grad-CAM towards the predicted class" in t


def test_model_picker_shows_each_cards_accuracy(app):
    at = app.run()
    picker = at.sidebar.selectbox(key="w_sel_model")
    assert "Tiny A · 75.0%" in picker.options and picker.value == "tiny_a"


def test_inspector_after_a_split_change_uses_this_splits_images(app):
    at = page(app.run(), "errors")
    next(b for b in at.button if b.label == "Inspect").click()
    at.run()
    assert "of 14 in the gallery" in texts(at)
    at.sidebar.selectbox(key="w_sel_split").set_value("PublicTest").run()
    at = page(at, "inspector")
    _no_exceptions(at)  # the PrivateTest gallery and id are not followed into PublicTest
    assert "showing the first image instead" in texts(at)  # PublicTest has no errors
    assert at.session_state["sel_id"] not in at.session_state["gallery_ids"]


def test_inspector_after_a_model_switch_walks_that_models_errors(app):
    at = app.run()
    at.sidebar.selectbox(key="w_sel_model").set_value("tiny_b").run()
    n_b = int(next(m.value for m in at.metric if m.label == "Errors"))
    at.sidebar.selectbox(key="w_sel_model").set_value("tiny_a").run()
    at.session_state["sel_true"], at.session_state["sel_pred"] = "happy", "sad"
    at = page(at, "errors")
    next(b for b in at.button if b.label == "Inspect").click()
    at.run()
    assert "1 of 2 in happy → sad" in texts(at)
    open_page(at, "inspector")  # AppTest does not follow the app's own page switch
    at.sidebar.selectbox(key="w_sel_model").set_value("tiny_b").run()
    _no_exceptions(at)
    assert " of 8 in happy → sad" in texts(at) and n_b != 8  # Tiny B's happy → sad cell, not all its errors


def test_clicking_the_same_cell_again_after_coming_back(app):
    click = {"selection": {"points": [{"x": 3, "y": 2, "curve_number": 1}], "point_indices": [17],
                           "box": [], "lasso": []}}
    at = app.run()
    at.session_state["cm_chart"] = click
    at.run()
    assert "true **fear** → predicted **happy**" in texts(at)
    at = page(at, "overview")
    assert "Confusion matrix" in texts(at) or at.metric
    at.session_state["cm_chart"] = click
    at.run()
    _no_exceptions(at)
    assert "true **fear** → predicted **happy**: **2** images" in texts(at)


def test_gallery_page_sort_and_size_survive_a_visit_to_the_inspector(app):
    at = page(app.run(), "errors")
    at.selectbox(key="err_per_page").set_value(12).run()
    at.radio(key="err_sort").set_value("loss").run()
    at.number_input(key="gallery_page").set_value(2).run()
    assert at.number_input(key="gallery_page").value == 2
    at = page(at, "inspector")
    _no_exceptions(at)
    at = page(at, "errors")
    _no_exceptions(at)
    assert at.number_input(key="gallery_page").value == 2
    assert at.selectbox(key="err_per_page").value == 12 and at.radio(key="err_sort").value == "loss"


def test_a_link_to_a_missing_model_says_so(tiny_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.app.helpers import APP

    monkeypatch.setenv("FERVIZ_DATA", tiny_env["data"])
    monkeypatch.setenv("FERVIZ_MODELS", tiny_env["models"])
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": "gone_model", "model2": "also_gone"})
    at.run()
    _no_exceptions(at)
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "No model 'gone_model'" in warnings and "No model 'also_gone'" in warnings
    assert at.session_state["sel_model"] != "gone_model"


def test_a_first_visit_opens_the_most_accurate_model(tiny_env, monkeypatch):
    """Tiny B's card reports a higher PrivateTest accuracy than Tiny A's: a visit with no model
    chosen opens Tiny B, whatever the order of the cards."""
    import json
    import shutil

    from streamlit.testing.v1 import AppTest

    from ferviz.models import list_cards
    from ferviz.ui.context import best_key
    from tests.app.helpers import APP

    folder = Path(tiny_env["models"]).parent / "ranked_models"
    if not folder.exists():
        shutil.copytree(tiny_env["models"], folder)
        card = json.loads((folder / "tiny_b.json").read_text())
        card["metrics"] = {"PrivateTest": {"accuracy": 0.9}}
        (folder / "tiny_b.json").write_text(json.dumps(card))
    monkeypatch.setenv("FERVIZ_DATA", tiny_env["data"])
    monkeypatch.setenv("FERVIZ_MODELS", str(folder))
    monkeypatch.setattr("ferviz.config.MODELS_DIR", folder / "none")
    cards = list_cards()[0]
    assert [c.key for c in cards] == ["tiny_a", "tiny_b"] and best_key(cards) == "tiny_b"
    at = AppTest.from_file(APP, default_timeout=120).run()
    _no_exceptions(at)
    assert at.session_state["sel_model"] == "tiny_b"
    assert at.sidebar.selectbox(key="w_sel_model").value == "tiny_b"
