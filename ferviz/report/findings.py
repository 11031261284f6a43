"""The report's sections on groups of faces and on two models: failure slices
(``ferviz.analysis.failures.analyse_failures``), the stress test and, with a
second model, where the two differ (McNemar on the faces one gets right and the other wrong, per
class, per cell and per slice with ``ferviz.analysis.slices.compare_slices``)."""
from __future__ import annotations

import numpy as np

from ..labels import NAMES
from .document import Paragraph, Section, Table
from .inputs import Inputs, Progress
from .sections import f3, figure, pct, per_model


def failure_analyses(inp: Inputs, progress: Progress | None = None) -> list:
    """One :class:`FailureAnalysis` per model (no error clusters: they need every face's features)."""
    from ..analysis.failures import analyse_failures

    return [analyse_failures(card, inp.split, splits=inp.splits, clusters=False, seed=inp.options.seed,
                             progress=progress) for card in inp.cards]


def failure_slices(inp: Inputs, analyses: list | None) -> Section:
    from ..export.slices import slices_figure

    title = "Failure slices"
    if analyses is None:
        return Section(title, left_out="Left out: --no-slices.")

    def make(i):
        fa, card = analyses[i], inp.cards[i]
        t = fa.slices.table
        n_sig = int(((t["p_adjusted"] < 0.05) & (t["difference"] < 0)).sum())
        out = [Paragraph(f"{card.name}: {fa.slices.tested:,} slices of at least 30 faces tested, {n_sig} "
                         f"significantly worse than the rest (Benjamini-Hochberg, p < 0.05); overall accuracy "
                         f"{pct(fa.slices.overall)}. The five worst different groups of faces:")]
        worst = fa.slices.worst(5, significant=False)
        out += [Paragraph(f"{k}. {s}") for k, s in enumerate(worst["sentence"], start=1)]
        if len(t):
            out.append(figure(slices_figure(t, fa.slices.overall, model_name=card.name, split=inp.split.title),
                              inp, f"failure slices of {card.name}"))
        out += [Paragraph(f"Note: {n}.", "note") for n in fa.notes]
        return out
    s = Section(title)
    s.add(Paragraph("Groups of faces the model gets wrong more often than the rest, from what ferviz measures on "
                    "every face (light, contrast, sharpness, head pose, scale and centring from five landmarks, "
                    "Training copies, FER+ votes), each tested against the rest; as `python -m ferviz slices` "
                    "(error clusters left out here)."))
    return s.add(*per_model(inp, make))


def stress_test(inp: Inputs, progress: Progress | None = None) -> Section:
    """Accuracy under each perturbation at one severity (``ferviz.analysis.stress.stress_test``)."""
    title = "Stress test"
    sev = inp.options.stress_severity
    if sev < 1:
        return Section(title, left_out="Left out: --stress-severity 0 (each perturbation is one more evaluation "
                                       "of the split).")
    from ..analysis.perturbations import describe
    from ..analysis.stress import flip_sentence, stress_test as run_stress
    from ..data.landmarks import cached_landmarks

    o = inp.options
    n_all = len(inp.split)
    pos = np.arange(n_all)
    if 0 < o.stress_faces < n_all:  # a fixed random sample: one evaluation per perturbation is costly
        pos = np.sort(np.random.default_rng(o.seed).choice(n_all, o.stress_faces, replace=False))
    sub = inp.split if len(pos) == n_all else inp.split.subset(pos)
    points = cached_landmarks(inp.split.images, inp.split.data_hash).points[pos]

    def make(i):
        card = inp.cards[i]
        res = run_stress(card, sub, severities=[sev], model=inp.model(i), points=points, seed=o.seed,
                         progress=progress)
        t = res.table()
        t = t[t["class"] == "all"]
        base = float(t[t["severity"] == 0]["accuracy"].iloc[0])
        hit = t[t["severity"] > 0].sort_values(["accuracy", "perturbation"], kind="stable")
        rows = tuple((describe(r.perturbation, int(r.severity)), f"{pct(r.accuracy)} [{100 * r.ci_low:.1f}, "
                      f"{100 * r.ci_high:.1f}]", f"{(r.accuracy - base) * 100:+.2f} pts", f"{r.mean_p_true:.3f}")
                     for r in hit.itertuples())
        flips = res.flips().head(3)
        return [Table(("perturbation", "accuracy [95% CI]", f"vs {pct(base)} as they are", "mean p(true)"), rows,
                      "Worst first."),
                *(Paragraph(flip_sentence(f["perturbation"], int(f["severity"]), f["from"], f["to"],
                                          int(f["count"])) + ".") for _, f in flips.iterrows())]
    s = Section(title)
    which = (f"A fixed random sample of {len(pos):,} of the {n_all:,} faces (seed {o.seed}; --stress-faces)"
             if len(pos) < n_all else f"All {n_all:,} faces")
    s.add(Paragraph(f"{which}, perturbed (occluded regions, noise, blur, dim light, low contrast, JPEG, "
                    f"low resolution, rotation, shift, zoom, mirror) at severity {sev} of 5 where a perturbation has "
                    "it, each evaluated like the faces themselves (the card's test-time views); as "
                    f"`python -m ferviz stress --severities {sev}` on those faces. Then the most frequent flips: faces read right "
                    "as they are and as another class when perturbed."))
    return s.add(*per_model(inp, make))


def _same_width(*cms: np.ndarray) -> list[np.ndarray]:
    """Square confusion matrices indexed by class index, zero-padded to the widest."""
    k = max(len(c) for c in cms)
    out = []
    for c in cms:
        z = np.zeros((k, k), np.int64)
        z[:len(c), :len(c)] = c
        out.append(z)
    return out


def differences(inp: Inputs, analyses: list | None) -> Section:
    from scipy.stats import binomtest

    title = "Where the two models differ"
    if not inp.pair:
        return Section(title, left_out="Left out: one model only (give a second with --vs).")
    a, b = inp.evaluations
    na, nb = inp.names
    ra, rb = inp.correct(0), inp.correct(1)
    a_only, b_only = int((ra & ~rb).sum()), int((rb & ~ra).sum())
    p = binomtest(b_only, a_only + b_only).pvalue if a_only + b_only else 1.0
    better = nb if b.accuracy > a.accuracy else na
    s = Section(title)
    s.add(Paragraph(f"{na}: accuracy {pct(a.accuracy)}; {nb}: {pct(b.accuracy)} "
                    f"({(b.accuracy - a.accuracy) * 100:+.2f} points). They give the same answer on "
                    f"{(a.preds == b.preds).mean():.1%} of the faces. {na} is right where {nb} is wrong on "
                    f"{a_only:,} faces, the other way round on {b_only:,}; exact McNemar test p = {p:.3g} "
                    + (f"({better} is significantly more accurate)." if p < 0.05 and a.accuracy != b.accuracy
                       else "(no significant difference).")))
    if a.n_outside or b.n_outside:
        s.add(Paragraph("Faces whose true class a model cannot output are counted apart for that model (never an "
                        "error, never right): " + "; ".join(ev.outside_note() for ev in (a, b) if ev.n_outside)
                        + ".", "note"))
    pa, pb = (ev.per_class().set_index("class") for ev in (a, b))
    classes = [NAMES[c] for c in sorted(set(a.columns) | set(b.columns))]  # either model's, vocabulary order

    def cell(df, k: str, col: str, fmt=f3) -> str:
        return fmt(df.loc[k, col]) if k in df.index else "—"

    def change(k: str) -> str:
        if k not in pa.index or k not in pb.index:
            return "—"
        return f"{(pb.loc[k, 'recall'] - pa.loc[k, 'recall']) * 100:+.1f} pts"
    s.add(Table(("class", f"recall {na}", f"recall {nb}", "change", f"F1 {na}", f"F1 {nb}"),
                tuple((k, cell(pa, k, "recall"), cell(pb, k, "recall"), change(k), cell(pa, k, "f1"),
                       cell(pb, k, "f1")) for k in classes),
                "Per class: recall and F1 of each model (— where a model cannot output the class)."))
    ca, cb = _same_width(a.confusion(), b.confusion())
    diff = cb - ca
    cells = sorted(((abs(int(diff[t, q])), t, q) for t in range(len(diff)) for q in range(len(diff))
                    if diff[t, q]), key=lambda x: (-x[0], x[1], x[2]))[:8]
    if cells:
        s.add(Table(("true → predicted", na, nb, "change"),
                    tuple((f"{NAMES[t]} → {NAMES[q]}" + (" (correct)" if t == q else ""), f"{ca[t, q]:,}",
                           f"{cb[t, q]:,}", f"{int(diff[t, q]):+,}") for _, t, q in cells),
                    "The confusion cells whose counts changed most."))
    if analyses is not None:
        from ..analysis.slices import compare_slices

        cmp = compare_slices(analyses[0].slices, ra, rb)
        for verdict, word in (("fixes", "fixes"), ("breaks", "breaks")):
            rows = cmp[cmp["verdict"] == verdict]
            rows = rows.iloc[::-1] if verdict == "fixes" else rows
            for _, r in rows.head(3).iterrows():
                s.add(Paragraph(f"{nb} {word} {r['description']} (n = {int(r['n']):,}): accuracy "
                                f"{pct(r['accuracy_a'])} → {pct(r['accuracy_b'])} ({int(r['fixed'])} fixed, "
                                f"{int(r['broken'])} broken; adjusted p = {r['p_adjusted']:.2g})."))
        if not (cmp["verdict"] != "same").any():
            s.add(Paragraph(f"No failure slice of {na} changes significantly with {nb} (exact McNemar test per "
                            "slice, Benjamini-Hochberg corrected)."))
    return s

