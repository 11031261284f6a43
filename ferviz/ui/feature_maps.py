"""The feature-maps panel: the strongest channels of every block, and the channel that adds most to
the class at the Grad-CAM layer (:mod:`ferviz.analysis.feature_maps`), for a FER2013 or an uploaded face."""
from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from .. import export
from ..analysis.feature_maps import RANKS, VIEWS_NOTE, FaceFeatures, face_features
from ..export.feature_maps import feature_maps_figure
from ..figures.overlay import colormap_lut, normalise_map, overlay
from ..labels import NAMES
from . import context, resources

TILE = 96  # px per channel tile
TOP_MAX = 16
ROW_MAX = 7  # tiles that fit in one row of the panel at 1440 px


def grid_columns(n: int, most: int = ROW_MAX) -> int:
    """Tiles per row for `n` tiles, at most `most`, so rows are full (8 -> 4 + 4, not 7 + 1): a
    divisor of n that fills at least half a row if there is one, else rows as even as they go."""
    if n <= most:
        return max(1, n)
    for cols in range(most, (most + 1) // 2 - 1, -1):
        if n % cols == 0:
            return cols
    rows = -(-n // most)
    return -(-n // rows)


@st.cache_data(max_entries=64, show_spinner="Computing feature maps ...")
def _features(card_path: str, card_key: str, face: bytes, shape: tuple, target: int, rank: str,
              top: int) -> FaceFeatures:
    from ..models import load_card

    card = load_card(card_path)
    f = np.frombuffer(face, np.uint8).reshape(shape)
    return face_features(resources.model_for(card), card, f[None], target, rank, top)[0]


def features_for(card, face: np.ndarray, target: int, rank: str, top: int) -> FaceFeatures:
    """One face's feature maps, cached per model file, face, target, ranking and k."""
    face = np.ascontiguousarray(face, np.uint8)
    return _features(str(card.path), card.compute_key(), face.tobytes(), face.shape, int(target), rank, int(top))


def tiles(maps: np.ndarray, size: int = TILE) -> list[np.ndarray]:
    """(k, h, w) channel maps -> k RGB tiles (viridis, one scale for all, zero at the bottom),
    enlarged without smoothing so each unit stays one square."""
    m = np.nan_to_num(np.asarray(maps, np.float32))
    lo, hi = min(0.0, float(m.min())), float(m.max())
    v = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    rgb = colormap_lut()[np.round(v * 255).astype(np.uint8)]
    h, w = m.shape[1:]
    out_size = (size, max(1, round(size * h / w))) if w >= h else (max(1, round(size * w / h)), size)
    return [np.asarray(Image.fromarray(t).resize(out_size, Image.Resampling.NEAREST)) for t in rgb]


@st.fragment
def panel(card, face: np.ndarray, target: int, key_prefix: str, *, image_id: str = "face",
          split: str = "upload") -> None:
    """Controls, the Grad-CAM layer's top channel, one row of top channels per block and a PNG download."""
    c1, c2 = st.columns([3, 2])
    rank = c1.radio("Rank channels by", list(RANKS), format_func=RANKS.get, horizontal=True,
                    key=f"{key_prefix}_fm_rank",
                    help="Mean activation: what the block responds to most. Gradient x activation: what adds "
                         "most to the class explained (its logit, as Grad-CAM).")
    top = c2.slider("Channels per block", 1, TOP_MAX, 8, key=f"{key_prefix}_fm_top")
    try:
        feats = features_for(card, face, target, rank, top)
    except Exception as e:  # e.g. a model without spatial conv layers
        context.show_error(e)
        return
    st.markdown(f"**{card.name}** — explaining **{NAMES[target]}** · {VIEWS_NOTE}"
                + ("; the prediction shown averages the card's test-time views" if card.tta else ""))
    left, right = st.columns([1, 3])
    cam = feats.gradcam
    with left:
        if cam.contribution > 0:
            st.image(overlay(face, normalise_map(cam.map), 0.5, size=(240, 240)),
                     caption=f"{cam.layer} channel #{cam.index}: {cam.share:.1%} of the Grad-CAM evidence")
            st.caption(f"Grad-CAM weight {cam.weight:.3g} x mean activation {cam.mean_activation:.3g} "
                       f"= {cam.contribution:.3g}, the largest of the layer's channels.")
        else:
            st.warning(f"No channel of {cam.layer} adds positive Grad-CAM evidence for {NAMES[target]}.",
                       icon=":material/visibility_off:")
    with right:
        for b in feats.blocks:
            h, w = b.maps.shape[1:]
            st.caption(f"**{b.layer}** · {h}x{w}, {b.channels} channels · top {len(b.indices)} by {RANKS[rank]}")
            images = tiles(b.maps)
            captions = [f"#{i} · {s:.3g}" for i, s in zip(b.indices, b.scores)]
            cols = grid_columns(len(images))
            for r in range(0, len(images), cols):  # one row of tiles per call: rows break where chosen
                st.image(images[r:r + cols], caption=captions[r:r + cols], width=TILE)
    name = export.export_filename("image", card.key, split, image_id=image_id, method="features",
                                  extra=[rank, f"target-{NAMES[target]}"], fmt="png")
    st.download_button("Feature maps figure (PNG)", data=lambda: export.figure_bytes(feature_maps_figure(
        face, feats, model_name=card.name, image_id=image_id, split=split), "png"), file_name=name,
        mime="image/png", key=f"{key_prefix}_fm_dl", on_click="ignore", icon=":material/download:")
