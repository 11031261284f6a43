"""The Overview's *Download report* button: the same report as ``python -m ferviz report`` for the
sidebar's model (and comparison model) on its split, built with a progress bar, then saved as
HTML or PDF."""
from __future__ import annotations

import shlex

import streamlit as st

from .. import config
from .context import Context

_STATE = "_report_files"  # session key -> {"key": what it was built for, "files": {fmt: (name, bytes)}}
MIME = {"html": "text/html", "pdf": "application/pdf"}


def _model_ref(card) -> str:
    """How the command line names `card`: its key when it is in models/, else its card's path."""
    if card.path is not None and card.path.resolve().parent != config.MODELS_DIR.resolve():
        return str(card.path)
    return card.key


def command(ctx: Context) -> str:
    """The command that writes the same report."""
    argv = ["report", "--model", _model_ref(ctx.card)]
    if ctx.card2 is not None:
        argv += ["--vs", _model_ref(ctx.card2)]
    if ctx.path:
        argv += ["--data", str(ctx.path)]
    if ctx.labels != "fer2013":
        argv += ["--labels", ctx.labels]
    argv += ["--split", ctx.split.title, "--out", "DIR"]
    return "python -m ferviz " + shlex.join(argv)


def _built_for(ctx: Context) -> tuple:
    cards = [ctx.card] + ([ctx.card2] if ctx.card2 is not None else [])
    return tuple(c.compute_key() for c in cards) + (ctx.split.data_hash, ctx.labels)


def build(ctx: Context, progress) -> dict[str, tuple[str, bytes]]:
    """Both files of the report for `ctx`: format -> (file name, bytes)."""
    from ..report import FORMATS, build_report, file_name, load_inputs, render
    from . import resources

    inp = load_inputs(_model_ref(ctx.card), _model_ref(ctx.card2) if ctx.card2 is not None else None,
                      ctx.path, ctx.split.title, command=command(ctx), labels=ctx.labels,
                      progress=lambda f, t: progress(0.1 * f, t))
    for i, card in enumerate(inp.cards):  # the app's loaded models, not a second copy
        inp.use_model(i, resources.model_for(card))
    rep = build_report(inp, progress=lambda f, t: progress(0.1 + 0.8 * f, t))
    files = {}
    for k, fmt in enumerate(FORMATS):
        progress(0.9 + 0.1 * k / len(FORMATS), f"writing the {fmt.upper()} file")
        files[fmt] = (file_name(inp, fmt), render(rep, fmt))
    return files


def report_button(ctx: Context) -> None:
    """*Download report*: builds the report once per model(s) and split (with progress), then offers
    the HTML and the PDF."""
    st.subheader("Report")
    st.caption("One file to hand in: every section of this dashboard for this model"
               + (f" and {ctx.card2.name} side by side" if ctx.card2 is not None else "")
               + f" on {ctx.split.title}, as a self-contained HTML file or a PDF with the same content. "
               f"The same as `{command(ctx)}`. The face sheets come from your copy of FER2013, whose licence "
               "does not allow redistributing it.")
    key = _built_for(ctx)
    held = st.session_state.get(_STATE)
    if held is None or held["key"] != key:
        if not st.button("Download report", key="report_make", icon=":material/description:"):
            return
        bar = st.progress(0.0, text="report ...")
        try:
            files = build(ctx, lambda f, t: bar.progress(min(1.0, max(0.0, f)), text=f"report: {t}"))
        finally:
            bar.empty()
        st.session_state[_STATE] = held = {"key": key, "files": files}
    cols = st.columns(len(held["files"]))
    for col, (fmt, (name, data)) in zip(cols, held["files"].items()):
        col.download_button(f"Save report ({fmt.upper()}, {len(data) / 1e6:.1f} MB)", data, file_name=name,
                            mime=MIME[fmt], key=f"report_{fmt}", on_click="ignore", icon=":material/download:")
