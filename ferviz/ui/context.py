"""The shared sidebar and the context (data, split, models) every page reads."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from ..data.splits import DataError, FERSplit
from ..errors import (
    AnalysisError,
    AttributionError,
    ExportError,
    FaceError,
    LabelError,
    NotFoundError,
    PhotoError,
)
from ..labels import SPLITS
from ..models import ModelCard, ModelError
from . import resources, serving, state


@dataclass
class Context:
    """What the sidebar selected; pages read it with `current()`."""

    data_path: str | None = None
    splits: dict[str, FERSplit] | None = None
    data_error: str | None = None
    split: FERSplit | None = None
    card: ModelCard | None = None
    card2: ModelCard | None = None
    model_problems: list[str] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return self.split is not None


def _accuracy(card) -> float | None:
    acc = (card.metrics or {}).get("PrivateTest", {}).get("accuracy")
    return float(acc) if isinstance(acc, (int, float)) and not isinstance(acc, bool) else None


def best_key(cards) -> str:
    """The model a first visit opens: the highest PrivateTest accuracy its card reports (the first
    card when none reports one)."""
    scored = [(acc, -i, c.key) for i, c in enumerate(cards) if (acc := _accuracy(c)) is not None]
    return max(scored)[2] if scored else cards[0].key


def _label(card) -> str:
    """A model's name with its card's PrivateTest accuracy, when the card has one."""
    acc = (card.metrics or {}).get("PrivateTest", {}).get("accuracy")
    return f"{card.name} · {acc:.1%}" if isinstance(acc, (int, float)) else card.name


def sidebar() -> Context:
    """Render the sidebar (data, split, model, comparison model) and return the context."""
    ctx = Context(data_path=None if serving.shared() else st.session_state.get("data_path") or None)
    sb = st.sidebar
    try:
        ctx.splits = resources.dataset(ctx.data_path)
    except DataError as e:
        ctx.data_error = str(e)
    state.bound(sb.selectbox, "Split", list(SPLITS), "sel_split", help="Papers report FER2013 accuracy on PrivateTest",
           format_func=lambda s: ctx.splits.title(s) if ctx.splits is not None else s)
    shared = serving.shared()  # a shared instance takes no server paths from visitors
    extra = () if shared else tuple(p for p in [st.session_state.get("model_dir", "").strip()] if p)
    cards, problems = resources.cards(extra)
    ctx.model_problems = problems
    keys = [c.key for c in cards]
    names = {c.key: _label(c) for c in cards}
    if not keys:
        sb.warning("No models found in models/. Add a .keras file with its model card.")
    else:
        for k in ("sel_model", "sel_model2"):  # e.g. a link naming a model this machine lacks
            wanted = st.session_state.get(k)
            if wanted not in (None, "(none)", *keys):
                sb.warning(f"No model {wanted!r} in the model folders; "
                           + ("showing the most accurate one instead." if k == "sel_model" else "comparing with none."))
        if st.session_state.get("sel_model") not in keys:
            st.session_state["sel_model"] = best_key(cards)
        state.bound(sb.selectbox, "Model", keys, "sel_model", format_func=lambda k: names.get(k, k))
        others = ["(none)"] + [k for k in keys if k != st.session_state["sel_model"]]
        state.bound(sb.selectbox, "Compare with", others, "sel_model2", format_func=lambda k: names.get(k, k))
        ctx.card = resources.card_by_key(st.session_state["sel_model"], extra)
        if st.session_state["sel_model2"] != "(none)":
            ctx.card2 = resources.card_by_key(st.session_state["sel_model2"], extra)
    with sb.expander("More models"):
        if shared:
            st.caption("This is a shared instance: its models are the ones it was started with.")
        else:
            st.session_state["w_model_dir"] = st.session_state.get("model_dir", "")
            st.text_input("Extra model folder", key="w_model_dir",
                          on_change=lambda: st.session_state.update(model_dir=st.session_state["w_model_dir"]),
                          help="A folder with .keras/.h5 files and their JSON model cards")
        for p in problems:
            st.caption(f"⚠️ {p}")
    if ctx.splits is not None:
        try:
            ctx.split = ctx.splits[st.session_state["sel_split"]]
        except DataError as e:
            ctx.data_error = str(e)
        total = sum(len(s) for s in ctx.splits.values())
        sb.caption(f"FER2013: {total:,} images from `{_short(ctx.splits)}`")
    else:
        sb.info("No FER2013 yet: see **Dataset**.")
    return ctx


def _short(splits) -> str:
    any_split = next(iter(splits.values()))
    return any_split.source.split("/")[-1]


def require_data(ctx: Context) -> bool:
    """Show why a page needs FER2013 and where to get it; True when data is there."""
    if ctx.has_data:
        return True
    st.info(ctx.data_error or "This page needs FER2013.")
    from .navigation import page

    st.page_link(page("data"), label="Set up FER2013", icon=":material/dataset:")
    return False


def require_model(ctx: Context) -> bool:
    if ctx.card is not None:
        return True
    st.warning("No model selected: put a Keras model and its card in models/ (see the README).")
    return False


#: the heading of each subject's errors (the first match in the class's MRO wins)
_KINDS = {DataError: "Data problem", LabelError: "Data problem", ModelError: "Model problem",
          PhotoError: "Photo problem", FaceError: "Photo problem", ExportError: "Export problem",
          AnalysisError: "Problem", AttributionError: "Attribution problem", NotFoundError: "Not found"}


def show_error(e: Exception) -> None:
    """The one way the app shows an error: a readable message (never a traceback), headed by the
    subject of its `FervizError` subclass."""
    kind = next((_KINDS[c] for c in type(e).__mro__ if c in _KINDS), "Problem")
    st.error(f"**{kind}:** {e}")
