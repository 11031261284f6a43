"""Dataset: where FER2013 comes from, and using it by upload or path (the app runs without it)."""
from __future__ import annotations

import hashlib

import streamlit as st

from ferviz import cache, config
from ferviz.data.ferplus import KAGGLE_CHALLENGE, KAGGLE_URL
from ferviz.data.splits import DataError, load_all, resolve_data_path
from ferviz.ui import context, serving

#: the largest dataset upload here, in MB (fer2013.csv is about 300 MB); photos on Your face have
#: their own, smaller limit (`serving.max_upload_bytes`)
DATASET_UPLOAD_MB = 400


def upload_limits() -> str:
    """Which upload limit applies where: a dataset file here, one photo on Your face (the page
    shows the uploader only where visitors may upload a dataset: not on a shared instance)."""
    photo_mb = serving.max_upload_bytes() / 2**20
    return (f"Up to {DATASET_UPLOAD_MB} MB per dataset file here (fer2013.csv is about 300 MB). A photo on "
            f"**Your face** has its own limit: {photo_mb:.3g} MB (5 MB on a shared instance).")


def quality(path: str | None) -> None:
    """Per split: copies of Training images (exact, near, under another label) and FER+'s status."""
    from ferviz.ui import resources

    st.subheader("Copies of Training images")
    st.caption("Exact: the same pixels. Near: the same photo with another crop, brightness or compression "
               "(perceptual hashes at most 6 bits apart; about 9 in 10 such pairs are the same photo). A test "
               "image with a copy in Training measures memory, not generalisation; a copy under another label "
               "means one of the two labels is wrong.")
    try:
        summary = resources.copy_summary(path)
    except Exception as e:  # a message, never a traceback
        st.warning(f"Could not look for copies: {e}")
    else:
        for r in summary.itertuples():
            st.markdown(f"**{r.split}**: **{r.exact:,}** of {r.images:,} images are exact copies of a Training "
                        f"image (**{r.exact_other_label:,}** under another label); **{r.near:,}** more are near "
                        f"copies (**{r.near_other_label:,}** under another label).")
        if summary.empty:
            st.caption("No test split here.")
        pairs = resources.duplicate_pairs(path)
        st.download_button(f"All {len(pairs):,} duplicate pairs (CSV)", data=lambda: pairs.to_csv(index=False).encode(),
                           file_name="duplicates.csv", mime="text/csv", key="dl_duplicates", on_click="ignore",
                           icon=":material/download:")

    st.subheader("FER+ votes")
    st.caption("FER+ (Microsoft, MIT licence) gives every FER2013 image ten crowd votes over the 7 emotions, "
               "contempt, unknown and not a face; ferviz ships them.")
    status = resources.ferplus_status(path)
    whys = {row["why"] for row in status if not row["aligned"]}
    if len(whys) == 1 and not any(row["aligned"] for row in status):
        st.info(f"{whys.pop()}.")  # the reason names the file and says what to get
        return
    for row in status:
        if row["aligned"]:
            st.markdown(f"**{row['split']}**: aligned for {row['images']:,} images · **{row['unanimous']:.1%}** "
                        f"unanimous · **{row['ambiguous']:.1%}** ambiguous (top ≤ 5/10) · "
                        f"**{row['not_a_face']:,}** not a face")
        else:
            st.markdown(f"**{row['split']}**: no FER+ votes: {row['why']}.")


def render(ctx: context.Context) -> None:
    """Draw the page for the sidebar's context `ctx`."""
    max_upload = DATASET_UPLOAD_MB << 20
    shared = serving.shared()  # a shared instance: no server paths or dataset uploads from visitors
    ctx_path = None if shared else st.session_state.get("data_path")
    st.title("Dataset")
    st.markdown(f"""
ferviz analyses models on **FER2013** (35,887 grayscale 48x48 faces, 7 emotions). Its licence does
not allow redistribution, so get it yourself from Kaggle, in either form:

* the original challenge file **`fer2013.csv`** (`emotion,pixels,Usage`), from the FER2013 challenge
  ["{KAGGLE_CHALLENGE}"]({KAGGLE_URL}); FER+'s crowd votes need this form, or
* the image-folder download **`archive.zip`** (`train/<class>/*.jpg`, `test/<class>/*.jpg`).

Put it in the project's `data/` folder (as `data/fer2013.csv`, `data/archive.zip` or unpacked in
`data/fer2013/`), or set `FERVIZ_DATA` to its path before starting the app, or use it here.
""")
    try:
        current = resolve_data_path(ctx_path)
        splits = load_all(current)
        st.success(f"Using `{current}`: " + ", ".join(f"{k} {len(v):,}" for k, v in splits.items()))
    except DataError as e:
        st.warning(str(e))
    else:
        quality(ctx_path)
        if getattr(ctx, "split", None) is not None:
            from ferviz.ui import coverage

            coverage.section(ctx.split, ctx_path)
    if shared:
        st.info("This is a shared instance: it analyses the dataset it was started with (`FERVIZ_DATA`). "
                "Run ferviz on your own machine to use another copy of FER2013.")
        st.stop()
    st.subheader("Upload")
    up = st.file_uploader("archive.zip or fer2013.csv", type=["zip", "csv"], key="data_upload",
                          max_upload_size=DATASET_UPLOAD_MB, help="Stored only in ferviz's cache folder")
    st.caption(upload_limits())
    if up is not None:
        if up.size > max_upload:
            st.error(f"{up.name}: {up.size / 2**20:.0f} MB is over the {max_upload >> 20} MB limit")
        else:
            data = up.getvalue()
            digest = hashlib.sha256(data).hexdigest()[:24]
            ext = "zip" if up.name.lower().endswith(".zip") else "csv"
            target = config.cache_dir() / "uploads" / f"{digest}.{ext}"
            if not target.exists():
                cache.atomic_write_bytes(target, data)
            try:
                with st.spinner("Reading the upload ..."):
                    splits = load_all(target)
            except DataError as e:
                st.error(str(e).replace(str(target), up.name))
            else:
                if st.session_state.get("data_path") != str(target):
                    st.session_state["data_path"] = str(target)
                    st.rerun()
    st.subheader("Or a path on this machine")
    c1, c2 = st.columns([4, 1])
    path = c1.text_input("Path to fer2013.csv, archive.zip or the unpacked folder", key="data_path_input")
    if c2.button("Use path", key="data_use_path", width="stretch") and path.strip():
        try:
            load_all(path.strip())
        except DataError as e:
            st.error(str(e))
        else:
            st.session_state["data_path"] = path.strip()
            st.rerun()
    if st.session_state.get("data_path") and st.button("Back to the default location", key="data_reset"):
        st.session_state["data_path"] = None
        st.rerun()
