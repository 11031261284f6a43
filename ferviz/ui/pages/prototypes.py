"""Prototypes: per class, the most typical faces of the split in the model's space (k-medoids) and
the least typical (criticisms: farthest from every prototype), each as a gallery."""
from __future__ import annotations

import streamlit as st

from ferviz.analysis.prototypes import METHOD
from ferviz.labels import NAMES
from ferviz.ui import context, gallery, resources
from ferviz.ui import neighbours as nb_ui

COUNTS = (3, 6, 12)
ALL = "all classes"


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Prototypes")
    st.caption("Per class, the faces labelled with it that the model sees as most typical (prototypes: the medoids "
               "of the class's faces by cosine distance between the features just before the classification layer, "
               "largest group first) and the least typical (criticisms: the faces farthest from every prototype; "
               "mislabelled faces and non-faces tend to end up there).")
    if not (context.require_data(ctx) and context.require_model(ctx)):
        return
    c1, c2 = st.columns([5, 2])
    present = [NAMES[c] for c in ctx.split.class_ids if (ctx.split.labels == c).any()]  # the dataset's classes
    which = c1.radio("Class", [ALL] + present, horizontal=True, key="proto_class")
    n = c2.select_slider("Faces per gallery", COUNTS, value=6, key="proto_n")
    try:
        df = nb_ui.prototypes(ctx.card, ctx.split, ctx.data_path, n)
        ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
    except Exception as e:
        context.show_error(e)
        st.stop()
    quality = gallery.Quality(ctx)
    table = quality.annotate(ev.table()).set_index("pos", drop=False)
    st.caption(f"{ctx.card.name} · {ctx.split.title} · {METHOD}; features averaged over the card's test-time views.")
    for label in present if which == ALL else [which]:
        rows = df[df["label"] == label]
        count = int((ctx.split.labels == NAMES.index(label)).sum())
        st.subheader(f"{label} · {count:,} faces", divider="gray")
        protos, crits = rows[rows["kind"] == "prototype"], rows[rows["kind"] == "criticism"]
        order = list(protos["id"]) + list(crits["id"])
        st.markdown("**Prototypes** (most typical) · share of the class each stands for: "
                    + ", ".join(f"{s:.0%}" for s in protos["share"]))
        gallery.show(table.loc[protos["pos"]].reset_index(drop=True), ctx, cols=6, key_prefix=f"proto_{label}_p",
                     order=order)
        if len(crits):
            st.markdown("**Criticisms** (least typical) · cosine distance to the nearest prototype: "
                        + ", ".join(f"{d:.2f}" for d in crits["distance"]))
            gallery.show(table.loc[crits["pos"]].reset_index(drop=True), ctx, cols=6,
                         key_prefix=f"proto_{label}_c", order=order)
