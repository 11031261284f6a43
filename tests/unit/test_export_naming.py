"""Export file names: the documented pattern, and only safe characters."""
from __future__ import annotations

import re

import pytest

from ferviz.export import ExportError, export_filename


@pytest.mark.parametrize("args, kwargs, expected", [
    (("sheet", "baseline_cnn", "PrivateTest"), dict(cell=("fear", "sad"), fmt="png"),
     "baseline_cnn_PrivateTest_fear-sad_sheet.png"),
    (("sheet", "baseline_cnn", "PrivateTest"), dict(cell=(2, 4), method="gradcam", fmt="pdf"),
     "baseline_cnn_PrivateTest_fear-sad_gradcam_sheet.pdf"),
    (("image", "baseline_cnn", "PrivateTest"), dict(image_id="PrivateTest_123", method="gradcam", fmt="pdf"),
     "baseline_cnn_PrivateTest_PrivateTest_123_gradcam.pdf"),
    (("image", "baseline_cnn", "PrivateTest"), dict(image_id="PrivateTest_123", fmt="svg"),
     "baseline_cnn_PrivateTest_PrivateTest_123.svg"),
    (("image", "vgg", "PrivateTest"), dict(image_id="17", method=["gradcam", "xrai"], fmt="png"),
     "vgg_PrivateTest_17_gradcam-xrai.png"),
    (("confusion", "vgg", "PublicTest"), dict(fmt="pdf"), "vgg_PublicTest_confusion.pdf"),
    (("confusion_normalized", "vgg", "PublicTest"), dict(fmt="svg"), "vgg_PublicTest_confusion_normalized.svg"),
    (("errors", "vgg", "PrivateTest"), dict(fmt="csv"), "vgg_PrivateTest_errors.csv"),
    (("errors", "vgg", "PrivateTest"), dict(cell=("happy", "happy"), fmt=".CSV"),
     "vgg_PrivateTest_happy-happy_errors.csv"),
    (("errors", "vgg", "PrivateTest"), dict(cell=("fear", None), fmt="csv"), "vgg_PrivateTest_fear-any_errors.csv"),
    (("errors", "vgg", "PrivateTest"), dict(cell=(None, 4), fmt="csv"), "vgg_PrivateTest_any-sad_errors.csv"),
    (("per_class", "vgg", "PrivateTest"), dict(fmt="csv"), "vgg_PrivateTest_per_class.csv"),
    (("comparison", "a_vs_b", "PrivateTest"), dict(image_id="5", fmt="png"), "a_vs_b_PrivateTest_5_comparison.png"),
    # unsafe characters collapse to one '-', never a leading dot
    (("image", "../my model (v2)", "PrivateTest"), dict(image_id="fear/Privat eTest_1", fmt="png"),
     "my-model-v2_PrivateTest_fear-Privat-eTest_1.png"),
    (("image", "m\u00e9l\u00e8ze", "PrivateTest"), dict(image_id=".hidden", fmt="png"),
     "m-l-ze_PrivateTest_hidden.png"),
])
def test_export_filename(args, kwargs, expected):
    name = export_filename(*args, **kwargs)
    assert name == expected
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) and ".." not in name


@pytest.mark.parametrize("args, kwargs, match", [
    (("poster", "m", "S"), dict(fmt="png"), "unknown export kind"),
    (("image", "m", "S"), dict(image_id="1", fmt="jpg"), "unknown file format"),
    (("errors", "m", "S"), dict(fmt="png"), "csv"),
    (("confusion", "m", "S"), dict(fmt="csv"), "png, svg or pdf"),
    (("image", "m", "S"), dict(fmt="png"), "image_id"),
    (("sheet", "m", "S"), dict(fmt="png"), "cell"),
    (("sheet", "m", "S"), dict(cell=("fear", "bored"), fmt="png"), "unknown emotion"),
    (("sheet", "m", "S"), dict(cell="fear", fmt="png"), "pair"),
    (("sheet", "m", "S"), dict(cell=("fear", None), fmt="png"), "cell"),
    (("errors", "m", "S"), dict(cell=(None, None), fmt="csv"), "a true or a predicted class"),
    (("image", "///", "S"), dict(image_id="1", fmt="png"), "model key"),
])
def test_export_filename_rejects(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        export_filename(*args, **kwargs)


def test_long_ids_are_truncated():
    name = export_filename("image", "m", "S", image_id="x" * 500, fmt="png")
    assert len(name) < 120
    assert issubclass(ExportError, ValueError)
