"""Dashboard server-side costs (AppTest): a confusion-cell change vs an idle rerun of the Errors page,
and a restart (memory caches cleared, disk cache warm) vs the first start on an empty cache."""
from __future__ import annotations

import os
import time

from _common import ROOT, emit, fresh_cache, parser


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    args = parser(__doc__).parse_args()
    args.repeats = max(args.repeats, 5)
    fresh_cache()
    if args.data:
        os.environ["FERVIZ_DATA"] = args.data
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from ferviz.labels import EMOTIONS
    from ferviz.models import load_card

    key = load_card(args.model).key
    os.environ["FERVIZ_MODELS"] = str(os.path.dirname(os.path.abspath(args.model)))

    def new_app():
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.session_state["sel_model"] = key
        return at

    at = new_app()
    first = _timed(at.run)  # empty disk cache: decode data, load model, predict PrivateTest
    st.cache_resource.clear()
    st.cache_data.clear()
    at = new_app()
    restart = _timed(at.run)  # memory caches gone, predictions come from disk
    at.switch_page("ferviz/ui/pages/errors.py")
    at.run()
    idle, click = [], []
    pairs = [(t, p) for t in range(7) for p in range(7) if t != p][: args.repeats]
    for t, p in pairs:
        idle.append(_timed(at.run))
        at.session_state["sel_true"], at.session_state["sel_pred"] = EMOTIONS[t], EMOTIONS[p]
        at.session_state["gallery_page"] = 1
        click.append(_timed(at.run))
        assert not at.exception, at.exception
    idle.sort()
    click.sort()
    med = lambda xs: xs[len(xs) // 2]  # noqa: E731
    emit({
        "benchmark": "app", "model": key, "repeats": len(pairs),
        "first_start_s": first, "restart_s": restart, "restart_vs_first": restart / first,
        "idle_rerun_s": med(idle), "cell_change_rerun_s": med(click),
        "cell_change_vs_idle_rerun": med(click) / med(idle), "target_cell_vs_idle": 2.0,
        "note": "server-side script time in AppTest; a browser click triggers the same rerun",
    })


if __name__ == "__main__":
    main()
