"""Errors: a paged gallery of one confusion cell (or all errors), most confident mistakes first."""
from __future__ import annotations

import streamlit as st

from ferviz.labels import EMOTIONS
from ferviz.ui import context, gallery, resources, state

ANY = "(any)"
ctx = context.current()
st.title("Errors")
if context.require_data(ctx) and context.require_model(ctx):
    try:
        ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
    except Exception as e:
        context.show_error(e)
        st.stop()
    # the selectboxes mirror the selected cell (keyboard twin of the confusion-matrix click)
    st.session_state["err_true"] = st.session_state.get("sel_true") or ANY
    st.session_state["err_pred"] = st.session_state.get("sel_pred") or ANY

    def _changed():
        t, p = st.session_state["err_true"], st.session_state["err_pred"]
        st.session_state["sel_true"] = None if t == ANY else t
        st.session_state["sel_pred"] = None if p == ANY else p
        st.session_state["gallery_page"] = 1

    c1, c2, c3, c4 = st.columns([2, 2, 2, 1])
    c1.selectbox("True class", [ANY, *EMOTIONS], key="err_true", on_change=_changed)
    c2.selectbox("Predicted class", [ANY, *EMOTIONS], key="err_pred", on_change=_changed)
    sort = c3.radio("Sort by", ["confidence", "loss"], key="err_sort", horizontal=True,
                    help="confidence: most confident mistakes first; loss: highest cross-entropy first")
    st.session_state.setdefault("err_per_page", 24)
    per_page = c4.selectbox("Per page", [12, 24, 48], key="err_per_page")
    t = EMOTIONS.index(st.session_state["sel_true"]) if st.session_state.get("sel_true") else None
    p = EMOTIONS.index(st.session_state["sel_pred"]) if st.session_state.get("sel_pred") else None
    rows = ev.errors(t, p, sort=sort)
    title = (f"true **{EMOTIONS[t]}** → predicted **{EMOTIONS[p]}**" if t is not None and p is not None
             else "true **" + EMOTIONS[t] + "**, any wrong prediction" if t is not None
             else "predicted **" + EMOTIONS[p] + "**, wrongly" if p is not None else "all errors")
    if t is not None and t == p:
        title = f"correct **{EMOTIONS[t]}** (the diagonal cell), least confident last"
    st.markdown(f"{title}: **{len(rows):,}** images · {ctx.card.name} · {ctx.split.split}")

    show_cam = st.toggle("Grad-CAM thumbnails", key="err_gradcam")
    page_rows, page, pages = gallery.paged(rows, "gallery_page", per_page)
    maps = None
    if show_cam and not page_rows.empty:
        from ferviz.ui import attributions

        maps = attributions.maps_for_rows(ctx, page_rows, "gradcam", "pred")
    gallery.show(page_rows, ctx.split, maps=maps, key_prefix="err", order=list(rows["id"]))
    gallery.pager("gallery_page", pages)
    if not rows.empty:
        from ferviz.ui import attributions, downloads

        attributions.cell_mean_panel(ctx, rows, t, p)
        attributions.method_trust_panel(ctx, rows)
        downloads.errors_buttons(ctx, ev, rows, t, p, sort=sort)
