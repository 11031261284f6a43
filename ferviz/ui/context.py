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

    #: the dataset as `resources` takes it: its path (None: FERVIZ_DATA or data/), with the label
    #: set when FER+'s (`resources.data_ref`); pass it to `resources` as it is
    data_path: str | None = None
    labels: str = "fer2013"  # the label set in use ("fer2013": the dataset's own, "ferplus": FER+'s majority)
    labels_error: str | None = None  # why the label set asked for could not be used (then FER2013's are)
    splits: dict[str, FERSplit] | None = None
    data_error: str | None = None
    split: FERSplit | None = None
    card: ModelCard | None = None
    card2: ModelCard | None = None
    model_problems: list[str] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return self.split is not None

    @property
    def path(self) -> str | None:
        """The dataset's path as given (None: FERVIZ_DATA or data/), without the label set."""
        return resources.parse_ref(self.data_path)[0]

    @property
    def labels_name(self) -> str:
        """The label set in use, in words: 'FER2013' or 'FER+ majority'."""
        return resources.LABEL_SETS.get(self.labels, self.labels)


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
    path = None if serving.shared() else st.session_state.get("data_path") or None
    ctx = Context(data_path=path)
    sb = st.sidebar
    _load(ctx, path, st.session_state.get("sel_labels") or "fer2013")
    state.bound(sb.selectbox, "Split", list(SPLITS), "sel_split", help="Papers report FER2013 accuracy on PrivateTest",
           format_func=lambda s: ctx.splits.title(s) if ctx.splits is not None else s)
    fer = ctx.splits is None or is_fer2013(ctx.splits)  # another dataset's own labels are not FER2013's
    state.bound(sb.radio, "Labels", list(resources.LABEL_SETS), "sel_labels", horizontal=True, help=LABELS_HELP,
                format_func=lambda k: resources.LABEL_SETS[k] if fer or k != "fer2013" else "Its own")
    if ctx.labels_error:
        sb.error(f"**FER+ labels not available:** {ctx.labels_error}. Showing the dataset's own "
                 f"{'(FER2013) ' if fer else ''}labels.")
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
        sb.caption(f"{'FER2013' if is_fer2013(ctx.splits) else 'Dataset'}: {total:,} images from "
                   f"`{_short(ctx.splits)}` · labels: {labels_text(ctx)}")
    else:
        sb.info("No FER2013 yet: see **Dataset**.")
    return ctx


#: what the Labels switch does
LABELS_HELP = ("FER2013: the dataset's own labels. FER+ majority: the majority of FER+'s ten crowd votes per face "
               "(eight classes, contempt included; faces whose top vote is tied, unknown or not a face are left "
               "out). FER+ labels need fer2013.csv (or the FER+ folders), whose rows the votes follow.")


def _load(ctx: Context, path: str | None, labels: str) -> None:
    """Read the dataset at `path` with `labels` into `ctx`; FER+ labels that cannot be read (the
    Kaggle image folders) fall back to the dataset's own, saying why (`ctx.labels_error`)."""
    ctx.labels, ctx.data_path = labels, resources.data_ref(path, labels)
    try:
        ctx.splits = resources.dataset(ctx.data_path)
        return
    except DataError as e:
        if labels == "fer2013":
            ctx.data_error = str(e)
            return
        why = str(e)
    ctx.labels, ctx.data_path = "fer2013", path
    try:
        ctx.splits = resources.dataset(path)
        ctx.labels_error = why
    except DataError as e:  # no data at all: the data's own problem says it
        ctx.data_error = str(e)


def labels_text(ctx: Context) -> str:
    """Which labels are in use and their classes: 'FER+ majority (8 classes: ... contempt)'."""
    classes = ctx.split.classes if ctx.split is not None else ()
    own = ctx.labels == "fer2013" and ctx.splits is not None and not is_fer2013(ctx.splits)
    return ("its own" if own else ctx.labels_name) + (f" ({len(classes)} classes: {', '.join(classes)})"
                                                      if classes else "")


def is_fer2013(splits) -> bool:
    """Whether a loaded dataset is FER2013 (its csv, FER+ folders or FER2013-named image files),
    not another dataset in its folder layout."""
    return getattr(splits, "kind", "") in ("csv", "ferplus") or tuple(getattr(splits, "names", {}).values()) == SPLITS


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
