"""The label review in the app: which faces to review, the decision buttons (each with its
keyboard shortcut), the reviewers' agreement and the metrics with the review applied (the
Overview shows them beside the original numbers once anyone has decided on a face).

Decisions go straight to the review database (`ferviz.review.store`, FERVIZ_REVIEWS) from the
buttons' callbacks, before the page is drawn again, so what the page shows is what is stored;
nothing about a decision lives only in a session.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from ..analysis.evaluation import Evaluation
from ..errors import FervizError
from ..labels import EMOTIONS, NAMES
from ..review import agreement, files
from ..review.metrics import reviewed_metrics
from ..review.store import AMBIGUOUS, KEEP, NOT_A_FACE, NOT_A_FACE_CAT, RELABEL, Decision, ReviewStore
from . import charts, resources, state
from .context import Context

#: the faces a review can go through
ISSUES, ERRORS, GALLERY = "Likely label issues", "All errors", "Faces sent from a gallery"
Button = tuple[str, str, str, str, "int | None"]


def class_buttons(classes=range(len(EMOTIONS))) -> tuple[Button, ...]:
    """(button key, label, shortcut, decision, label index) of each decision: keep, one relabel
    per class of `classes` (class indices: the dataset's; number keys 1-N in vocabulary order),
    not a face, ambiguous."""
    return (("rv_keep", "Keep", "K", KEEP, None),
            *((f"rv_class_{k}", NAMES[k], str(i + 1), RELABEL, int(k)) for i, k in enumerate(classes)),
            ("rv_not_a_face", "Not a face", "N", NOT_A_FACE, None),
            ("rv_ambiguous", "Ambiguous", "A", AMBIGUOUS, None))


def keys_help(classes=range(len(EMOTIONS))) -> str:
    """The keyboard shortcuts in words, for the dataset's classes."""
    names = [NAMES[k] for k in classes]
    return (f"Keys: **K** keep · **1-{len(names)}** relabel as {', '.join(names)} · **N** not a face · "
            "**A** ambiguous · **←/→** previous/next · **U** undo your last decision")


def reviewable(classes) -> list[int]:
    """The classes of `classes` a decision can name: the review database's classes (its
    categories before not a face and ambiguous)."""
    return [int(c) for c in classes if int(c) < NOT_A_FACE_CAT]


#: FER2013's decisions and keys (`class_buttons`, `keys_help` for other class sets)
BUTTONS: tuple[Button, ...] = class_buttons()
KEYS_HELP = keys_help()
LEFT_OUT = ("Faces reviewed as not a face or ambiguous are left out, and so are faces on which the reviewers are "
            "split evenly; every other reviewed face takes the label most reviewers gave it (keep: its own).")


def store() -> ReviewStore:
    """The review database (FERVIZ_REVIEWS, else the user's data folder); opened per operation."""
    return ReviewStore()


def reviewer() -> str:
    """The reviewer's name as typed (kept across pages), stripped."""
    return " ".join(str(st.session_state.get("rv_name", "")).split())


def send_to_review(ids: list[str], what: str) -> None:
    """Review these faces: remember them (and what they are) and open the Label review page."""
    st.session_state["review_ids"] = [str(i) for i in ids]
    st.session_state["review_what"] = what
    st.session_state["rv_set"] = GALLERY
    st.session_state["rv_pos"] = 0
    state.go("review")


def review_button(ids: list[str], what: str, key: str) -> None:
    """A "Review these faces" button that sends `ids` (e.g. a gallery's order) to the review."""
    if ids and st.button(f"Review these {len(ids):,} faces", key=key, icon=":material/rate_review:",
                         help="Go through these faces one at a time on the Label review page"):
        send_to_review(ids, what)


def face_sets(ctx: Context, ev: Evaluation) -> dict[str, list[str]]:
    """The sets of face ids a review can go through, by name, in review order."""
    out: dict[str, list[str]] = {}
    try:
        li = resources.issues(ctx.card, ctx.split, ctx.data_path)
        out[ISSUES] = [str(li.ids[i]) for i in li.order if li.flagged[i]]
    except ValueError:
        pass
    out[ERRORS] = ev.errors()["id"].astype(str).tolist()
    sent = st.session_state.get("review_ids")
    if not sent:
        sent = state.gallery_order(state.gallery_key(ctx))
    if sent:
        have = set(map(str, ev.ids))
        out[GALLERY] = [i for i in map(str, sent) if i in have]
    return out


def decide(dataset: str, split: str, face: str, original: int, decision: str, label: int | None,
           source: str, n: int) -> None:
    """Button callback: write the decision at once, then move on to the next face."""
    who = reviewer()
    try:
        store().record(Decision(dataset, split, face, who, decision, label, original), source=source)
    except FervizError as e:
        st.session_state["rv_error"] = str(e)
        return
    st.session_state["rv_pos"] = min(int(st.session_state.get("rv_pos", 0)) + 1, max(n - 1, 0))


def undo(dataset: str, split: str, faces: list[str]) -> None:
    """Button callback: undo this reviewer's last decision and go back to its face."""
    try:
        done = store().undo(dataset, split, reviewer())
    except FervizError as e:
        st.session_state["rv_error"] = str(e)
        return
    if done is None:
        st.session_state["rv_note"] = "Nothing to undo."
    else:
        st.session_state["rv_note"] = f"Undone: {done.text} on face {done.face_id}."
        if done.face_id in faces:
            st.session_state["rv_pos"] = faces.index(done.face_id)


def move(step: int, n: int) -> None:
    """Button callback: previous (-1) or next (+1) face."""
    st.session_state["rv_pos"] = min(max(int(st.session_state.get("rv_pos", 0)) + step, 0), max(n - 1, 0))


def buttons(dataset: str, split: str, face: str, original: int, faces: list[str], source: str,
            disabled: bool, classes=range(len(EMOTIONS))) -> None:
    """The decision buttons (keyboard shortcuts in their labels; one relabel button per class of
    `classes`, the dataset's), then previous, next and undo."""
    n = len(faces)
    every = class_buttons(classes)
    per_class = every[1:-2]
    # keep, not a face, ambiguous; then the classes by their number, four to a row
    rows = [every[:1] + every[-2:]] + [per_class[i:i + 4] for i in range(0, len(per_class), 4)]
    for i, row in enumerate(rows):
        for col, (key, label, keys, decision, k) in zip(st.columns(3 if i == 0 else 4), row):
            col.button(label, key=key, shortcut=keys, disabled=disabled, width="stretch",
                       type="primary" if decision == KEEP else "secondary",
                       on_click=decide, args=(dataset, split, face, original, decision, k, source, n))
    a, b, c = st.columns(3)
    a.button("Previous", key="rv_prev", shortcut="Left", icon=":material/arrow_back:", width="stretch",
             on_click=move, args=(-1, n))
    b.button("Next", key="rv_next", shortcut="Right", icon=":material/arrow_forward:", width="stretch",
             on_click=move, args=(1, n))
    c.button("Undo", key="rv_undo", shortcut="U", icon=":material/undo:", width="stretch", disabled=disabled,
             on_click=undo, args=(dataset, split, faces))


def _pct(v) -> str:
    return "—" if v is None else f"{v:.2%}"


def _kappa(v) -> str:
    return "undefined" if v is None else f"{v:.2f}"


def metrics_row(ev: Evaluation, decisions: list[Decision], *, heading: bool = True) -> None:
    """Accuracy, macro-F1 and counts with the review applied, beside the original numbers."""
    r = reviewed_metrics(ev, decisions)
    if not r.n_reviewed:
        return
    if heading:
        st.subheader("With the label review applied")
    a, b, c, d = st.columns(4)
    a.metric("Accuracy, reviewed labels", _pct(r.accuracy),
             delta=None if r.accuracy is None else f"{(r.accuracy - ev.accuracy) * 100:+.2f} pts", delta_color="off",
             help="Accuracy against the reviewed labels, beside the original accuracy. " + LEFT_OUT)
    b.metric("Macro-F1, reviewed labels", "—" if r.macro_f1 is None else f"{r.macro_f1:.3f}",
             delta=None if r.macro_f1 is None else f"{r.macro_f1 - ev.macro_f1:+.3f}", delta_color="off")
    c.metric("Reviewed faces", f"{r.n_reviewed:,}", help="Faces with at least one reviewer's decision")
    d.metric("Left out", f"{r.n_left_out:,}", help=LEFT_OUT)
    st.caption(f"On {r.reviewed.n:,} of {ev.n:,} {ev.split} faces. Of the {r.n_reviewed:,} reviewed: "
               f"{r.n_kept:,} kept {'its' if r.n_kept == 1 else 'their'} label, {r.n_relabelled:,} relabelled; "
               f"left out: {r.n_not_a_face:,} not a face, {r.n_ambiguous:,} ambiguous, {r.n_disputed:,} disputed "
               f"(reviewers split evenly). The original: accuracy {ev.accuracy:.2%}, macro-F1 {ev.macro_f1:.3f}.")
    with st.expander("Confusion matrix with the reviewed labels"):
        m = r.reviewed.matrix()  # rows the dataset's classes, columns the model's, as the Overview's matrix
        st.plotly_chart(charts.plain_confusion(m.to_numpy(), rows_title="reviewed label", rows=list(m.index),
                                               columns=list(m.columns)), width="stretch", key="review_cm")


def overview_metrics(ctx: Context, ev: Evaluation) -> None:
    """The Overview's row of metrics with the review applied, shown only when there are decisions."""
    try:
        decisions = store().decisions(ctx.split.source_hash, ctx.split.split)
    except FervizError as e:
        st.caption(f"No label review: {e}")
        return
    if decisions:
        metrics_row(ev, decisions)
        from .navigation import page

        st.page_link(page("review"), label="Label review", icon=":material/rate_review:")


def agreement_panel(ctx: Context, decisions: list[Decision]) -> None:
    """The reviewers' kappa and each reviewer's agreement with the FER+ majority."""
    labels = {(ctx.split.split, str(i)): int(k) for i, k in zip(ctx.split.ids, ctx.split.labels)}
    r = agreement.reviewer_agreement(decisions, labels)
    who = r["reviewers"]
    if len(who) < 2:
        st.caption("Reviewers' agreement: needs a second reviewer (another name) on the same faces.")
    elif not r["n"]:
        st.caption(f"Reviewers' agreement: {', '.join(who)} have not decided on the same faces yet.")
    else:
        st.markdown(f"**Reviewers' agreement** ({len(who)} reviewers, {r['n']:,} faces all decided): "
                    f"{r['method']}'s κ = **{_kappa(r['kappa'])}**, all agree on {_pct(r['observed'])}.")
        if len(who) > 2:
            st.dataframe([{"reviewers": f"{p['a']} · {p['b']}", "faces": p["n"], "Cohen's κ": _kappa(p["kappa"]),
                           "agree": _pct(p["observed"])} for p in r["pairs"]], hide_index=True, key="rv_pairs")
    aligned, why = resources.ferplus(ctx.data_path, ctx.split.split)
    if aligned is None:
        st.caption(f"No agreement with FER+: {why}.")
        return
    own = {str(i): int(k) for i, k in zip(ctx.split.ids, ctx.split.labels)}
    rows = agreement.ferplus_agreement(decisions, aligned, own)
    if rows:
        st.markdown("**Agreement with the FER+ majority** (faces with a FER+ majority; ties and contempt left out)")
        st.dataframe([{"reviewer": x["reviewer"], "faces": x["n"], "agree with FER+": _pct(x["agreement"]),
                       "Cohen's κ vs FER+": _kappa(x["kappa"]),
                       "FER2013 label agrees with FER+": _pct(x["label_agreement"])} for x in rows],
                     hide_index=True, key="rv_ferplus")


def downloads(ctx: Context, decisions: list[Decision]) -> None:
    """The decisions as `reviews export` writes them, and the FER+-style vote table."""
    if not decisions:
        return
    a, b = st.columns(2)
    split = ctx.split.split
    a.download_button("Download decisions (CSV)", files.decisions_csv(decisions), f"reviews-{split}.csv",
                      mime="text/csv", key="rv_download", icon=":material/download:")
    b.download_button("Download FER+-style votes (CSV)", files.vote_table(decisions).to_csv(index=False).encode(),
                      f"review-votes-{split}.csv", mime="text/csv", key="rv_download_votes",
                      icon=":material/download:")


def reviewed_count(decisions: list[Decision], faces: list[str]) -> int:
    """How many of `faces` the decisions cover."""
    done = {d.face_id for d in decisions}
    return int(np.isin(np.asarray(faces, dtype=object), list(done)).sum()) if faces else 0
