"""Where the model looks by facial region: the Errors page's per-cell chart and the inspector's
per-image chart (computation in ferviz.attribution.regions, figures shared with the export)."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ..attribution import regions as core
from ..export import regions as fig_regions
from ..labels import NAMES
from . import attributions, charts, resources
from .context import Context

REGION_METHODS = ("gradcam", "gradcampp", "ig", "smoothgrad")
GROUP_SIZES = (25, 50, 100, 200)


def _regions_note() -> str:
    return ("Regions come from five landmarks (eyes, nose tip, mouth corners) that MTCNN's ONet finds on "
            "each whole face; where it finds none, a template of the mean FER2013 face stands in. Shares "
            "are each map's positive attribution per region (they sum to 1). Larger regions collect more, "
            "so compare the groups, not the regions.")


def cell_panel(ctx: Context, t: int | None, p: int | None) -> None:
    """Per-cell region chart: the cell against the correct faces of its true and predicted classes."""
    with st.expander("Where the model looks, by facial region", icon=":material/face:"):
        if t is None or p is None or t == p:
            st.info("Pick one confusion cell (a true and a predicted class that differ) to compare its errors "
                    "with the correctly classified faces of both classes.")
            return
        st.caption(_regions_note())
        c1, c2, c3 = st.columns([2, 2, 2])
        method = c1.selectbox("Method", REGION_METHODS, format_func=attributions.METHOD_LABELS.get,
                              key="reg_method")
        max_faces = c2.selectbox("Faces per group (at most)", GROUP_SIZES, index=2, key="reg_n",
                                 help="drawn at random (seed 0) from each group")
        if not c3.toggle("Compute", key="reg_on", help="maps of every face in the three groups (cached on disk)"):
            return
        try:
            ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
            lm = resources.landmarks(ctx.split, ctx.data_path)
            rep = core.cell_report(
                ctx.split.labels, ev.preds, lm.points, lm.detected, t, p,
                lambda pos, tg: attributions.maps_for(ctx, ctx.card, pos, tg, method, progress=True),
                method=method, max_faces=max_faces, model_classes=ctx.card.class_ids)
        except Exception as e:  # a message, not a traceback
            st.error(f"Region shares could not be computed: {e}")
            return
        left, right = st.columns([3, 1])
        title = fig_regions.regions_title(ctx.card.name, ctx.split.title, method, t, p)
        left.plotly_chart(charts.region_bars(rep.table, rep.tests), width="stretch", key="reg_chart")
        with right:
            first = int(rep.groups[0].pos[0])
            labels = core.region_map(lm.points[first], ctx.split.images.shape[1:3])
            st.image(fig_regions.region_overlay(ctx.split.images[first], labels, size=(200, 200)),
                     caption=f"regions on {ctx.split.ids[first]} "
                             f"({'landmarks' if lm.detected[first] else 'template'})")
            st.caption(fig_regions.regions_legend())
        diffs = rep.differing()
        st.markdown("**Differs significantly** (Welch's t-test, Holm-corrected, p < 0.05): "
                    + ("; ".join(diffs) if diffs else "no region."))
        n_tmpl = int(rep.table["n_template"].sum())
        n_blank = int(rep.table["n_blank"].sum())
        st.caption(f"{n_tmpl} of {len(rep.faces)} faces used the template; {n_blank} blank maps left out. "
                   f"ONet found landmarks on {lm.detection_rate:.1%} of {ctx.split.title}.")
        name = f"{ctx.card.key}_{ctx.split.split}_{NAMES[t]}-{NAMES[p]}_{method}_regions"
        d1, d2 = st.columns(2)
        d1.download_button("regions.csv", data=fig_regions.regions_csv(rep.table), file_name=f"{name}.csv",
                           mime="text/csv", key="reg_csv", on_click="ignore", icon=":material/download:")
        fmt = d2.selectbox("Chart format", ("png", "svg", "pdf"), key="reg_fmt", label_visibility="collapsed")

        def render() -> bytes:
            from ..export.render import figure_bytes

            return figure_bytes(fig_regions.regions_figure(rep.table, rep.tests, title=title), fmt)

        from ..export import MIME

        d2.download_button(f"Chart ({fmt.upper()})", data=render, file_name=f"{name}.{fmt}",
                           mime=MIME.get(fmt, "application/octet-stream"), key="reg_fig", on_click="ignore",
                           icon=":material/download:")


def image_panel(ctx: Context, pos: int, maps: dict[str, np.ndarray]) -> None:
    """One image's regions over the face and each method's share per region."""
    with st.expander("By facial region", icon=":material/face:"):
        try:
            lm = resources.landmarks(ctx.split, ctx.data_path)
        except Exception as e:
            st.error(f"No facial landmarks: {e}")
            return
        face = ctx.split.images[pos]
        size = next(iter(maps.values())).shape if maps else face.shape[:2]
        labels = core.region_map(lm.points[pos], size)
        shares, blank = {}, []
        for label, m in maps.items():
            s = core.region_shares(m[None], labels[None])[0]
            (blank.append(label) if np.isnan(s).any() else shares.__setitem__(label, s))
        left, right = st.columns([1, 2])
        face_labels = labels if tuple(size) == face.shape[:2] else core.region_map(lm.points[pos], face.shape[:2])
        left.image(fig_regions.region_overlay(face, face_labels, size=(220, 220)),
                   caption="regions from " + ("ONet's landmarks" if lm.detected[pos]
                                              else "the template (ONet found no face)")
                   + ": " + fig_regions.regions_legend())
        with right:
            if shares:
                st.plotly_chart(charts.region_shares_bar(shares), width="stretch", key="insp_regions")
            else:
                st.info("No method has a map with positive evidence to divide among the regions.")
            if blank:
                st.caption("No positive evidence, so no shares: " + ", ".join(blank))
            st.caption(_regions_note())
