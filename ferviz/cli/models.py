"""``python -m ferviz models``: the models in models/ (and FERVIZ_MODELS, and --dir) as a Markdown
table with their measured accuracy; unreadable cards are named on stderr."""
from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("--dir", action="append", default=[], help="an extra folder of models (repeatable)")


def run(a) -> int:
    from ..models import list_cards

    cards, problems = list_cards(*a.dir)
    print("| model | file | params | PrivateTest acc. | macro-F1 | PublicTest acc. | trained on | time |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for c in cards:
        m, t = c.metrics, c.training
        pt, pu = m.get("PrivateTest", {}), m.get("PublicTest", {})
        acc = lambda d, k="accuracy": f"{d[k]:.2%}" if k in d else "—"  # noqa: E731
        minutes = f"{t['wall_time_s'] / 60:.0f} min" if "wall_time_s" in t else "—"
        if "wall_time_s" in t.get("init", {}):  # fine-tuned: the starting model's time + this run's
            minutes = f"{t['init']['wall_time_s'] / 60:.0f} + {minutes}"
        params = f"{t['params'] / 1e6:.2f} M" if "params" in t else "—"
        f1 = f"{pt['macro_f1']:.3f}" if "macro_f1" in pt else "—"
        print(f"| {c.name} | `{c.file}` | {params} | {acc(pt)} | {f1} | {acc(pu)} | "
              f"{t.get('hardware', '—')} | {minutes} |")
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    return 0
