"""Precompute: the same maps (Grad-CAM and XRAI of one cell's first faces) computed serially in
this process, on a process pool of 1 and 2 workers, and on a local Ray cluster with 2 workers,
each into an empty cache holding only the predictions; then the dashboard's CPU per visit to a
precomputed face against a cold one (AppTest in this process: the script's CPU time).

Prints JSON with seconds, the throughput ratios against the serial run, and the visit ratio.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, fresh_cache, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--cell", default="fear:sad")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--methods", default="gradcam,gradcampp,xrai")
    p.add_argument("--no-ray", action="store_true")
    args = p.parse_args()
    base = Path(fresh_cache())
    from ferviz.analysis.evaluation import evaluate
    from ferviz.cli.args import parse_cell
    from ferviz.data.splits import load_fer2013
    from ferviz.models import find_card
    from ferviz.precompute import precompute

    card = find_card(args.model)
    split = load_fer2013(args.data, "PrivateTest")
    evaluate(card, split)  # the predictions every run starts from
    cell = [parse_cell(args.cell)]
    methods = args.methods.split(",")
    result = {"benchmark": "precompute", "model": card.key, "cell": args.cell, "top": args.top, "methods": methods,
              "cpus": os.cpu_count()}

    def fresh() -> None:
        d = Path(tempfile.mkdtemp(prefix="ferviz-bench-pre-"))
        for sub in base.iterdir():
            if sub.is_dir() and sub.name in ("data", "predictions"):
                shutil.copytree(sub, d / sub.name)
        os.environ["FERVIZ_CACHE"] = str(d)

    def timed(**kw) -> float:
        fresh()
        t = time.perf_counter()
        s = precompute([card], args.data, ["PrivateTest"], ["maps"], cells=cell, top=args.top, methods=methods, **kw)
        assert s.failed == 0 and s.computed > 0, s
        return time.perf_counter() - t

    runs = {"serial": {}, "pool_1": {"workers": 1}, "pool_2": {"workers": 2}}
    if not args.no_ray:
        runs["ray_2"] = {"workers": 2, "ray": "local"}
    for name, kw in runs.items():
        result[f"{name}_s"] = timed(**kw)
    for name in runs:
        if name != "serial":
            result[f"ratio_{name}_over_serial"] = result[f"{name}_s"] / result["serial_s"]

    # the dashboard's CPU per visit: a precomputed face (the cache of the last run) against a cold one
    from streamlit.testing.v1 import AppTest

    t, q = cell[0]
    faces = [str(i) for i in evaluate(card, split).errors(t, q)["id"]]
    warm_id, cold_id = faces[0], faces[args.top]  # the first was precomputed, this one was not
    os.environ["FERVIZ_DATA"] = str(args.data or "")

    def visit(face_id: str) -> float:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.session_state["sel_model"] = card.key
        at.session_state["sel_id"] = face_id
        at.session_state["sel_true"], at.session_state["sel_pred"] = args.cell.split(":")
        from streamlit.util import calc_hash

        at._page_hash = calc_hash("inspector")
        t0 = time.process_time()
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return time.process_time() - t0

    visit(warm_id)  # the process's one-time costs (imports, model load) kept out
    result["visit_precomputed_cpu_s"] = visit(faces[1])
    result["visit_cold_cpu_s"] = visit(cold_id)
    result["ratio_visit_precomputed_over_cold"] = result["visit_precomputed_cpu_s"] / result["visit_cold_cpu_s"]
    emit(result)


if __name__ == "__main__":
    main()
