"""``python -m ferviz label-issues`` and ``calibration``: is it the model, the label or the data?

    python -m ferviz label-issues --model vgg_small_ft --split PrivateTest --out quality/
    python -m ferviz label-issues --model vgg_small_ft,baseline_cnn_ft --out quality/
    python -m ferviz calibration --model vgg_small_ft --out quality/ --format png pdf

label-issues writes ``label_issues.csv`` (id, true, pred, suggested, score, flagged; lowest
score = most likely label issue first) from confident learning on the model's (or the mean of
several models') probabilities. calibration fits a temperature on PublicTest and writes
``calibration.csv`` (reliability bins before/after on both splits), ``calibration.json``
(temperature, ECE and NLL before/after on PrivateTest) and ``reliability.<format>``.
"""
from __future__ import annotations

import json
from pathlib import Path

from .cli import command, progress_bar


def _evaluate(card, split):
    from .evaluation import evaluate

    bar, update = progress_bar(desc=f"{card.key} on {split.split}")
    try:
        return evaluate(card, split, progress=update)
    finally:
        bar.close()


def _model_refs(values: list[str]) -> list[str]:
    refs = [r.strip() for v in values for r in v.split(",")]
    if not refs or not all(refs):
        raise ValueError(f"--model needs model names, got {','.join(values)!r}")
    return list(dict.fromkeys(refs))


# ------------------------------------------------------------------ label-issues

def _issues_args(p):
    p.add_argument("--model", action="append", required=True, metavar="MODEL",
                   help="card path, model file or registry name; several (repeated or a comma list) "
                        "are averaged")
    p.add_argument("--data", help="FER2013 path (default: FERVIZ_DATA or data/)")
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--out", required=True, help="output folder for label_issues.csv")


@command("label-issues", "likely label issues by confident learning (cleanlab's default rule)")(_issues_args)
def _issues(a) -> int:
    from .cache import atomic_write_bytes
    from .data import load_fer2013
    from .label_issues import evaluation_issues, mean_evaluation
    from .models import find_card

    cards = [find_card(r) for r in _model_refs(a.model)]
    split = load_fer2013(a.data, a.split)
    ev = mean_evaluation([_evaluate(c, split) for c in cards])
    issues = evaluation_issues(ev)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df = issues.frame()[["id", "true", "pred", "suggested", "score", "flagged"]]
    path = out / "label_issues.csv"
    atomic_write_bytes(path, df.to_csv(index=False, float_format="%.6f").encode())
    c = issues.counts()
    share = lambda k, n: f"{k}/{n} ({k / max(n, 1):.1%})"  # noqa: E731
    print(f"{ev.model_name} on {split.split}: {share(c['flagged'], c['n'])} images flagged as likely "
          f"label issues; they are {share(c['flagged_errors'], c['errors'])} of the errors "
          f"(the other {c['model_errors']} errors: likely model errors)")
    print(f"wrote {path}")
    return 0


# ------------------------------------------------------------------ calibration

def _calibration_args(p):
    from .export import FORMATS

    p.add_argument("--model", required=True, help="card path, model file or registry name")
    p.add_argument("--data", help="FER2013 path (default: FERVIZ_DATA or data/)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--per-class", action="store_true", help="also one-vs-rest reliability per class")
    p.add_argument("--bins", type=int, default=15, help="equal-width confidence bins (default 15)")
    p.add_argument("--format", nargs="+", default=["png"], choices=FORMATS, dest="formats",
                   help="reliability diagram format(s) (default png)")
    p.add_argument("--dpi", type=float, default=150, help="PNG resolution (default 150)")


@command("calibration", "ECE, reliability diagram and temperature scaling (fit on PublicTest)")(_calibration_args)
def _calibration(a) -> int:
    from .cache import atomic_write_bytes
    from .calibration import calibrate_evaluations
    from .data import load_fer2013
    from .export import figure_bytes
    from .export.calibration import reliability_figure
    from .export.render import check_dpi
    from .models import find_card

    check_dpi(a.dpi)
    if not 1 <= a.bins <= 1000:
        raise ValueError(f"--bins must be in 1-1000, got {a.bins}")
    card = find_card(a.model)
    fit, test = (_evaluate(card, load_fer2013(a.data, s)) for s in ("PublicTest", "PrivateTest"))
    res = calibrate_evaluations(fit, test, n_bins=a.bins, per_class=a.per_class)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "calibration.csv", out / "calibration.json"]
    atomic_write_bytes(written[0], res.frame().to_csv(index=False, float_format="%.6f").encode())
    atomic_write_bytes(written[1], (json.dumps(res.to_dict(), indent=2) + "\n").encode())
    fig = reliability_figure({"before temperature scaling": res.reliability[(res.split, "before")],
                              f"after (T = {res.temperature:.3f}, fit on {res.fit_split})":
                                  res.reliability[(res.split, "after")]},
                             model_name=card.name, split=res.split)
    figures = {"reliability": fig}
    if a.per_class:  # one-vs-rest, before scaling: the model's own calibration per class
        figures["reliability_per_class"] = reliability_figure(
            {res.classes[r.cls]: r for r in res.per_class[(res.split, "before")]}, model_name=card.name,
            split=res.split, title=f"{card.name} on {res.split}: one-vs-rest reliability per class", ncols=4)
    for stem, f in figures.items():
        for fmt in dict.fromkeys(a.formats):
            written.append(out / f"{stem}.{fmt}")
            atomic_write_bytes(written[-1], figure_bytes(f, fmt, dpi=a.dpi))
    print(f"{card.name} on {res.split} ({res.n} images, accuracy {res.accuracy:.4f}): temperature "
          f"{res.temperature:.3f} (fit on {res.fit_split}); ECE {res.ece_before:.4f} -> {res.ece_after:.4f}, "
          f"NLL {res.nll_before:.4f} -> {res.nll_after:.4f}")
    for path in written:
        print(f"wrote {path}")
    return 0
