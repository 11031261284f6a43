"""What survives a change of page, in one place: the selections every page shares (kept in
session state and mirrored in the URL query string, `SHARED`), the page widgets whose values are
kept (`KEPT`) and the sidebar widgets bound to them (`bound`)."""
from __future__ import annotations

import streamlit as st

from ..analysis.error_views import ALL, FILTER_NAMES, SORT_NAMES, filter_named, sort_named
from ..errors import FervizError
from ..labels import NAMES, class_index, normalise_split

#: session-state key -> query-parameter name; these survive page changes and reopen from a link
#: (the Errors page's sort and filter too: ``sort=label-issue&show=model-errors``; the Failure
#: slices page's open slice: ``slice=template``, ``slice=tree:5``, ``slice=cluster:2``; the label
#: set, ``labels=ferplus``)
SHARED = {"sel_model": "model", "sel_model2": "model2", "sel_split": "split", "sel_labels": "labels",
          "sel_true": "true", "sel_pred": "pred", "sel_id": "id", "err_sort": "sort", "err_filter": "show",
          "sel_slice": "slice"}
DEFAULTS = {"sel_split": "PrivateTest", "sel_model2": "(none)", "sel_labels": "fer2013"}
#: values a link need not carry: the view without them is the same
QUIET = {"err_sort": "confidence", "err_filter": ALL, "sel_labels": "fer2013"}


def _read(key: str, value: str) -> str:
    """The session value of a link's `value` for `key`; ValueError (or a FervizError) when bad."""
    if key in ("sel_true", "sel_pred"):
        return NAMES[class_index(value)]
    if key == "sel_labels":
        from ..data.splits import check_label_set

        return check_label_set(value)
    if key == "sel_split":
        return normalise_split(value)
    if key == "err_sort":
        return sort_named(value)
    if key == "err_filter":
        return filter_named(value)
    if not value.strip():
        raise ValueError(f"empty {key}")
    return value


def _write(key: str, value) -> str:
    """How a link spells the session value `value` of `key`."""
    if key == "err_sort":
        return SORT_NAMES.get(value, str(value))
    if key == "err_filter":
        return FILTER_NAMES.get(value, str(value))
    return str(value)


def init_from_url() -> None:
    """On a session's first run, take selections from the query string, then fill defaults.
    Each value stands alone: a bad one (an unknown class, split, sort or filter, an empty id) falls
    back to its default and the others, the cell included, are kept."""
    if st.session_state.get("_url_loaded"):
        return
    qp = st.query_params
    for key, name in SHARED.items():
        if name in qp and key not in st.session_state:
            try:
                st.session_state[key] = _read(key, str(qp[name]))
            except (ValueError, IndexError, FervizError):
                continue  # this value alone falls back
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    st.session_state["_url_loaded"] = True


def url_params() -> dict[str, str]:
    """The query string the current selections make (defaults left out)."""
    want = {}
    for key, name in SHARED.items():
        v = st.session_state.get(key)
        if v not in (None, "", "(none)") and QUIET.get(key) != v:
            want[name] = _write(key, v)
    return want


def sync_url() -> None:
    """Write the current selections into the query string (so a link reopens them)."""
    want = url_params()
    if dict(st.query_params) != want:
        st.query_params.from_dict(want)


def cell() -> tuple[int, int] | None:
    """The selected confusion cell as class indices (true, pred) of :data:`ferviz.labels.NAMES`,
    or None for 'all errors'."""
    t, p = st.session_state.get("sel_true"), st.session_state.get("sel_pred")
    if t in NAMES and p in NAMES:
        return NAMES.index(t), NAMES.index(p)
    return None


def selected(key: str, classes=None) -> int | None:
    """The class index selected under `key` ("sel_true", "sel_pred"), None when none is, or when
    it is not one of `classes` (class indices: the dataset's or the model's)."""
    v = st.session_state.get(key)
    if v not in NAMES:
        return None
    k = NAMES.index(v)
    return k if classes is None or k in set(classes) else None


def open_cell(true: int | None, pred: int | None) -> None:
    """Select a confusion cell (class indices; None, None for all errors) and go to its gallery."""
    st.session_state["sel_true"] = NAMES[true] if true is not None else None
    st.session_state["sel_pred"] = NAMES[pred] if pred is not None else None
    st.session_state["gallery_page"] = 1
    go("errors")


def gallery_key(ctx) -> tuple:
    """What a gallery's order depends on: models, split and data (a stale order is not followed)."""
    return (ctx.card.key if ctx.card else None, ctx.card2.key if ctx.card2 else None,
            ctx.split.split if ctx.split else None, ctx.split.data_hash if ctx.split else None)


def set_gallery(ids: list[str], key: tuple) -> None:
    """Remember the order of the gallery an image was opened from (the inspector's previous/next)."""
    st.session_state["gallery_ids"] = list(ids)
    st.session_state["gallery_key"] = key


def gallery_order(key: tuple) -> list[str] | None:
    """The remembered gallery order when it belongs to `key`, else None."""
    if st.session_state.get("gallery_key") == key:
        return st.session_state.get("gallery_ids")
    return None


#: page widgets whose values survive visits to other pages (Streamlit drops a widget's value on
#: a run that does not draw it, unless the script sets it again: see `keep_page_widgets`)
KEPT = ("gallery_page", "sl_page", "err_sort", "err_filter", "err_per_page", "err_gradcam", "cmp_a_page", "cmp_b_page",
        "cm_normalize", "fmt_overview", "fmt_errors", "cal_view", "cal_split", "cal_stage", "fmt_calibration")


def bound(widget, label: str, options, state_key: str, **kw):
    """A widget mirroring the non-widget state `state_key` (widget state does not survive page
    changes; the sidebar's selections are kept this way, and in the URL through `SHARED`)."""
    wkey = "w_" + state_key
    if st.session_state.get(state_key) not in options:
        st.session_state[state_key] = options[0]
    st.session_state[wkey] = st.session_state[state_key]

    def copy() -> None:
        st.session_state[state_key] = st.session_state[wkey]
    return widget(label, options, key=wkey, on_change=copy, **kw)


def keep_page_widgets() -> None:
    """Re-set the kept widgets' values on every run, so leaving a page does not reset them."""
    for k in KEPT:
        if k in st.session_state:
            st.session_state[k] = st.session_state[k]


def open_image(image_id: str) -> None:
    """Select an image and go to the inspector."""
    st.session_state["sel_id"] = str(image_id)
    go("inspector")


def go(page: str) -> None:
    """Open another page, keeping the selections in the URL."""
    from .navigation import page as nav_page

    sync_url()
    st.switch_page(nav_page(page), query_params=dict(st.query_params))
