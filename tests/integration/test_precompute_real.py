"""precompute on the real data, the Baseline CNN and two cells (Grad-CAM and XRAI, top 2): a run
killed half-way and rerun does every task once with no corrupt entry, a second run computes
nothing, and the app opening those faces computes nothing (it reads exactly these entries)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferviz import cache
from tests.integration.precompute_helpers import CARD, ROOT, seeded_cache

pytestmark = [pytest.mark.data, pytest.mark.slow]

CELLS = "fear:sad,sad:neutral"
ARGS = ["--models", str(CARD), "--splits", "PrivateTest", "--what", "evaluate,maps", "--cells", CELLS,
        "--top", "2", "--methods", "gradcam,xrai"]


def command(fer_path, cache_dir: Path, *extra: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "FERVIZ_CACHE": str(cache_dir), "FERVIZ_DATA": str(fer_path)}
    return subprocess.Popen([sys.executable, "-m", "ferviz", "precompute", *ARGS, "--data", str(fer_path), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def summary(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def map_files(cache_dir: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (cache_dir / "attributions").rglob("*.npz")}


@pytest.fixture(scope="module")
def pc_cache(fer_path, tmp_path_factory):
    return seeded_cache(fer_path, tmp_path_factory.mktemp("precompute-cache"))


def test_a_killed_run_resumes_and_every_task_is_done_once(fer_path, pc_cache):
    proc = command(fer_path, pc_cache, "--workers", "0", start_new_session=True)
    deadline = time.monotonic() + 300
    while len(map_files(pc_cache)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # stopped at any point: no clean-up runs
    proc.wait()
    before = map_files(pc_cache)
    assert 0 < len(before) < 8, "the run was not stopped half-way"
    got = summary(command(fer_path, pc_cache, "--workers", "0"))
    assert got["tasks"] == 9 and got["failed"] == 0  # 1 prediction + 2 cells x 2 faces x 2 methods
    assert got["by_kind"]["maps"].get("computed", 0) == 8 - len(before)
    after = map_files(pc_cache)
    assert len(after) == 8
    assert all(after[p] == t for p, t in before.items())  # what was done is not redone
    assert all(cache.load_arrays(p)["map"].shape == (48, 48) for p in after)
    assert not [p for p in pc_cache.rglob("*") if p.name.endswith(".tmp")]


def test_a_second_run_computes_nothing(fer_path, pc_cache):
    got = summary(command(fer_path, pc_cache, "--workers", "1", "--quiet"))
    assert (got["computed"], got["cached"], got["failed"]) == (0, 9, 0)


def test_the_app_opening_those_faces_computes_nothing(fer_path, pc_cache, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from ferviz import attribution
    from ferviz.analysis.evaluation import evaluate
    from ferviz.attribution.base import Explainer
    from ferviz.data.splits import load_fer2013
    from ferviz.labels import EMOTIONS
    from ferviz.models import find_card
    from ferviz.precompute import chosen_faces
    from tests.app.helpers import APP, open_page

    summary(command(fer_path, pc_cache, "--workers", "0", "--quiet"))  # a no-op after the tests above
    monkeypatch.setenv("FERVIZ_CACHE", str(pc_cache))
    monkeypatch.setenv("FERVIZ_DATA", str(fer_path))
    attribution.cache.clear_memory()
    calls = []
    real = Explainer.__call__
    monkeypatch.setattr(Explainer, "__call__", lambda self, *a, **k: calls.append(self.method) or real(self, *a, **k))
    card = find_card(str(CARD))
    ev = evaluate(card, load_fer2013(fer_path, "PrivateTest"))
    for cell in CELLS.split(","):
        t, p = (EMOTIONS.index(c) for c in cell.split(":"))
        ids, _ = chosen_faces(ev, [(t, p)], "errors", 2)
        assert len(ids) == 2
        for image_id in ids:
            at = AppTest.from_file(APP, default_timeout=240)
            at.query_params.update({"model": "baseline_cnn", "true": EMOTIONS[t], "pred": EMOTIONS[p], "id": image_id})
            at.session_state["insp_methods"] = ["gradcam", "xrai"]
            open_page(at, "inspector").run()
            assert not at.exception, at.exception
            assert not at.error, [e.value for e in at.error]
            captions = [c for img in at.image for c in img.captions]
            assert any("Grad-CAM" in str(c) for c in captions) and any("XRAI" in str(c) for c in captions), captions
    assert calls == []  # every map came from the precomputed entries
