"""Publication-ready exports: annotated faces, cell sheets, confusion matrices, CSV tables.

Compute once, render many: every builder takes arrays already computed (probabilities,
confusion counts, attribution maps in [0, 1]) and returns a `matplotlib.figure.Figure`
built with the object API (never pyplot), which `figure_bytes` turns into PNG, SVG or
PDF bytes. Tables come straight from an `Evaluation` as CSV bytes. Nothing here loads
models, data or attribution methods, so the app and the CLI share it.

    fig = annotated_figure(face, probs, overlays={"Grad-CAM": cam}, true=2,
                           model_name="Baseline CNN", image_id="PrivateTest_123",
                           split="PrivateTest")
    png = figure_bytes(fig, "png", dpi=300)
    name = export_filename("image", "baseline_cnn", "PrivateTest",
                           image_id="PrivateTest_123", method="gradcam", fmt="png")
"""
from .confusion import confusion_figure
from .figures import annotated_figure, comparison_figure
from .naming import KINDS, export_filename, safe_part
from .render import FORMATS, MIME, ExportError, figure_bytes, pixel_size
from .sheets import cell_sheet
from .tables import (
    ERROR_COLUMNS,
    errors_csv,
    errors_frame,
    per_class_csv,
    predictions_csv,
    read_errors_csv,
)

__all__ = [
    "FORMATS", "MIME", "KINDS", "ERROR_COLUMNS", "ExportError",
    "annotated_figure", "comparison_figure", "cell_sheet", "confusion_figure",
    "figure_bytes", "pixel_size", "export_filename", "safe_part",
    "per_class_csv", "errors_csv", "errors_frame", "predictions_csv", "read_errors_csv",
]
