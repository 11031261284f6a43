"""precompute on a real local Ray cluster (2 CPUs) fills the same cache entries, byte for byte
in name and equal in content, as the local process pool.

"Equal" is float32 equality across thread counts: a Ray task runs TensorFlow with one intra-op
thread (it holds one CPU) while a pool worker gets the machine's cores divided by the workers, so
the two sum gradients in another order. On a 2-core machine both get one thread and the maps match
to 1e-7; on a many-core CI machine they moved by up to 1e-3 (0.4 % relative). Another face or
method moves a map by far more than that."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferviz import cache, config
from tests.integration.precompute_helpers import CARD, seeded_cache

pytestmark = [pytest.mark.data, pytest.mark.slow]


def _entries(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in (root / "attributions").rglob("*.npz")}


def test_ray_fills_the_same_entries_as_the_process_pool(fer_path, tmp_path, monkeypatch):
    import ray

    from ferviz.models import find_card
    from ferviz.precompute import precompute

    card = find_card(str(CARD))
    pool_cache = seeded_cache(fer_path, tmp_path / "pool")
    ray_cache = seeded_cache(fer_path, tmp_path / "ray")
    kw = dict(cells=[(2, 4), (4, 6)], top=2, methods=["gradcam", "gradcampp"])
    monkeypatch.setenv("FERVIZ_CACHE", str(pool_cache))
    pool = precompute([card], str(fer_path), ["PrivateTest"], ["evaluate", "maps"], workers=2, **kw)
    monkeypatch.setenv("FERVIZ_CACHE", str(ray_cache))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(CARD.parents[1])}})
    try:
        on_ray = precompute([card], str(fer_path), ["PrivateTest"], ["evaluate", "maps"], workers=2, ray="local", **kw)
        again = precompute([card], str(fer_path), ["PrivateTest"], ["evaluate", "maps"], workers=2, ray="local", **kw)
        sent_cache = seeded_cache(fer_path, tmp_path / "sent")  # workers send results; the driver writes them
        monkeypatch.setenv("FERVIZ_CACHE", str(sent_cache))
        sent = precompute([card], str(fer_path), ["PrivateTest"], ["evaluate", "maps"], workers=2, ray="local",
                          send=True, **kw)
    finally:
        ray.shutdown()
    assert (pool.computed, pool.failed) == (8, 0) and pool.backend == "pool"
    assert (on_ray.computed, on_ray.failed) == (8, 0) and on_ray.backend == "ray"
    assert again.computed == 0 and again.cached == 9
    assert (sent.computed, sent.failed) == (8, 0)
    a = _entries(pool_cache)
    assert len(a) == 8
    for other in (_entries(ray_cache), _entries(sent_cache)):
        assert sorted(other) == sorted(a)
        for k in a:
            m, n = cache.load_arrays(a[k])["map"], cache.load_arrays(other[k])["map"]
            np.testing.assert_allclose(m, n, rtol=1e-2, atol=5e-3)
            assert np.corrcoef(m.ravel(), n.ravel())[0, 1] > 0.999
    assert config.cache_dir() == sent_cache
