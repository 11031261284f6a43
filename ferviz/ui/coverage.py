"""The Dataset page's "what is precomputed": per model, how much of its work is in the cache."""
from __future__ import annotations

import streamlit as st

from ..attribution import METHODS
from . import resources

#: the command that fills it
COMMAND = "python -m ferviz precompute --models {model} --splits {split} --what evaluate,maps,embedding --errors"


def lines(card, split, model) -> list[str]:
    """'XRAI maps: 412 of 1,137 errors', predictions, embedding map and landmarks (cached or not)."""
    from ..precompute import coverage

    c = coverage(model, card, split)
    out = [f"predictions: {'cached' if c['predictions'] else 'not cached'}",
           f"embedding map (UMAP): {'cached' if c['embedding'] else 'not cached'}",
           f"landmarks: {'cached' if c['landmarks'] else 'not cached'}"]
    if c["errors"] is None:
        out.append("maps: counted once the predictions are cached")
    for m, k in c["maps"].items():
        out.append(f"{METHODS.get(m, m)} maps: {k:,} of {c['errors']:,} errors")
    return out


def section(split, data_path: str | None) -> None:
    """Per model of the registry: what of its work on `split` is cached, and the command that
    precomputes the rest (nothing is computed here)."""
    st.subheader(f"Precomputed ({split.title})")
    st.caption("What the app will show at once, without computing: the predictions, the embedding map, the "
               "landmarks and each model's maps of its errors (explaining the prediction, its test-time views). "
               "`python -m ferviz precompute` fills the rest ahead of time, on this machine or a Ray cluster "
               "(docs/precompute.md).")
    cards, _ = resources.cards()
    for card in cards:
        try:
            got = lines(card, split, resources.model_for(card))
        except Exception as e:  # a message, never a traceback
            st.warning(f"{card.name}: could not count: {e}")
            continue
        st.markdown(f"**{card.name}** · " + " · ".join(got))
        if not all(_complete(g) for g in got):
            st.caption(f"`{COMMAND.format(model=card.key, split=split.split)}`")


def _complete(line: str) -> bool:
    if "not cached" in line or "counted once" in line:
        return False
    if " of " in line:
        done, rest = line.split(": ", 1)[1].split(" of ", 1)
        return done == rest.split(" ", 1)[0]
    return True
