"""The Overview's panel "Is it the model, the label or the data?": accuracy without Training
copies, likely label issues, ECE and agreement with FER+'s votes."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ..analysis.evaluation import Evaluation
from . import charts, gallery, navigation, resources
from .context import Context


def _pct(v) -> str:
    return "—" if v is None else f"{v:.2%}"


def _f1(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def _pts(v, ref, left_out: int) -> str | None:
    """The change in points, when leaving images out changed anything."""
    return None if v is None or not left_out else f"{(v - ref) * 100:+.2f} pts"


def section(ctx: Context, ev: Evaluation) -> None:
    """Is it the model, the label or the data? Copies of Training images, label issues, ECE, FER+."""
    st.subheader("Is it the model, the label or the data?")
    split = ctx.split.split
    try:
        leak = resources.leakage(ctx.card, ctx.split, ctx.data_path)
    except Exception as e:  # the rest of the page works without it
        leak = None
        st.caption(f"No accuracy without Training copies: {e}")
    if leak:
        d1, d2, d3, d4 = st.columns(4)
        n_ex, n_near = leak["n_training_duplicates"], leak["n_training_near_duplicates"]
        acc_ex, acc_near = leak["accuracy_excluding_training_duplicates"], \
            leak["accuracy_excluding_training_near_duplicates"]
        d1.metric("Accuracy without Training copies", _pct(acc_ex), delta=_pts(acc_ex, ev.accuracy, n_ex),
                  delta_color="off",
                  help=f"Accuracy on the {ev.n - n_ex:,} {split} images that have no exact (pixel-identical) "
                       "copy in Training; a model may have memorised the others")
        d2.metric("Macro-F1 without Training copies", _f1(leak["macro_f1_excluding_training_duplicates"]))
        d3.metric("Accuracy without near copies", _pct(acc_near), delta=_pts(acc_near, ev.accuracy, n_near),
                  delta_color="off",
                  help="Also leaving out near copies: the same photo with another crop, brightness or "
                       "compression (perceptual hashes at most 6 bits apart; an exact copy is 0 bits apart)")
        d4.metric("Macro-F1 without near copies", _f1(leak["macro_f1_excluding_training_near_duplicates"]))
        st.caption(f"Left out: **{n_ex:,}** of {ev.n:,} {split} images with an exact copy in Training; "
                   f"**{n_near:,}** with an exact or near copy. The Dataset page counts them per split.")
    elif leak is not None:
        st.caption("Training itself: no accuracy without Training copies.")

    q1, q2, q3, q4 = st.columns(4)
    try:
        li = resources.issues(ctx.card, ctx.split, ctx.data_path).counts()
    except ValueError as e:
        li = None
        st.caption(f"No label issues: {e}.")
    if li is not None:
        q1.metric("Likely label issues", f"{li['flagged_errors']:,}",
                  help="Errors whose label confident learning (cleanlab's default rule) flags: the model is "
                       "confidently sure of another class, more than its usual confusion explains. A flag is a "
                       "reason to look at the face, not proof that the label is wrong: an overconfident model "
                       "raises the count too")
        q2.metric("Likely model errors", f"{li['model_errors']:,}", help="The other errors: not flagged")
    q3.metric("ECE", f"{resources.ece(ctx.card, ctx.split, ctx.data_path):.2%}",
              help="Expected calibration error of the top label (15 equal-width confidence bins): how far "
                   "confidence is from accuracy on average. See the Calibration page for temperature scaling.")
    try:
        fp = resources.ferplus_stats(ctx.card, ctx.split, ctx.data_path)
    except KeyError as e:
        fp = None
        st.caption(f"No FER+ comparison: {e.args[0]}.")
    if fp is not None:
        q4.metric("Accuracy vs FER+ majority", _pct(fp["accuracy_vs_ferplus"]),
                  help="Predictions against the majority of FER+'s 10 votes per image, on the images whose "
                       "majority is a class the model can output")
    else:
        q4.metric("Accuracy vs FER+ majority", "—")
    if li is not None:
        share = li['flagged_errors'] / max(li['errors'], 1)
        st.caption(f"Of the **{li['errors']:,}** errors, {gallery.plural(li['flagged_errors'], 'likely label issue')} "
                   f"({share:.0%}) and {gallery.plural(li['model_errors'], 'likely model error')}. "
                   f"**What the {share:.0%} can and cannot say:** confident learning flags an error when the model "
                   "is confidently sure of another class, beyond how often it usually confuses the two. It cannot "
                   "tell whether the label or the model is wrong: an overconfident model also makes this share high "
                   "(see the ECE). Check the faces: the Errors page filters and sorts by it.")
    if fp is None:
        _, why = resources.ferplus(ctx.data_path, split)
        st.caption(f"No FER+ comparison: {why}.")
    else:
        tied = f", {fp['n_tied']:,} tied (no majority)" if fp.get("n_tied") else ""
        st.caption(f"FER+ majority on **{fp['n_used']:,}** of {fp['n']:,} images ({fp['n_not_a_face']:,} not a "
                   f"face, {fp['n_contempt_or_unknown']:,} contempt or unknown{tied} left out). The FER2013 label "
                   f"agrees with it on {_pct(fp['label_agreement'])}; on **{fp['errors_ferplus_agrees_with_model']:,}**"
                   " errors FER+ sides with the model.")
        if ctx.split.label_set == "ferplus":
            st.caption(("These FER+ folders carry no FER2013 labels" if ctx.labels != "ferplus" else
                        "The Labels switch reads FER+'s majority") + ": the labels here are FER+'s majority, so "
                       "the accuracy against FER+ is the accuracy, and “the label” above is FER+'s.")
        with st.expander("FER+ majority × prediction"):
            cm = np.asarray(fp["confusion_matrix"])
            names = list(fp.get("classes") or [])
            cols = list(fp.get("columns") or names)
            st.plotly_chart(charts.plain_confusion(cm, rows_title="FER+ majority",
                                                   rows=names if len(names) == cm.shape[0] else None,
                                                   columns=cols if len(cols) == cm.shape[1] else None),
                            width="stretch", key="ferplus_cm")
    st.page_link(navigation.page("calibration"), label="Calibration: reliability diagram and temperature scaling",
                 icon=":material/speed:")
