"""``python -m ferviz calibration``: fits a temperature on PublicTest and writes ``calibration.csv``
(reliability bins before/after on both splits), ``calibration.json`` (temperature, ECE and NLL
before/after on PrivateTest) and ``reliability.<format>`` (``reliability_per_class`` too with
--per-class).

    python -m ferviz calibration --model vgg_small_ft --out quality/ --format png pdf
"""
from __future__ import annotations

import json
from pathlib import Path

from . import args as A


def add_arguments(p) -> None:
    A.add_model(p)
    A.add_data(p)
    A.add_out(p)
    p.add_argument("--per-class", action="store_true", help="also one-vs-rest reliability per class")
    p.add_argument("--bins", type=A.int_range(1, 1000), default=15,
                   help="equal-width confidence bins, 1-1000 (default 15)")
    A.add_formats(p, "reliability diagram")
    A.add_dpi(p)


def run(a) -> int:
    from ..analysis.calibration import calibrate_evaluations
    from ..cache import atomic_write_bytes
    from ..export import figure_bytes
    from ..export.calibration import reliability_figure
    from ..models import find_card
    from .common import evaluated, load_split

    card = find_card(a.model)
    fit, test = (evaluated(card, load_split(a, s)) for s in ("PublicTest", "PrivateTest"))
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
