"""Figures read back: what each builder draws, and the files it renders to (PNG/SVG/PDF)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from ferviz.export import (ExportError, annotated_figure, cell_sheet, comparison_figure,
                           confusion_figure, figure_bytes, pixel_size)
from tests.filecheck import file_kind, pdf_image_count, pdf_text, png_size, svg_text
from ferviz.figures.overlay import overlay
from ferviz.config import PROJECT_ROOT as ROOT
from ferviz.labels import EMOTIONS

PROBS = np.array([0.05, 0.01, 0.10, 0.02, 0.62, 0.05, 0.15], np.float32)  # sad, neutral, fear


def _face(seed=0, size=48):
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def _blob(cy=20, cx=30, size=48):
    yy, xx = np.mgrid[:size, :size]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 80.0).astype(np.float32)


def _texts(fig) -> list[str]:
    """Every text string drawn in a figure (titles, labels, ticks, annotations)."""
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _text_of(data: bytes, fmt: str) -> str:
    return svg_text(data) if fmt == "svg" else pdf_text(data)


# ---------------------------------------------------------------- annotated image

def test_annotated_figure_labels_probabilities_caption():
    fig = annotated_figure(_face(), PROBS, overlays={"Grad-CAM": _blob()}, true=2, model_name="Tiny CNN",
                           image_id="PrivateTest_123", split="PrivateTest")
    assert isinstance(fig, Figure)
    texts = "\n".join(_texts(fig))
    assert "true: fear" in texts and "predicted: sad" in texts and "wrong" in texts
    for s in ("62.0%", "15.0%", "10.0%", "fear (true)", "Grad-CAM", "input",
              "Tiny CNN", "PrivateTest_123", "PrivateTest", "viridis", "opacity 0.50"):
        assert s in texts, s
    assert "5.0%" not in texts.replace("15.0%", "")  # only the top 3


def test_annotated_bars_are_the_top3_in_order_and_true_outside_top3_is_noted():
    fig = annotated_figure(_face(), PROBS, true="happy")
    bars = [ax for ax in fig.axes if ax.get_title().startswith("top-")][0]
    widths = sorted((p.get_width() for p in bars.patches), reverse=True)
    assert widths == pytest.approx([0.62, 0.15, 0.10])
    assert "p(happy, true) = 2.0%" in "\n".join(_texts(fig))


@pytest.mark.parametrize("true, verdict", [(4, "correct"), ("sad", "correct"), (2, "wrong"), (None, None)])
def test_annotated_verdict(true, verdict):
    title = annotated_figure(_face(), PROBS, true=true).get_suptitle()
    assert "predicted: sad" in title
    if verdict is None:
        assert "true" not in title and "correct" not in title and "wrong" not in title
    else:
        assert verdict in title


def test_annotated_overlay_pixels_come_from_ferviz_overlay():
    face, m = _face(1), _blob()
    fig = annotated_figure(face, PROBS, overlays={"A": m, "B": 1 - m}, cmap="magma", alpha=0.7)
    images = {ax.get_title(): ax.get_images()[0].get_array() for ax in fig.axes if ax.get_images()}
    assert set(images) == {"input", "A", "B"}
    np.testing.assert_array_equal(images["input"], face)
    np.testing.assert_array_equal(images["A"], overlay(face, m, alpha=0.7, cmap="magma"))
    np.testing.assert_array_equal(images["B"], overlay(face, 1 - m, alpha=0.7, cmap="magma"))
    assert not np.array_equal(images["A"], overlay(face, m, alpha=0.3, cmap="magma"))


def test_comparison_figure_has_both_models():
    fig = comparison_figure(_face(), ("Model A", PROBS, {"Grad-CAM": _blob()}),
                            ("Model B", np.roll(PROBS, -2), None), true=2, image_id="7", split="PrivateTest")
    texts = "\n".join(_texts(fig))
    assert "Model A: predicted sad (62.0%)" in texts and "Model B: predicted fear (62.0%)" in texts
    assert "wrong" in texts and "correct" in texts and "true: fear" in texts and "image: 7" in texts


# ---------------------------------------------------------------- cell sheet

def test_cell_sheet_header_tiles_and_limit():
    n = 23
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    probs = rng.dirichlet(np.ones(7), n).astype(np.float32)
    ids = [f"PrivateTest_{i}" for i in range(n)]
    fig = cell_sheet(faces, probs, ids, true="fear", pred="sad", model_name="Tiny CNN", split="PrivateTest",
                     limit=12, cols=5)
    ax = fig.axes[0]
    rows = [im.get_array() for im in ax.get_images()]
    assert len(rows) == 3  # 12 faces, 5 per row
    assert [r.shape[1] // _pitch() for r in rows] == [5, 5, 2]
    texts = _texts(fig)
    assert "true fear \u2192 predicted sad, 23 images (first 12 shown)" in texts
    assert any("Tiny CNN" in t and "PrivateTest" in t for t in texts)
    for i in range(12):
        assert f"{100 * probs[i, 4]:.1f}%" in texts and ids[i] in texts
    assert ids[12] not in texts
    np.testing.assert_array_equal(_tile(rows[0], 3), faces[3])
    np.testing.assert_array_equal(_tile(rows[2], 1), faces[11])


def _pitch(width=48):
    from ferviz.export.sheets import gap_px

    return gap_px(width)[1]


def _tile(row, c, width=48):
    """Face c of a sheet row image (faces side by side with white gaps)."""
    from ferviz.export.sheets import gap_px

    gap_l, pitch = gap_px(width)
    return row[:, c * pitch + gap_l:c * pitch + gap_l + width]


def test_cell_sheet_overlays_and_p_vector():
    faces = np.stack([_face(i) for i in range(4)])
    maps = np.stack([_blob(10 + 5 * i, 20) for i in range(4)])
    fig = cell_sheet(faces, np.array([0.9, 0.8, 0.7, 0.6]), None, true=2, pred=4, overlays=maps,
                     method="Grad-CAM", cmap="cividis", alpha=0.4)
    (row,) = [im.get_array() for im in fig.axes[0].get_images()]
    np.testing.assert_array_equal(_tile(row, 2), overlay(faces[2], maps[2], alpha=0.4, cmap="cividis"))
    assert row.shape == (48, 4 * _pitch(), 3) and (row[:, 0] == 255).all()  # white gaps between faces
    texts = "\n".join(_texts(fig))
    assert "90.0%" in texts and "overlay: Grad-CAM (cividis, opacity 0.40)" in texts


@pytest.mark.parametrize("kwargs, match", [
    (dict(faces=np.zeros((0, 48, 48), np.uint8)), "non-empty"),
    (dict(ids=["a"]), "one entry per face"),
    (dict(overlays=np.zeros((2, 48, 48))), "overlays must be"),
    (dict(probs=np.zeros((2, 11))), "2-10 class probabilities"),
    (dict(probs=np.zeros((2, 3))), "not one for each of sad"),
    (dict(limit=0), "limit"),
    (dict(cols=0), "cols"),
    (dict(pred="bored"), "unknown emotion"),
])
def test_cell_sheet_rejects_bad_input(kwargs, match):
    args = dict(faces=np.zeros((3, 48, 48), np.uint8), probs=np.full((3, 7), 1 / 7), ids=["a", "b", "c"])
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    with pytest.raises(ExportError, match=match):
        cell_sheet(args["faces"], args["probs"], args["ids"], true=2, pred=kwargs.pop("pred", 4), **kwargs)


# ---------------------------------------------------------------- confusion matrix

def test_confusion_figure_counts_normalised_and_accuracy():
    cm = np.arange(49).reshape(7, 7) + np.eye(7, dtype=int) * 100
    acc = np.trace(cm) / cm.sum()
    fig = confusion_figure(cm, model_name="Tiny CNN", split="PrivateTest")
    ax = fig.axes[0]
    cells = [t.get_text() for t in ax.texts]
    assert cells == [str(v) for v in cm.ravel()]
    assert ax.get_title() == f"Tiny CNN on PrivateTest: accuracy {100 * acc:.1f}%"
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["angry", "disgust"]
    assert len(fig.axes) == 2  # the colorbar
    fig = confusion_figure(cm, normalize=True, accuracy=0.5, model_name="M", split="S")
    ax = fig.axes[0]
    shares = cm / cm.sum(axis=1, keepdims=True)
    assert [t.get_text() for t in ax.texts] == [f"{v:.2f}" for v in shares.ravel()]
    assert ax.get_title().endswith("accuracy 50.0%")
    np.testing.assert_allclose(ax.get_images()[0].get_array(), shares)


def _ticks(labels) -> list[str]:
    return [t.get_text() for t in labels]


def test_a_rectangular_confusion_figure_names_rows_and_columns():
    """FER2013's seven true classes against an eight-class model (AffectNet's order, with
    contempt): a 7x8 matrix whose columns are the model's classes in vocabulary order."""
    from ferviz.analysis.evaluation import Evaluation

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 7, 400)
    probs = rng.dirichlet(np.ones(8), 400).astype(np.float32)
    probs[np.arange(400), labels] += 1.0  # mostly right
    probs[:40, 7] += 2.0  # 40 read as contempt
    probs /= probs.sum(axis=1, keepdims=True)
    ev = Evaluation("Eight", "PrivateTest", probs, labels, np.arange(400).astype(str), tuple(range(8)),
                    tuple(range(7)))
    m = ev.matrix()
    assert m.shape == (7, 8)
    fig = confusion_figure(m.to_numpy(), classes=list(m.index), columns=list(m.columns), accuracy=ev.accuracy,
                           model_name="Eight", split="PrivateTest", note=ev.outside_note())
    ax = fig.axes[0]
    assert _ticks(ax.get_xticklabels()) == list(EMOTIONS) + ["contempt"]
    assert _ticks(ax.get_yticklabels()) == list(EMOTIONS)
    assert ax.get_images()[0].get_array().shape == (7, 8)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), m.to_numpy())
    assert [t.get_text() for t in ax.texts] == [str(v) for v in m.to_numpy().ravel()]
    bold = [(i, j) for k, (i, j) in enumerate(np.ndindex(7, 8)) if ax.texts[k].get_fontweight() == "bold"]
    assert bold == [(i, i) for i in range(7)]
    assert ax.get_title() == f"Eight on PrivateTest: accuracy {100 * ev.accuracy:.1f}%"
    assert m.to_numpy()[:, 7].sum() == 40  # the contempt column holds predictions
    assert png_size(figure_bytes(fig, "png", dpi=100)) == (640, 560)


def test_rows_the_model_cannot_output_are_marked():
    """A dataset with contempt (FER+'s eight) against a seven-class model: an 8x7 matrix whose
    contempt row is marked and hatched, its faces counted apart."""
    from ferviz.analysis.evaluation import Evaluation

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 8, 300)
    probs = rng.dirichlet(np.ones(8), 300).astype(np.float32)
    probs[:, 7] = 0  # the model has no contempt output
    probs /= probs.sum(axis=1, keepdims=True)
    ev = Evaluation("Seven", "PrivateTest", probs, labels, np.arange(300).astype(str), tuple(range(7)),
                    tuple(range(8)))
    m = ev.matrix()
    fig = confusion_figure(m.to_numpy(), classes=list(m.index), columns=list(m.columns), accuracy=ev.accuracy,
                           note=ev.outside_note())
    ax = fig.axes[0]
    assert _ticks(ax.get_yticklabels()) == list(EMOTIONS) + ["contempt *"]
    assert _ticks(ax.get_xticklabels()) == list(EMOTIONS)
    assert ax.get_images()[0].get_array().shape == (8, 7)
    hatched = [p for p in ax.patches if p.get_hatch() == "//"]
    assert len(hatched) == 1 and hatched[0].get_y() == pytest.approx(6.5) and hatched[0].get_width() == 7
    assert [t.get_fontstyle() for t in ax.texts[-7:]] == ["italic"] * 7
    foot = fig._supxlabel.get_text()
    assert "* not a class of the model" in foot and ev.outside_note() in foot
    assert f"{int((labels == 7).sum())} of 300 faces are labelled contempt" in foot.replace(",", "")


@pytest.mark.parametrize("k", [6, 10])
def test_square_matrices_of_other_sizes(k):
    cm = np.arange(k * k).reshape(k, k)
    ax = confusion_figure(cm).axes[0]
    from ferviz.labels import NAMES

    assert _ticks(ax.get_xticklabels()) == _ticks(ax.get_yticklabels()) == list(NAMES[:k])
    assert ax.get_images()[0].get_array().shape == (k, k) and len(ax.texts) == k * k


@pytest.mark.parametrize("cm, kwargs, match", [
    (np.zeros((6, 6)), {"classes": EMOTIONS}, "7x7"),
    (np.zeros((7, 8)), {"columns": EMOTIONS + ("contempt", "unknown")}, "7x9"),
    (np.zeros((7, 8)), {"classes": EMOTIONS, "columns": EMOTIONS}, "7x7"), (np.zeros((11, 11)), {}, "1-10 rows"),
    (np.zeros((2, 2)), {"classes": ("fear", "bored")}, "unknown emotion 'bored'"),
    (np.zeros((2, 2)), {"classes": ("fear", "scared")}, "twice"), (-np.ones((7, 7)), {}, "non-negative"),
    (np.ones((7, 7)), {"accuracy": 1.5}, "accuracy"), (np.ones((7, 7)), {"cmap": "nope"}, "colormap"),
])
def test_confusion_figure_rejects_bad_input(cm, kwargs, match):
    with pytest.raises(ExportError, match=match):
        confusion_figure(cm, **kwargs)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, match", [
    (dict(probs=np.ones(11)), "2-10 class probabilities"), (dict(probs=np.ones(1)), "2-10 class probabilities"),
    (dict(probs=np.array([np.nan] * 7)), "finite"),
    (dict(alpha=1.5), "opacity"),
    (dict(cmap="no_such_map"), "unknown colormap"),
    (dict(size_in=(0.1, 3)), "size"),
    (dict(size_in="big"), "size"),
    (dict(dpi=5), "dpi"),
    (dict(top_k=9), "top_k"),
    (dict(true=10), "outside 0-9"), (dict(classes=(0, 7)), "not one for each of angry, contempt"),
    (dict(classes=(0, 1), top_k=3), "top_k must be an integer in 1-2"),
    (dict(overlays={"bad": np.zeros((2, 48, 48))}), "2-D map"),
    (dict(face=np.zeros((48,))), "grayscale"),
])
def test_annotated_figure_rejects_bad_input(kwargs, match):
    face = kwargs.pop("face", _face())
    probs = kwargs.pop("probs", PROBS)
    with pytest.raises(ExportError, match=match):
        annotated_figure(face, probs, **kwargs)
    assert issubclass(ExportError, ValueError)


# ---------------------------------------------------------------- rendered files

def _all_figures():
    rng = np.random.default_rng(3)
    faces = rng.integers(0, 256, (12, 48, 48), dtype=np.uint8)
    return {
        "annotated": (annotated_figure(faces[0], PROBS, overlays={"Grad-CAM": _blob()}, true=2,
                                       model_name="Tiny CNN", image_id="PrivateTest_77", split="PrivateTest"),
                      ["true: fear", "predicted: sad", "62.0%", "15.0%", "10.0%", "Grad-CAM", "Tiny CNN",
                       "PrivateTest_77"]),
        "sheet": (cell_sheet(faces, np.linspace(0.9, 0.3, 12), [f"id{i}" for i in range(12)], true=2, pred=4,
                             model_name="Tiny CNN", split="PrivateTest", overlays=np.stack([_blob()] * 12)),
                  ["true fear \u2192 predicted sad, 12 images", "90.0%", "30.0%", "id0", "id11", "Tiny CNN"]),
        "confusion": (confusion_figure(np.eye(7, dtype=int) * 10 + 1, model_name="Tiny CNN", split="PrivateTest"),
                      ["accuracy 64.7%", "angry", "neutral", "11", "predicted", "true"]),
    }


@pytest.fixture(scope="module")
def figures():
    return _all_figures()


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
@pytest.mark.parametrize("kind", ["annotated", "sheet", "confusion"])
def test_vector_files_keep_labels_and_numbers_as_text(figures, kind, fmt):
    fig, expected = figures[kind]
    data = figure_bytes(fig, fmt)
    assert file_kind(data) == fmt
    text = _text_of(data, fmt)
    for s in expected:
        assert s in text, (s, text[:400])
    if fmt == "pdf":
        assert b"/CIDFontType2" in data and b"/Type3" not in data  # TrueType (Type 42) fonts
        assert b"/ToUnicode" in data
        assert pdf_image_count(data) >= (0 if kind == "confusion" else 1)
    else:
        assert b"<text" in data and "<path" not in text


@pytest.mark.parametrize("kind", ["annotated", "sheet", "confusion"])
def test_png_magic_and_size(figures, kind):
    fig, _ = figures[kind]
    data = figure_bytes(fig, "png", dpi=100)
    assert file_kind(data) == "png"
    w, h = fig.get_size_inches()
    assert png_size(data) == (round(w * 100), round(h * 100)) == pixel_size(fig, 100)


@pytest.mark.parametrize("size_in, dpi", [((6.4, 3.0), 150), ((4.0, 2.5), 300), ((5.5, 3.3), 72), ((3.0, 2.0), 96)])
def test_png_is_exactly_size_times_dpi(size_in, dpi):
    from PIL import Image
    import io

    fig = annotated_figure(_face(), PROBS, true=4, size_in=size_in, dpi=dpi)
    data = figure_bytes(fig, "png")
    expect = (round(size_in[0] * dpi), round(size_in[1] * dpi))
    assert png_size(data) == expect
    img = Image.open(io.BytesIO(data))
    assert img.size == expect and img.format == "PNG"
    data = figure_bytes(fig, "png", dpi=dpi * 2)  # dpi argument overrides the figure's
    assert png_size(data) == (round(size_in[0] * dpi * 2), round(size_in[1] * dpi * 2))


def test_png_snaps_fractional_pixel_sizes():
    fig = annotated_figure(_face(), PROBS, size_in=(7.0, 3.0), dpi=72.7)  # 508.9 x 218.1 px
    assert png_size(figure_bytes(fig, "png")) == (509, 218)


def test_vector_output_is_reproducible(figures):
    fig, _ = figures["annotated"]
    for fmt in ("svg", "pdf"):
        assert figure_bytes(fig, fmt) == figure_bytes(fig, fmt)


def test_bad_format_and_dpi():
    fig = confusion_figure(np.ones((7, 7)))
    with pytest.raises(ExportError, match="format"):
        figure_bytes(fig, "jpg")
    with pytest.raises(ExportError, match="dpi"):
        figure_bytes(fig, "png", dpi=0)
    with pytest.raises(ExportError, match="too large"):
        figure_bytes(fig, "png", dpi=2400)


def test_no_pyplot_anywhere():
    code = ("import sys, numpy as np\n"
            "from ferviz.export import annotated_figure, cell_sheet, confusion_figure, figure_bytes\n"
            "f = np.zeros((48, 48), np.uint8); p = np.full(7, 1 / 7)\n"
            "for fig in (annotated_figure(f, p, overlays={'m': f / 255.0}), confusion_figure(np.ones((7, 7))),\n"
            "            cell_sheet(f[None], p[None], ['a'], true=0, pred=0)):\n"
            "    [figure_bytes(fig, fmt) for fmt in ('png', 'svg', 'pdf')]\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
