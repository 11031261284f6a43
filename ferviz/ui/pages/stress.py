"""Stress test: the model's accuracy as the faces are occluded (eyes, brows, nose, mouth), noisy,
blurred, dim, flat, compressed, small, turned, shifted, zoomed out or mirrored, at severities 1-5;
which class turns into which (a cell opens those faces); a second model on the same curves."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ferviz.analysis import stress as core
from ferviz.analysis.perturbations import PERTURBATIONS, describe
from ferviz.figures import palette
from ferviz.labels import NAMES
from ferviz.ui import context, gallery, resources, serving
from ferviz.ui import stress as job_ui

INTRO = ("How the model holds up when the faces change: each facial region occluded with the face's mean grey "
         "(from its five landmarks), noise, blur, dim light, low contrast, JPEG, low resolution, rotation, "
         "shift, zoom and mirror, each at severities 1-5 (0 is the face as it is), through the model's own "
         "preprocessing and test-time views. A flip is a face the model read right that it reads as another "
         "class once perturbed.")
PER_PAGE = 24


def _curves(table: pd.DataFrame, names: list[str], classes: list[str], other: pd.DataFrame | None,
            other_name: str, title: str) -> go.Figure:
    fig = go.Figure()
    dash = {"all": "solid"}
    for name in names:
        for cls in classes:
            c = table[(table["perturbation"] == name) & (table["class"] == cls)].sort_values("severity")
            if c.empty:
                continue
            label = PERTURBATIONS[name].label + ("" if cls == "all" else f" · {cls}")
            color = palette.CLASS_COLORS.get(cls) if len(names) == 1 and cls != "all" else None
            fig.add_trace(go.Scatter(
                x=c["severity"], y=100 * c["accuracy"], mode="lines+markers", name=label,
                line={"dash": dash.get(cls, "dot") if len(names) > 1 else "solid", "color": color},
                error_y={"type": "data", "symmetric": False, "array": 100 * (c["ci_high"] - c["accuracy"]),
                         "arrayminus": 100 * (c["accuracy"] - c["ci_low"]), "thickness": 1},
                hovertemplate="severity %{x}: %{y:.1f}%<extra>" + label + "</extra>"))
            if other is not None:
                o = other[(other["perturbation"] == name) & (other["class"] == cls)].sort_values("severity")
                if not o.empty:
                    fig.add_trace(go.Scatter(x=o["severity"], y=100 * o["accuracy"], mode="lines",
                                             name=f"{label} · {other_name}", line={"dash": "dash", "color": color},
                                             hovertemplate="severity %{x}: %{y:.1f}%<extra>" + other_name
                                             + "</extra>"))
    fig.update_layout(title=title, xaxis_title="severity", yaxis_title="accuracy (%)", yaxis_range=[0, 100],
                      xaxis={"dtick": 1}, height=430, margin={"t": 50, "b": 40}, legend={"font": {"size": 11}})
    return fig


def _classes(res: core.StressResult) -> list[int]:
    """The classes a face can be read right as: the dataset's classes the model can output."""
    return [int(c) for c in res.data_classes if c in res.model_classes]


def _flips_matrix(res: core.StressResult, name: str, sev: int) -> pd.DataFrame:
    """Rows: true class read right before; columns: the class read under the perturbation (the
    model's classes); `core.StressResult.flip_matrix`."""
    return res.flip_matrix(name, sev)


def _job_panel(ctx, card, label: str) -> bool:
    """The background job's state for `card`; True when every evaluation is cached."""
    have, total = core.cached_count(card, ctx.split)
    j = job_ui.job(card, ctx.split)
    if j is not None and j.running:
        st.progress(j.done / max(1, j.total),
                    text=f"{label}: {j.done} of {j.total} perturbed copies evaluated{j.left()} · now {j.current}")
        return False
    if j is not None and j.error:
        st.error(f"The stress test of {card.name} stopped: {j.error}. What finished is kept; run it again to go on.")
    if have < total and serving.shared():
        st.info(f"{label}: {have} of {total} perturbed copies of the {len(ctx.split):,} faces are precomputed; this "
                "shared instance shows only those rather than start an hour of work for one visitor. Whoever runs it "
                f"can fill the rest: `python -m ferviz precompute --models {card.key} --what stress`.")
        return False
    if have < total:
        st.info(f"{label}: {have} of {total} perturbed copies of the {len(ctx.split):,} faces evaluated. The whole "
                f"test evaluates the other {total - have} in the background, each as long as the Overview's first "
                f"prediction of the split (up to a few minutes on a small CPU), and the curves fill in as it goes. "
                f"`python -m ferviz stress --model {card.key}` computes the same ahead of time.")
        if st.button(f"Run the whole stress test for {card.name}", key=f"st_run_{card.key}", type="primary"):
            job_ui.start(card, ctx.split, ctx.data_path)
            st.rerun()
        return False
    return True


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Stress test")
    st.caption(INTRO)
    if not (context.require_data(ctx) and context.require_model(ctx)):
        return

    cards = [c for c in (ctx.card, ctx.card2) if c is not None]

    def running() -> list:
        return [j for c in cards if (j := job_ui.job(c, ctx.split)) is not None and j.running]

    @st.fragment(run_every=3 if running() else None)
    def progress_panel() -> None:
        for c in cards:
            _job_panel(ctx, c, c.name)
        jobs = running()
        done = sum(j.done for j in jobs)
        seen = st.session_state.get("_st_seen")
        st.session_state["_st_seen"] = (len(jobs), done)
        if seen is not None and seen != (len(jobs), done):
            st.rerun()  # another copy evaluated, or a job finished: redraw the curves with it
    progress_panel()

    try:
        res = job_ui.results(ctx.card, ctx.split, ctx.data_path)
        table = res.table()
        other = job_ui.results(ctx.card2, ctx.split, ctx.data_path).table() if ctx.card2 else None
    except Exception as e:
        context.show_error(e)
        st.stop()
    available = res.perturbations
    if not available:
        st.info("No perturbed copy is evaluated yet: start the stress test above.")
        return
    prev = st.session_state.get("_st_available", [])
    if available != prev and "st_perts" in st.session_state:  # copies finished meanwhile: show them too
        kept = [n for n in st.session_state["st_perts"] if n in available]
        st.session_state["st_perts"] = kept + [n for n in available if n not in prev and n not in kept]
    st.session_state["_st_available"] = available
    c1, c2 = st.columns([3, 2])
    names = c1.multiselect("Perturbations", available, default=available,
                           format_func=lambda n: PERTURBATIONS[n].label, key="st_perts")
    classes = c2.multiselect("Classes", ["all"] + [NAMES[c] for c in _classes(res)], default=["all"],
                             key="st_classes",
                             help="all: the whole split; a class: its faces only (choose one perturbation to see "
                                  "every class in its own colour)")
    if names and classes:
        base = table[(table["severity"] == 0) & (table["class"] == "all")]["accuracy"].iloc[0]
        title = f"{ctx.card.name} · {ctx.split.title} · accuracy {base:.1%} as the faces are"
        st.plotly_chart(_curves(table, names, classes, other, ctx.card2.name if ctx.card2 else "", title),
                        width="stretch", key="st_curves")
        st.caption("Bars: 95% intervals (Wilson)." + (f" Dashed: {ctx.card2.name}." if ctx.card2 else ""))

    st.subheader("Flips")
    flips = res.flips()
    for i, (_, f) in enumerate(flips.head(5).iterrows()):
        st.markdown(f"{i + 1}. " + core.flip_sentence(f["perturbation"], int(f["severity"]), f["from"], f["to"],
                                                        int(f["count"])) + f" ({f['share']:.0%} of them)")
    f1, f2 = st.columns([3, 2])
    name = f1.selectbox("Perturbation", available, format_func=lambda n: PERTURBATIONS[n].label, key="st_flip_pert")
    sevs = sorted(s for n, s in res.probs if n == name)
    sev = f2.select_slider("Severity", options=sevs, value=sevs[min(2, len(sevs) - 1)], key="st_flip_sev") \
        if len(sevs) > 1 else sevs[0]
    matrix = _flips_matrix(res, name, sev)
    st.caption(f"Faces read right as the row's class that {describe(name, sev)} makes the model read as the "
               "column's. Click a cell to see them.")
    event = st.dataframe(matrix, on_select="rerun", selection_mode="single-cell", key="st_flips", width="stretch")
    cells = list(event.selection.cells) if event and event.selection else []
    if cells:
        row, col = cells[0]
        st.session_state["st_open"] = (name, int(sev), NAMES.index(matrix.index[int(row)]), NAMES.index(col))
        st.session_state["st_page"] = 1
    opened = st.session_state.get("st_open")
    if opened and opened[0] in available:
        _gallery(ctx, res, *opened)


def _gallery(ctx, res: core.StressResult, name: str, sev: int, t: int, q: int) -> None:
    if (name, sev) not in res.probs:
        return
    mask = res.flip_mask(name, sev, t, q)
    ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
    rows = gallery.Quality(ctx).annotate(ev.table()[mask]).reset_index(drop=True)
    st.subheader(f"{len(rows):,} {NAMES[t]} {'face' if len(rows) == 1 else 'faces'} read as {NAMES[q]} "
                 f"after {describe(name, sev)}")
    st.caption("Shown as they are (the tiles' probabilities are the model's on the unperturbed face); the "
               "Inspector's *Under perturbations* shows each face perturbed.")
    page_rows, _, pages = gallery.paged(rows, "st_page", PER_PAGE)
    gallery.show(page_rows, ctx, key_prefix="st", order=list(rows["id"]), empty="No face flipped that way.")
    gallery.pager("st_page", pages)
