"""``python -m ferviz label-issues``: is it the model or the label?

    python -m ferviz label-issues --model vgg_small_ft --split PrivateTest --out quality/
    python -m ferviz label-issues --model vgg_small_ft,baseline_cnn_ft --out quality/

Writes ``label_issues.csv`` (id, true, pred, suggested, score, flagged; lowest score = most
likely label issue first) from confident learning on the model's (or the mean of several
models') probabilities.
"""
from __future__ import annotations

from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_model(p, several=True)
    A.add_data(p)
    A.add_split(p)
    A.add_out(p, "output folder for label_issues.csv")


def run(a) -> int:
    from ..analysis.label_issues import evaluation_issues, mean_evaluation
    from ..cache import atomic_write_bytes
    from ..models import find_card
    from .common import evaluated, load_split

    cards = [find_card(r) for r in dict.fromkeys(a.model)]
    split = load_split(a)
    ev = mean_evaluation([evaluated(c, split) for c in cards])
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
