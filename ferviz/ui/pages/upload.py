"""Your face: upload or camera, detected faces, the FER-style crop, prediction and attributions."""
from __future__ import annotations

import contextlib
import hashlib

import numpy as np
import streamlit as st

from ferviz import attribution
from ferviz.faces import detection as faces
from ferviz.figures.overlay import face_rgb
from ferviz.labels import NAMES
from ferviz.ui import (
    attributions,
    charts,
    context,
    downloads,
    feature_maps,
    neighbours,
    resources,
    serving,
)
from ferviz.ui.feature_maps import grid_columns


@st.cache_data(max_entries=6, show_spinner="Finding faces ...")  # a Photo holds the whole picture
def _analyse(digest: str, data: bytes, box: tuple | None, whole: bool) -> faces.Photo:
    return faces.analyse_photo(data, box=box, whole_image=whole)


@st.cache_data(max_entries=64, show_spinner=False)
def _explain(card_path: str, card_key: str, crop_bytes: bytes, target: int, method: str) -> np.ndarray:
    from ferviz.models import load_card

    card = load_card(card_path)
    c = np.frombuffer(crop_bytes, np.uint8).reshape(48, 48)
    with serving.xrai_slot() if method == "xrai" else contextlib.nullcontext():  # Busy is not cached
        return attribution.explain(resources.model_for(card), card, c[None], np.array([target]), method)[0]


@st.cache_data(max_entries=64, show_spinner=False)
def _predict(card_path: str, card_key: str, crops_bytes: bytes, n: int) -> np.ndarray:
    from ferviz.models import load_card

    card = load_card(card_path)
    crops = np.frombuffer(crops_bytes, np.uint8).reshape(n, 48, 48)
    return faces.predict_faces(resources.model_for(card), card, crops)


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    max_bytes = serving.max_upload_bytes()  # per photo: 20 MB, 5 MB in shared mode (FERVIZ_MAX_UPLOAD_MB)
    st.title("Your face")
    st.caption("Faces are cropped the way FER2013 faces look (grayscale, square, face filling the frame). "
               "Photos stay in this session; nothing is written anywhere but ferviz's cache.")
    if not context.require_model(ctx):
        st.stop()
    src = st.radio("Source", ["Upload a photo", "Camera", "Live (webcam)"], horizontal=True, key="up_source")
    if src == "Live (webcam)":
        from ferviz.ui import live

        shot = live.show(ctx)  # the stream; below it the last snapshot, analysed as a photo
    elif src == "Camera":
        shot = st.camera_input("Take a photo", key="up_camera")
    else:
        shot = st.file_uploader("Photo (JPEG, PNG, WebP, BMP, GIF, TIFF)",
                                type=["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"], key="up_file",
                                max_upload_size=max(1, round(max_bytes / 2**20)))  # the widget says this limit
    if shot is None:
        st.info("Upload a photo with one or more faces.")
        st.stop()
    data = shot.getvalue()
    if len(data) > max_bytes:
        st.error(f"{shot.name}: {len(data) / 2**20:.1f} MB is over the {max_bytes / 2**20:.3g} MB limit")
        st.stop()
    digest = hashlib.sha256(data).hexdigest()
    try:
        photo = _analyse(digest, data, None, False)
    except ValueError as e:
        st.error(f"{shot.name}: {e}")
        st.stop()
    options = [f"face {i + 1}" for i in range(len(photo))] + ["whole image", "my own box"]
    if not len(photo):
        st.warning("No face found in this photo. Use the whole image as the face, or draw your own box below.")
    choice = st.radio("Face to analyse", options, horizontal=True, key=f"up_choice_{digest[:8]}",
                      index=0 if len(photo) else len(options) - 2)
    H, W = photo.rgb.shape[:2]
    if choice == "whole image":
        photo_sel, k = _analyse(digest, data, None, True), 0
    elif choice == "my own box":
        x0, y0, w0, h0 = photo.faces[0].box if len(photo) else faces.whole_image_box(photo.rgb.shape)
        c = st.columns(4)
        x = c[0].number_input("x", 0, W - 1, int(x0), key=f"up_x_{digest[:8]}")
        y = c[1].number_input("y", 0, H - 1, int(y0), key=f"up_y_{digest[:8]}")
        w = c[2].number_input("width", 8, W, int(w0), key=f"up_w_{digest[:8]}")
        h = c[3].number_input("height", 8, H, int(h0), key=f"up_h_{digest[:8]}")
        try:
            photo_sel, k = _analyse(digest, data, (int(x), int(y), int(w), int(h)), False), 0
        except ValueError as e:
            st.error(str(e))
            st.stop()
    else:
        photo_sel, k = photo, options.index(choice)
    overview(ctx, photo, photo_sel, k)
    crop = photo_sel.crops[k]
    st.subheader({"whole image": "The whole image", "my own box": "Your box"}.get(choice, f"Face {k + 1}"),
                 divider="gray")
    m0, m1, m2 = st.columns([1, 2, 1])
    m0.image(face_rgb(crop, (160, 160)), caption="what the model sees (48x48 grayscale)")
    methods = m1.multiselect("Methods", list(attributions.DISPLAY_METHODS), default=list(attributions.DISPLAY_METHODS),
                             format_func=attributions.METHOD_LABELS.get, key="up_methods")
    alpha = m2.slider("Opacity", 0.0, 1.0, 0.5, 0.05, key="up_alpha")
    first, second, drawn, maps_col = None, None, False, None
    for card in [c for c in (ctx.card, ctx.card2) if c is not None]:
        try:
            probs = faces.predict_faces(resources.model_for(card), card, crop[None])[0]
        except Exception as e:
            context.show_error(e)
            continue
        pred = int(np.argmax(probs))
        st.markdown(f"### {card.name}: **{NAMES[pred]}** ({probs[pred]:.1%})")
        a, b = st.columns([1, 3])
        a.plotly_chart(charts.probs_bar(probs, classes=card.class_ids), width="stretch",  # one bar per model class
                       key=f"up_probs_{card.key}")
        maps = {}
        cols = b.columns(max(1, len(methods)))
        for col, m in zip(cols, methods):
            try:
                maps[attribution.METHODS[m]] = _explain(str(card.path), card.compute_key(), crop.tobytes(), pred, m)
            except serving.Busy as e:  # a shared server's XRAI slots are taken: say so, never hang
                col.warning(f"{attribution.METHODS[m]}: {e}", icon=":material/hourglass_top:")
                col.button("Try again", key=f"up_retry_{card.key}_{m}")
                continue
            except ValueError as e:
                col.error(f"{attribution.METHODS[m]}: {e}")
                continue
            with col:
                blank = attributions.show_map(crop, maps[attribution.METHODS[m]], m, pred, alpha, card, size=220,
                                              caption=f"{attribution.METHODS[m]} for {NAMES[pred]}")
                drawn = drawn or not blank
        b.caption(f"Maps: {attribution.views_label(card)}, the same views as the prediction.")
        maps_col = b
        if first is None:
            first = (probs, maps)
        else:
            second = (card.name, probs, maps)
    if drawn and maps_col is not None:
        with maps_col:  # under the last row of maps
            attributions.colour_bar("up_colorbar")
    if first is not None:
        downloads.image_button(ctx, crop, first[0], first[1], true=None, image_id=f"upload-{digest[:8]}",
                               split="upload", alpha=alpha, methods=methods,
                               second=second, second_key=ctx.card2.key if ctx.card2 else None,
                               key="dl_upload")
        features = st.expander(f"Feature maps of {ctx.card.name}", icon=":material/grid_view:", key="up_features",
                               on_change="rerun")
        if features.open:  # computed only when opened
            with features:
                feature_maps.panel(ctx.card, crop, int(np.argmax(first[0])), "up", image_id=f"upload-{digest[:8]}")
        neighbours.section(ctx, crop, key="up")


CROP_PX = 96  # the overview's crops


def overview(ctx: context.Context, photo: faces.Photo, shown: faces.Photo, k: int) -> None:
    """Every face found at a glance: the photo with numbered boxes (`shown`'s, face `k` highlighted)
    and a row of the detected faces' crops, each with the first model's top prediction."""
    left, right = st.columns([3, 2])
    conf = f" · confidence {shown.faces[k].confidence:.2f}" if shown.faces[k].source == "mtcnn" else ""
    h, w = shown.rgb.shape[:2]
    with left, st.container(key="up_photo"):  # a wide photo wider, so its faces do not shrink
        st.image(faces.annotate_boxes(shown.rgb, shown.faces, selected=k), width=560 if w > 1.2 * h else 420,
                 caption=f"{len(photo)} face(s) found" + conf)
    if not len(photo):
        return
    try:
        probs = _predict(str(ctx.card.path), ctx.card.compute_key(), photo.crops.tobytes(), len(photo))
    except Exception as e:  # the analysis below says what went wrong
        probs = None
        right.caption(f"No predictions for the crops: {e}")
    captions = [f"{i + 1}" + (f" · {NAMES[int(np.argmax(p))]} {float(np.max(p)):.0%}" if probs is not None else "")
                for i, p in enumerate(probs if probs is not None else photo.crops)]
    with right, st.container(key="up_crops"):
        st.markdown(f"**The faces as the model sees them** · {ctx.card.name}'s top emotion")
        cols = grid_columns(len(photo), 4)
        crops = [face_rgb(c, (CROP_PX, CROP_PX)) for c in photo.crops]
        for r in range(0, len(crops), cols):
            st.image(crops[r:r + cols], caption=captions[r:r + cols], width=CROP_PX)
