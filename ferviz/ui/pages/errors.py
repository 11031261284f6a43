"""Errors: a paged gallery of one confusion cell (or all errors), most confident mistakes first,
each tile badged with whose fault the error likely is (label, model) and what the data says
(a copy in Training, FER+'s votes). The sort and the filter are in the URL (``sort=``, ``show=``:
``ferviz.ui.state``), so a link reopens the same view. The true classes are the dataset's, the
predicted ones the model's; a true class the model cannot output opens its faces, counted apart."""
from __future__ import annotations

import streamlit as st

from ferviz.labels import NAMES
from ferviz.ui import context, gallery, resources, review, state

ANY = "(any)"


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Errors")
    if context.require_data(ctx) and context.require_model(ctx):
        try:
            ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
        except Exception as e:
            context.show_error(e)
            st.stop()
        # the selectboxes mirror the selected cell (keyboard twin of the confusion-matrix click): the
        # dataset's classes are the true ones, the model's the predicted ones
        true_names, pred_names = [NAMES[c] for c in ev.rows], [NAMES[c] for c in ev.columns]
        t = state.selected("sel_true", ev.rows)
        p = state.selected("sel_pred", ev.columns)
        st.session_state["err_true"] = NAMES[t] if t is not None else ANY
        st.session_state["err_pred"] = NAMES[p] if p is not None else ANY

        def _changed():
            t, p = st.session_state["err_true"], st.session_state["err_pred"]
            st.session_state["sel_true"] = None if t == ANY else t
            st.session_state["sel_pred"] = None if p == ANY else p
            st.session_state["gallery_page"] = 1

        def _first_page():
            st.session_state["gallery_page"] = 1

        c1, c2, c3, c4 = st.columns([2, 2, 3, 1])
        c1.selectbox("True class", [ANY, *true_names], key="err_true", on_change=_changed)
        c2.selectbox("Predicted class", [ANY, *pred_names], key="err_pred", on_change=_changed)
        if st.session_state.get("err_sort") not in gallery.SORTS:
            st.session_state.pop("err_sort", None)
        sort = c3.radio("Sort by", list(gallery.SORTS), key="err_sort", horizontal=True, help=gallery.SORT_HELP)
        st.session_state.setdefault("err_per_page", 24)
        per_page = c4.selectbox("Per page", [12, 24, 48], key="err_per_page")

        quality = gallery.Quality(ctx)
        cell_rows = quality.annotate(ev.errors(t, p, sort="loss" if sort == "loss" else "confidence"))
        verdicts = cell_rows["verdict"]
        counts = {gallery.ALL: len(cell_rows), gallery.ISSUES_ONLY: int((verdicts == gallery.LABEL_ISSUE).sum()),
                  gallery.MODEL_ONLY: int((verdicts == gallery.MODEL_ERROR).sum())}
        diagonal = t is not None and t == p
        if st.session_state.get("err_filter") not in gallery.FILTERS:
            st.session_state.pop("err_filter", None)
        show = st.radio("Show", list(gallery.FILTERS), key="err_filter", horizontal=True, on_change=_first_page,
                        disabled=diagonal or quality.issues is None,
                        format_func=lambda f: f"{f} ({counts[f]:,})",
                        help="Confident learning (cleanlab's default rule) flags an error as a likely label "
                             "issue when the model is confidently sure of another class than the label, given "
                             "how often the model confuses the two; an unflagged error is a likely model error.")
        if diagonal or quality.issues is None:  # nothing to filter by: every image of the view
            show = gallery.ALL
        rows = gallery.arrange(cell_rows, sort, show)

        title = gallery.view_title(t, p, ev.columns)
        split_of = f"{ctx.card.name} · {ctx.split.title}"
        one_cell = t is not None and p is not None  # the heading names the cell: the tiles need not
        if diagonal or quality.issues is None:
            st.markdown(f"{title}: **{len(cell_rows):,}** images · {split_of}")
        else:
            st.markdown(f"{title}: **{len(cell_rows):,}** images · "
                        f"{gallery.plural(counts[gallery.ISSUES_ONLY], 'likely label issue')}, "
                        f"{gallery.plural(counts[gallery.MODEL_ONLY], 'likely model error')} · {split_of}")
        if show != gallery.ALL:
            st.caption(f"Showing the {len(rows):,} {show}{'s' if len(rows) != 1 else ''} of these "
                       f"{len(cell_rows):,} images.")
        n_copies = int((cell_rows["training_copy"] != "").sum())
        extra = [f"{n_copies:,} of these {len(cell_rows):,} images {'has' if n_copies == 1 else 'have'} a copy in "
                 "Training (badge: also in Training as ..., or near copy in Training as ...)"] if n_copies else []
        if quality.issues is not None:
            extra.append(gallery.SCORE_NOTE + (" " + gallery.cell_issue_note(NAMES[t], NAMES[p])
                                               if one_cell and not diagonal else ""))
        if quality.ferplus_why:
            extra.append(f"No FER+ badges: {quality.ferplus_short}.")
        for note in extra + quality.notes:
            st.caption(note)
        review.review_button(list(rows["id"]), title + ("" if show == gallery.ALL else f", {show}s"), key="err_review")

        show_cam = st.toggle("Grad-CAM thumbnails", key="err_gradcam")
        page_rows, page, pages = gallery.paged(rows, "gallery_page", per_page)
        maps = None
        if show_cam and not page_rows.empty:
            from ferviz.ui import attributions

            maps = attributions.maps_for_rows(ctx, page_rows, "gradcam", "pred")
        gallery.show(page_rows, ctx, maps=maps, key_prefix="err", order=list(rows["id"]), cell=not one_cell,
                     empty="No images here." if show == gallery.ALL else f"No {show}s here.")
        gallery.pager("gallery_page", pages)
        if not rows.empty:
            from ferviz.ui import attributions, downloads
            from ferviz.ui import regions as region_panel

            attributions.cell_mean_panel(ctx, rows, t, p)
            region_panel.cell_panel(ctx, t, p)
            attributions.method_trust_panel(ctx, rows)
            downloads.errors_buttons(ctx, ev, rows, t, p, sort=sort, show=show)
