"""``python -m ferviz report``: one file to hand in, an error-analysis report of a model (or of two
side by side with --vs) as self-contained HTML and/or PDF with the same content: summary numbers,
per-class metrics and confusion matrix, most-confused pairs with face sheets, which attribution
method to trust, label issues and FER+, Training copies, calibration, regions of the top cells,
failure slices, the stress test, where two models differ, and a reproducibility block.

    python -m ferviz report --model baseline_cnn --split PrivateTest --format html pdf --out out/report/
    python -m ferviz report --model baseline_cnn --vs vgg_small_ft --out out/report/
"""
from __future__ import annotations

import shlex
from pathlib import Path

from . import args as A

REPORT_FORMATS = ("html", "pdf")  # ferviz.report.FORMATS


def add_arguments(p) -> None:
    A.add_model(p)
    p.add_argument("--vs", type=A.non_empty, metavar="MODEL", help="a second model, side by side with the first")
    A.add_data(p)
    A.add_split(p)
    A.add_formats(p, "report", choices=REPORT_FORMATS, default=REPORT_FORMATS)
    p.add_argument("--trust-n", type=A.non_negative_int, default=16,
                   help="random faces for the trust table when docs/trust/ has none for this setting "
                        "(default 16; 0 leaves it out)")
    p.add_argument("--pair-sheets", type=A.int_range(0, 20), default=3,
                   help="most-confused pairs shown with a face sheet, 0-20 (default 3)")
    p.add_argument("--region-cells", type=A.int_range(0, 10), default=2,
                   help="top confusion cells with region charts, 0-10 (default 2)")
    p.add_argument("--region-faces", type=A.int_range(2, 1000), default=30,
                   help="at most this many faces per region group (default 30)")
    p.add_argument("--no-slices", action="store_true", help="leave out the failure slices")
    p.add_argument("--stress-severity", type=A.int_range(0, 5), default=3,
                   help="the stress test's severity, 1-5: one evaluation per perturbation (default 3; 0 leaves "
                        "it out)")
    p.add_argument("--stress-faces", type=A.non_negative_int, default=500,
                   help="the stress test on a fixed random sample of this many faces (default 500; 0: all)")
    A.add_seed(p, 0, "seed of the trust sample, region groups and error tree")
    A.add_out(p, "folder for the report file(s)")


def command_line(a) -> str:
    """The command as typed (the report's reproducibility block)."""
    return "python -m ferviz " + shlex.join(getattr(a, "_argv", None) or ["report", "--model", a.model])


def run(a) -> int:
    from ..report import Options, build_report, load_inputs, write_report
    from .common import progress

    opts = Options(trust_n=a.trust_n, pair_sheets=a.pair_sheets, region_cells=a.region_cells,
                   region_faces=a.region_faces, slices=not a.no_slices,
                   stress_severity=a.stress_severity, stress_faces=a.stress_faces, seed=a.seed)
    with progress("report: evaluating") as update:
        inp = load_inputs(a.model, a.vs, a.data, a.split, options=opts, command=command_line(a), progress=update,
                          labels=a.labels)
    with progress("report") as update:
        rep = build_report(inp, progress=update)
    for path in write_report(rep, inp, Path(a.out), a.formats):
        print(f"wrote {path}")
    acc = ", ".join(f"{c.name} {ev.accuracy:.2%}" for c, ev in zip(inp.cards, inp.evaluations))
    print(f"{inp.split.title}: accuracy {acc}")
    return 0
