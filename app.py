"""ferviz dashboard: `streamlit run app.py` (router and the shared sidebar)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import streamlit as st  # noqa: E402

from ferviz.ui import context, serving, state  # noqa: E402

serving.tune()  # once per process: see ferviz/ui/serving.py

st.set_page_config(page_title="ferviz — FER error analysis", page_icon=":material/mood:", layout="wide")
state.init_from_url()
state.keep_page_widgets()
pages = {
    "Analyse": [
        st.Page(state.PAGES["overview"], title="Overview", icon=":material/dashboard:", default=True),
        st.Page(state.PAGES["errors"], title="Errors", icon=":material/grid_view:"),
        st.Page(state.PAGES["inspector"], title="Inspector", icon=":material/search:"),
        st.Page(state.PAGES["compare"], title="Compare models", icon=":material/compare:"),
        st.Page(state.PAGES["calibration"], title="Calibration", icon=":material/speed:"),
        st.Page(state.PAGES["embedding"], title="Embedding map", icon=":material/scatter_plot:"),
    ],
    "Try": [st.Page(state.PAGES["upload"], title="Your face", icon=":material/photo_camera:")],
    "Setup": [st.Page(state.PAGES["data"], title="Dataset", icon=":material/dataset:")],
}
page = st.navigation(pages)
st.sidebar.title("ferviz")
st.session_state["_ctx"] = context.sidebar()
state.sync_url()
page.run()
