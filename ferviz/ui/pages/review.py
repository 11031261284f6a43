"""Label review: go through a set of faces one at a time (the likely label issues by default, all
errors, or the faces a gallery sent) and decide on each with a keystroke: keep, relabel as one
of the dataset's classes (keys 1-N; FER2013's seven: 1-7), not a face or ambiguous; previous,
next and undo. Every decision is written at once to the review database; the progress bar counts
the faces this reviewer has decided. Below: the metrics with the review applied, the reviewers' agreement (Cohen's or
Fleiss' kappa) and agreement with the FER+ majority, and the decisions as CSV."""
from __future__ import annotations

import streamlit as st

from ferviz.errors import FervizError
from ferviz.figures.overlay import face_rgb
from ferviz.labels import NAMES
from ferviz.ui import context, gallery, resources, review, serving

FACE_PX = 240


def _name_input() -> str:
    st.session_state["w_rv_name"] = st.session_state.get("rv_name", "")
    st.text_input("Reviewer", key="w_rv_name", max_chars=64, placeholder="Your name",
                  on_change=lambda: st.session_state.update(rv_name=st.session_state["w_rv_name"]),
                  help="Decisions are kept under this name; each reviewer's are separate, and their agreement "
                       "is measured")
    return review.reviewer()


def _face_set(sets: dict[str, list[str]]) -> tuple[str, list[str]]:
    names = list(sets)
    if st.session_state.get("rv_set") not in names:
        st.session_state["rv_set"] = names[0]
    st.session_state["w_rv_set"] = st.session_state["rv_set"]
    what = st.session_state.get("review_what")
    choice = st.radio("Faces", names, key="w_rv_set", horizontal=True,
                      on_change=lambda: st.session_state.update(rv_set=st.session_state["w_rv_set"], rv_pos=0),
                      format_func=lambda s: f"{s}{f' ({what})' if s == review.GALLERY and what else ''} "
                                            f"({len(sets[s]):,})")
    return choice, sets[choice]


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Label review")
    if not (context.require_data(ctx) and context.require_model(ctx)):
        return
    try:
        ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
    except Exception as e:  # shown as a message, never a traceback
        context.show_error(e)
        st.stop()
    if err := st.session_state.pop("rv_error", None):
        st.error(f"**Not saved:** {err}")
    if note := st.session_state.pop("rv_note", None):
        st.info(note)
    top_l, top_r = st.columns([1, 3])
    with top_l:
        name = _name_input()
    with top_r:
        choice, faces = _face_set(review.face_sets(ctx, ev))
    dataset, split = ctx.split.source_hash, ctx.split.split
    try:
        decisions = review.store().decisions(dataset, split)
    except FervizError as e:
        context.show_error(e)
        st.stop()
    if not faces:
        st.info(f"No faces in “{choice}”.")
    else:
        pos = min(max(int(st.session_state.get("rv_pos", 0)), 0), len(faces) - 1)
        st.session_state["rv_pos"] = pos
        mine = [d for d in decisions if d.reviewer == name] if name else []
        done = review.reviewed_count(mine, faces)
        st.progress(done / len(faces), text=f"{done:,} of {len(faces):,} faces reviewed"
                                            + (f" by {name}" if name else ""))
        face_id = faces[pos]
        k = ctx.split.index_of(face_id)
        true, pred = int(ev.labels[k]), int(ev.preds[k])
        left, right = st.columns([1, 2])
        with left:
            st.image(face_rgb(ctx.split.images[k], (FACE_PX, FACE_PX)), width=FACE_PX)
            st.caption(f"Face {pos + 1:,} of {len(faces):,} · id {face_id}")
        with right:
            top = ev.probs[k].argsort()[::-1][:3]
            st.markdown(f"Label **{NAMES[true]}** · {ctx.card.name} predicts **{NAMES[pred]}** "
                        f"({' · '.join(f'{NAMES[j]} {ev.probs[k, j]:.0%}' for j in top)})")
            badges = gallery.Quality(ctx).badges(face_id, true, pred)
            if badges:
                st.markdown(gallery.badge_markdown(badges))
            on_face = [d for d in decisions if d.face_id == face_id]
            own = next((d for d in on_face if d.reviewer == name), None)
            st.markdown(f"Your decision: **{own.text}** ({own.timestamp[:16].replace('T', ' ')} UTC)" if own
                        else "Your decision: not reviewed yet")
            others = [d for d in on_face if d.reviewer != name]
            if others:
                st.caption("Other reviewers: " + "; ".join(f"{d.reviewer}: {d.text}" for d in others))
            if not name:
                st.warning("Type your name under **Reviewer** to decide.")
            classes = review.reviewable(ctx.split.class_ids)
            left_out = [NAMES[c] for c in ctx.split.class_ids if c not in classes]
            if true not in classes:
                st.warning(f"The review database cannot record a decision on a face labelled {NAMES[true]}.")
            review.buttons(dataset, split, face_id, true, faces, str(ctx.split.source),
                           disabled=not name or true not in classes, classes=classes)
            st.caption(review.keys_help(classes)
                       + (f" · no relabel as {', '.join(left_out)}: the review database cannot record it"
                          if left_out else ""))
    st.divider()
    if decisions:
        review.metrics_row(ev, decisions)
        review.agreement_panel(ctx, decisions)
        review.downloads(ctx, decisions)
    else:
        st.caption("No decisions on this split yet. Once there are, the metrics with the review applied show "
                   "here and on the Overview.")
    if not serving.shared():  # a shared instance does not show its server's paths
        st.caption(f"Decisions are kept in `{review.store().path}` (set FERVIZ_REVIEWS to keep them elsewhere).")
