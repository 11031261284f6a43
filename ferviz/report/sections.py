"""The report's sections about the predictions themselves: summary numbers, per-class metrics and
confusion matrices, the most-confused pairs with face sheets, label issues and FER+, Training
copies and calibration. Every number comes from the functions the rest of ferviz uses
(``evaluate``/``summary``, ``leakage_metrics``, ``ece``, ``calibrate_evaluations``,
``evaluation_issues``, ``ferplus_metrics``)."""
from __future__ import annotations

import numpy as np

from .document import Block, Columns, Image, Paragraph, Section, Table
from .inputs import Inputs, labels_text


def pct(v: float | None) -> str:
    """A rate as a percentage with two decimals ('62.58%'); '—' for None."""
    return "—" if v is None else f"{100 * float(v):.2f}%"


def f3(v: float | None) -> str:
    return "—" if v is None else f"{float(v):.3f}"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def figure(fig, inp: Inputs, alt: str, caption: str = "") -> Image:
    """A matplotlib figure as the report's PNG block."""
    from ..export.render import figure_bytes

    w, _ = fig.get_size_inches()
    return Image(figure_bytes(fig, "png", dpi=inp.options.dpi), alt, caption, float(w))


def per_model(inp: Inputs, make) -> list[Block]:
    """`make(i)` -> blocks for model i: as they are for one model, side by side for two."""
    parts = [tuple(make(i)) for i in range(len(inp.cards))]
    if not inp.pair:
        return list(parts[0])
    return [Columns(inp.names, tuple(parts))]


def leakage(inp: Inputs, i: int) -> dict | None:
    from ..data.duplicates import leakage_metrics

    pairs = inp.duplicate_pairs
    return None if isinstance(pairs, str) else leakage_metrics(inp.evaluations[i], pairs)


def ece_of(inp: Inputs, i: int) -> float:
    from ..analysis.calibration import ece

    ev = inp.evaluations[i]
    m = ev.scored  # faces whose true class the model can output: as `python -m ferviz evaluate`
    return ece(ev.probs[m], ev.labels[m]) if m.any() else float("nan")  # top label, 15 bins


# ------------------------------------------------------------------ summary

def summary(inp: Inputs) -> Section:
    s = Section("Summary")
    split = inp.split

    s.add(Paragraph(f"Classes of {split.title}: {', '.join(split.classes)} ({labels_text(split)})."))
    rows = {k: [] for k in ("images", "accuracy", "macro-F1", "accuracy without exact Training copies",
                            "accuracy without exact or near Training copies", "ECE (15 bins)",
                            "model card's accuracy on this split")}
    for i, (card, ev) in enumerate(zip(inp.cards, inp.evaluations)):
        lk = leakage(inp, i) or {}
        rows["images"].append(f"{ev.n:,}")
        rows["accuracy"].append(pct(ev.accuracy))
        rows["macro-F1"].append(f3(ev.macro_f1))
        rows["accuracy without exact Training copies"].append(pct(lk.get("accuracy_excluding_training_duplicates")))
        rows["accuracy without exact or near Training copies"].append(
            pct(lk.get("accuracy_excluding_training_near_duplicates")))
        rows["ECE (15 bins)"].append(pct(ece_of(inp, i)))
        rows["model card's accuracy on this split"].append(
            pct((card.metrics.get(split.split) or {}).get("accuracy")))
        text = (f"{card.name} on {split.title} ({ev.n:,} images): accuracy {pct(ev.accuracy)}, macro-F1 "
                f"{f3(ev.macro_f1)}, ECE {pct(ece_of(inp, i))}")
        if lk:
            text += (f"; without the {lk['n_training_duplicates']:,} images that have an exact copy in Training, "
                     f"accuracy {pct(lk['accuracy_excluding_training_duplicates'])}")
        s.add(Paragraph(text + "."))
        if ev.n_outside:
            s.add(Paragraph(ev.outside_note() + ".", "note"))
    s.add(Table(("", *inp.names), tuple((k, *v) for k, v in rows.items()),
                "Accuracy, macro-F1 and ECE as `python -m ferviz evaluate` writes them to metrics.json."))
    if isinstance(inp.duplicate_pairs, str):
        s.add(Paragraph(f"No accuracy without Training copies: {inp.duplicate_pairs}.", "note"))
    return s


# ------------------------------------------------------------------ per class

def per_class(inp: Inputs) -> Section:
    from ..export.confusion import confusion_figure

    s = Section("Per-class metrics and confusion matrix")

    def make(i):
        ev = inp.evaluations[i]
        pc = ev.per_class()
        rows = tuple((r["class"], f3(r["precision"]), f3(r["recall"]), f3(r["f1"]), f"{int(r['support']):,}")
                     for _, r in pc.iterrows())
        m = ev.matrix()
        fig = confusion_figure(m.to_numpy(), accuracy=ev.accuracy, model_name=inp.cards[i].name,
                               split=inp.split.title, classes=list(m.index), columns=list(m.columns),
                               note=ev.outside_note())
        caption = "Rows: true class (the dataset's); columns: predicted class (the model's)."
        if ev.n_outside:
            caption += (" Rows marked * are classes the model cannot output: their faces are counted apart, "
                        "not as errors.")
        return [Table(("class", "precision", "recall", "F1", "support"), rows),
                figure(fig, inp, f"confusion matrix of {inp.cards[i].name}", caption)]
    return s.add(*per_model(inp, make))


# ------------------------------------------------------------------ confused pairs

def _issue_cells(inp: Inputs, i: int) -> np.ndarray | None:
    from ..analysis.label_issues import evaluation_issues

    try:
        li = evaluation_issues(inp.evaluations[i])
    except ValueError:
        return None
    ev = inp.evaluations[i]  # cells indexed by class index, as confused_pairs' true_idx/pred_idx
    k = max(int(ev.probs.shape[1]), int(np.max(ev.labels, initial=0)) + 1)
    cells = np.zeros((k, k), np.int64)
    np.add.at(cells, (li.labels[li.flagged], li.preds[li.flagged]), 1)
    return cells


def confused_pairs(inp: Inputs) -> Section:
    from ..export.sheets import cell_sheet

    s = Section("Most-confused pairs")
    o = inp.options

    def make(i):
        ev, card = inp.evaluations[i], inp.cards[i]
        pairs = ev.confused_pairs(8)
        if pairs.empty:
            return [Paragraph(f"{card.name} makes no mistakes on {inp.split.title}.", "note")]
        cells = _issue_cells(inp, i)
        rows = tuple((f"{r.true} → {r.pred}", f"{r['count']:,}", f"{r.share:.1%}",
                      "—" if cells is None else f"{cells[r.true_idx, r.pred_idx]:,}") for _, r in pairs.iterrows())
        out: list[Block] = [Table(("true → predicted", "images", "share of the true class", "likely label issues"),
                                  rows)]
        if o.pair_sheets < 1:
            return out + [Paragraph("Face sheets left out (--pair-sheets 0).", "note")]
        for _, r in pairs.head(o.pair_sheets).iterrows():
            t, p = int(r.true_idx), int(r.pred_idx)
            err = ev.errors(t, p)  # most confident mistakes first
            pos = err["pos"].to_numpy()[:o.sheet_faces]
            fig = cell_sheet(inp.split.images[pos], ev.probs[pos], ev.ids[pos], true=t, pred=p,
                             model_name=card.name, split=inp.split.title, total=len(err), cols=5, tile_in=1.0)
            out.append(figure(fig, inp, f"faces of {card.name}'s cell {r.true} → {r.pred}",
                              f"{r.true} → {r.pred}: the {len(pos)} most confident mistakes of {len(err)}, "
                              f"with p({r.pred}) and the image id."))
        return out
    s.add(Paragraph("Off-diagonal cells, most frequent first. The face sheets come from your own copy of the "
                    "data (FER2013's licence does not allow redistributing its faces: share this file accordingly)."))
    return s.add(*per_model(inp, make))


# ------------------------------------------------------------------ label issues and FER+

def label_issues(inp: Inputs) -> Section:
    from ..analysis.label_issues import evaluation_issues

    s = Section("Label issues and FER+ agreement")
    ferplus_labels = getattr(inp.split, "label_set", "fer2013") == "ferplus"
    aligned = ("the labels of this report are FER+'s majority vote themselves" if ferplus_labels
               else inp.aligned_votes)

    def make(i):
        ev, card = inp.evaluations[i], inp.cards[i]
        out: list[Block] = []
        try:
            c = evaluation_issues(ev).counts()
        except ValueError as e:
            out.append(Paragraph(f"No label issues: {e}.", "note"))
        else:
            share = c["flagged_errors"] / max(c["errors"], 1)
            out.append(Paragraph(
                f"Confident learning (cleanlab's default rule, on {card.name}'s probabilities) flags "
                f"{plural(c['flagged'], 'image')} of {c['n']:,} as likely label issues; they are "
                f"{c['flagged_errors']:,} of the {c['errors']:,} errors ({share:.0%}); the other "
                f"{c['model_errors']:,} errors are likely model errors. A flag is a reason to look at the face, "
                "not proof that the label is wrong: an overconfident model raises the count too."))
        if not isinstance(aligned, str):
            from ..analysis.agreement import ferplus_metrics

            fp = ferplus_metrics(ev, aligned)
            out.append(Table(("FER+ (10 votes per face)", ""), (
                ("faces with a FER+ majority among the model's classes", f"{fp['n_used']:,} of {fp['n']:,}"),
                ("not a face / contempt or unknown / tied", f"{fp['n_not_a_face']:,} / "
                                                           f"{fp['n_contempt_or_unknown']:,} / {fp['n_tied']:,}"),
                ("accuracy against the FER+ majority", pct(fp["accuracy_vs_ferplus"])),
                ("accuracy against FER2013's labels (same faces)", pct(fp["accuracy"])),
                ("FER2013 label agrees with the FER+ majority", pct(fp["label_agreement"])),
                ("errors where FER+ sides with the model", f"{fp['errors_ferplus_agrees_with_model']:,}"))))
        return out
    s.add(*per_model(inp, make))
    if ferplus_labels:
        s.add(Paragraph(f"No FER+ agreement table: {aligned} (--labels ferplus).", "note"))
    elif isinstance(aligned, str):
        s.add(Paragraph(f"No FER+ agreement: {aligned}. FER+'s votes follow the rows of the original "
                        "fer2013.csv, so they align only with that form of the data.", "note"))
    return s


# ------------------------------------------------------------------ Training copies

def training_copies(inp: Inputs) -> Section:
    from ..data.duplicates import NEAR_DISTANCE, split_summary

    title = "Training copies"
    pairs = inp.duplicate_pairs
    if isinstance(pairs, str):
        return Section(title, left_out=f"Left out: {pairs}.")
    s = Section(title)
    summ = split_summary(pairs, inp.splits)
    s.add(Paragraph(f"FER2013's test splits hold exact pixel copies of Training images (some with another label) "
                    f"and near copies (the same photo with another crop, brightness or compression: perceptual "
                    f"hashes at most {NEAR_DISTANCE} bits apart). A model may have memorised them, so the accuracy "
                    "without them is the fairer number."),
          Table(("split", "images", "exact copies", "of those, another label", "near copies only",
                 "of those, another label"),
                tuple((r.split, f"{r.images:,}", f"{r.exact:,}", f"{r.exact_other_label:,}", f"{r.near:,}",
                       f"{r.near_other_label:,}") for r in summ.itertuples())))
    rows = []
    for i, ev in enumerate(inp.evaluations):
        lk = leakage(inp, i)
        rows.append((inp.cards[i].name, pct(ev.accuracy),
                     f"{pct(lk['accuracy_excluding_training_duplicates'])} "
                     f"(n = {ev.n - lk['n_training_duplicates']:,})",
                     f"{pct(lk['accuracy_excluding_training_near_duplicates'])} "
                     f"(n = {ev.n - lk['n_training_near_duplicates']:,})"))
    return s.add(Table(("model", f"accuracy on {inp.split.title}", "without exact copies",
                        "without exact or near copies"), tuple(rows)))


# ------------------------------------------------------------------ calibration

def calibration(inp: Inputs) -> Section:
    from ..analysis.calibration import calibrate_evaluations, evaluation_reliability
    from ..analysis.evaluation import evaluate
    from ..export.calibration import reliability_figure

    s = Section("Calibration")
    split = inp.split
    fit_split = (inp.splits or {}).get("PublicTest")
    scale = fit_split is not None and split.split != "PublicTest"
    if not scale:
        s.add(Paragraph("No temperature scaling: it is fitted on PublicTest, and "
                        + ("this report is on PublicTest itself." if split.split == "PublicTest"
                           else "the dataset has no PublicTest split.") + " The reliability diagram is shown as it is.",
                        "note"))

    def make(i):
        ev, card = inp.evaluations[i], inp.cards[i]
        if scale:
            res = calibrate_evaluations(evaluate(card, fit_split, model=None), ev)
            text = (f"Temperature {res.temperature:.3f} (fit on {res.fit_split}): ECE {pct(res.ece_before)} → "
                    f"{pct(res.ece_after)}, NLL {res.nll_before:.4f} → {res.nll_after:.4f} on {split.title}"
                    + (" (scaling makes it worse here)." if res.ece_after > res.ece_before else "."))
            panels = {"before temperature scaling": res.reliability[(res.split, "before")],
                      f"after (T = {res.temperature:.3f}, fit on {res.fit_split})": res.reliability[(res.split, "after")]}
        else:
            r = evaluation_reliability(ev)
            text, panels = f"ECE {pct(r.ece)} on {split.title} (top label, 15 bins).", {"as predicted": r}
        fig = reliability_figure(panels, model_name=card.name, split=split.title)
        return [Paragraph(text), figure(fig, inp, f"reliability diagram of {card.name}")]
    return s.add(*per_model(inp, make))
