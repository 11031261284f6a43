"""Compare two models: accuracies, the difference of their confusion matrices, disagreements."""
from __future__ import annotations

import streamlit as st

from ferviz.ui import charts, context, gallery, resources


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Compare models")
    if context.require_data(ctx) and context.require_model(ctx):
        if ctx.card2 is None:
            st.info("Pick a second model under **Compare with** in the sidebar.")
            st.stop()
        try:
            a = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
            b = resources.evaluation(ctx.card2, ctx.split, ctx.data_path)
        except Exception as e:
            context.show_error(e)
            st.stop()
        c1, c2, c3 = st.columns(3)
        c1.metric(ctx.card.name, f"{a.accuracy:.2%}", help="accuracy")
        c2.metric(ctx.card2.name, f"{b.accuracy:.2%}", delta=f"{(b.accuracy - a.accuracy) * 100:+.2f} pts")
        ra, rb = a.preds == a.labels, b.preds == b.labels
        c3.metric("Agree on", f"{(a.preds == b.preds).mean():.1%}", help="share of images with the same prediction")
        first, second = ctx.card.name, ctx.card2.name
        st.plotly_chart(charts.diff_heatmap(a.confusion() - b.confusion(), first=first, second=second,
                                            title=f"{first} minus {second}: images per cell"),
                        width="stretch", key="cmp_diff")
        st.caption(f"Each cell is {first}'s count minus {second}'s. :blue[Blue] is better for {first}: more images "
                   f"right on the diagonal, fewer of that mistake off it. :red[Red] is worse for {first}: fewer "
                   "right, or more of that mistake, so a positive number off the diagonal is red.")
        tab_a, tab_b = st.tabs([f"{ctx.card.name} right, {ctx.card2.name} wrong ({int((ra & ~rb).sum())})",
                                f"{ctx.card2.name} right, {ctx.card.name} wrong ({int((rb & ~ra).sum())})"])
        for tab, right, wrong_ev, key in ((tab_a, ra & ~rb, b, "cmp_a"), (tab_b, rb & ~ra, a, "cmp_b")):
            with tab:
                rows = wrong_ev.table()[right].sort_values("confidence", ascending=False, kind="stable")
                st.caption(f"Tiles show the wrong model's prediction ({wrong_ev.model_name}), most confident first.")
                page_rows, _, pages = gallery.paged(rows, f"{key}_page", 18)
                gallery.show(page_rows, ctx, key_prefix=key, order=list(rows["id"]))
                gallery.pager(f"{key}_page", pages)
