"""The report, cold against cached: ``python -m ferviz report``'s default report (HTML and PDF) of a
model on a split with an empty cache (decoding the data, both test splits' predictions, duplicate
hashes of every split, landmarks and face attributes, the trust sample when docs/trust/ has none,
Grad-CAM maps of the region groups, the stress test's evaluations), then the same report again
with everything on disk (every number read back, figures drawn and both files rendered).

Prints JSON with seconds, the ratio cached/cold and the files' sizes.
"""
from __future__ import annotations

import time

from _common import emit, fresh_cache, median_time, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--split", default="PrivateTest")
    p.add_argument("--vs", default=None, help="a second model, side by side")
    args = p.parse_args()
    fresh_cache()
    from ferviz.report import build_report, load_inputs, render

    sizes = {}

    def run() -> None:
        inp = load_inputs(args.model, args.vs, args.data, args.split, command="bench")
        rep = build_report(inp)
        for fmt in ("html", "pdf"):
            sizes[fmt] = len(render(rep, fmt))

    t = time.perf_counter()
    run()
    cold = time.perf_counter() - t
    cached = median_time(run, args.repeats)
    emit({"benchmark": "report", "model": args.model, "vs": args.vs, "split": args.split, "cold_s": cold,
          "cached_s": cached, "ratio_cached_over_cold": cached / cold, "html_bytes": sizes["html"],
          "pdf_bytes": sizes["pdf"]})


if __name__ == "__main__":
    main()
