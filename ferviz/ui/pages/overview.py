"""Overview: accuracy, the clickable confusion matrix with each class's recall and support beside
it, per-class metrics and class distribution; then (slower the first time) is it the model, the
label or the data (accuracy without Training copies, likely label issues, ECE, agreement with
FER+'s votes)? What is cheap comes first, so the matrix shows while the rest is computed."""
from __future__ import annotations

import streamlit as st

from ferviz.labels import EMOTIONS
from ferviz.ui import charts, context, quality, resources, review, state


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Overview")
    if context.require_data(ctx) and context.require_model(ctx):
        try:
            ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
        except Exception as e:  # shown as a message, never a traceback
            context.show_error(e)
            st.stop()
        st.caption(f"{ctx.card.name} on {'' if ctx.split.name else 'FER2013 '}{ctx.split.title} ({ev.n:,} images)")
        reported = ctx.card.metrics.get(ctx.split.split, {}).get("accuracy")
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Accuracy", f"{ev.accuracy:.2%}",
                  help="Share of images whose top prediction is the true label")
        c2.metric("Macro-F1", f"{ev.macro_f1:.3f}")
        c3.metric("Errors", f"{int((ev.preds != ev.labels).sum()):,}")
        c4.metric("Model card says", f"{reported:.2%}" if reported is not None else "—")
        review.overview_metrics(ctx, ev)  # with the label review applied, once anyone has decided

        try:
            cells = resources.issue_cells(ctx.card, ctx.split, ctx.data_path)
        except ValueError:
            cells = None
        left, right = st.columns([3, 2])
        with left:
            normalized = st.toggle("Row-normalised", key="cm_normalize",
                                   help="Show each row as shares of the true class")
            counts = ev.confusion()
            fig = charts.confusion_heatmap(ev.confusion(normalize=True) if normalized else counts, counts,
                                           normalized=normalized, title="Confusion matrix — click a cell",
                                           issues=cells)
            event = st.plotly_chart(fig, key="cm_chart", on_select="rerun", selection_mode="points",
                                    width="stretch", config={"displayModeBar": False})
            points = [p for p in (event or {}).get("selection", {}).get("points", [])
                      if p.get("curve_number", 1) == 1]
            if points:
                sig = (points[0]["y"], points[0]["x"])
                if st.session_state.get("_cm_last") != sig:
                    st.session_state["_cm_last"] = sig
                    state.open_cell(int(round(points[0]["y"])), int(round(points[0]["x"])))
            else:  # nothing selected (e.g. back from the gallery): the same cell may be clicked again
                st.session_state.pop("_cm_last", None)
            with st.form("open_cell_form", border=False):
                a, b, c = st.columns([2, 2, 1])
                t = a.selectbox("True class", EMOTIONS, key="cell_true", index=2)
                p = b.selectbox("Predicted class", EMOTIONS, key="cell_pred", index=4)
                if c.form_submit_button("Open cell", width="stretch"):
                    state.open_cell(EMOTIONS.index(t), EMOTIONS.index(p))
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
        dist.plotly_chart(charts.class_distribution(ctx.split.labels, f"Class distribution in {ctx.split.title}"),
                          width="stretch", key="dist_chart")

        quality.section(ctx, ev)
        from ferviz.ui import downloads

        downloads.overview_buttons(ctx, ev)
        from ferviz.ui import report

        report.report_button(ctx)
