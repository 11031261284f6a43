"""Attribution maps for the pages: disk-cached per image, explainers built once per model."""
from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import streamlit as st

from .. import attribution
from ..figures.overlay import colorbar_rgb, face_rgb, overlay
from ..labels import NAMES
from . import resources, serving
from .context import Context

METHOD_LABELS = attribution.METHODS
DISPLAY_METHODS = ("gradcam", "gradcampp", "xrai")
VIEW_CHOICES = {"tta": "All test-time views (the prediction shown)", "single": "Single view"}
COLORBAR_CAPTION = "low → high attribution (scaled per map)"
TRUST_SIZES = (8, 16, 32, 64)


def maps_for_rows(ctx: Context, rows: pd.DataFrame, method: str, target: str = "pred",
                  card=None) -> dict[str, np.ndarray]:
    """id -> map for error-table rows (target 'pred' or 'true' of each row)."""
    card = card or ctx.card
    pos = rows["pos"].to_numpy()
    targets = np.array([NAMES.index(v) for v in rows[target]])
    maps = maps_for(ctx, card, pos, targets, method)
    return dict(zip(rows["id"], maps))


def maps_for(ctx: Context, card, pos: np.ndarray, targets: np.ndarray, method: str,
             progress: bool = False, views: str = "tta") -> np.ndarray:
    """Maps for split positions and FER targets, from the disk cache when present; `views` "tta"
    follows the card's test-time views like the shown prediction, "single" one forward pass."""
    model = resources.model_for(card)
    split = ctx.split
    args = (model, card, split.images[pos], split.ids[pos], split.data_hash, targets, method)
    if method == "xrai":  # computing XRAI takes a slot (serving.Busy when none is free); cached maps do not
        hit = attribution.cached_explain(*args, views=views, model_hash=card.model_hash(), compute=False)
        if hit is not None:
            return hit
        slot = serving.xrai_slot()
    else:
        slot = contextlib.nullcontext()
    with slot:
        bar = st.progress(0.0, text=f"{METHOD_LABELS[method]} ...") if progress and len(pos) > 8 else None
        try:
            return attribution.cached_explain(
                *args, views=views, model_hash=card.model_hash(),
                progress=(lambda f, t: bar.progress(min(1.0, f), text=f"{METHOD_LABELS[method]}: {t}")) if bar
                else None)
        finally:
            if bar:
                bar.empty()


def cell_mean_panel(ctx: Context, rows: pd.DataFrame, t: int | None, p: int | None, limit: int = 200) -> None:
    """Mean Grad-CAM of the images in view (up to `limit`): where the model looks for this cell."""
    with st.expander("Where the model looks in these images (mean Grad-CAM)", icon=":material/visibility:"):
        sub = rows.head(limit)
        if st.toggle("Compute the mean map", key="err_mean_on",
                     help=f"Grad-CAM of the first {len(sub)} images towards their predicted class"):
            maps = maps_for(ctx, ctx.card, sub["pos"].to_numpy(),
                            np.array([NAMES.index(v) for v in sub["pred"]]), "gradcam", progress=True)
            mean = attribution.mean_map(maps)
            mean_face = ctx.split.images[sub["pos"].to_numpy()].mean(axis=0).astype(np.uint8)
            c1, c2 = st.columns(2)
            c1.image(face_rgb(mean_face, (240, 240)), caption=f"mean face of {len(sub)} images")
            c2.image(overlay(mean_face, mean, 0.55, size=(240, 240)),
                     caption="mean Grad-CAM towards the predicted class")


def faithfulness(card, face: np.ndarray, amap: np.ndarray, target: int, views: str = "tta"):
    """Deletion/insertion check of one map, on the same views as the map (cached per process)."""
    return _faithfulness(str(card.path), card.compute_key(), face.tobytes(), face.shape, amap.tobytes(),
                         amap.shape, int(target), views)


@st.cache_data(max_entries=512, show_spinner=False)
def _faithfulness(card_path: str, card_key: str, face: bytes, fshape, amap: bytes, mshape, target: int,
                  views: str = "tta"):
    from ..attribution.faithfulness import faithfulness as check
    from ..models import load_card

    card = load_card(card_path)
    f = np.frombuffer(face, np.uint8).reshape(fshape)
    m = np.frombuffer(amap, np.float32).reshape(mshape)
    return check(resources.model_for(card), card, f, m, target, views=views)


def show_map(face: np.ndarray, amap: np.ndarray, method: str, target: int, alpha: float, card=None,
             size: int = 240, caption: str | None = None) -> bool:
    """The overlay, or, for a map with no positive evidence, the face and a caption saying so
    (never a flat overlay). Returns whether the map was blank."""
    label = caption or METHOD_LABELS[method]
    if attribution.blank_maps(amap)[0]:
        layer = None
        if card is not None and method in ("gradcam", "gradcampp"):
            layer = getattr(attribution.get_explainer(resources.model_for(card), card, method), "layer", None)
        st.image(face_rgb(face, (size, size)), caption=f"{label}: no map")
        st.warning(attribution.blank_message(method, target, layer), icon=":material/visibility_off:")
        return True
    st.image(overlay(face, amap, alpha, size=(size, size)), caption=label)
    return False


def colour_bar(key: str, width: int = 480) -> None:
    """The overlays' legend: one horizontal bar of their colour map, low (left) to high (right)."""
    with st.container(key=key):
        st.image(colorbar_rgb(width, 14), width=width, caption=COLORBAR_CAPTION)


def single_view_probs(card, face: np.ndarray) -> np.ndarray:
    """FER-order probabilities (7,) of one forward pass on the face, without the card's test-time
    views (what a single-view map explains; cached per process)."""
    face = np.ascontiguousarray(face, np.uint8)
    return _single_view_probs(str(card.path), card.compute_key(), face.tobytes(), face.shape).copy()


@st.cache_data(max_entries=256, show_spinner=False)
def _single_view_probs(card_path: str, card_key: str, face: bytes, shape: tuple) -> np.ndarray:
    from dataclasses import replace

    from ..analysis.evaluation import predict_probs
    from ..models import load_card

    card = load_card(card_path)
    f = np.frombuffer(face, np.uint8).reshape(shape)
    return predict_probs(resources.model_for(card), replace(card, tta=None), f[None])[0]


def trust_table(card, split, n: int, progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The `python -m ferviz trust` tables (per method, and the cascade) for this model and split
    (disk-cached per model file)."""
    from ..attribution.trust import cached_trust_tables

    return cached_trust_tables(resources.model_for(card), card, split, list(attribution.METHODS), n=n,
                               progress=progress)


def _cached_trust(card, split, n: int) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The tables if they are already on disk (nothing computed)."""
    from ..attribution.trust import (
        load_cached_cascade,
        load_cached_trust,
        trust_cache_path,
    )

    path = trust_cache_path(card, split, list(attribution.METHODS), n=n)
    df, steps = load_cached_trust(path), load_cached_cascade(path)
    return None if df is None or steps is None else (df, steps)


def _ci_text(df: pd.DataFrame, col: str, digits: int) -> list[str]:
    if col not in df:
        return ["—"] * len(df)
    return [("—" if not np.isfinite(a) else f"{a:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]")
            for a, lo, hi in zip(df[col].astype(float), df[f"{col}_lo"].astype(float), df[f"{col}_hi"].astype(float))]


def _passed(v) -> bool:
    return str(v) in ("True", "true", "1", "1.0")


def cascade_chart(steps: pd.DataFrame):
    """The randomisation cascade as curves: per method, the rank correlation with the trained model's
    maps after each stage of re-initialisation from the top down (0: the trained model)."""
    import plotly.graph_objects as go

    from ..figures.palette import SERIES_COLORS

    fig = go.Figure()
    stages = steps.drop_duplicates("stage").sort_values("stage")
    ticks = ["trained"] + [f"+{name}" for name in stages["layer"]]
    methods = list(dict.fromkeys(steps["method"]))
    for (method, variant), g in steps.groupby(["method", "map"], sort=False):
        g = g.sort_values("stage")
        colour = SERIES_COLORS[methods.index(method) % len(SERIES_COLORS)]
        name = METHOD_LABELS.get(method, method) + (" (absolute)" if variant != "shown" else "")
        fig.add_trace(go.Scatter(x=ticks[:1] + [ticks[int(k)] for k in g["stage"]], y=[1.0, *g["spearman"]],
                                 mode="lines+markers", name=name,
                                 line={"color": colour, "dash": "solid" if variant == "shown" else "dash"},
                                 customdata=[[0, 0]] + g[["faces", "blank_randomised"]].to_numpy().tolist(),
                                 hovertemplate="%{x}: %{y:.2f}<br>faces scored %{customdata[0]}, "
                                               "randomised map blank %{customdata[1]}<extra>" + name + "</extra>"))
    fig.add_hline(y=0.5, line_dash="dot", line_color="gray")
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title="Randomisation cascade: weights re-initialised from the top down",
                      yaxis={"title": "rank corr. with the trained model's map", "range": [-0.3, 1.05]},
                      xaxis={"title": "stage (a layer and its batch norm), cumulative"})
    return fig


def method_trust_panel(ctx: Context, rows: pd.DataFrame | None = None) -> None:
    """Which attribution method to trust for this model: the same tables as `python -m ferviz trust`
    (faithfulness against a random order and a blurred random map, the randomisation checks with the
    cascade as curves, robustness, blank maps, cost)."""
    with st.expander("Which attribution method to trust (faithfulness, sanity checks, robustness)",
                     icon=":material/fact_check:"):
        st.caption("On random faces of the split, explaining the shown prediction. Faithfulness: delete (insert) "
                   "pixels in the order each map ranks them and follow the class probability, or impute them "
                   "from their neighbours (ROAD: share of steps at which the prediction is kept); a map should "
                   "beat a random order and a blurred random map (blurry maps win at deletion and ROAD "
                   "without knowing the model). Sanity check (Adebayo et al. 2018): the rank correlation "
                   "between the maps of the model and of the same network re-initialised from the top down, "
                   "stage by stage (the curve below); the verdict is on the fully randomised end point of the "
                   "map shown (faces with a blank randomised map are left out and counted). eMPRT (higher is "
                   "better) and sMPRT (lower is better) are the repaired tests of Hedström et al. 2024. "
                   "Robustness: rank correlation with the map under a little noise, a 1-pixel shift and a small "
                   "brightness change that keep the prediction (1: unchanged), and max-sensitivity "
                   "(0: unchanged). Cached per model file.")
        n = st.selectbox("Random faces of the split", TRUST_SIZES, index=len(TRUST_SIZES) - 1, key="trust_n")
        card = ctx.card
        got = _cached_trust(card, ctx.split, n)
        if got is None:
            st.info(f"Not computed yet for {card.name} on {n} faces. The command "
                    f"`python -m ferviz trust --model {card.key} --split {ctx.split.title} --n {n} --out DIR` "
                    "(with the same data) fills the same cache.")
            if not st.button(f"Compute for {n} faces", key="trust_go"):
                return
            bar = st.progress(0.0, text="trust ...")
            try:
                got = trust_table(card, ctx.split, n, progress=lambda f, t: bar.progress(min(1.0, f), text=t))
            finally:
                bar.empty()
        df, steps = got
        ig_abs = df.get("mprt_spearman_abs", pd.Series(np.nan, index=df.index)).astype(float)
        view = pd.DataFrame({
            "method": [METHOD_LABELS.get(m, m) for m in df["method"]],
            "deletion AUC": _ci_text(df, "deletion_auc", 3),
            "random / blurred random deletion": [f"{a:.3f} / {b:.3f}" for a, b in
                                                 zip(df["random_deletion_auc"], df["blur_deletion_auc"])],
            "insertion AUC": _ci_text(df, "insertion_auc", 3),
            "random / blurred random insertion": [f"{a:.3f} / {b:.3f}" for a, b in
                                                  zip(df["random_insertion_auc"], df["blur_insertion_auc"])],
            "ROAD": _ci_text(df, "road", 3),
            "random / blurred random ROAD": [f"{a:.3f} / {b:.3f}" for a, b in zip(df["random_road"], df["blur_road"])],
            "randomised-model corr.": [t + (f" (absolute {v:.2f})" if np.isfinite(v) else "")
                                       for t, v in zip(_ci_text(df, "mprt_spearman", 2), ig_abs)],
            "sanity check": ["passes" if _passed(v) else "fails" for v in df["passes_sanity_check"]],
            "left out (randomised map blank)": df["mprt_blank_randomised"].astype(int).astype(str),
            "eMPRT": _ci_text(df, "emprt", 2),
            "sMPRT": _ci_text(df, "smprt_spearman", 2),
            "corr. under small perturbations": _ci_text(df, "robust_spearman", 2),
            "max-sensitivity": _ci_text(df, "max_sensitivity", 2),
            "blank maps": df["blank_share"].map("{:.0%}".format),
            "s / face": df["seconds_per_face"].map("{:.2f}".format),
        })
        st.dataframe(view, hide_index=True, width="stretch", key="trust_table")
        ok = df[[_passed(v) for v in df["passes_sanity_check"]]]
        if len(ok):
            best = ok.loc[ok["deletion_auc"].idxmin(), "method"]
            text = (f"Passes the sanity check: **{', '.join(METHOD_LABELS[m] for m in ok['method'])}**; "
                    f"of those, the most faithful by deletion is **{METHOD_LABELS[best]}**")
            if "robust_spearman" in ok and np.isfinite(ok["robust_spearman"].astype(float)).any():
                steady = ok.loc[ok["robust_spearman"].astype(float).idxmax(), "method"]
                text += f" and the steadiest under small perturbations is **{METHOD_LABELS[steady]}**"
            st.markdown(text + ".")
        else:
            st.markdown("No method passes the sanity check on these faces.")
        if "ig" in set(df["method"]) and np.isfinite(ig_abs).any():
            r = df[df["method"] == "ig"].iloc[0]
            st.caption(f"Integrated gradients: the map shown is the positive part (evidence for the class) and "
                       f"decides the verdict ({r['mprt_spearman']:.2f}); on the absolute attribution, as Adebayo "
                       f"et al. test it, the correlation is {r['mprt_spearman_abs']:.2f} "
                       f"({'passes' if _passed(r['passes_sanity_check_abs']) else 'fails'}).")
        if len(steps):
            st.plotly_chart(cascade_chart(steps), width="stretch", key="trust_cascade")
        from .. import export
        from ..export.trust import trust_figure

        c1, c2, c3 = st.columns(3)
        c1.download_button("Table (CSV)", df.to_csv(index=False).encode(), f"{card.key}_{ctx.split.split}_trust.csv",
                           mime="text/csv", key="trust_csv")
        c3.download_button("Cascade (CSV)", steps.to_csv(index=False).encode(),
                           f"{card.key}_{ctx.split.split}_cascade.csv", mime="text/csv", key="trust_cascade_csv")
        split_name = ctx.split.split  # the figure renders on click, not on every run of the page
        c2.download_button("Figure (PNG)", lambda: export.figure_bytes(trust_figure(df, model_name=card.name,
                                                                                    split=split_name), "png"),
                           f"{card.key}_{split_name}_trust.png", mime="image/png", key="trust_png",
                           on_click="ignore")
