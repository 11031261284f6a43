"""Failure slices: which faces the model fails on, found automatically and said in words. The
ranked slices, the error tree and the error clusters each open the usual gallery of their faces
(errors first); with a second model chosen, which slices it fixes and which it breaks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ferviz.analysis.attributes import help_text
from ferviz.analysis.slices import ALPHA, compare_slices, with_size
from ferviz.ui import context, gallery, resources, serving, state

PER_PAGE = 24
INTRO = ("Groups of faces the model gets wrong more often than the rest, found automatically from what "
         "ferviz measures on every face: light, contrast, sharpness, head roll and yaw, scale and centring "
         "(from five landmarks), copies of Training images and, with the original fer2013.csv, FER+'s votes. "
         "Each slice is tested against the rest (Fisher's exact test, corrected for every slice tested); "
         "the ranking puts the significantly worse slices first, by how many more errors they hold than the "
         "rest's error rate would give. Click a slice, a tree node or a cluster to see its faces.")


def _picked(event, table: str, keys: list[str]) -> str | None:
    """The key of a newly selected row of dataframe `table` (None when the selection did not change)."""
    rows = list(event.selection.rows) if event and event.selection else []
    if rows != st.session_state.get(f"_{table}_rows"):
        st.session_state[f"_{table}_rows"] = rows
        if rows and rows[0] < len(keys):
            return keys[rows[0]]
    return None


#: scrolls the opened slice's gallery into view (it sits below the tables the click came from)
SCROLL = """<script>setTimeout(() => { const g = document.querySelector('.st-key-sl_gallery');
  if (g) g.scrollIntoView({behavior: 'smooth', block: 'start'}); }, 400);</script>"""


def _open(key: str) -> None:
    if st.session_state.get("sel_slice") != key:
        st.session_state["sel_slice"] = key
        st.session_state["sl_page"] = 1
        state.sync_url()
    st.session_state["_sl_scroll"] = True


def _pct(v: float) -> str:
    return f"{v:.0%}" if np.isfinite(v) else "–"


def _slice_table(search) -> pd.DataFrame:
    t = search.table
    return pd.DataFrame({
        "slice": [with_size(d, int(n)) for d, n in zip(t["description"], t["n"])],
        "accuracy": [f"{a:.0%} [{100 * lo:.0f}, {100 * hi:.0f}]" for a, lo, hi in
                     zip(t["accuracy"], t["ci_low"], t["ci_high"])],
        "rest": t["rest_accuracy"].map(_pct),
        "difference": (100 * t["difference"]).round(1),
        "excess errors": t["excess_errors"].round(0).astype(int),
        "adjusted p": t["p_adjusted"],
        "significant": (t["p_adjusted"] < ALPHA) & (t["difference"] < 0),
    })


def _tree_table(tree) -> pd.DataFrame:
    n = tree.nodes
    return pd.DataFrame({"node": n["node"], "rule": ["\u2003" * int(d) + r for d, r in zip(n["depth"], n["rule"])],
                         "faces": n["n"], "errors": n["errors"], "error rate": n["error_rate"].map(_pct),
                         "leaf": n["leaf"]})


def _resolve(key: str, ctx, search, tree, overall: float) -> tuple[np.ndarray, str, str] | None:
    """(mask, heading, sentence) of a slice, tree node ("tree:N") or cluster ("cluster:K")."""
    if key.startswith("tree:"):
        node = int(key.split(":", 1)[1])
        row = tree.nodes[tree.nodes["node"] == node]
        if row.empty:
            return None
        r = row.iloc[0]
        return (tree.mask(node), f"error-tree node {node}: {r['path']}",
                f"{r['path'][:1].upper() + r['path'][1:]} (n = {int(r['n']):,}): {r['error_rate']:.0%} wrong "
                f"vs {1 - overall:.0%} overall")
    if key.startswith("cluster:"):
        found = resources.clusters(ctx.card, ctx.split, ctx.data_path)
        k = int(key.split(":", 1)[1])
        row = found.table[found.table["cluster"] == k]
        if row.empty:
            return None
        r = row.iloc[0]
        return found.mask(k), f"error cluster {k + 1}", f"Error cluster {k + 1} ({int(r['n']):,} errors): {r['description']}"
    if key not in search.masks:
        return None
    r = search.table[search.table["slice"] == key].iloc[0]
    return search.mask(key), str(r["description"]), str(r["sentence"])


def _gallery(ctx, key: str, search, tree, ev) -> None:
    try:
        got = _resolve(key, ctx, search, tree, search.overall)
    except ValueError:
        got = None
    if got is None:
        st.warning(f"No slice {key!r} for {ctx.card.name} on {ctx.split.title}: the link may be from another "
                   "model or split. Pick one above.")
        return
    mask, heading, sentence = got
    quality = gallery.Quality(ctx)
    table = ev.table()
    rows = quality.annotate(table[mask]).sort_values(["correct", "confidence"], ascending=[True, False],
                                                     kind="stable").reset_index(drop=True)
    wrong = ~rows["correct"] & (rows["scored"] if "scored" in rows.columns else True)  # faces counted apart: not errors
    n_err = int(wrong.sum())
    st.subheader(f"{len(rows):,} {'face' if len(rows) == 1 else 'faces'}: {heading} "
                 f"({n_err:,} {'error' if n_err == 1 else 'errors'})")
    st.markdown(sentence)
    c1, c2 = st.columns([3, 1])
    c1.caption("Errors first, most confident first; then the faces the model gets right. Inspect opens a face, "
               "and the inspector's previous/next follow this order. The page's link reopens this slice.")
    from ferviz.ui import downloads

    stem = f"{ctx.card.key}_{ctx.split.split}_{_safe(key)}"
    with c2:
        downloads.file_button("Faces (CSV)", lambda: rows.drop(columns=["pos"], errors="ignore").to_csv(
            index=False, float_format="%.6f").encode(), f"{stem}_faces.csv", "sl_members_csv")
        from ferviz.ui import review

        review.review_button(list(rows["id"]), heading, "sl_review")
    page_rows, _, pages = gallery.paged(rows, "sl_page", PER_PAGE)
    gallery.show(page_rows, ctx, key_prefix="sl", order=list(rows["id"]), empty="No faces in this slice.")
    gallery.pager("sl_page", pages)


def _safe(key: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[:60] or "slice"


@st.cache_data(show_spinner=False, max_entries=16)
def _figure_png(kind: str, table: pd.DataFrame, overall: float, model: str, split: str, fmt: str) -> bytes:
    from ferviz.export import figure_bytes
    from ferviz.export.slices import slices_figure, tree_figure

    fig = tree_figure(table, model_name=model, split=split) if kind == "tree" else \
        slices_figure(table, overall, model_name=model, split=split)
    return figure_bytes(fig, fmt)


def _compare(ctx, search, ev) -> None:
    card2 = ctx.card2
    ev2 = resources.evaluation(card2, ctx.split, ctx.data_path)
    cmp = compare_slices(search, ev.correct, ev2.correct)
    st.caption(f"Each slice's accuracy for {ctx.card.name} (A) and {card2.name} (B); B fixes a face A gets wrong "
               "and breaks one A gets right. A slice is fixed or broken when the change is significant "
               "(exact McNemar test on the faces that changed, corrected for every slice).")
    for verdict, title in (("fixes", f"Slices {card2.name} fixes"), ("breaks", f"Slices {card2.name} breaks")):
        part = cmp[cmp["verdict"] == verdict]
        part = part.iloc[::-1] if verdict == "fixes" else part
        st.markdown(f"**{title}** ({len(part)})")
        if part.empty:
            st.caption("None significant.")
            continue
        view = pd.DataFrame({"slice": [with_size(d, int(n)) for d, n in zip(part["description"], part["n"])],
                             "A": part["accuracy_a"].map(_pct), "B": part["accuracy_b"].map(_pct),
                             "fixed": part["fixed"], "broken": part["broken"], "adjusted p": part["p_adjusted"]})
        event = st.dataframe(view, hide_index=True, on_select="rerun", selection_mode="single-row",
                             key=f"sl_cmp_{verdict}", width="stretch")
        if (picked := _picked(event, f"sl_cmp_{verdict}", list(part["slice"]))) is not None:
            _open(picked)


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    st.title("Failure slices")
    st.caption(INTRO)
    if not (context.require_data(ctx) and context.require_model(ctx)):
        return
    try:
        ev = resources.evaluation(ctx.card, ctx.split, ctx.data_path)
        attrs = resources.face_attributes(ctx.card, ctx.split, ctx.data_path)
        search, tree = resources.failures(ctx.card, ctx.split, ctx.data_path)
    except Exception as e:
        context.show_error(e)
        st.stop()
    with st.expander("What the attributes mean", icon=":material/help:"):
        st.markdown(help_text(attrs.columns))
        quality = gallery.Quality(ctx)
        if quality.aligned is None:
            st.caption(f"No FER+ attributes (not-a-face votes, vote entropy): {quality.ferplus_short}.")
    worst = search.worst(5, significant=False)
    n_sig = int(((search.table["p_adjusted"] < ALPHA) & (search.table["difference"] < 0)).sum())
    st.subheader(f"Where {ctx.card.name} fails on {ctx.split.title}")
    if n_sig == 0:
        st.info(f"No slice of at least 30 faces is significantly worse than the rest ({search.tested:,} tested; "
                f"accuracy {search.overall:.1%} overall)" + (": the worst ones below may be chance." if len(worst)
                                                               else "."))
    for i, (_, r) in enumerate(worst.iterrows()):
        c1, c2 = st.columns([9, 1], vertical_alignment="center")
        c1.markdown(f"{i + 1}. {r['sentence']}")
        if c2.button("Open", key=f"sl_open_{i}", width="stretch"):
            _open(str(r["slice"]))
    st.caption(f"The worst different groups of faces (a slice mostly inside one above is left out of this list, "
               f"not the table). {search.tested:,} slices of at least 30 faces tested, {n_sig:,} significantly "
               f"worse than the rest; accuracy {search.overall:.1%} overall.")

    names = ["Slices", "Error tree", "Error clusters"] + ([f"Compare with {ctx.card2.name}"] if ctx.card2 else [])
    tabs = st.tabs(names)
    with tabs[0]:
        event = st.dataframe(_slice_table(search), hide_index=True, on_select="rerun", selection_mode="single-row",
                             key="sl_table", width="stretch", height=320,
                             column_config={"adjusted p": st.column_config.NumberColumn(format="%.2g"),
                                            "difference": st.column_config.NumberColumn("difference (points)")})
        if (picked := _picked(event, "sl_table", list(search.table["slice"]))) is not None:
            _open(picked)
    with tabs[1]:
        st.caption("A shallow decision tree that predicts whether the model is wrong from the attributes (as in "
                   "Azure's Error Analysis); the darker a node, the higher its error rate. Click a row to see "
                   "the node's faces.")
        if len(tree.nodes) > 1:
            st.image(_figure_png("tree", tree.nodes, search.overall, ctx.card.name, ctx.split.title, "png"))
        event = st.dataframe(_tree_table(tree), hide_index=True, on_select="rerun", selection_mode="single-row",
                             key="sl_tree", width="stretch")
        if (picked := _picked(event, "sl_tree", [f"tree:{n}" for n in tree.nodes["node"]])) is not None:
            _open(picked)
    with tabs[2]:
        st.caption("The errors grouped by what the model computes for them (its penultimate layer, k-means), "
                   "each described by the attributes that set it apart and its confusion mix.")
        if resources.features_cached(ctx.card, ctx.split) or st.session_state.get("sl_clusters_on") \
                or str(st.session_state.get("sel_slice", "")).startswith("cluster:"):
            found = resources.clusters(ctx.card, ctx.split, ctx.data_path)
            for _, r in found.table.iterrows():
                c1, c2 = st.columns([9, 1], vertical_alignment="center")
                c1.markdown(f"**Cluster {int(r['cluster']) + 1}** ({int(r['n']):,} errors): {r['description']}")
                if c2.button("Open", key=f"sl_cluster_{int(r['cluster'])}", width="stretch"):
                    _open(f"cluster:{int(r['cluster'])}")
        elif serving.shared():
            st.info("The error clusters need the model's penultimate features of every face, which this shared "
                    "instance has not precomputed (it shows cached results rather than start a model pass for one "
                    f"visitor). Whoever runs it can: `python -m ferviz precompute --models {ctx.card.key} "
                    "--what slices`.")
        else:
            st.info("Clustering the errors needs the model's penultimate features of every face: one pass of the "
                    f"model ({resources.first_time_note()}).")
            if st.button("Find error clusters", key="sl_clusters_go"):
                st.session_state["sl_clusters_on"] = True
                st.rerun()
    if ctx.card2:
        with tabs[3]:
            _compare(ctx, search, ev)

    from ferviz.ui import downloads

    with st.expander("Export", icon=":material/download:"):
        fmt = downloads.format_picker("fmt_slices")
        stem = f"{ctx.card.key}_{ctx.split.split}"
        downloads.file_button(f"Slices figure ({fmt.upper()})", lambda: _figure_png(
            "slices", search.table, search.overall, ctx.card.name, ctx.split.title, fmt), f"{stem}_slices.{fmt}",
            "sl_fig")
        downloads.file_button(f"Error tree ({fmt.upper()})", lambda: _figure_png(
            "tree", tree.nodes, search.overall, ctx.card.name, ctx.split.title, fmt), f"{stem}_tree.{fmt}", "sl_tree_fig")
        downloads.file_button("slices.csv", lambda: search.table.to_csv(index=False, float_format="%.6g").encode(),
                              f"{stem}_slices.csv", "sl_csv")
        downloads.file_button("attributes.csv", lambda: attrs.to_csv(index=False, float_format="%.6g").encode(),
                              f"{stem}_attributes.csv", "sl_attr_csv")

    key = st.session_state.get("sel_slice")
    if key:
        st.divider()
        with st.container(key="sl_gallery"):
            _gallery(ctx, str(key), search, tree, ev)
        if st.session_state.pop("_sl_scroll", False):
            st.html(SCROLL, unsafe_allow_javascript=True)
