"""Compare two models: accuracies, the difference of their confusion matrices, disagreements.

Two models may output different classes: the matrices' rows are the dataset's classes and their
columns every class either model can output, and the faces a model cannot get right (a true class
outside its classes) are left out of the right/wrong tabs: they compare the faces both can score."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ferviz.labels import NAMES
from ferviz.ui import charts, context, gallery, resources


def _counts(ev, rows: list[int], columns: list[int]) -> np.ndarray:
    """`ev`'s confusion counts over class ids `rows` x `columns` (0 where the model lacks a column)."""
    k = max(ev.probs.shape[1], max(rows) + 1, max(columns) + 1)
    full = np.zeros((k, k), np.int64)
    full[:ev.probs.shape[1], :ev.probs.shape[1]] = ev.confusion()
    return full[np.ix_(rows, columns)]


def _only(x, y) -> str:
    """The classes evaluation `x`'s model outputs and `y`'s does not, by name."""
    return ", ".join(NAMES[c] for c in x.columns if c not in y.columns) or "none"


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
        first, second = ctx.card.name, ctx.card2.name
        both = a.scored & b.scored  # faces whose true class both models can output
        c1, c2, c3 = st.columns(3)
        c1.metric(first, f"{a.accuracy:.2%}", help="accuracy" + ("" if not a.n_outside else
                                                               f", on its {a.n_scored:,} scored faces"))
        c2.metric(second, f"{b.accuracy:.2%}", delta=f"{(b.accuracy - a.accuracy) * 100:+.2f} pts",
                  help=None if not b.n_outside else f"accuracy, on its {b.n_scored:,} scored faces")
        ra, rb = a.correct & both, b.correct & both
        c3.metric("Agree on", f"{(a.preds == b.preds).mean():.1%}", help="share of images with the same prediction")
        if a.columns != b.columns:
            st.info(f"The two models output different classes: only {first}: {_only(a, b)}; only {second}: "
                    f"{_only(b, a)}. The tabs below compare the {int(both.sum()):,} faces whose class both can "
                    "output; each accuracy is on the faces its own model can score.")
        for ev in (a, b):
            if ev.n_outside:
                st.caption(f"{ev.outside_note()}.")
        rows = list(a.rows)
        columns = sorted(set(a.columns) | set(b.columns))
        st.plotly_chart(charts.diff_heatmap(_counts(a, rows, columns) - _counts(b, rows, columns), first=first,
                                            second=second, title=f"{first} minus {second}: images per cell",
                                            rows=rows, columns=columns),
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
