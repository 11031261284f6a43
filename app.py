"""ferviz dashboard: `streamlit run app.py` (router and the shared sidebar)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import streamlit as st  # noqa: E402

from ferviz.errors import FervizError  # noqa: E402
from ferviz.ui import context, navigation, serving, state  # noqa: E402

serving.tune()  # once per process: see ferviz/ui/serving.py

st.set_page_config(page_title="ferviz — FER error analysis", page_icon=":material/mood:", layout="wide")
state.init_from_url()
state.keep_page_widgets()
st.sidebar.title("ferviz")
ctx = context.sidebar()  # data, split and models: every page's render receives it
page = st.navigation(navigation.sections(ctx))
state.sync_url()
try:
    page.run()
except FervizError as e:  # the one place an error meant for the user is shown when a page lets it through
    context.show_error(e)
