"""Overview: accuracy, the clickable confusion matrix with each class's recall and support beside
it, per-class metrics and class distribution; then (slower the first time) is it the model, the
label or the data (accuracy without Training copies, likely label issues, ECE, agreement with
FER+'s votes)? What is cheap comes first, so the matrix shows while the rest is computed.

The matrix's rows are the dataset's classes and its columns the model's: a rectangle when they
differ, where a row of a class the model cannot output is marked and its faces are counted apart
(not errors, not in the accuracy), as the note under the metrics says."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ferviz.labels import NAMES
from ferviz.ui import charts, context, quality, resources, review, state


def _default(options: list[str], wanted: str, fallback: int) -> int:
    """The position of class `wanted` among `options` (class names), else `fallback`."""
    return options.index(wanted) if wanted in options else min(fallback, len(options) - 1)


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Overview")
    if context.require_data(ctx) and context.require_model(ctx):
        try:
            ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
        except Exception as e:  # shown as a message, never a traceback
            context.show_error(e)
            st.stop()
        st.caption(f"{ctx.card.name} on {'' if ctx.split.name else 'FER2013 '}{ctx.split.title} ({ev.n:,} images) · "
                   f"labels: {context.labels_text(ctx)}")
        reported = ctx.card.metrics.get(ctx.split.split, {}).get("accuracy")
        scored = "" if not ev.n_outside else f" (on the {ev.n_scored:,} faces whose class the model can output)"
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Accuracy", f"{ev.accuracy:.2%}",
                  help="Share of images whose top prediction is the true label" + scored)
        c2.metric("Macro-F1", f"{ev.macro_f1:.3f}", help=None if not scored else f"Over the model's classes{scored}")
        c3.metric("Errors", f"{int(ev.wrong.sum()):,}",
                  help="Faces the model predicted wrong" + ("" if not scored else
                                                            "; faces counted apart are not errors"))
        c4.metric("Model card says", f"{reported:.2%}" if reported is not None else "—")
        if ev.n_outside:
            st.warning(f"{ev.outside_note()}.", icon=":material/call_split:")
        review.overview_metrics(ctx, ev)  # with the label review applied, once anyone has decided

        try:
            cells = resources.issue_cells(ctx.card, ctx.split, ctx.data_path)
        except ValueError:
            cells = None
        left, right = st.columns([3, 2])
        with left:
            normalized = st.toggle("Row-normalised", key="cm_normalize",
                                   help="Show each row as shares of the true class")
            counts = ev.matrix().to_numpy()
            shown = None if cells is None else cells[np.ix_(ev.rows, ev.columns)]
            fig = charts.confusion_heatmap(ev.matrix(normalize=True).to_numpy() if normalized else counts, counts,
                                           normalized=normalized, title="Confusion matrix — click a cell",
                                           issues=shown, rows=ev.rows, columns=ev.columns)
            event = st.plotly_chart(fig, key="cm_chart", on_select="rerun", selection_mode="points",
                                    width="stretch", config={"displayModeBar": False})
            points = [p for p in (event or {}).get("selection", {}).get("points", [])
                      if p.get("curve_number", 1) == 1]
            if points:
                sig = (points[0]["y"], points[0]["x"])
                if st.session_state.get("_cm_last") != sig:
                    st.session_state["_cm_last"] = sig
                    i, j = int(round(points[0]["y"])), int(round(points[0]["x"]))
                    if 0 <= i < len(ev.rows) and 0 <= j < len(ev.columns):  # positions -> the cell's classes
                        state.open_cell(ev.rows[i], ev.columns[j])
            else:  # nothing selected (e.g. back from the gallery): the same cell may be clicked again
                st.session_state.pop("_cm_last", None)
            if not ev.square:
                st.caption(f"Rows: the dataset's {len(ev.rows)} classes; columns: the model's {len(ev.columns)}."
                           + (" A row marked “not a model class” holds faces the model cannot get right: they are "
                              "counted apart." if ev.n_outside else ""))
            with st.form("open_cell_form", border=False):
                a, b, c = st.columns([2, 2, 1])
                rows, cols = [NAMES[c] for c in ev.rows], [NAMES[c] for c in ev.columns]
                t = a.selectbox("True class", rows, key="cell_true", index=_default(rows, "fear", 2))
                p = b.selectbox("Predicted class", cols, key="cell_pred", index=_default(cols, "sad", 4))
                if c.form_submit_button("Open cell", width="stretch"):
                    state.open_cell(NAMES.index(t), NAMES.index(p))
        with right:
            st.subheader("Most confused pairs")
            pairs = ev.confused_pairs(10)
            for i, r in pairs.iterrows():
                a, b = st.columns([4, 1])
                k = int(cells[r["true_idx"], r["pred_idx"]]) if cells is not None else None
                issues_text = "" if k is None else f" · {k} likely label issue{'' if k == 1 else 's'}"
                a.markdown(f"**{r['true']} → {r['pred']}**: {r['count']} image{'' if r['count'] == 1 else 's'} "
                           f"({r['share']:.0%} of {r['true']}){issues_text}")
                if b.button("Open", key=f"pair_{r['true_idx']}_{r['pred_idx']}"):
                    state.open_cell(int(r["true_idx"]), int(r["pred_idx"]))
            if st.button("All errors", key="all_errors"):
                state.open_cell(None, None)

        st.subheader("Per-class metrics")
        table, dist = st.columns([3, 2])
        pc = ev.per_class()
        table.dataframe(pc.style.format({"precision": "{:.3f}", "recall": "{:.3f}", "f1": "{:.3f}"}),
                        hide_index=True, width="stretch", key="per_class_table")
        dist.plotly_chart(charts.class_distribution(ctx.split.labels, f"Class distribution in {ctx.split.title}",
                                                    classes=ev.rows),
                          width="stretch", key="dist_chart")

        quality.section(ctx, ev)
        from ferviz.ui import downloads

        downloads.overview_buttons(ctx, ev)
        from ferviz.ui import report

        report.report_button(ctx)
