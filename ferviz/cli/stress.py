"""``python -m ferviz stress``: a model's accuracy under perturbations of the faces (occluded
eyes, brows, nose or mouth, noise, blur, dim light, low contrast, JPEG, low resolution, rotation,
shift, zoom, mirror) at severities 1-5. Writes ``stress.csv``
(``perturbation,severity,class,n,accuracy,ci_low,ci_high,mean_p_true``; class ``all`` = the split),
``flips.csv`` (``perturbation,severity,from,to,count,share``) and ``stress.<format>``."""
from __future__ import annotations

import json
from pathlib import Path

from . import args as A

# a literal copy of ferviz.analysis.perturbations.PERTURBATIONS' names (tests check they agree)
PERTURBATIONS = ("occlude_eyes", "occlude_brows", "occlude_nose", "occlude_mouth", "noise", "blur", "brightness",
                 "contrast", "jpeg", "lowres", "rotate", "shift", "scale", "mirror")


def add_arguments(p) -> None:
    A.add_model_data(p)
    p.add_argument("--perturbations", nargs="+", choices=PERTURBATIONS, default=None, metavar="NAME",
                   help="which perturbations (default all): " + ", ".join(PERTURBATIONS))
    p.add_argument("--severities", nargs="+", type=A.int_range(1, 5), default=None, metavar="S",
                   help="which severities 1-5 (default all; severity 0, the faces as they are, always runs)")
    A.add_seed(p, 0, "seed of the noise and of the shifts' directions")
    A.add_formats(p, "figure")
    A.add_dpi(p)
    p.add_argument("--no-cache", action="store_true", help="recompute every prediction")
    A.add_out(p, "folder for stress.csv, flips.csv and the figure")


def run(a) -> int:
    from ..analysis.stress import flip_sentence, stress_test
    from ..export.render import figure_bytes
    from ..export.stress import stress_figure
    from ..models import find_card
    from .common import load_split, progress

    card = find_card(a.model)
    split = load_split(a)
    with progress(f"stress {card.key}") as update:
        res = stress_test(card, split, a.perturbations, a.severities, seed=a.seed, use_cache=not a.no_cache,
                          progress=update)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    table, flips = res.table(), res.flips()
    table.to_csv(out / "stress.csv", index=False, float_format="%.6g")
    flips.to_csv(out / "flips.csv", index=False, float_format="%.6g")
    written = [out / "stress.csv", out / "flips.csv"]
    fig = stress_figure(table, model_name=card.name, split=split.title, dpi=a.dpi)
    for fmt in dict.fromkeys(a.formats):
        (out / f"stress.{fmt}").write_bytes(figure_bytes(fig, fmt))
        written.append(out / f"stress.{fmt}")
    base = table[(table["severity"] == 0) & (table["class"] == "all")]["accuracy"].iloc[0]
    print(f"{card.name} on {split.title}: {len(split):,} faces, accuracy {base:.4f} as they are")
    worst = table[(table["class"] == "all") & (table["severity"] > 0)].sort_values("accuracy").head(3)
    for _, r in worst.iterrows():
        print(f"  {r['perturbation']} severity {r['severity']}: accuracy {r['accuracy']:.4f}")
    for _, f in flips.head(3).iterrows():
        print("  " + flip_sentence(f["perturbation"], int(f["severity"]), f["from"], f["to"], int(f["count"])))
    print("wrote " + ", ".join(map(str, written)))
    print(json.dumps({"faces": len(split), "accuracy": round(float(base), 6),
                      "evaluations": len(res.probs), "flips": int(flips["count"].sum()) if len(flips) else 0}))
    return 0
