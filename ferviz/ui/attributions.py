"""Attribution maps for the pages: disk-cached per image, explainers built once per model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from .. import attribution
from ..labels import EMOTIONS
from ..overlay import face_rgb, overlay
from . import resources
from .context import Context

METHOD_LABELS = attribution.METHODS
DISPLAY_METHODS = ("gradcam", "gradcampp", "xrai")


def maps_for_rows(ctx: Context, rows: pd.DataFrame, method: str, target: str = "pred",
                  card=None) -> dict[str, np.ndarray]:
    """id -> map for error-table rows (target 'pred' or 'true' of each row)."""
    card = card or ctx.card
    pos = rows["pos"].to_numpy()
    targets = np.array([EMOTIONS.index(v) for v in rows[target]])
    maps = maps_for(ctx, card, pos, targets, method)
    return dict(zip(rows["id"], maps))


def maps_for(ctx: Context, card, pos: np.ndarray, targets: np.ndarray, method: str,
             progress: bool = False) -> np.ndarray:
    """Maps for split positions and FER targets, from the disk cache when present."""
    model = resources.model_for(card)
    split = ctx.split
    bar = st.progress(0.0, text=f"{METHOD_LABELS[method]} ...") if progress and len(pos) > 8 else None
    try:
        return attribution.cached_explain(
            model, card, split.images[pos], split.ids[pos], split.data_hash, targets, method,
            model_hash=card.model_hash(),
            progress=(lambda f, t: bar.progress(min(1.0, f), text=f"{METHOD_LABELS[method]}: {t}")) if bar else None)
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
                            np.array([EMOTIONS.index(v) for v in sub["pred"]]), "gradcam", progress=True)
            mean = attribution.mean_map(maps)
            mean_face = ctx.split.images[sub["pos"].to_numpy()].mean(axis=0).astype(np.uint8)
            c1, c2 = st.columns(2)
            c1.image(face_rgb(mean_face, (240, 240)), caption=f"mean face of {len(sub)} images")
            c2.image(overlay(mean_face, mean, 0.55, size=(240, 240)),
                     caption="mean Grad-CAM towards the predicted class")


def faithfulness(card, face: np.ndarray, amap: np.ndarray, target: int):
    """Deletion/insertion check of one map (cached per process by content)."""
    return _faithfulness(str(card.path), card.compute_key(), face.tobytes(), face.shape, amap.tobytes(),
                         amap.shape, int(target))


@st.cache_data(max_entries=512, show_spinner=False)
def _faithfulness(card_path: str, card_key: str, face: bytes, fshape, amap: bytes, mshape, target: int):
    from ..faithfulness import faithfulness as check
    from ..models import load_card

    card = load_card(card_path)
    f = np.frombuffer(face, np.uint8).reshape(fshape)
    m = np.frombuffer(amap, np.float32).reshape(mshape)
    return check(resources.model_for(card), card, f, m, target)


def method_trust_panel(ctx: Context, rows: pd.DataFrame, limit: int = 24) -> None:
    """Deletion/insertion of each method over the images in view: which method to trust here."""
    with st.expander("Which attribution method to trust here (faithfulness)", icon=":material/fact_check:"):
        sub = rows.head(limit)
        st.caption(f"For the first {len(sub)} images: delete (insert) pixels in the order each map ranks them "
                   "and follow the predicted class's probability. Lower deletion AUC and higher insertion AUC "
                   "than a random order mean the map points at what the model uses.")
        if not st.toggle("Score the methods", key="err_trust_on"):
            return
        from ..faithfulness import deletion_insertion, summarise

        pos = sub["pos"].to_numpy()
        targets = np.array([EMOTIONS.index(v) for v in sub["pred"]])
        model = resources.model_for(ctx.card)
        table = []
        for m in DISPLAY_METHODS:
            maps = maps_for(ctx, ctx.card, pos, targets, m, progress=True)
            s = summarise(deletion_insertion(model, ctx.card, ctx.split.images[pos], maps, targets))
            table.append({"method": METHOD_LABELS[m], "deletion AUC": s.deletion_auc,
                          "random deletion AUC": s.random_deletion_auc,
                          "beats random (deletion)": s.deletion_win_rate, "insertion AUC": s.insertion_auc,
                          "random insertion AUC": s.random_insertion_auc,
                          "beats random (insertion)": s.insertion_win_rate})
        df = pd.DataFrame(table)
        st.dataframe(df.style.format({c: "{:.3f}" for c in df.columns if "AUC" in c} |
                                     {c: "{:.0%}" for c in df.columns if "beats" in c}),
                     hide_index=True, width="stretch", key="err_trust_table")
        best = df.loc[df["deletion AUC"].idxmin(), "method"]
        st.markdown(f"Most faithful on these images by deletion: **{best}**.")
