"""Calibration: does the model's confidence match its accuracy? Reliability diagrams before and
after temperature scaling (T fitted on PublicTest, measured on PrivateTest), per class on request."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from ferviz import export
from ferviz.ui import charts, context, resources


def _worse_note(res) -> str:
    """Why temperature scaling can raise the ECE on the split it is measured on, in this model's numbers."""
    fit_before = res.reliability[(res.fit_split, "before")].ece
    fit_after = res.reliability[(res.fit_split, "after")].ece
    on_fit = "lowered" if fit_after < fit_before else "did not lower"
    nll = "lower" if res.nll_after < res.nll_before else "higher"
    return (f"Temperature scaling made ECE worse here ({res.ece_before:.1%} → {res.ece_after:.1%} on {res.split}). "
            f"T was fitted on another split, {res.fit_split}, by minimising the log-loss there (it {on_fit} the ECE "
            f"on {res.fit_split}: {fit_before:.1%} → {fit_after:.1%}); one temperature that suits {res.fit_split} "
            f"need not suit {res.split}. On {res.split} the log-loss is {nll} after scaling "
            f"({res.nll_before:.3f} → {res.nll_after:.3f}).")


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Calibration")
    if not (context.require_data(ctx) and context.require_model(ctx)):
        st.stop()
    try:
        res = resources.calibration(ctx.card, ctx.data_path)
    except Exception as e:  # e.g. a dataset without PublicTest: a message, never a traceback
        context.show_error(e)
        st.stop()
    n_fit = res.reliability[(res.fit_split, "before")].n
    st.caption(f"{ctx.card.name}: one temperature T fitted on **{res.fit_split}** ({n_fit:,} images) by minimising "
               f"the log-loss, measured on **{res.split}** ({res.n:,} images) whatever split the sidebar shows. "
               f"Dividing the log-probabilities by T changes no prediction: accuracy stays {res.accuracy:.2%}.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Temperature T", f"{res.temperature:.3f}",
              help="T > 1 softens overconfident probabilities, T < 1 sharpens underconfident ones")
    c2.metric(f"ECE on {res.split}", f"{res.ece_before:.2%}",
              help="Expected calibration error of the top label: 15 equal-width confidence bins, the mean "
                   "|accuracy - confidence| weighted by the images in each bin")
    c3.metric("ECE after scaling", f"{res.ece_after:.2%}", delta=f"{(res.ece_after - res.ece_before) * 100:+.2f} pts",
              delta_color="inverse")
    c4.metric("Log-loss before → after", f"{res.nll_before:.3f} → {res.nll_after:.3f}")
    before = res.reliability[(res.split, "before")]
    filled = before.count > 0
    over = int((before.gap[filled] < 0).sum())
    n_filled = int(filled.sum())
    if over * 3 >= n_filled * 2:  # the bins say it, not T (fitted on another split)
        verdict = f"overconfident: in {over} of {n_filled} filled bins accuracy is below the mean confidence"
    elif over * 3 <= n_filled:
        verdict = (f"underconfident: in {n_filled - over} of {n_filled} filled bins accuracy is at or above the "
                   "mean confidence")
    else:
        verdict = f"over- and underconfident by turns: accuracy is below the mean confidence in {over} of {n_filled} bins"
    worse = res.ece_after > res.ece_before
    st.markdown(f"**{ctx.card.name}** is {verdict} on {res.split}; T = {res.temperature:.3f} "
                + (f"makes the ECE **worse**: **{res.ece_before:.2%}** → **{res.ece_after:.2%}**." if worse else
                   f"takes the ECE from **{res.ece_before:.2%}** to **{res.ece_after:.2%}**."))
    if worse:
        st.warning(_worse_note(res), icon=":material/trending_up:")
    a, b, c = st.columns([2, 2, 2])
    view = a.radio("Show", ["top label", "per class (one-vs-rest)"], key="cal_view", horizontal=True,
                   help="Per class: for class k, the probability of k against whether the label is k, over all images")
    split = b.radio("Measured on", [res.split, res.fit_split], key="cal_split", horizontal=True,
                    format_func=lambda s: s if s == res.split else f"{s} (where T was fitted)")
    stage = "before"
    if view != "top label":
        stage = c.radio("Probabilities", ["before", "after"], key="cal_stage", horizontal=True,
                        format_func=lambda s: f"{s} temperature scaling")
    after_label = f"after (T = {res.temperature:.3f}, fit on {res.fit_split})"
    if view == "top label":
        panels = {"before temperature scaling": res.reliability[(split, "before")],
                  after_label: res.reliability[(split, "after")]}
        fig_panels, ncols = panels, None
        st.plotly_chart(charts.reliability_chart(panels), width="stretch", key="cal_chart")
    else:
        per = res.per_class[(split, stage)]
        panels = {res.classes[r.cls]: r for r in per}
        fig_panels, ncols = panels, 4
        st.plotly_chart(charts.reliability_chart(panels, ncols=4, height_per_row=320), width="stretch",
                        key="cal_chart_classes")
        table = pd.DataFrame({"class": list(res.classes),
                              "ECE before": [r.ece for r in res.per_class[(split, "before")]],
                              "ECE after": [r.ece for r in res.per_class[(split, "after")]]})
        st.dataframe(table.style.format({"ECE before": "{:.2%}", "ECE after": "{:.2%}"}), hide_index=True,
                     key="cal_class_table")
    with st.expander(f"Bins on {split} (top label)"):
        bins = pd.DataFrame({"bin": [f"({lo:.3f}, {hi:.3f}]" for lo, hi in zip(before.bin_lo, before.bin_hi)]})
        for name in ("before", "after"):
            r = res.reliability[(split, name)]
            bins[f"images {name}"] = r.count
            bins[f"accuracy {name}"] = r.accuracy
            bins[f"confidence {name}"] = r.confidence
        st.dataframe(bins.style.format({c: "{:.1%}" for c in bins.columns if c.startswith(("accuracy", "confidence"))},
                                       na_rep="—"), hide_index=True, key="cal_bins")
    with st.expander("Export", icon=":material/download:"):
        fmt = st.selectbox("Figure format", export.FORMATS, key="fmt_calibration",
                           help="PNG for slides, SVG/PDF for papers")
        key = export.safe_part(ctx.card.key, "model key")
        stem = f"{key}_{split}_reliability" + ("" if view == "top label" else f"_per_class_{stage}")
        title = "" if view == "top label" else \
            f"{ctx.card.name} on {split}: one-vs-rest reliability per class, {stage} temperature scaling"

        def figure() -> bytes:
            from ferviz.export.calibration import reliability_figure

            return export.figure_bytes(reliability_figure(fig_panels, model_name=ctx.card.name, split=split,
                                                          title=title, ncols=ncols), fmt)

        frame = res.frame()
        summary = res.to_dict()
        d1, d2, d3 = st.columns(3)
        d1.download_button("Reliability diagram", data=figure, file_name=f"{stem}.{fmt}", mime=export.MIME[fmt],
                           key="dl_reliability", on_click="ignore", icon=":material/download:")
        d2.download_button("Reliability bins (CSV)", data=lambda: frame.to_csv(index=False).encode(),
                           file_name=f"{key}_calibration.csv", mime="text/csv", key="dl_calibration_csv",
                           on_click="ignore", icon=":material/download:")
        d3.download_button("Summary (JSON)", data=lambda: (json.dumps(summary, indent=2) + "\n").encode(),
                           file_name=f"{key}_calibration.json", mime="application/json", key="dl_calibration_json",
                           on_click="ignore", icon=":material/download:")
        st.caption("The CSV holds every bin before and after scaling, on both splits, top label and per class "
                   "(the same as `python -m ferviz calibration --per-class`).")
