"""The report's attribution sections: which method to trust (``ferviz.attribution.trust``, from the
measured table in ``docs/trust/`` when it is this very setting, else on a small fixed sample) and
the share of attribution per facial region for the top confusion cells
(``ferviz.attribution.regions.cell_report``, as ``python -m ferviz regions``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import config
from ..errors import ExportError
from ..labels import NAMES
from .document import Block, Paragraph, Section, Table
from .inputs import Inputs, Progress
from .sections import figure, per_model

_TRUE = ("True", "true", "1", "1.0")


def docs_trust_table(card, split) -> tuple[pd.DataFrame, Path] | None:
    """The table measured for a shipped model in ``docs/trust/<key>.csv``, when it is this setting:
    the card is one of the repository's ``models/``, the split PrivateTest, and the table's views and
    Grad-CAM layer are the card's. None otherwise."""
    path = config.PROJECT_ROOT / "docs" / "trust" / f"{card.key}.csv"
    if not (path.is_file() and card.path is not None and split.split == "PrivateTest"
            and Path(card.path).resolve().parent == config.MODELS_DIR.resolve()):
        return None
    try:
        df = pd.read_csv(path)  # empty cells (e.g. IG-only columns of other methods) read as NaN
    except (OSError, ValueError):
        return None
    views = {str(v) for v in df.get("views", [])}
    layers = {str(v) for m, v in zip(df["method"], df.get("layer", [""] * len(df))) if m in ("gradcam", "gradcampp")}
    if views != {str(card.tta or "none")} or (card.gradcam_layer and layers - {card.gradcam_layer}):
        return None
    return df, path


def recommended(df: pd.DataFrame) -> str | None:
    """The method the app's trust panel recommends: of those passing the sanity check, the lowest
    deletion AUC (None when none passes)."""
    ok = df[df["passes_sanity_check"].astype(str).isin(_TRUE)]
    return None if ok.empty else str(ok.loc[ok["deletion_auc"].astype(float).idxmin(), "method"])


def _trust_rows(df: pd.DataFrame) -> tuple[tuple[str, ...], ...]:
    from ..attribution import METHODS

    def ci(col: str, d: int = 3) -> list[str]:
        return [f"{a:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]" for a, lo, hi in
                zip(df[col].astype(float), df[f"{col}_lo"].astype(float), df[f"{col}_hi"].astype(float))]
    return tuple(zip([METHODS.get(m, m) for m in df["method"]], ci("deletion_auc"),
                     df["random_deletion_auc"].astype(float).map("{:.3f}".format), ci("insertion_auc"),
                     df["random_insertion_auc"].astype(float).map("{:.3f}".format), ci("mprt_spearman", 2),
                     ["passes" if str(v) in _TRUE else "fails" for v in df["passes_sanity_check"]],
                     df["blank_share"].astype(float).map("{:.0%}".format),
                     df["seconds_per_face"].astype(float).map("{:.2f}".format)))


def trust(inp: Inputs, progress: Progress | None = None) -> Section:
    from ..attribution import METHODS
    from ..attribution.trust import cached_trust_table
    from ..export.trust import trust_figure

    title = "Which attribution method to trust"
    o = inp.options

    def make(i):
        card = inp.cards[i]
        found = docs_trust_table(card, inp.split)
        if found is not None:
            df, path = found
            source = (f"Read from docs/trust/{path.name} (measured for this shipped model and card on "
                      f"{int(df['n'].iloc[0])} random PrivateTest faces, seed 0; not recomputed for this report).")
        elif o.trust_n < 1:
            return [Paragraph(f"Left out for {card.name}: --trust-n 0 (the trust table explains faces with every "
                              "method twice, which is slow; it is also not in docs/trust/ for this model).", "note")]
        else:
            df = cached_trust_table(inp.model(i), card, inp.split, list(METHODS), n=o.trust_n, seed=o.seed,
                                    progress=progress)
            source = (f"Computed on a fixed sample of {o.trust_n} random {inp.split.title} faces (seed {o.seed}), "
                      f"explaining the shown prediction; cached like `python -m ferviz trust --n {o.trust_n}`. "
                      "A small sample: the intervals are wide.")
        best = recommended(df)
        verdict = (f"Recommended: {METHODS.get(best, best)} (passes the sanity check and, of those that do, "
                   "deletes the evidence fastest: the lowest deletion AUC)." if best else
                   "No method passes the sanity check on these faces: no map can be trusted to explain this model.")
        out: list[Block] = [Paragraph(source), Paragraph(verdict),
                            Table(("method", "deletion AUC [95% CI]", "random", "insertion AUC [95% CI]", "random",
                                   "randomised-model corr.", "sanity check", "blank", "s / face"), _trust_rows(df))]
        try:
            out.append(figure(trust_figure(df, model_name=card.name, split=inp.split.title), inp,
                              f"trust figure of {card.name}"))
        except ExportError as e:  # a table measured before the figure's columns existed
            out.append(Paragraph(f"No figure for this table: {e}.", "note"))
        return out
    s = Section(title)
    s.add(Paragraph("Delete (insert) pixels in the order each map ranks them and follow the class probability: a "
                    "lower deletion AUC and a higher insertion AUC than a random order mean the map points at what "
                    "the model uses. Sanity check (Adebayo et al. 2018): the rank correlation with the maps of the "
                    "same network with its weights re-initialised; it passes when the upper end of its 95% "
                    "interval is below 0.5."))
    return s.add(*per_model(inp, make))


def regions(inp: Inputs, progress: Progress | None = None) -> Section:
    from ..attribution import METHODS, cached_explain
    from ..attribution.regions import cell_report
    from ..data.landmarks import cached_landmarks
    from ..export.regions import regions_figure, regions_title

    title = "Where the model looks: regions of the top cells"
    o = inp.options
    if o.region_cells < 1:
        return Section(title, left_out="Left out: --region-cells 0.")
    split = inp.split
    lm = cached_landmarks(split.images, split.data_hash)
    method = o.region_method

    def make(i):
        card, ev = inp.cards[i], inp.evaluations[i]
        model = inp.model(i)
        pairs = ev.confused_pairs(o.region_cells)
        out: list[Block] = []
        if pairs.empty:
            return [Paragraph(f"{card.name} makes no mistakes: no cell to look at.", "note")]
        for _, r in pairs.iterrows():
            t, p = int(r.true_idx), int(r.pred_idx)

            def maps_for(pos, targets):
                return cached_explain(model, card, split.images[pos], split.ids[pos], split.data_hash, targets,
                                      method, views="tta", progress=progress, chunk=16)
            rep = cell_report(split.labels, ev.preds, lm.points, lm.detected, t, p, maps_for, method=method,
                              views="tta", max_faces=o.region_faces, seed=o.seed,
                              model_classes=card.class_ids)
            fig = regions_figure(rep.table, rep.tests, title=regions_title(card.name, split.title, method, t, p))
            diffs = rep.differing()
            out.append(Paragraph(f"{NAMES[t]} → {NAMES[p]}: " + ("; ".join(diffs) if diffs else
                                 "no region differs significantly from the references (Holm, p < 0.05).")))
            out.append(figure(fig, inp, f"regions of {card.name}'s cell {NAMES[t]} → {NAMES[p]}"))
        return out
    s = Section(title)
    s.add(Paragraph(f"Share of {METHODS.get(method, method)} attribution (over the card's test-time views) per "
                    f"facial region for the {o.region_cells} most frequent confusion cells against the correctly "
                    f"classified faces of both classes, at most {o.region_faces} faces per group drawn with seed "
                    f"{o.seed}; regions from five landmarks (MTCNN's ONet found {int(lm.detected.sum()):,} of "
                    f"{len(lm):,}; a template stands in for the rest). As `python -m ferviz regions`."))
    return s.add(*per_model(inp, make))
