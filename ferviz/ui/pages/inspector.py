"""Inspector: one image large, all probabilities, Grad-CAM / Grad-CAM++ / XRAI side by side."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ferviz.attribution import views_label as attribution_views
from ferviz.figures.overlay import face_rgb
from ferviz.labels import NAMES
from ferviz.ui import (
    attributions,
    charts,
    context,
    downloads,
    feature_maps,
    gallery,
    neighbours,
    stress as stress_ui,
    resources,
    serving,
    state,
)
from ferviz.ui import regions as region_panel


def cell_name(t: int | None, p: int | None) -> str | None:
    """How the position text names the selected cell (or row, or column); None for all errors."""
    if t is not None and p is not None:
        return f"correct {NAMES[t]}" if t == p else f"{NAMES[t]} → {NAMES[p]}"
    if t is not None:
        return f"true {NAMES[t]}"
    if p is not None:
        return f"predicted {NAMES[p]}"
    return None


def selected_cell(ev=None) -> tuple[int | None, int | None]:
    """The selected true and predicted classes (class indices, None when not selected, or when
    not one of the evaluation's dataset / model classes)."""
    return (state.selected("sel_true", ev.rows if ev is not None else None),
            state.selected("sel_pred", ev.columns if ev is not None else None))


def cell_order(ev, quality: gallery.Quality, t: int | None, p: int | None) -> tuple[list[str], str]:
    """The ids of the selected cell in the gallery's sort and filter (as the Errors page shows them),
    and the filter applied."""
    sort = st.session_state.get("err_sort")
    sort = sort if sort in gallery.SORTS else "confidence"
    show = st.session_state.get("err_filter")
    show = show if show in gallery.FILTERS else gallery.ALL
    if (t is not None and t == p) or quality.issues is None:
        show = gallery.ALL  # nothing to filter by (as on the Errors page)
    rows = ev.errors(t, p, sort="loss" if sort == "loss" else "confidence")
    return list(gallery.arrange(quality.annotate(rows), sort, show)["id"]), show


def position_text(at: int, n: int, where: str | None, show: str = gallery.ALL) -> str:
    """'3 of 25 in fear → sad' (the cell's order), '3 of 25 in the gallery' (another gallery, or all
    errors as the gallery shows them); in a cell a filter names what is counted: '2 of 4 likely
    label issues in fear → sad'."""
    if at < 0:
        return ""
    if where is None:
        return f"{at + 1} of {n} in the gallery"
    what = "" if show == gallery.ALL else f" {show}{'s' if n != 1 else ''}"
    return f"{at + 1} of {n}{what} in {where}"


def probability_text(card, face: np.ndarray, probs: np.ndarray, target: int, views: str) -> str:
    """The probability of the class explained, of the prediction the maps explain: 'p = 41.0%', or in
    a single view of a card with test-time views 'p = 38.2% in this single view; 41.0% averaged
    over the views' (and what the single view predicts when that differs)."""
    if views != "single" or not card.tta:
        return f"p = {probs[target]:.1%}"
    single = attributions.single_view_probs(card, face)
    text = f"p = {single[target]:.1%} in this single view; {probs[target]:.1%} averaged over the views"
    top = int(np.argmax(single))
    return text + (f"; this view alone predicts **{NAMES[top]}**" if top != int(np.argmax(probs)) else "")


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Inspector")
    if context.require_data(ctx) and context.require_model(ctx):
        try:
            ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
            ev2 = resources.evaluation(ctx.card2, ctx.split, ctx.data_path) if ctx.card2 else None
        except Exception as e:
            context.show_error(e)
            st.stop()
        quality = gallery.Quality(ctx)
        # previous/next walk the selected cell in the gallery's order; an image opened from another
        # gallery (e.g. a comparison's) walks that gallery, unless models, split or data changed since
        cell_true, cell_pred = selected_cell(ev)
        where = cell_name(cell_true, cell_pred)
        order, show = cell_order(ev, quality, cell_true, cell_pred)
        remembered = state.gallery_order(state.gallery_key(ctx)) or []
        image_id = st.session_state.get("sel_id") or (order[0] if order else ctx.split.ids[0])
        if image_id not in set(ctx.split.ids):
            first = "the first error" if where is None else f"the first image of {where}"
            if not order:
                first = f"the first image of {ctx.split.title} ({where} is empty)" if where else "the first image"
            st.warning(f"No image {image_id!r} in {ctx.split.title}; showing {first} instead.")
            image_id = order[0] if order else ctx.split.ids[0]
            st.session_state["sel_id"] = image_id
            state.sync_url()  # the link now names the face shown (the cell stays)
        if image_id not in order and image_id in remembered:
            order, where, show = remembered, None, gallery.ALL
        st.session_state["sel_id"] = image_id

        nav = st.columns([1, 1, 4, 2])
        at = order.index(image_id) if image_id in order else -1
        def _select(i: int) -> None:
            st.session_state["sel_id"] = order[i]

        nav[0].button("◀ Previous", key="insp_prev", disabled=at <= 0, width="stretch", on_click=_select,
                      args=(at - 1,))
        nav[1].button("Next ▶", key="insp_next", disabled=at < 0 or at >= len(order) - 1, width="stretch",
                      on_click=_select, args=(at + 1,))
        position = position_text(at, len(order), where, show)
        nav[2].markdown(f"**{image_id}**" + (f" · {position}" if position else ""))
        if nav[3].button("Back to gallery", key="insp_back", width="stretch"):
            state.go("errors")

        pos = ctx.split.index_of(image_id)
        face, true = ctx.split.images[pos], int(ctx.split.labels[pos])
        probs = ev.probs[pos]
        pred = int(np.argmax(probs))

        left, right = st.columns([1, 2])
        outside = true not in ctx.card.class_ids  # a class the model cannot output: counted apart
        with left:
            st.image(face_rgb(face, (288, 288)), caption=f"{image_id} · true {NAMES[true]}")
        with right:
            verdict = (f"{gallery.APART} counted apart: {ctx.card.name} cannot output {NAMES[true]}" if outside
                       else f"{gallery.RIGHT} correct" if pred == true else f"{gallery.WRONG} wrong")
            st.markdown(f"**{ctx.card.name}** predicts **{NAMES[pred]}** ({probs[pred]:.1%}) · {verdict}")
            tile_badges = quality.badges(image_id, true, pred)
            if tile_badges:
                st.markdown(gallery.badge_markdown(tile_badges))
            copies = quality.copies
            if copies is not None and image_id in copies.index and ctx.split.split != "Training":
                row = copies.loc[image_id]
                ids = [i for i in str(row[f"{row['kind']}_ids"]).split(", ") if i]
                if ids and st.button(f"Open the Training {'copy' if row['kind'] == 'exact' else 'near copy'}"
                                     + (f" ({ids[0]})" if len(ids) == 1 else f"s ({len(ids)})"),
                                     key="insp_open_copy", icon=":material/content_copy:",
                                     help="The badge's Training image: open it in the inspector (previous/next "
                                          "walk every copy)"):
                    training = ctx.splits["Training"]
                    neighbours.open_training(ctx, training, ids, ids[0])
            model_col, votes_col = st.columns([3, 2])
            model_col.plotly_chart(charts.probs_bar(probs, true=true, title=f"{ctx.card.name}",
                                                    classes=ctx.card.class_ids), width="stretch", key="insp_probs")
            if outside:
                model_col.caption(f"One bar per class {ctx.card.name} can output ({len(ctx.card.class_ids)}); "
                                  f"the true class, {NAMES[true]}, is not one of them.")
            with votes_col:
                if quality.aligned is not None:
                    k = quality.aligned.index_of(image_id)
                    st.plotly_chart(charts.votes_bar(quality.aligned.votes[k], title="FER+ votes (10 people)"),
                                    width="stretch", key="insp_votes")
                    st.caption(f"FER+ votes: {gallery.vote_text(quality.aligned.votes[k])}")
                else:
                    st.caption(f"No FER+ votes: {quality.ferplus_short}.")
            for note in quality.notes:
                st.caption(note)

        c1, c2, _ = st.columns([2, 2, 3])  # the class explained: both tabs follow it
        which = c1.radio("Explain the class", ["predicted", "true", "other"], horizontal=True, key="insp_target")
        other = c2.selectbox("Other class", [NAMES[c] for c in ctx.card.class_ids], key="insp_other",
                             disabled=which != "other", help="One of the classes the model can output")

        def target_for(p: np.ndarray, card=ctx.card) -> int | None:
            """The class explained for `card` (None: it cannot output the class asked for)."""
            k = {"predicted": int(np.argmax(p)), "true": true}.get(which, NAMES.index(other))
            return k if k in card.class_ids else None

        @st.fragment
        def overlays_panel() -> None:
            m1, m2 = st.columns([3, 2])
            methods = m1.multiselect("Methods", list(attributions.DISPLAY_METHODS),
                                     default=list(attributions.DISPLAY_METHODS),
                                     format_func=attributions.METHOD_LABELS.get, key="insp_methods")
            alpha = m2.slider("Opacity", 0.0, 1.0, 0.5, 0.05, key="insp_alpha")
            has_tta = any(c is not None and c.tta for c in (ctx.card, ctx.card2))
            views = st.radio("Maps from", list(attributions.VIEW_CHOICES), format_func=attributions.VIEW_CHOICES.get,
                             horizontal=True, key="insp_views", disabled=not has_tta,
                             help="The predictions average the card's test-time views (e.g. the face, its mirror "
                                  "and shifts); by default the maps do the same, so they explain the prediction "
                                  "shown. A single view explains one forward pass on the face, which may predict "
                                  "something else.") if has_tta else "single"
            show_faith = st.toggle("Faithfulness (deletion / insertion)", key="insp_faith",
                                   help="Delete the most-attributed pixels first and follow the class probability: "
                                        "a faithful map makes it fall faster than a random order (lower deletion AUC).")
            rows = [(ctx.card, probs)] + ([(ctx.card2, ev2.probs[pos])] if ctx.card2 else [])
            all_maps, drawn = [], False
            for card, p in rows:
                tgt = target_for(p, card)
                if tgt is None:
                    asked = NAMES[true] if which == "true" else other
                    st.markdown(f"**{card.name}** cannot output **{asked}**: no map explains it "
                                f"(its classes: {', '.join(card.model_classes)}).")
                    continue
                prob = probability_text(card, face, p, tgt, views)
                st.markdown(f"**{card.name}** — explaining **{NAMES[tgt]}** ({prob}) · "
                            f"maps: {attribution_views(card, views)}")
                maps = {}
                cols = st.columns(max(1, len(methods)))
                for col, m in zip(cols, methods):
                    try:
                        maps[m] = attributions.maps_for(ctx, card, np.array([pos]), np.array([tgt]), m, views=views)[0]
                    except serving.Busy as e:  # a shared server's XRAI slots are taken: say so, never hang
                        col.warning(f"{attributions.METHOD_LABELS[m]}: {e}", icon=":material/hourglass_top:")
                        col.button("Try again", key=f"insp_retry_{card.key}_{m}")
                        continue
                    except Exception as e:  # one method failing must not take the others down
                        col.error(f"{attributions.METHOD_LABELS[m]}: {e}")
                        continue
                    with col:
                        blank = attributions.show_map(face, maps[m], m, tgt, alpha, card)
                        drawn = drawn or not blank
                        if show_faith and not blank:
                            f = attributions.faithfulness(card, face, maps[m], tgt, views)
                            better = "beats" if f.deletion_auc < f.random_deletion_auc else "does not beat"
                            st.caption(f"deletion AUC {f.deletion_auc:.3f} vs random {f.random_deletion_auc:.3f} "
                                       f"({better} random) · insertion AUC {f.insertion_auc:.3f}")
                suffix = " [single view]" if views == "single" and card.tta else ""
                all_maps.append((card, p, {attributions.METHOD_LABELS[k] + suffix: v for k, v in maps.items()}))
            if drawn:
                attributions.colour_bar("insp_colorbar")
            if all_maps:
                second = None
                if len(all_maps) > 1:
                    second = (all_maps[1][0].name, all_maps[1][1], all_maps[1][2])
                downloads.image_button(ctx, face, probs, all_maps[0][2], true=true, image_id=image_id,
                                       split=ctx.split.split, alpha=alpha, methods=methods, second=second,
                                       second_key=ctx.card2.key if ctx.card2 else None,
                                       target={"predicted": "pred", "true": "true"}.get(which, other)
                                       + ("" if views == "tta" else "-single-view"))
                region_panel.image_panel(ctx, pos, all_maps[0][2])

        tab_maps, tab_features = st.tabs(["Attributions", "Feature maps"], key="insp_tab", on_change="rerun")
        with tab_maps:
            overlays_panel()
        if tab_features.open:  # computed only when shown
            with tab_features:
                target = target_for(probs)
                feature_maps.panel(ctx.card, face, pred if target is None else target, "insp", image_id=image_id,
                                   split=ctx.split.split)
        neighbours.section(ctx, face, key="insp", image_id=image_id, label=true)
        if st.toggle("Under perturbations", key="insp_stress",
                     help="This face occluded, noisy, blurred, dim, ... (the Stress test page's perturbations) "
                          "with the model's prediction on each"):
            stress_ui.face_strip(ctx, face, key="insp", image_id=image_id, true=true, pos=pos)
