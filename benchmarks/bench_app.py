"""Dashboard server-side costs (AppTest): a confusion-cell change vs an idle rerun of the Errors page,
and a restart (a new Python process, disk cache warm) vs the first start on an empty cache."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from _common import ROOT, emit, fresh_cache, parser


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _restart_in_new_process(key: str) -> float:
    """The first app run in a fresh Python process (imports, model load; disk cache warm)."""
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
            "from streamlit.testing.v1 import AppTest\n"
            f"at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=600)\n"
            f"at.session_state['sel_model'] = {key!r}\n"
            "t = time.perf_counter(); at.run(); print(time.perf_counter() - t)\n"
            "assert not at.exception, at.exception\n")
    done = subprocess.run([sys.executable, "-c", code], env=os.environ.copy(), capture_output=True,
                          text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


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
    restart = _restart_in_new_process(key)  # a new Python process; predictions come from disk
    st.cache_resource.clear()
    st.cache_data.clear()
    at = new_app()
    cleared = _timed(at.run)  # same process, Streamlit's caches cleared (imports and memos stay)
    from streamlit.util import calc_hash

    at._page_hash = calc_hash("errors")  # ferviz's pages are callables registered under their name
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
        "streamlit_caches_cleared_rerun_s": cleared,
        "idle_rerun_s": med(idle), "cell_change_rerun_s": med(click),
        "cell_change_vs_idle_rerun": med(click) / med(idle), "target_cell_vs_idle": 2.0,
        "note": "server-side script time in AppTest; a browser click triggers the same rerun; restart = "
                "the first run in a new Python process (imports included), disk cache warm",
    })


if __name__ == "__main__":
    main()
