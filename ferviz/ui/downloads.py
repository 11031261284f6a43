"""Download buttons next to every exportable view; files render only when clicked."""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd
import streamlit as st

from .. import export
from ..analysis import error_views as views
from ..analysis.evaluation import Evaluation
from ..labels import NAMES
from .context import Context


def format_picker(key: str) -> str:
    return st.selectbox("Figure format", export.FORMATS, key=key, help="PNG for slides, SVG/PDF for papers")


def file_button(label: str, render: Callable[[], bytes], name: str, key: str) -> None:
    ext = name.rsplit(".", 1)[-1]
    st.download_button(label, data=render, file_name=name, mime=export.MIME.get(ext, "application/octet-stream"),
                       key=key, on_click="ignore", icon=":material/download:")


def overview_buttons(ctx: Context, ev: Evaluation) -> None:
    with st.expander("Export", icon=":material/download:"):
        fmt = format_picker("fmt_overview")
        key, split = ctx.card.key, ctx.split.split
        normalized = bool(st.session_state.get("cm_normalize"))
        kind = "confusion_normalized" if normalized else "confusion"
        c1, c2, c3 = st.columns(3)
        with c1:
            m = ev.matrix()  # rows the dataset's classes, columns the model's: the matrix the page shows
            file_button("Confusion matrix", lambda: export.figure_bytes(export.confusion_figure(
                m.to_numpy(), normalize=normalized, accuracy=ev.accuracy, model_name=ctx.card.name,
                split=split, classes=list(m.index), columns=list(m.columns), note=ev.outside_note()), fmt),
                export.export_filename(kind, key, split, fmt=fmt), "dl_confusion")
        with c2:
            file_button("Per-class metrics (CSV)", lambda: export.per_class_csv(ev),
                    export.export_filename("per_class", key, split, fmt="csv"), "dl_per_class")
        with c3:
            file_button("All predictions (CSV)", lambda: export.predictions_csv(ev),
                    export.export_filename("predictions", key, split, fmt="csv"), "dl_predictions")


def errors_buttons(ctx: Context, ev: Evaluation, rows: pd.DataFrame, t: int | None, p: int | None, *,
                   sort: str = "confidence", show: str = "all errors") -> None:
    """Exports of the errors in view, in the gallery's order and filter (`rows` as arranged on
    screen: the file renders on click, outside the script run, where session state is not
    available)."""
    with st.expander("Export", icon=":material/download:"):
        fmt = format_picker("fmt_errors")
        key, split = ctx.card.key, ctx.split.split
        cell = (t, p) if t is not None and p is not None else None
        by = views.name_parts(sort, show)  # the same name parts and content as `python -m ferviz export`
        c1, c2 = st.columns(2)
        with c1:
            file_button("Error table (CSV)", lambda: views.errors_table_csv(rows, t, p),
                    export.export_filename("errors", key, split, cell=(t, p) if (t, p) != (None, None) else None,
                                           extra=by, fmt="csv"), "dl_errors")
        with c2:
            if cell is None:
                st.caption("Pick a true and a predicted class to export a cell sheet.")
            else:
                limit = views.SHEET_LIMIT

                def sheet() -> bytes:
                    fig = views.view_sheet(ctx.split.images, ev.probs, rows, t, p, model_name=ctx.card.name,
                                           split=split, sort=sort, show=show, limit=limit)
                    return export.figure_bytes(fig, fmt)
                file_button(f"Cell sheet (first {min(limit, len(rows))})", sheet,
                        export.export_filename("sheet", key, split, cell=cell, extra=by, fmt=fmt), "dl_sheet")


def image_button(ctx: Context, face: np.ndarray, probs: np.ndarray, overlays: Mapping[str, np.ndarray], *,
                 true: int | None, image_id: str, split: str, alpha: float, methods: list[str],
                 second: tuple[str, np.ndarray, Mapping[str, np.ndarray]] | None = None,
                 second_key: str | None = None, target: str = "pred", key: str = "dl_image") -> None:
    """Annotated figure (or the two-model comparison) of one face; `target` names the class the
    overlays explain when it is not the prediction, `second_key` the compared model. Each model's
    bars are its own classes."""
    fmt = format_picker(f"{key}_fmt")
    model_key = ctx.card.key if ctx.card else "model"
    classes = list(ctx.card.class_ids) if ctx.card else None
    if second is None:
        def render() -> bytes:
            return export.figure_bytes(export.annotated_figure(
                face, probs, overlays=dict(overlays), true=true, model_name=ctx.card.name if ctx.card else "",
                image_id=image_id, split=split, alpha=alpha, classes=classes), fmt)
        kind = "image"
    else:
        other = list(ctx.card2.class_ids) if ctx.card2 else None

        def render() -> bytes:
            return export.figure_bytes(export.comparison_figure(
                face, (ctx.card.name, probs, dict(overlays), classes), (*second, other), true=true,
                image_id=image_id, split=split, alpha=alpha), fmt)
        kind = "comparison"
    extra = ([f"vs-{second_key}"] if second is not None and second_key else []) + \
        ([] if target == "pred" else [f"target-{target}"])
    name = export.export_filename(kind, model_key, split, image_id=image_id, method=methods or None,
                                  extra=extra, fmt=fmt)
    file_button("Annotated figure", render, name, key)


__all__ = ["overview_buttons", "errors_buttons", "image_button", "NAMES"]
