"""Embedding map: every face of the split placed by the model's penultimate-layer features (UMAP
or PCA); a box or lasso selection opens those faces as a gallery, a click opens the inspector."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ferviz.analysis.embedding import in_box
from ferviz.labels import NAMES
from ferviz.ui import charts, context, gallery, resources, review, state

COLOURS = {"true": "true class", "pred": "predicted class", "correct": "correct / wrong",
           "confidence": "confidence", "issue": "label issue / model error"}


METHODS = {"umap": "UMAP (neighbourhoods)", "pca": "PCA (fast, linear)"}


def _faces_in_boxes(df, color_by: str, boxes: list[dict], points: list[dict], classes=None) -> list[str]:
    """The ids of the faces inside the selected boxes by the core's rule (`embedding.in_box`,
    edges included), among the colour groups the map shows: plotly reports points only from
    groups not hidden in the legend, so a group none of whose points came back is left out."""
    inside = np.zeros(len(df), bool)
    for box in boxes:
        inside |= in_box(df["x"], df["y"], box)
    shown = {p.get("curve_number") for p in points}
    groups = charts.embedding_groups(df, color_by, classes)
    visible = np.zeros(len(df), bool)
    for k, (_, mask, _) in enumerate(groups):
        if k in shown:
            visible |= mask
    return df.loc[inside & visible, "id"].astype(str).tolist()


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Embedding map")
    st.caption("Each point is a face, placed by what the model computes just before its classification layer "
               "(averaged over the card's test-time views, like the prediction shown). Faces the model sees "
               "alike sit together: a cluster of errors is a blind spot, a lone error in another class's cluster "
               "a likely mislabelled face. Drag a box or lasso to open those faces; click a point to inspect it.")
    if context.require_data(ctx) and context.require_model(ctx):
        c1, c2 = st.columns(2)
        method = c1.radio("Projection", list(METHODS), format_func=METHODS.get, horizontal=True, key="emb_method")
        color_by = c2.radio("Colour by", list(COLOURS), format_func=COLOURS.get, horizontal=True, key="emb_color")
        try:
            df = resources.embedding(ctx.card, ctx.split, ctx.data_path, method).copy()  # first: one model pass
            ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
        except Exception as e:
            context.show_error(e)
            st.stop()
        quality = gallery.Quality(ctx)
        if color_by == "issue":
            if quality.issues is None:
                st.warning("No label-issue scores for this split: " + "; ".join(quality.notes))
                color_by = "correct"
            else:
                flagged = quality.issues.flagged
                df["issue"] = np.where(df["correct"], "correct",
                                       np.where(flagged, "likely label issue", "likely model error"))
        if ev.n_outside:  # faces of a class the model cannot output: neither right nor wrong
            df["scored"] = df["id"].astype(str).map(dict(zip(map(str, ev.ids), ev.scored))).fillna(True).astype(bool)
        # the legend's classes: the dataset's for the true class, the model's for the prediction
        classes = {"true": [NAMES[c] for c in ev.rows], "pred": [NAMES[c] for c in ev.columns]}.get(color_by)
        title = f"{ctx.card.name} · {ctx.split.title} · {method.upper()} · {len(df):,} faces"
        event = st.plotly_chart(charts.embedding_scatter(df, color_by, title=title, classes=classes), key="emb_chart",
                                on_select="rerun", selection_mode=("points", "box", "lasso"), width="stretch")
        sel = (event or {}).get("selection", {}) if event else {}
        ids = [str(p["customdata"][0]) for p in sel.get("points", []) if p.get("customdata")]
        boxes, lassos = sel.get("box", []), sel.get("lasso", [])
        if ids and not boxes and not lassos:  # a click on one point
            if st.session_state.get("emb_opened") != ids[0]:
                st.session_state["emb_opened"] = ids[0]
                state.set_gallery(ids, state.gallery_key(ctx))
                state.open_image(ids[0])
        else:
            st.session_state.pop("emb_opened", None)

        from ferviz.export import figure_bytes
        from ferviz.export.embedding import embedding_figure
        from ferviz.ui import downloads

        with st.expander("Export", icon=":material/download:"):
            fmt = downloads.format_picker("fmt_embedding")
            stem = f"{ctx.card.key}_{ctx.split.split}_embedding_{method}_{color_by}"
            downloads.file_button(f"Embedding map ({fmt.upper()})",
                                  lambda: figure_bytes(embedding_figure(
                                      df, color_by, model_name=ctx.card.name, split=ctx.split.title, method=method), fmt),
                                  f"{stem}.{fmt}", "emb_fig")
            downloads.file_button("embedding.csv", lambda: df.to_csv(index=False, float_format="%.6f").encode(),
                                  f"{ctx.card.key}_{ctx.split.split}_embedding_{method}.csv", "emb_csv")

        if boxes or lassos:
            if boxes:
                ids = _faces_in_boxes(df, color_by, boxes, sel.get("points", []), classes)
            table = ev.table()
            rows = quality.annotate(table[table["id"].isin(set(ids))]).sort_values(
                ["correct", "confidence"], ascending=[True, False]).reset_index(drop=True)
            wrong = ~rows["correct"] & (rows["scored"] if "scored" in rows.columns else True)  # apart: not errors
            n_err = int(wrong.sum()) if len(rows) else 0
            shape = "box" if boxes else "lasso"
            st.subheader(f"{len(rows):,} {'face' if len(rows) == 1 else 'faces'} in the {shape} "
                         f"({n_err:,} {'error' if n_err == 1 else 'errors'})")
            if len(rows):
                by_true = rows["true"].value_counts()
                st.markdown(f"{n_err / len(rows):.0%} of them wrong · true classes: "
                            + ", ".join(f"{k} {v}" for k, v in by_true.items()))
                review.review_button(list(rows["id"]), f"the faces in the {shape}", key="emb_review")
            page_rows, _, pages = gallery.paged(rows, "emb_page", 24)
            gallery.show(page_rows, ctx, key_prefix="emb", order=list(rows["id"]),
                         empty="No faces in the selection.")
            gallery.pager("emb_page", pages)
        else:
            st.info("Drag a box or a lasso on the map (the toolbar switches between them) to open the faces in it "
                    "as a gallery; click one point to open it in the inspector.")
